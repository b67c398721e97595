"""Price a set of resources, as the engine sees them, at three scales.

- worst case: every node pool at its maximum size on the dearest of its instance types;
- expected: every pool at its desired size on its cheapest type;
- idle: every pool at its minimum size on its cheapest type.

Always-on resources (EKS control plane, NAT gateways, interface endpoints, FSx, S3 at the
buckets' expected sizes, KMS keys) cost the same at every scale. Prices come from the catalog's
dated snapshot at 730 hours a month. What cannot be priced (an instance type or FSx tier the
snapshot lacks, a bucket without an expected size) is listed in `unpriced`, never counted as zero.

Input is a neutral `Res` shape, so the same code prices the CrossGuard pack's resources and the
offline plan's preview document.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from components.catalog import (
    InstanceType,
    UnknownInstanceTypeError,
    get_instance_type,
    service_price,
)

HOURS_PER_MONTH = 730
EXPECTED_SIZE_TAG = "gpu-platform/expected-size-gib"
POOL_LABEL = "gpu-platform/pool"

SCALES = ("idle", "expected", "worst")


@dataclass(frozen=True)
class Res:
    """One resource: engine type token, URN, inputs, and property dependencies (URNs)."""

    type: str
    urn: str
    props: Mapping[str, Any]
    property_dependencies: Mapping[str, list[str]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]


@dataclass
class Line:
    """One priced item."""

    urn: str
    name: str
    tier: str
    """compute-gpu, compute-cpu, control-plane, network, storage-hot, storage-warm or security"""
    monthly: dict[str, float]
    """USD per month at each scale (idle, expected, worst)."""
    detail: str


@dataclass
class Pool:
    """A node group as the cost rules need it."""

    urn: str
    name: str
    capacity_type: str
    types: list[InstanceType]
    min_size: int
    desired_size: int
    max_size: int

    @property
    def is_gpu(self) -> bool:
        return any(t.is_gpu for t in self.types)

    @property
    def gpus_at_max(self) -> int:
        return self.max_size * max((t.gpu_count for t in self.types), default=0)


@dataclass
class Estimate:
    lines: list[Line] = field(default_factory=list)
    unpriced: list[str] = field(default_factory=list)
    pools: list[Pool] = field(default_factory=list)
    budgets_usd: list[float] = field(default_factory=list)

    def total(self, scale: str) -> float:
        return round(sum(line.monthly[scale] for line in self.lines), 2)

    def by_tier(self, scale: str) -> dict[str, float]:
        tiers: dict[str, float] = {}
        for line in self.lines:
            tiers[line.tier] = round(tiers.get(line.tier, 0.0) + line.monthly[scale], 2)
        return dict(sorted(tiers.items()))


def _flat(amount: float) -> dict[str, float]:
    value = round(amount, 2)
    return dict.fromkeys(SCALES, value)


def fsx_price_key(throughput_per_tib: int) -> str:
    """Catalog key of FSx for Lustre PERSISTENT_2 storage at this per-unit throughput."""
    return f"fsx_lustre_persistent2_{throughput_per_tib}_gb_month"


def price_or_none(key: str) -> float | None:
    """A service price from the snapshot, or None when the snapshot lacks it."""
    try:
        return service_price(key)
    except KeyError:
        return None


def node_pools(resources: Iterable[Res]) -> tuple[list[Pool], list[str]]:
    """Node groups with their instance types (from the node group, or its launch template for a
    Capacity Block pool). Returns the pools and the problems that stop a pool from being priced."""
    by_urn = {r.urn: r for r in resources}
    pools: list[Pool] = []
    problems: list[str] = []
    for res in by_urn.values():
        if res.type != "aws:eks/nodeGroup:NodeGroup":
            continue
        props = res.props
        names = list(props.get("instanceTypes") or [])
        if not names:
            for urn in res.property_dependencies.get("launchTemplate", []):
                template = by_urn.get(urn)
                if template and template.props.get("instanceType"):
                    names = [str(template.props["instanceType"])]
        name = str((props.get("labels") or {}).get(POOL_LABEL) or res.name)
        if not names:
            problems.append(f"node group {name}: no instance type to price")
            continue
        types: list[InstanceType] = []
        for type_name in names:
            try:
                types.append(get_instance_type(type_name))
            except UnknownInstanceTypeError:
                problems.append(f"node group {name}: instance type {type_name} has no price")
        if len(types) != len(names):
            continue
        scaling = props.get("scalingConfig") or {}
        minimum = int(scaling.get("minSize") or 0)
        pools.append(
            Pool(
                urn=res.urn,
                name=name,
                capacity_type=str(props.get("capacityType") or "ON_DEMAND"),
                types=types,
                min_size=minimum,
                desired_size=int(scaling.get("desiredSize") or minimum),
                max_size=int(scaling.get("maxSize") or 0),
            )
        )
    return pools, problems


def estimate(resources: Iterable[Res]) -> Estimate:
    """Price every priced resource at idle, expected and worst-case scale."""
    resources = list(resources)
    result = Estimate()
    result.pools, result.unpriced = node_pools(resources)
    for pool in result.pools:
        cheapest = min(t.on_demand_usd_per_hour for t in pool.types)
        dearest = max(t.on_demand_usd_per_hour for t in pool.types)
        result.lines.append(
            Line(
                urn=pool.urn,
                name=pool.name,
                tier="compute-gpu" if pool.is_gpu else "compute-cpu",
                monthly={
                    "idle": round(pool.min_size * cheapest * HOURS_PER_MONTH, 2),
                    "expected": round(pool.desired_size * cheapest * HOURS_PER_MONTH, 2),
                    "worst": round(pool.max_size * dearest * HOURS_PER_MONTH, 2),
                },
                detail=(
                    f"{pool.capacity_type} {pool.min_size}/{pool.desired_size}/{pool.max_size} x "
                    f"{','.join(t.name for t in pool.types)} (on-demand rates)"
                ),
            )
        )
    for res in resources:
        line = _fixed_line(res, result)
        if line is not None:
            result.lines.append(line)
        if res.type == "aws:budgets/budget:Budget":
            try:
                result.budgets_usd.append(float(res.props.get("limitAmount")))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                result.unpriced.append(f"budget {res.name}: limitAmount is not a number")
    return result


def _fixed_line(res: Res, result: Estimate) -> Line | None:
    props = res.props
    kind = res.type
    if kind == "aws:eks/cluster:Cluster":
        support = str((props.get("upgradePolicy") or {}).get("supportType") or "EXTENDED")
        key = "eks_cluster_hour" if support == "STANDARD" else "eks_cluster_extended_support_hour"
        hourly = service_price(key)
        return Line(res.urn, res.name, "control-plane", _flat(hourly * HOURS_PER_MONTH), key)
    if kind == "aws:ec2/natGateway:NatGateway":
        hourly = service_price("nat_gateway_hour")
        return Line(
            res.urn, res.name, "network", _flat(hourly * HOURS_PER_MONTH), "hourly (data extra)"
        )
    if kind == "aws:ec2/vpcEndpoint:VpcEndpoint" and props.get("vpcEndpointType") == "Interface":
        azs = len(props.get("subnetIds") or []) or 1
        hourly = service_price("vpc_interface_endpoint_az_hour") * azs
        return Line(res.urn, res.name, "network", _flat(hourly * HOURS_PER_MONTH), f"{azs} AZs")
    if kind == "aws:kms/key:Key":
        return Line(res.urn, res.name, "security", _flat(service_price("kms_key_month")), "key")
    if kind == "aws:fsx/lustreFileSystem:LustreFileSystem":
        capacity = int(props.get("storageCapacity") or 0)
        per_tib = int(
            float(props.get("perUnitStorageThroughput") or 0)
        )  # JSON numbers may be floats
        key = fsx_price_key(per_tib)
        price = price_or_none(key)
        if price is None:
            result.unpriced.append(f"file system {res.name}: no price {key} in the snapshot")
            return None
        return Line(
            res.urn, res.name, "storage-hot", _flat(capacity * price), f"{capacity} GiB at {key}"
        )
    if kind in ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"):
        size = (props.get("tags") or {}).get(EXPECTED_SIZE_TAG)
        if size is None:
            result.unpriced.append(f"bucket {res.name}: no {EXPECTED_SIZE_TAG} tag")
            return None
        try:
            gb = float(size)  # S3 bills per binary GB (GiB)
        except (TypeError, ValueError):
            result.unpriced.append(
                f"bucket {res.name}: {EXPECTED_SIZE_TAG}={size!r} is not a number"
            )
            return None
        return Line(
            res.urn,
            res.name,
            "storage-warm",
            _flat(gb * service_price("s3_standard_gb_month")),
            f"{float(size):g} GiB in S3 Standard",
        )
    return None
