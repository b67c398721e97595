"""Pure sizing maths: how many IP addresses the largest fleet takes, and the subnets that hold it.

With VPC CNI prefix delegation every node takes /28 prefixes (16 addresses each) from its subnet:
enough for its maximum pod count, plus `WARM_PREFIX_TARGET` spare prefixes the CNI keeps attached,
plus the node's own primary address. EFA-only interfaces (p5 cards 1-31) take no IP addresses.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Mapping, Sequence
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

MIN_PRIVATE_PREFIX = 24
"""Private subnets are never smaller than /24."""

PUBLIC_PREFIX = 24
"""Public subnets (NAT gateways, internet-facing load balancers): /24 each."""


def node_ip_demand(instance: InstanceType) -> int:
    """Addresses one node can draw from its subnet at full pod density."""
    max_pods = eks_max_pods(instance, prefix_delegation=True)
    prefixes = math.ceil(max_pods / PREFIX_SIZE) + WARM_PREFIX_TARGET
    return 1 + PREFIX_SIZE * prefixes


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


def ip_demand_per_az(pools: Iterable[PoolFootprint], azs: Sequence[str]) -> dict[str, int]:
    """Addresses each AZ's private subnet must hold when every pool is at its maximum size.

    Managed node groups balance on-demand nodes over their subnets, so such a pool over N AZs puts
    at most ceil(max/N) nodes in each; a single-AZ pool (EFA) puts all of them in its AZ, and a
    spot pool may put all of them in any of its AZs. Each node is counted at the hungriest of the
    pool's instance types.
    """
    demand = dict.fromkeys(azs, 0)
    for pool in pools:
        if pool.max_size == 0 or not pool.instance_types:
            continue
        per_node = max(node_ip_demand(t) for t in pool.instance_types)
        nodes_per_az = (
            math.ceil(pool.max_size / len(pool.availability_zones))
            if pool.balanced
            else pool.max_size
        )
        for az in pool.availability_zones:
            demand[az] = demand.get(az, 0) + nodes_per_az * per_node
    return demand


def private_prefix_for(ip_demand: int) -> int:
    """Smallest subnet prefix length that holds `ip_demand` addresses with headroom and overhead."""
    need = math.ceil(ip_demand * HEADROOM) + SUBNET_OVERHEAD + AWS_RESERVED_PER_SUBNET
    prefix = 32 - max(0, math.ceil(math.log2(need)))
    return min(prefix, MIN_PRIVATE_PREFIX)


def usable_addresses(prefix: int) -> int:
    return 2 ** (32 - prefix) - AWS_RESERVED_PER_SUBNET


@dataclass(frozen=True)
class SubnetPlan:
    az: str
    private_cidr: str
    public_cidr: str
    ip_demand: int


class SubnetPlanError(ValueError):
    """The VPC range cannot hold the subnets the fleet needs."""


def plan_subnets(vpc_cidr: str, demand_per_az: Mapping[str, int]) -> list[SubnetPlan]:
    """Carve one private and one public subnet per AZ out of `vpc_cidr`.

    All private subnets get the same size (the largest AZ's need), so any AZ can take over a pool.
    Blocks are allocated largest first, aligned, without overlap.
    """
    vpc = ipaddress.IPv4Network(vpc_cidr)
    azs = list(demand_per_az)
    private_prefix = min(private_prefix_for(d) for d in demand_per_az.values())
    if private_prefix < vpc.prefixlen:
        raise SubnetPlanError(_too_small(vpc_cidr, len(azs), private_prefix))
    private_blocks = list(vpc.subnets(new_prefix=private_prefix))
    if len(private_blocks) < len(azs):
        raise SubnetPlanError(_too_small(vpc_cidr, len(azs), private_prefix))
    privates = private_blocks[: len(azs)]
    used_end = int(privates[-1].broadcast_address) + 1
    publics: list[ipaddress.IPv4Network] = []
    candidate = max(PUBLIC_PREFIX, vpc.prefixlen)
    for block in vpc.subnets(new_prefix=candidate):
        if int(block.network_address) >= used_end:
            publics.append(block)
        if len(publics) == len(azs):
            break
    if len(publics) < len(azs):
        raise SubnetPlanError(_too_small(vpc_cidr, len(azs), private_prefix))
    return [
        SubnetPlan(az=az, private_cidr=str(pr), public_cidr=str(pu), ip_demand=demand_per_az[az])
        for az, pr, pu in zip(azs, privates, publics, strict=True)
    ]


def _too_small(vpc_cidr: str, azs: int, private_prefix: int) -> str:
    needed = azs * 2 ** (32 - private_prefix) + azs * 2 ** (32 - PUBLIC_PREFIX)
    fitting = 32 - math.ceil(math.log2(needed))
    return (
        f"{vpc_cidr} cannot hold {azs} private /{private_prefix} subnets plus {azs} public "
        f"/{PUBLIC_PREFIX} subnets ({needed} addresses); use /{fitting} or larger, "
        "or lower pool maxSize"
    )
