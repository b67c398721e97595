"""Pure sizing maths: how many IP addresses the largest fleet takes, and the subnets that hold it.

With VPC CNI prefix delegation every node takes /28 prefixes (16 addresses each) from its subnet:
enough for its maximum pod count, plus `WARM_PREFIX_TARGET` spare prefixes the CNI keeps attached,
plus the node's own primary address. EFA-only interfaces (p5 cards 1-31) take no IP addresses.

With VPC CNI custom networking (`podNetwork`) the node's primary interface carries no pods: the
node takes one address from its node subnet, and its pods' prefixes and the primary addresses of
its secondary interfaces come from the pod subnet of its AZ (one interface fewer for pods).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from components.catalog import InstanceType, eks_max_pods

WARM_PREFIX_TARGET = 1
"""Spare /28 prefixes the VPC CNI keeps per node (set in the vpc-cni add-on configuration)."""

PREFIX_SIZE = 16
"""Addresses in one /28 prefix."""

HEADROOM = 1.25
"""Prefixes must be aligned /28 blocks; scattered node IPs fragment a subnet. Size for 25% more."""

AWS_RESERVED_PER_SUBNET = 5
"""AWS keeps the first four and the last address of every subnet."""

SUBNET_OVERHEAD = 32
"""Per private subnet: interface endpoint ENIs, internal load balancers, EKS control-plane ENIs."""

PUBLIC_PREFIX = 24
"""Public subnets (NAT gateways, internet-facing load balancers): /24 each."""


def node_ip_demand(instance: InstanceType, custom_networking: bool = False) -> int:
    """Addresses one node can draw from its node subnet at full pod density (its own address
    alone with custom networking)."""
    if custom_networking:
        return 1
    max_pods = eks_max_pods(instance, prefix_delegation=True)
    prefixes = math.ceil(max_pods / PREFIX_SIZE) + WARM_PREFIX_TARGET
    return 1 + PREFIX_SIZE * prefixes


def pod_ip_demand(instance: InstanceType) -> int:
    """Addresses one node's pods can draw from the pod subnet with custom networking: the /28
    prefixes for its maximum pod count plus the warm ones, and the primary address of each
    secondary interface that holds them."""
    max_pods = eks_max_pods(instance, prefix_delegation=True, custom_networking=True)
    prefixes = math.ceil(max_pods / PREFIX_SIZE) + WARM_PREFIX_TARGET
    return PREFIX_SIZE * prefixes + (instance.max_interfaces_per_card - 1)


@dataclass(frozen=True)
class PoolFootprint:
    """The part of a node pool that sizing needs."""

    name: str
    instance_types: Sequence[InstanceType]
    max_size: int
    availability_zones: Sequence[str]
    balanced: bool = True
    """Nodes spread evenly over the AZs. Spot pools are not: they follow spare capacity, so all
    of their nodes may land in one AZ."""


def ip_demand_per_az(
    pools: Iterable[PoolFootprint],
    azs: Sequence[str],
    per_node: Callable[[InstanceType], int] = node_ip_demand,
) -> dict[str, int]:
    """Addresses each AZ's private subnet must hold when every pool is at its maximum size
    (`per_node`: a node's draw, `node_ip_demand` by default; with custom networking
    `node_ip_demand(t, True)` for the node subnets and `pod_ip_demand` for the pod subnets).

    Managed node groups balance on-demand nodes over their subnets, so such a pool over N AZs puts
    at most ceil(max/N) nodes in each; a single-AZ pool (EFA) puts all of them in its AZ, and a
    spot pool may put all of them in any of its AZs. Each node is counted at the hungriest of the
    pool's instance types.
    """
    demand = dict.fromkeys(azs, 0)
    for pool in pools:
        if pool.max_size == 0 or not pool.instance_types:
            continue
        node_draw = max(per_node(t) for t in pool.instance_types)
        nodes_per_az = (
            math.ceil(pool.max_size / len(pool.availability_zones))
            if pool.balanced
            else pool.max_size
        )
        for az in pool.availability_zones:
            demand[az] = demand.get(az, 0) + nodes_per_az * node_draw
    return demand


def usable_addresses(prefix: int) -> int:
    return int(2 ** (32 - prefix)) - AWS_RESERVED_PER_SUBNET


@dataclass(frozen=True)
class SubnetPlan:
    az: str
    private_cidr: str
    public_cidr: str
    ip_demand: int
    control_plane_cidr: str | None = None
    """The AZ's dedicated control-plane subnet (`subnets.dedicatedControlPlane`), else None."""


@dataclass(frozen=True)
class PodSubnetPlan:
    """A pod subnet (custom networking) and the addresses its AZ's pods can take at most."""

    az: str
    cidr: str
    ip_demand: int


class SubnetPlanError(ValueError):
    """The address plan cannot hold the fleet, or the given subnets do not fit the VPC."""


LAYOUT_BLOCKS = 4
"""The fixed plan splits the VPC range into four equal blocks: up to three AZs' private
subnets, and a last block for the public subnets. Adding a third AZ takes the spare block; no
existing subnet ever moves."""


def layout_subnets(vpc_cidr: str, azs: Sequence[str]) -> list[tuple[str, str, str]]:
    """Pure: the fixed address plan, (az, private CIDR, public CIDR) per AZ in order.

    It depends only on the VPC range and the AZs' order, never on pool sizes: growing or adding
    pools never re-carves a subnet. Private subnets are the first blocks of a four-way split; the
    public subnets are carved from the last block (/24 each, or a quarter of it if smaller).
    """
    vpc = ipaddress.IPv4Network(vpc_cidr)
    blocks = list(vpc.subnets(prefixlen_diff=2))
    public_prefix = max(PUBLIC_PREFIX, blocks[-1].prefixlen + 2)
    if public_prefix > MAX_SUBNET_PREFIX:
        raise SubnetPlanError(f"{vpc_cidr} is too small to split into four subnet blocks")
    publics = list(blocks[-1].subnets(new_prefix=public_prefix))
    return [
        (az, str(blocks[index]), str(publics[index]))
        for index, az in enumerate(azs[: LAYOUT_BLOCKS - 1])
    ]


MAX_SUBNET_PREFIX = 28
"""AWS's smallest subnet."""


def required_addresses(ip_demand: int) -> int:
    """Addresses a private subnet must have for `ip_demand`: headroom, overhead, AWS's five."""
    return math.ceil(ip_demand * HEADROOM) + SUBNET_OVERHEAD + AWS_RESERVED_PER_SUBNET


def plan_subnets(
    vpc_cidr: str,
    demand_per_az: Mapping[str, int],
    private_cidrs: Mapping[str, str] | None = None,
    public_cidrs: Mapping[str, str] | None = None,
) -> list[SubnetPlan]:
    """The subnets of every AZ: given CIDRs where the config pins them, else the fixed plan.

    Raises SubnetPlanError when a private subnet cannot hold its AZ's fleet at maximum size:
    the address plan is a ceiling that growth must stay under, never a reason to move subnets.
    """
    azs = list(demand_per_az)
    fixed = {az: (private, public) for az, private, public in layout_subnets(vpc_cidr, azs)}
    plans = []
    for az in azs:
        private = (private_cidrs or {}).get(az) or fixed[az][0]
        public = (public_cidrs or {}).get(az) or fixed[az][1]
        need = required_addresses(demand_per_az[az])
        have = 2 ** (32 - ipaddress.IPv4Network(private).prefixlen)
        if need > have:
            origin = "pinned" if az in (private_cidrs or {}) else f"a quarter of {vpc_cidr}"
            raise SubnetPlanError(
                f"the pools need {need} addresses in {az} at maximum size (with 25% headroom), "
                f"more than its private subnet {private} ({origin}) holds ({have}). Subnets never "
                "move to make room: lower maxSize, or move to a larger layout on purpose (a larger "
                "vpcCidr or subnets.privateCidrs), which a plan against the live stack shows as "
                "a replacement"
            )
        plans.append(SubnetPlan(az, private, public, demand_per_az[az]))
    return plans


CONTROL_PLANE_PREFIX = 28
"""Dedicated control-plane subnets: /28 each, the size the EKS user guide recommends (EKS places
2-4 network interfaces there, and as many again during an upgrade)."""


def layout_control_plane(vpc_cidr: str, azs: Sequence[str]) -> dict[str, str]:
    """Pure: the derived control-plane subnets, a /28 per AZ from the start of the spare quarter
    of the fixed plan's public block (the public subnets take its first three quarters). Like the
    rest of the fixed plan it depends only on the VPC range and the AZs' order."""
    vpc = ipaddress.IPv4Network(vpc_cidr)
    last = list(vpc.subnets(prefixlen_diff=2))[-1]
    public_prefix = max(PUBLIC_PREFIX, last.prefixlen + 2)
    spare = list(last.subnets(new_prefix=public_prefix))[LAYOUT_BLOCKS - 1]
    if spare.prefixlen > CONTROL_PLANE_PREFIX or 2 ** (
        CONTROL_PLANE_PREFIX - spare.prefixlen
    ) < len(azs):
        raise SubnetPlanError(
            f"{vpc_cidr} leaves no room for a /28 control-plane subnet per AZ in its spare "
            f"block {spare}: pin subnets.controlPlaneCidrs"
        )
    blocks = list(spare.subnets(new_prefix=CONTROL_PLANE_PREFIX))
    return {az: str(blocks[index]) for index, az in enumerate(azs)}


def layout_pod_subnets(pod_cidr: str, azs: Sequence[str]) -> dict[str, str]:
    """Pure: the fixed pod-subnet plan, the pod range split in four with a quarter per AZ in the
    stack's AZ order (a third AZ takes the next quarter; no pod subnet ever moves)."""
    blocks = list(ipaddress.IPv4Network(pod_cidr).subnets(prefixlen_diff=2))
    return {az: str(blocks[index]) for index, az in enumerate(azs[: LAYOUT_BLOCKS - 1])}


def plan_pod_subnets(
    pod_cidr: str, demand_per_az: Mapping[str, int], pinned: Mapping[str, str] | None = None
) -> list[PodSubnetPlan]:
    """The pod subnet of every AZ: pinned where the config pins it, else the fixed plan.

    Raises SubnetPlanError when a pod subnet cannot hold its AZ's pods at maximum size (the same
    headroom rule as the node subnets)."""
    azs = list(demand_per_az)
    fixed = layout_pod_subnets(pod_cidr, azs)
    plans = []
    for az in azs:
        cidr = (pinned or {}).get(az) or fixed[az]
        need = required_addresses(demand_per_az[az])
        have = 2 ** (32 - ipaddress.IPv4Network(cidr).prefixlen)
        if need > have:
            origin = "pinned" if az in (pinned or {}) else f"a quarter of {pod_cidr}"
            raise SubnetPlanError(
                f"the pools' pods need {need} addresses in {az} at maximum size (with 25% "
                f"headroom), more than its pod subnet {cidr} ({origin}) holds ({have}). Pod "
                "subnets never move to make room: lower maxSize, or move to a larger pod range "
                "on purpose, which a plan against the live stack shows as a replacement"
            )
        plans.append(PodSubnetPlan(az, cidr, demand_per_az[az]))
    return plans
