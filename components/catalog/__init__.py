"""Instance and price catalog for the GPU platform.

This package is the single place that knows hardware facts about the EC2 instance types the
platform supports and what they (and a handful of supporting AWS services) cost. It imports
nothing else of the project, only the standard library, and reads two plain JSON files that sit
next to this module:

``instances.json``
    Hardware facts copied from EC2 ``DescribeInstanceTypes`` (AWS's own data, taken from the
    offline copy that ``moto`` ships, by ``python -m scripts.catalog_instances``), including
    every network card (index, interfaces, interface types, bandwidth) and the default card.
    ``tests/components/catalog/test_catalog.py`` re-checks every entry against ``moto`` so the
    two sources cannot drift silently. ``moto`` is NOT needed at runtime.

``prices.json``
    A dated price snapshot (us-east-1, Linux, on-demand). Top-level ``snapshot`` holds a
    ``{date, region, source}`` object per group of prices (``instances``, ``services`` and,
    when present, ``spot``);
    ``instances`` maps instance type to USD/hour (a catalog type missing there is unpriced:
    ``on_demand_usd_per_hour`` is None and every estimate lists it); ``services`` maps a
    service price key to ``{usd, unit, source}``. The file is plain data so ``prices refresh``
    can rewrite it (from the AWS Pricing API, or offline from Karpenter's generated file).

Service price keys (see :data:`SERVICE_PRICE_KEYS`; units and sources are in ``prices.json``):

- ``eks_cluster_hour``: EKS control plane, standard support, per cluster-hour.
- ``eks_cluster_extended_support_hour``: EKS control plane in extended support, per
  cluster-hour (the total rate, not an add-on to ``eks_cluster_hour``).
- ``nat_gateway_hour``: NAT gateway, per gateway-hour.
- ``nat_gateway_gb``: NAT gateway data processing, per GB.
- ``vpc_interface_endpoint_az_hour``: interface VPC endpoint, per endpoint per AZ per hour.
- ``fsx_lustre_persistent2_125_gb_month``: FSx for Lustre PERSISTENT_2 SSD at
  125 MB/s/TiB, per GB-month.
- ``s3_standard_gb_month``: S3 Standard (first 50 TB), per GB-month.
- ``s3_standard_ia_gb_month``: S3 Standard-IA, per GB-month.
- ``s3_intelligent_tiering_gb_month``: S3 Intelligent-Tiering frequent access tier, per
  GB-month (the per-object monitoring fee is not included).
- ``s3_glacier_ir_gb_month``: S3 Glacier Instant Retrieval, per GB-month.
- ``s3_glacier_flexible_gb_month``: S3 Glacier Flexible Retrieval, per GB-month.
- ``s3_deep_archive_gb_month``: S3 Glacier Deep Archive, per GB-month.
- ``ebs_gp3_gb_month``: EBS gp3 storage, per GB-month.
- ``cloudwatch_logs_ingest_gb``: CloudWatch Logs ingestion (standard class), per GB.
- ``kms_key_month``: KMS customer managed key, per key-month.

Optional keys (see :data:`OPTIONAL_SERVICE_PRICE_KEYS`): ``fsx_lustre_persistent2_250_gb_month``,
``..._500_...`` and ``..._1000_...``, FSx for Lustre PERSISTENT_2 SSD at those tiers, per
GB-month. They are absent from the shipped snapshot: no citable public us-east-1 figure was
found when it was compiled. ``python -m scripts.ops prices refresh`` adds them from the AWS
Price List API, with the filters it used as their source; until then such a file system is
unpriced, never guessed.

``spot`` (optional, written by ``prices refresh``) maps instance type to the spot USD/hour of
its snapshot (``snapshot.spot``: the latest price per AZ, the lowest across AZs); see
:func:`spot_usd_per_hour`.
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources
from typing import Any

__all__ = [
    "OPTIONAL_SERVICE_PRICE_KEYS",
    "SERVICE_PRICE_KEYS",
    "InstanceType",
    "NetworkCard",
    "PriceSnapshot",
    "UnknownInstanceTypeError",
    "all_instance_types",
    "eks_max_pods",
    "get_instance_type",
    "price_order",
    "price_snapshot",
    "service_price",
    "service_price_snapshot",
    "service_price_source",
    "spot_prices",
    "spot_snapshot",
    "spot_usd_per_hour",
    "suggest_instance_type",
    "supported_instance_types",
    "types_meeting",
]

_INSTANCES_FILE = "instances.json"
_PRICES_FILE = "prices.json"

#: The documented service price keys. ``prices.json`` must provide exactly these.
SERVICE_PRICE_KEYS: tuple[str, ...] = (
    "eks_cluster_hour",
    "eks_cluster_extended_support_hour",
    "nat_gateway_hour",
    "nat_gateway_gb",
    "vpc_interface_endpoint_az_hour",
    "fsx_lustre_persistent2_125_gb_month",
    "s3_standard_gb_month",
    "s3_standard_ia_gb_month",
    "s3_intelligent_tiering_gb_month",
    "s3_glacier_ir_gb_month",
    "s3_glacier_flexible_gb_month",
    "s3_deep_archive_gb_month",
    "ebs_gp3_gb_month",
    "cloudwatch_logs_ingest_gb",
    "kms_key_month",
)

#: Service price keys ``prices.json`` may add (``prices refresh`` writes them when found).
OPTIONAL_SERVICE_PRICE_KEYS: tuple[str, ...] = (
    "fsx_lustre_persistent2_250_gb_month",
    "fsx_lustre_persistent2_500_gb_month",
    "fsx_lustre_persistent2_1000_gb_month",
)

# EKS max-pods constants, as in awslabs/amazon-eks-ami max-pods-calculator.sh.
_IPS_PER_PREFIX = 16
_HOST_NETWORK_PODS = 2
_MAX_PODS_CEILING_LOW_CPU = 110
_MAX_PODS_CEILING_HIGH_CPU = 250
_HIGH_CPU_THRESHOLD = 30  # the script uses the high ceiling when vCPUs > 30


class UnknownInstanceTypeError(ValueError):
    """Raised for an instance type the catalog does not support."""


@dataclass(frozen=True)
class PriceSnapshot:
    """Where and when a group of prices was taken."""

    date: str  # ISO date, e.g. "2026-01-19"
    region: str
    source: str


@dataclass(frozen=True)
class NetworkCard:
    """One network card of an instance type (DescribeInstanceTypes ``NetworkInfo.NetworkCards``)."""

    index: int
    """``NetworkCardIndex``."""
    max_interfaces: int
    """``MaximumNetworkInterfaces`` on this card (device indexes 0 .. max_interfaces - 1)."""
    interface_types: tuple[str, ...]
    """``InterfaceTypes`` the card takes: ``interface`` (ENA), ``efa`` (EFA with ENA),
    ``efa-only``. A card without ``efa``/``efa-only`` takes no EFA device."""
    peak_bandwidth_gbps: float
    """``PeakBandwidthInGbps``."""

    @property
    def efa_capable(self) -> bool:
        """True when the card can host an EFA device."""
        return "efa" in self.interface_types or "efa-only" in self.interface_types


@dataclass(frozen=True)
class InstanceType:
    """Hardware facts and on-demand price of one EC2 instance type."""

    name: str
    family: str
    architecture: str
    vcpus: int
    memory_mib: int
    gpu_model: str | None
    gpu_count: int
    gpu_memory_mib: int
    network_performance: str
    network_bandwidth_gbps: float
    network_cards: int
    max_network_interfaces: int
    max_interfaces_per_card: int
    """``MaximumNetworkInterfaces`` of the default network card (see ``cards`` for each card)."""
    ipv4_addresses_per_interface: int
    efa_supported: bool
    max_efa_interfaces: int
    instance_store_disks: int
    instance_store_disk_gb: int
    placement_group_strategies: tuple[str, ...]
    quota_class: str
    on_demand_usd_per_hour: float | None
    """USD/hour in the price snapshot's region, or None: the snapshot has no citable price
    (such a type is reported unpriced, never priced at zero)."""
    default_network_card_index: int = 0
    """``NetworkInfo.DefaultNetworkCardIndex``: the card that hosts the primary (ENA)
    interface, the one the VPC CNI puts pods on."""
    cards: tuple[NetworkCard, ...] = ()
    """Every network card, by index."""

    @property
    def priced(self) -> bool:
        """True when the snapshot has an on-demand price for the type."""
        return self.on_demand_usd_per_hour is not None

    @property
    def default_card(self) -> NetworkCard | None:
        """The card that hosts the primary interface (None for a catalog without card data)."""
        return next((c for c in self.cards if c.index == self.default_network_card_index), None)

    @property
    def is_gpu(self) -> bool:
        """True when the type has at least one GPU."""
        return self.gpu_count > 0

    @property
    def total_gpu_memory_mib(self) -> int:
        """GPU memory summed over all GPUs (0 for CPU types)."""
        return self.gpu_count * self.gpu_memory_mib

    @property
    def instance_store_total_gb(self) -> int:
        """Local NVMe instance store summed over all disks (0 when there is none)."""
        return self.instance_store_disks * self.instance_store_disk_gb

    @property
    def mig_supported(self) -> bool:
        """True when the GPU supports Multi-Instance GPU (H100/H200/A100)."""
        return self.gpu_model in MIG_PROFILES


def _quota_class(family: str) -> str:
    """EC2 vCPU service quota a family counts against: P, G (G and VT) or standard."""
    if family.startswith("p"):
        return "P"
    if family.startswith(("g", "vt")):
        return "G"
    return "standard"


def _read_json(filename: str) -> dict[str, Any]:
    text = resources.files(__name__).joinpath(filename).read_text(encoding="utf-8")
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{filename}: expected a JSON object at the top level")
    return data


@lru_cache(maxsize=1)
def _prices() -> dict[str, Any]:
    data = _read_json(_PRICES_FILE)
    for group in ("instances", "services"):
        snap = data.get("snapshot", {}).get(group)
        if not isinstance(snap, dict) or not {"date", "region", "source"} <= snap.keys():
            raise ValueError(f"{_PRICES_FILE}: snapshot.{group} needs date, region and source")
        date.fromisoformat(snap["date"])  # fail fast on a malformed date
    if "spot" in data:
        snap = data.get("snapshot", {}).get("spot")
        if not isinstance(snap, dict) or not {"date", "region", "source"} <= snap.keys():
            raise ValueError(f"{_PRICES_FILE}: a spot section needs snapshot.spot")
        date.fromisoformat(snap["date"])
        for name, usd in data["spot"].items():
            if not math.isfinite(float(usd)) or float(usd) <= 0:
                raise ValueError(f"{_PRICES_FILE}: spot price for {name!r} must be positive")
    return data


@lru_cache(maxsize=1)
def _catalog() -> dict[str, InstanceType]:
    entries: dict[str, Any] = _read_json(_INSTANCES_FILE)["instance_types"]
    prices: dict[str, Any] = _prices()["instances"]
    catalog: dict[str, InstanceType] = {}
    for name, raw in entries.items():
        price: float | None = None
        if name in prices:
            price = float(prices[name])
            if not math.isfinite(price) or price <= 0:
                raise ValueError(
                    f"{_PRICES_FILE}: price for {name!r} must be positive, got {price}"
                )
        family = str(raw["family"])
        catalog[name] = InstanceType(
            name=name,
            family=family,
            architecture=str(raw["architecture"]),
            vcpus=int(raw["vcpus"]),
            memory_mib=int(raw["memory_mib"]),
            gpu_model=None if raw["gpu_model"] is None else str(raw["gpu_model"]),
            gpu_count=int(raw["gpu_count"]),
            gpu_memory_mib=int(raw["gpu_memory_mib"]),
            network_performance=str(raw["network_performance"]),
            network_bandwidth_gbps=float(raw["network_bandwidth_gbps"]),
            network_cards=int(raw["network_cards"]),
            max_network_interfaces=int(raw["max_network_interfaces"]),
            max_interfaces_per_card=int(raw["max_interfaces_per_card"]),
            ipv4_addresses_per_interface=int(raw["ipv4_addresses_per_interface"]),
            efa_supported=bool(raw["efa_supported"]),
            max_efa_interfaces=int(raw["max_efa_interfaces"]),
            instance_store_disks=int(raw["instance_store_disks"]),
            instance_store_disk_gb=int(raw["instance_store_disk_gb"]),
            placement_group_strategies=tuple(str(s) for s in raw["placement_group_strategies"]),
            quota_class=_quota_class(family),
            on_demand_usd_per_hour=price,
            default_network_card_index=int(raw["default_network_card_index"]),
            cards=tuple(
                NetworkCard(
                    index=int(card["index"]),
                    max_interfaces=int(card["max_interfaces"]),
                    interface_types=tuple(str(t) for t in card["interface_types"]),
                    peak_bandwidth_gbps=float(card["peak_bandwidth_gbps"]),
                )
                for card in raw["network_card_details"]
            ),
        )
    return catalog


def supported_instance_types(gpu_only: bool = False) -> tuple[str, ...]:
    """Names of all supported instance types, sorted; only GPU types when ``gpu_only``."""
    return tuple(sorted(name for name, it in _catalog().items() if it.is_gpu or not gpu_only))


def all_instance_types() -> tuple[InstanceType, ...]:
    """Every supported instance type, sorted by name."""
    catalog = _catalog()
    return tuple(catalog[name] for name in sorted(catalog))


def get_instance_type(name: str) -> InstanceType:
    """Look up one instance type by its exact EC2 name (e.g. ``"p5.48xlarge"``).

    Raises:
        UnknownInstanceTypeError: the name is not supported. The message names the bad value,
            suggests the closest supported name and lists every supported type.
    """
    catalog = _catalog()
    found = catalog.get(name) if isinstance(name, str) else None
    if found is not None:
        return found
    supported = sorted(catalog)
    message = f"unknown instance type {name!r}"
    hint = suggest_instance_type(name) if isinstance(name, str) else None
    if hint:
        message += f"; did you mean {hint!r}?"
    message += f" Supported instance types: {', '.join(supported)}"
    raise UnknownInstanceTypeError(message)


_MAX_TYPO_EDITS = 2
"""A suggestion is at most this many single-character edits away from what was typed."""


def _edits(a: str, b: str, limit: int) -> int:
    """Levenshtein distance (insertions, deletions, substitutions) from `a` to `b`, or
    `limit + 1` as soon as it is known to exceed `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, char in enumerate(a, 1):
        current = [i]
        for j, other in enumerate(b, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char != other))
            )
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def suggest_instance_type(name: str) -> str | None:
    """The catalog type a mistyped name most likely meant, never a guess across GPU models.

    The candidates are the catalog types fewest edits away (at most two, and at most a third of
    the name). One is offered only when every candidate has the same GPU model (or none, for
    CPU types): `p5.48xlarg` -> `p5.48xlarge`, `p6-b20.48xlarge` -> `p6-b200.48xlarge`,
    `g6e.xlarg` -> `g6e.xlarge`; but `p5v.48xlarge` is as near to p5 (H100) as to p5e (H200)
    and `g63.xlarge` as near to g6 (L4) as to g6e (L40S), so they get no suggestion rather than
    one that would swap the GPU. So whenever the name is one typo away from the type meant, a
    suggestion, if any, is of that type's GPU model."""
    catalog = _catalog()
    typed = name.strip().lower()
    limit = min(_MAX_TYPO_EDITS, len(typed) // 3)
    distances = {n: _edits(typed, n, limit) for n in catalog}
    nearest = min(distances.values(), default=limit + 1)
    if nearest > limit:
        return None
    candidates = sorted(n for n, d in distances.items() if d == nearest)
    if len({catalog[n].gpu_model for n in candidates}) != 1:
        return None
    close = difflib.get_close_matches(typed, candidates, n=1, cutoff=0)
    return close[0] if close else candidates[0]


def types_meeting(
    gpu_model: str | None = None,
    min_gpus: int = 1,
    max_gpus: int | None = None,
    min_gpu_memory_gib: float = 0,
) -> tuple[InstanceType, ...]:
    """GPU instance types that meet a need, cheapest on-demand price first.

    Meant for building diversified (e.g. spot) pools of interchangeable types.

    Args:
        gpu_model: GPU model such as ``"T4"`` or ``"H100"`` (case-insensitive); ``None`` for any.
        min_gpus: minimum GPUs per instance (at least 1).
        max_gpus: maximum GPUs per instance; ``None`` for no upper bound.
        min_gpu_memory_gib: minimum memory of EACH GPU, in GiB (AWS reports e.g. 22888 MiB,
            about 22.35 GiB, for A10G and L4).

    Returns:
        Matching types sorted by on-demand price, then name (unpriced types last); empty when
        nothing qualifies.
    """
    if min_gpus < 1:
        raise ValueError(f"min_gpus must be at least 1, got {min_gpus}")
    if max_gpus is not None and max_gpus < min_gpus:
        raise ValueError(f"max_gpus ({max_gpus}) must not be below min_gpus ({min_gpus})")
    if min_gpu_memory_gib < 0:
        raise ValueError(f"min_gpu_memory_gib must not be negative, got {min_gpu_memory_gib}")
    wanted_model = None if gpu_model is None else gpu_model.strip().lower()
    matches = [
        it
        for it in _catalog().values()
        if it.is_gpu
        and (wanted_model is None or (it.gpu_model or "").lower() == wanted_model)
        and it.gpu_count >= min_gpus
        and (max_gpus is None or it.gpu_count <= max_gpus)
        and it.gpu_memory_mib / 1024 >= min_gpu_memory_gib
    ]
    return tuple(sorted(matches, key=price_order))


def price_order(it: InstanceType) -> tuple[bool, float, str]:
    """Sort key: cheapest on-demand price first, unpriced types last, then by name."""
    price = it.on_demand_usd_per_hour
    return (price is None, price or 0.0, it.name)


def eks_max_pods(
    instance_type: InstanceType, prefix_delegation: bool = True, custom_networking: bool = False
) -> int:
    """Recommended kubelet ``maxPods`` for the Amazon VPC CNI, as AWS computes it.

    Follows awslabs/amazon-eks-ami ``max-pods-calculator.sh`` and ``eni-max-pods.txt``:

    * ENIs are counted on the default network card only
      (``NetworkCards[DefaultNetworkCardIndex].MaximumNetworkInterfaces``): the VPC CNI puts
      pods on that card alone, so a p5.48xlarge counts 2 ENIs, not 64.
    * Without prefix delegation: ``ENIs * (IPv4 per ENI - 1) + 2``. This is the value published
      in ``eni-max-pods.txt`` and used by nodeadm (m5.large: 29, p5.48xlarge: 100); no ceiling
      is applied.
    * With prefix delegation (VPC CNI >= 1.9, Nitro): ``ENIs * (IPv4 per ENI - 1) * 16 + 2``,
      then capped like the calculator's recommended value: 110 when the type has 30 vCPUs or
      fewer, 250 above 30 vCPUs (m5.large: 110, p5.48xlarge: 250).

    * With custom networking (``--cni-custom-networking-enabled``) the primary ENI carries no
      pods: one ENI fewer in both formulas (m5.large without prefix delegation: 20, as the EKS
      user guide's "choosing an instance type" example gives).

    ``--cni-max-eni`` is not modelled.
    """
    enis = instance_type.max_interfaces_per_card - (1 if custom_networking else 0)
    ips_per_eni = instance_type.ipv4_addresses_per_interface - 1
    if not prefix_delegation:
        return enis * ips_per_eni + _HOST_NETWORK_PODS
    max_pods = enis * ips_per_eni * _IPS_PER_PREFIX + _HOST_NETWORK_PODS
    ceiling = (
        _MAX_PODS_CEILING_HIGH_CPU
        if instance_type.vcpus > _HIGH_CPU_THRESHOLD
        else _MAX_PODS_CEILING_LOW_CPU
    )
    return min(max_pods, ceiling)


def _snapshot(group: str) -> PriceSnapshot:
    snap = _prices()["snapshot"][group]
    return PriceSnapshot(
        date=str(snap["date"]), region=str(snap["region"]), source=str(snap["source"])
    )


def price_snapshot() -> PriceSnapshot:
    """Date, region and source of the instance on-demand prices."""
    return _snapshot("instances")


def service_price_snapshot() -> PriceSnapshot:
    """Date, region and overall source of the service prices (each key also has its own)."""
    return _snapshot("services")


def spot_snapshot() -> PriceSnapshot | None:
    """Date, region and source of the spot prices, or None: the snapshot has no spot section."""
    if "spot" not in _prices():
        return None
    return _snapshot("spot")


def spot_prices() -> dict[str, float]:
    """The snapshot's spot USD/hour by instance type (empty without a spot section)."""
    return {str(name): float(usd) for name, usd in (_prices().get("spot") or {}).items()}


def spot_usd_per_hour(name: str) -> float | None:
    """The spot USD/hour of a type in the snapshot, or None (no spot section, or no price)."""
    return spot_prices().get(name)


def _service_entry(key: str) -> dict[str, Any]:
    services: dict[str, Any] = _prices()["services"]
    if key not in services:
        raise KeyError(
            f"unknown service price key {key!r}; known keys: {', '.join(sorted(services))}"
        )
    entry: dict[str, Any] = services[key]
    return entry


def service_price(key: str) -> float:
    """USD price of a supporting service, by key (see the module docstring for the keys).

    Raises:
        KeyError: the key is unknown; the message names it.
    """
    return float(_service_entry(key)["usd"])


def service_price_source(key: str) -> str:
    """Where the price behind ``key`` was taken from."""
    return str(_service_entry(key)["source"])


# EC2 vCPU service quotas (service code "ec2"): (market, quota class) -> (code, name).
VCPU_QUOTAS: dict[tuple[str, str], tuple[str, str]] = {
    ("on-demand", "P"): ("L-417A185B", "Running On-Demand P instances"),
    ("on-demand", "G"): ("L-DB2E81BA", "Running On-Demand G and VT instances"),
    ("on-demand", "standard"): ("L-1216C47A", "Running On-Demand Standard instances"),
    ("spot", "P"): ("L-7212CCBC", "All P Spot Instance Requests"),
    ("spot", "G"): ("L-3819A6DF", "All G and VT Spot Instance Requests"),
    ("spot", "standard"): ("L-34B43A08", "All Standard Spot Instance Requests"),
}


def vcpu_quota(market: str, instance_type: InstanceType) -> tuple[str, str]:
    """The (code, name) of the vCPU quota an instance of this type counts against.

    `market` is "on-demand" or "spot" (Capacity Block instances are reserved, not counted)."""
    return VCPU_QUOTAS[(market, instance_type.quota_class)]


def vcpus_by_quota(
    pools: list[tuple[str, list[InstanceType], int]],
) -> dict[str, int]:
    """vCPUs needed at maximum per quota code, for pools given as (capacity type, types, max size).

    A pool counts at its largest type's vCPUs; `CAPACITY_BLOCK` pools are left out."""
    needed: dict[str, int] = {}
    for capacity_type, types, max_size in pools:
        if capacity_type == "CAPACITY_BLOCK" or not types:
            continue
        market = "spot" if capacity_type == "SPOT" else "on-demand"
        vcpus = max_size * max(t.vcpus for t in types)
        for code in sorted({vcpu_quota(market, t)[0] for t in types}):
            needed[code] = needed.get(code, 0) + vcpus
    return needed


# MIG profiles of the GPU Operator's default mig-parted config (uniform `all-*` profiles, usable
# with `mig.strategy: single`): GPU model -> profile -> MIG devices per GPU.
MIG_PROFILES: dict[str, dict[str, int]] = {
    "A100": {
        "all-1g.5gb": 7,
        "all-1g.10gb": 4,
        "all-2g.10gb": 3,
        "all-3g.20gb": 2,
        "all-4g.20gb": 1,
        "all-7g.40gb": 1,
    },
    "H100": {
        "all-1g.10gb": 7,
        "all-1g.20gb": 4,
        "all-2g.20gb": 3,
        "all-3g.40gb": 2,
        "all-4g.40gb": 1,
        "all-7g.80gb": 1,
    },
    "H200": {
        "all-1g.18gb": 7,
        "all-1g.35gb": 4,
        "all-2g.35gb": 3,
        "all-3g.71gb": 2,
        "all-4g.71gb": 1,
        "all-7g.141gb": 1,
    },
}


def mig_devices_per_gpu(gpu_model: str, profile: str) -> int:
    """MIG devices one GPU exposes under `profile`; ValueError naming the supported profiles."""
    profiles = MIG_PROFILES.get(gpu_model)
    if profiles is None:
        raise ValueError(
            f"{gpu_model} does not support MIG (MIG GPUs: {', '.join(sorted(MIG_PROFILES))}); "
            "share it with time-slicing instead"
        )
    if profile not in profiles:
        raise ValueError(
            f"{profile!r} is not a MIG profile of {gpu_model} (supported: {', '.join(profiles)})"
        )
    return profiles[profile]
