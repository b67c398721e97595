"""Price a set of resources, as the engine sees them, at three scales.

- worst case: every node pool at its maximum size on the dearest of its instance types, always at
  on-demand rates (a budget guard must never assume spot prices);
- expected: every pool at its desired size on its cheapest type;
- idle: every pool at its minimum size on its cheapest type.

Spot pools' idle and expected figures use the snapshot's spot prices when it has a `spot` section
(`prices refresh` writes one: the latest price per AZ, lowest across AZs, so a floor rather than
an average), a type without a spot price at on-demand; without a spot section they are at
on-demand rates and `Estimate.spot_note` says so. Each line's detail names the rate used.

Always-on resources (EKS control plane, NAT gateways, interface endpoints, FSx, S3 at the
buckets' expected sizes, KMS keys) cost the same at every scale. Prices come from the catalog's
dated snapshot at 730 hours a month. What cannot be priced (an instance type or FSx tier the
snapshot lacks, a bucket without an expected size, anything whose provider runs in another region
than the snapshot's) is listed in `unpriced`, never counted as zero.

Compute is priced wherever it is declared: EKS node groups, Auto Scaling groups, EC2 instances and
spot instance requests, EC2 fleets and spot fleets, and capacity reservations (billed while held,
used or not); their instance types come from the resource itself or from the launch template or
configuration it launches from.

Budgets: only a COST budget with a MONTHLY time unit in USD and a fixed limit (no auto-adjust, no
planned per-period limits) is a monthly cost limit; any other budget is listed in
`ignored_budgets` and limits nothing.

Unknown values (a preview) are never guessed: what they stop from being priced or counted is
listed in `undecided`, and everything else is still priced.

Input is a neutral `Res` shape, so the same code prices the CrossGuard pack's resources and the
offline plan's preview document.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from components.catalog import (
    InstanceType,
    PriceSnapshot,
    UnknownInstanceTypeError,
    get_instance_type,
    price_snapshot,
    service_price,
    service_price_snapshot,
    spot_prices,
    spot_snapshot,
)
from policies.inputs import as_list, as_mapping, is_unknown, number

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
    region: str | None = None
    """The region of the resource's AWS provider, when the document says (its `region`
    input); None: not known, taken to be the snapshot's."""

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


@dataclass(frozen=True)
class SpotRates:
    """Spot USD/hour by instance type and the snapshot they come from (None: no spot section,
    so spot pools are priced at on-demand rates)."""

    prices: Mapping[str, float]
    snapshot: PriceSnapshot | None

    @classmethod
    def from_catalog(cls) -> SpotRates:
        return cls(prices=spot_prices(), snapshot=spot_snapshot())


NO_SPOT_NOTE = (
    "spot pools' idle and expected cost are at on-demand rates: the price snapshot has no spot "
    "section (`python -m scripts.ops prices refresh` adds one)"
)


@dataclass
class Estimate:
    lines: list[Line] = field(default_factory=list)
    unpriced: list[str] = field(default_factory=list)
    pools: list[Pool] = field(default_factory=list)
    budgets_usd: list[float] = field(default_factory=list)
    budgets: list[tuple[str, str, float]] = field(default_factory=list)
    """(urn, name, monthly USD limit) of every budget that is a monthly cost limit."""
    ignored_budgets: list[str] = field(default_factory=list)
    undecided: list[str] = field(default_factory=list)
    """What unknown values kept from being priced or counted (preview)."""
    undecided_compute: list[str] = field(default_factory=list)
    """The part of `undecided` that concerns compute pools."""
    undecided_budgets: list[str] = field(default_factory=list)
    """The part of `undecided` that concerns budgets."""
    spot_note: str | None = None
    """Set when a spot pool was priced at on-demand rates for want of spot prices."""

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


NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
AUTOSCALING_GROUP = "aws:autoscaling/group:Group"
INSTANCE = "aws:ec2/instance:Instance"
SPOT_INSTANCE = "aws:ec2/spotInstanceRequest:SpotInstanceRequest"
FLEET = "aws:ec2/fleet:Fleet"
SPOT_FLEET = "aws:ec2/spotFleetRequest:SpotFleetRequest"
CAPACITY_RESERVATION = "aws:ec2/capacityReservation:CapacityReservation"
BATCH = "aws:batch/computeEnvironment:ComputeEnvironment"
TEMPLATES = (
    "aws:ec2/launchTemplate:LaunchTemplate",
    "aws:ec2/launchConfiguration:LaunchConfiguration",
)
COMPUTE_TYPES = (
    NODE_GROUP,
    AUTOSCALING_GROUP,
    INSTANCE,
    SPOT_INSTANCE,
    FLEET,
    SPOT_FLEET,
    CAPACITY_RESERVATION,
    BATCH,
)


class _Undecided(Exception):
    """A value the pool needs is unknown."""


def referenced_names(value: Any) -> list[str]:
    """Launch template / configuration names referenced anywhere in a value."""
    names: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("name", "launchTemplateName", "launchConfiguration") and isinstance(
                item, str
            ):
                names.append(item)
            else:
                names += referenced_names(item)
    elif isinstance(value, list):
        for item in value:
            names += referenced_names(item)
    return names


def _templates(res: Res, keys: tuple[str, ...], by_urn: Mapping[str, Res]) -> list[Res]:
    """The stack's launch templates/configurations `res` launches from: by dependency, or by a
    name that matches one the stack defines."""
    found = []
    for key in keys:
        for urn in res.property_dependencies.get(key, []):
            template = by_urn.get(urn)
            if template is not None and template.type in TEMPLATES:
                found.append(template)
    if not found:
        names = set(referenced_names({k: res.props.get(k) for k in keys}))
        found = [
            t
            for t in by_urn.values()
            if t.type in TEMPLATES
            and isinstance(t.props.get("name"), str)
            and t.props["name"] in names
        ]
    return found


def _template_types(templates: list[Res]) -> list[Any]:
    return [t.props.get("instanceType") for t in templates if t.props.get("instanceType")]


def _market(templates: list[Res]) -> str | None:
    for template in templates:
        options = as_mapping(template.props.get("instanceMarketOptions"))
        market = options.get("marketType")
        if is_unknown(market):
            raise _Undecided("instanceMarketOptions.marketType")
        if market:
            return str(market).lower()
    return None


def _size(value: Any, what: str, default: int = 0) -> int:
    if value is None or value == "":
        return default
    amount = number(value)
    if amount is None:
        if is_unknown(value):
            raise _Undecided(what)
        raise ValueError(f"{what} is not a number")
    return int(amount)


def _overrides(value: Any) -> list[Any]:
    return [
        as_mapping(o).get("instanceType")
        for o in as_list(value)
        if as_mapping(o).get("instanceType")
    ]


def _pool_shape(res: Res, by_urn: Mapping[str, Res]) -> tuple[str, list[Any], str, int, int, int]:
    """(name, instance type names, capacity type, min, desired, max) of one compute resource."""
    props = res.props
    kind = res.type
    if kind == NODE_GROUP:
        names = list(as_list(props.get("instanceTypes")))
        templates = _templates(res, ("launchTemplate",), by_urn)
        if not names:
            names = _template_types(templates)
        name = str(as_mapping(props.get("labels")).get(POOL_LABEL) or res.name)
        scaling = as_mapping(props.get("scalingConfig"))
        if is_unknown(props.get("scalingConfig")):
            raise _Undecided("scalingConfig")
        minimum = _size(scaling.get("minSize"), "scalingConfig.minSize")
        capacity = props.get("capacityType")
        if is_unknown(capacity):
            raise _Undecided("capacityType")
        return (
            name,
            names,
            str(capacity or "ON_DEMAND"),
            minimum,
            _size(scaling.get("desiredSize"), "scalingConfig.desiredSize", minimum),
            _size(scaling.get("maxSize"), "scalingConfig.maxSize"),
        )
    if kind == AUTOSCALING_GROUP:
        mixed = as_mapping(props.get("mixedInstancesPolicy"))
        templates = _templates(
            res, ("launchTemplate", "mixedInstancesPolicy", "launchConfiguration"), by_urn
        )
        names = _overrides(as_mapping(mixed.get("launchTemplate")).get("overrides"))
        names = names or _template_types(templates)
        distribution = as_mapping(mixed.get("instancesDistribution"))
        base = _size(distribution.get("onDemandBaseCapacity"), "onDemandBaseCapacity", 0)
        share = _size(
            distribution.get("onDemandPercentageAboveBaseCapacity"), "onDemandPercentage", 100
        )
        market = _market(templates)
        spot = (mixed and base == 0 and share == 0) or market == "spot"
        minimum = _size(props.get("minSize"), "minSize")
        return (
            res.name,
            names,
            "SPOT" if spot else "ON_DEMAND",
            minimum,
            _size(props.get("desiredCapacity"), "desiredCapacity", minimum),
            _size(props.get("maxSize"), "maxSize"),
        )
    if kind in (INSTANCE, SPOT_INSTANCE):
        templates = _templates(res, ("launchTemplate",), by_urn)
        names = [props["instanceType"]] if props.get("instanceType") else _template_types(templates)
        market = as_mapping(props.get("instanceMarketOptions")).get("marketType")
        if is_unknown(market):
            raise _Undecided("instanceMarketOptions.marketType")
        market = market or _market(templates)
        spot = kind == SPOT_INSTANCE or str(market).lower() == "spot"
        block = str(market).lower() == "capacity-block"
        return (
            res.name,
            names,
            "SPOT" if spot else "CAPACITY_BLOCK" if block else "ON_DEMAND",
            1,
            1,
            1,
        )
    if kind in (FLEET, SPOT_FLEET):
        configs = as_list(props.get("launchTemplateConfigs") or props.get("launchTemplateConfig"))
        names = [n for c in configs for n in _overrides(as_mapping(c).get("overrides"))]
        names += [
            as_mapping(s).get("instanceType")
            for s in as_list(props.get("launchSpecifications"))
            if as_mapping(s).get("instanceType")
        ]
        templates = _templates(res, ("launchTemplateConfigs", "launchTemplateConfig"), by_urn)
        names = names or _template_types(templates)
        if kind == FLEET:
            target = as_mapping(props.get("targetCapacitySpecification"))
            total = _size(target.get("totalTargetCapacity"), "totalTargetCapacity")
            default = target.get("defaultTargetCapacityType")
            if is_unknown(default):
                raise _Undecided("defaultTargetCapacityType")
            on_demand = _size(target.get("onDemandTargetCapacity"), "onDemandTargetCapacity", 0)
            spot = str(default or "on-demand").lower() == "spot" and on_demand == 0
            capacity = "SPOT" if spot else "ON_DEMAND"
            if str(default).lower() == "capacity-block":
                capacity = "CAPACITY_BLOCK"
        else:
            total = _size(props.get("targetCapacity"), "targetCapacity")
            on_demand = _size(props.get("onDemandTargetCapacity"), "onDemandTargetCapacity", 0)
            capacity = "SPOT" if on_demand == 0 else "ON_DEMAND"
        return (res.name, names, capacity, total, total, total)
    if kind == BATCH:
        resources = props.get("computeResources")
        if is_unknown(resources):
            raise _Undecided("computeResources")
        resources = as_mapping(resources)
        if not resources:
            return (res.name, [], "ON_DEMAND", 0, 0, 0)  # unmanaged or Fargate: no EC2 here
        kind_of = str(resources.get("type") or "EC2").upper()
        if kind_of.startswith("FARGATE"):
            return (res.name, ["(fargate)"], "FARGATE", 0, 0, 0)
        names = list(as_list(resources.get("instanceTypes")))
        templates = _templates(res, ("computeResources",), by_urn)
        names = names or _template_types(templates)
        max_vcpus = _size(resources.get("maxVcpus"), "computeResources.maxVcpus")
        min_vcpus = _size(resources.get("minVcpus"), "computeResources.minVcpus", 0)
        desired = _size(resources.get("desiredVcpus"), "computeResources.desiredVcpus", min_vcpus)
        capacity = "SPOT" if kind_of == "SPOT" else "ON_DEMAND"
        return (res.name, names, capacity, min_vcpus, desired, max_vcpus)  # in vCPUs, see below
    # capacity reservation: held (and billed) whether instances run in it or not
    count = _size(props.get("instanceCount"), "instanceCount")
    names = [props["instanceType"]] if props.get("instanceType") else []
    return (res.name, names, "RESERVED", count, count, count)


def region_problem(region: str | None, snapshot_region: str) -> str | None:
    """Why a resource in `region` cannot be priced from a snapshot of `snapshot_region`, or
    None when it can (same region, or the region is not known)."""
    if not region or region == snapshot_region:
        return None
    return (
        f"runs in {region}, the price snapshot is {snapshot_region}'s: not priced "
        f"(refresh prices for {region} with `python -m scripts.ops prices refresh --region "
        f"{region}`)"
    )


def node_pools(resources: Iterable[Res]) -> tuple[list[Pool], list[str]]:
    """Every compute resource as a pool with its instance types. Returns the pools and the
    problems that stop a pool from being priced."""
    pools, problems, _ = compute_pools(resources)
    return pools, problems


def compute_pools(resources: Iterable[Res]) -> tuple[list[Pool], list[str], list[str]]:
    """Pools, problems, and what unknown values left undecided."""
    by_urn = {r.urn: r for r in resources}
    pools: list[Pool] = []
    problems: list[str] = []
    undecided: list[str] = []
    for res in by_urn.values():
        if res.type not in COMPUTE_TYPES:
            continue
        label = "node group" if res.type == NODE_GROUP else res.type.rsplit(":", 1)[-1]
        try:
            name, names, capacity, minimum, desired, maximum = _pool_shape(res, by_urn)
        except _Undecided as exc:
            undecided.append(f"{res.name}.{exc}")
            continue
        except ValueError as exc:
            problems.append(f"{label} {res.name}: {exc}")
            continue
        if capacity == "FARGATE":
            continue
        if any(is_unknown(n) for n in names):
            undecided.append(f"{res.name}.instanceType")
            continue
        if not names:
            problems.append(f"{label} {name}: no instance type to price")
            continue
        elsewhere = region_problem(res.region, price_snapshot().region)
        if elsewhere:
            problems.append(f"{label} {name}: {elsewhere}")
            continue
        types: list[InstanceType] = []
        for type_name in names:
            try:
                kind = get_instance_type(str(type_name))
            except UnknownInstanceTypeError:
                problems.append(f"{label} {name}: instance type {type_name} has no price")
                continue
            if kind.on_demand_usd_per_hour is None:
                problems.append(
                    f"{label} {name}: instance type {type_name} has no price in the "
                    f"{price_snapshot().region} snapshot (no citable on-demand price)"
                )
                continue
            types.append(kind)
        if len(types) != len(names):
            continue
        if res.type == BATCH:  # sizes in vCPUs: as instances of the smallest type (worst case)
            smallest = max(1, min(t.vcpus for t in types))
            minimum, desired, maximum = (
                math.ceil(v / smallest) for v in (minimum, desired, maximum)
            )
        pools.append(
            Pool(
                urn=res.urn,
                name=name,
                capacity_type=capacity,
                types=types,
                min_size=minimum,
                desired_size=desired,
                max_size=maximum,
            )
        )
    return pools, problems, undecided


BUDGET = "aws:budgets/budget:Budget"


def read_budget(res: Res) -> tuple[float | None, str | None]:
    """(monthly USD limit, None) for a monthly cost budget; (None, why) for any other budget;
    raises _Undecided when a value that decides it is unknown."""
    props = res.props
    facts = {
        "budgetType": ("COST", props.get("budgetType")),
        "timeUnit": ("MONTHLY", props.get("timeUnit")),
        "limitUnit": ("USD", props.get("limitUnit")),
    }
    for key, (wanted, value) in facts.items():
        if is_unknown(value):
            raise _Undecided(key)
        if str(value or "").strip().upper() != wanted:
            return None, f"{key} is {value!r}, not {wanted}"
    if props.get("autoAdjustData") not in (None, {}, []):
        return None, "its limit auto-adjusts"
    if as_list(props.get("plannedLimits")):
        return None, "it has planned per-period limits"
    limit = props.get("limitAmount")
    if is_unknown(limit):
        raise _Undecided("limitAmount")
    amount = number(limit)
    if amount is None:
        raise ValueError("limitAmount is not a number")
    return amount, None


def _pool_rates(pool: Pool, spot: SpotRates) -> tuple[float, float, str]:
    """(the idle/expected hourly rate, the worst-case hourly rate, which rates were used)."""
    on_demand = {t.name: t.on_demand_usd_per_hour or 0.0 for t in pool.types}  # all priced
    dearest = max(on_demand.values())
    usable = spot.snapshot is not None and spot.snapshot.region == price_snapshot().region
    if pool.capacity_type != "SPOT" or not usable or spot.snapshot is None:
        cheapest = min(on_demand.values())
        if pool.capacity_type == "SPOT":
            return cheapest, dearest, "on-demand rates: no spot prices"
        return cheapest, dearest, "on-demand rates"
    rates = {
        name: (spot.prices[name], True) if name in spot.prices else (usd, False)
        for name, usd in on_demand.items()
    }
    name, (rate, at_spot) = min(rates.items(), key=lambda item: (item[1][0], item[0]))
    used = (
        f"spot ${rate:g}/h {name}, {spot.snapshot.date}"
        if at_spot
        else f"on-demand ${rate:g}/h {name}, no spot price"
    )
    return rate, dearest, f"expected at {used}; worst case at on-demand"


def estimate(resources: Iterable[Res], spot: SpotRates | None = None) -> Estimate:
    """Price every priced resource at idle, expected and worst-case scale. `spot`: the spot
    prices for spot pools' idle and expected figures (default: the catalog's snapshot)."""
    resources = list(resources)
    spot = SpotRates.from_catalog() if spot is None else spot
    result = Estimate()
    result.pools, result.unpriced, result.undecided_compute = compute_pools(resources)
    result.undecided = list(result.undecided_compute)
    for pool in result.pools:
        cheapest, dearest, used = _pool_rates(pool, spot)
        if used.endswith("no spot prices"):
            result.spot_note = NO_SPOT_NOTE
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
                    f"{','.join(t.name for t in pool.types)} ({used})"
                ),
            )
        )
    for res in resources:
        line = _fixed_line(res, result)
        if line is not None:
            result.lines.append(line)
        if res.type == BUDGET:
            try:
                amount, why = read_budget(res)
            except _Undecided as exc:
                result.undecided.append(f"{res.name}.{exc}")
                result.undecided_budgets.append(f"{res.name}.{exc}")
                continue
            except ValueError as exc:
                result.unpriced.append(f"budget {res.name}: {exc}")
                continue
            if amount is None:
                result.ignored_budgets.append(f"budget {res.name} is no monthly cost limit: {why}")
            else:
                result.budgets_usd.append(amount)
                result.budgets.append((res.urn, res.name, amount))
    return result


_SERVICE_TYPES = (
    "aws:eks/cluster:Cluster",
    "aws:ec2/natGateway:NatGateway",
    "aws:ec2/vpcEndpoint:VpcEndpoint",
    "aws:kms/key:Key",
    "aws:fsx/lustreFileSystem:LustreFileSystem",
    "aws:s3/bucket:Bucket",
    "aws:s3/bucketV2:BucketV2",
)


def _fixed_line(res: Res, result: Estimate) -> Line | None:
    props = res.props
    kind = res.type
    if kind in _SERVICE_TYPES:
        elsewhere = region_problem(res.region, service_price_snapshot().region)
        if elsewhere:
            result.unpriced.append(f"{kind.rsplit(':', 1)[-1]} {res.name}: {elsewhere}")
            return None
    if kind == "aws:eks/cluster:Cluster":
        support = str(as_mapping(props.get("upgradePolicy")).get("supportType") or "EXTENDED")
        key = "eks_cluster_hour" if support == "STANDARD" else "eks_cluster_extended_support_hour"
        hourly = service_price(key)
        return Line(res.urn, res.name, "control-plane", _flat(hourly * HOURS_PER_MONTH), key)
    if kind == "aws:ec2/natGateway:NatGateway":
        hourly = service_price("nat_gateway_hour")
        return Line(
            res.urn, res.name, "network", _flat(hourly * HOURS_PER_MONTH), "hourly (data extra)"
        )
    if kind == "aws:ec2/vpcEndpoint:VpcEndpoint":
        endpoint_type = props.get("vpcEndpointType")
        if is_unknown(endpoint_type):
            result.undecided.append(f"{res.name}.vpcEndpointType")
            return None
        if endpoint_type != "Interface":
            return None
        subnets = props.get("subnetIds")
        if is_unknown(subnets):
            result.undecided.append(f"{res.name}.subnetIds")
            return None
        azs = len(as_list(subnets)) or 1  # the count of unknown ids is known
        hourly = service_price("vpc_interface_endpoint_az_hour") * azs
        return Line(res.urn, res.name, "network", _flat(hourly * HOURS_PER_MONTH), f"{azs} AZs")
    if kind == "aws:kms/key:Key":
        return Line(res.urn, res.name, "security", _flat(service_price("kms_key_month")), "key")
    if kind == "aws:fsx/lustreFileSystem:LustreFileSystem":
        capacity_value = props.get("storageCapacity")
        throughput_value = props.get("perUnitStorageThroughput")
        if is_unknown(capacity_value) or is_unknown(throughput_value):
            result.undecided.append(f"{res.name}.storageCapacity/perUnitStorageThroughput")
            return None
        capacity = int(number(capacity_value) or 0)
        per_tib = int(number(throughput_value) or 0)  # JSON numbers may be floats
        key = fsx_price_key(per_tib)
        price = price_or_none(key)
        if price is None:
            result.unpriced.append(
                f"file system {res.name}: no price {key} in the snapshot (no citable public "
                f"price for PERSISTENT_2 at {per_tib} MB/s/TiB; `python -m scripts.ops prices "
                "refresh` adds it from the AWS Price List API)"
            )
            return None
        return Line(
            res.urn, res.name, "storage-hot", _flat(capacity * price), f"{capacity} GiB at {key}"
        )
    if kind in ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"):
        tags = props.get("tags")
        size = tags if is_unknown(tags) else as_mapping(tags).get(EXPECTED_SIZE_TAG)
        if is_unknown(size):
            result.undecided.append(f"{res.name}.tags.{EXPECTED_SIZE_TAG}")
            return None
        if size is None:
            result.unpriced.append(f"bucket {res.name}: no {EXPECTED_SIZE_TAG} tag")
            return None
        gb = number(size)  # S3 bills per binary GB (GiB)
        if gb is None:
            result.unpriced.append(
                f"bucket {res.name}: {EXPECTED_SIZE_TAG}={size!r} is not a number"
            )
            return None
        return Line(
            res.urn,
            res.name,
            "storage-warm",
            _flat(gb * service_price("s3_standard_gb_month")),
            f"{gb:g} GiB in S3 Standard",
        )
    return None
