"""Tests for the IP demand and subnet planning maths (components.resolve.sizing)."""

from __future__ import annotations

import ipaddress
import math
import re
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.catalog import eks_max_pods, get_instance_type
from components.resolve.sizing import (
    AWS_RESERVED_PER_SUBNET,
    HEADROOM,
    MIN_PRIVATE_PREFIX,
    PREFIX_SIZE,
    PUBLIC_PREFIX,
    SUBNET_OVERHEAD,
    WARM_PREFIX_TARGET,
    PoolFootprint,
    SubnetPlanError,
    ip_demand_per_az,
    node_ip_demand,
    plan_subnets,
    private_prefix_for,
    usable_addresses,
)

AZS3 = ("us-east-1a", "us-east-1b", "us-east-1c")


def footprint(name: str, types: list[str], max_size: int, azs: tuple[str, ...]) -> PoolFootprint:
    return PoolFootprint(
        name=name,
        instance_types=[get_instance_type(t) for t in types],
        max_size=max_size,
        availability_zones=list(azs),
    )


# --------------------------------------------------------------------------- node_ip_demand


def test_node_ip_demand_pinned_m7i_large() -> None:
    # 110 pods -> ceil(110 / 16) = 7 prefixes + 1 warm = 8 -> 1 primary + 16 * 8.
    assert node_ip_demand(get_instance_type("m7i.large")) == 129


def test_node_ip_demand_pinned_p5() -> None:
    # 250 pods (over 30 vCPUs) -> 16 prefixes + 1 warm = 17 -> 1 + 16 * 17.
    assert node_ip_demand(get_instance_type("p5.48xlarge")) == 273


@pytest.mark.parametrize(
    "name",
    [
        "m7i.large",
        "m7i.xlarge",
        "g4dn.xlarge",
        "g4dn.12xlarge",
        "g5.xlarge",
        "p4d.24xlarge",
        "p5.48xlarge",
    ],
)
def test_node_ip_demand_follows_formula(name: str) -> None:
    instance = get_instance_type(name)
    pods = eks_max_pods(instance, prefix_delegation=True)
    expected = 1 + PREFIX_SIZE * (math.ceil(pods / PREFIX_SIZE) + WARM_PREFIX_TARGET)
    assert node_ip_demand(instance) == expected
    # Enough addresses for every pod plus the node itself.
    assert node_ip_demand(instance) >= pods + 1


# --------------------------------------------------------------------------- ip_demand_per_az


def test_three_az_pool_spreads_nodes_evenly() -> None:
    per_node = node_ip_demand(get_instance_type("g4dn.xlarge"))
    demand = ip_demand_per_az([footprint("t4", ["g4dn.xlarge"], 6, AZS3)], AZS3)
    assert demand == dict.fromkeys(AZS3, 2 * per_node)


def test_uneven_spread_rounds_up() -> None:
    per_node = node_ip_demand(get_instance_type("g4dn.xlarge"))
    demand = ip_demand_per_az([footprint("t4", ["g4dn.xlarge"], 7, AZS3)], AZS3)
    assert demand == dict.fromkeys(AZS3, 3 * per_node)


def test_single_az_pool_puts_all_nodes_in_its_az() -> None:
    per_node = node_ip_demand(get_instance_type("p5.48xlarge"))
    demand = ip_demand_per_az([footprint("h100", ["p5.48xlarge"], 4, ("us-east-1b",))], AZS3)
    assert demand == {"us-east-1a": 0, "us-east-1b": 4 * per_node, "us-east-1c": 0}


def test_max_zero_adds_nothing() -> None:
    demand = ip_demand_per_az([footprint("off", ["p5.48xlarge"], 0, AZS3)], AZS3)
    assert demand == dict.fromkeys(AZS3, 0)


def test_no_pools_gives_zero_for_every_az() -> None:
    assert ip_demand_per_az([], AZS3) == dict.fromkeys(AZS3, 0)


def test_mixed_pool_counts_hungriest_type_and_pools_add_up() -> None:
    hungry = node_ip_demand(get_instance_type("p5.48xlarge"))
    small = node_ip_demand(get_instance_type("m7i.large"))
    pools = [
        footprint("mixed", ["g4dn.xlarge", "p5.48xlarge"], 3, AZS3),
        footprint("system", ["m7i.large"], 2, AZS3[:2]),
    ]
    demand = ip_demand_per_az(pools, AZS3)
    assert demand == {
        "us-east-1a": hungry + small,
        "us-east-1b": hungry + small,
        "us-east-1c": hungry,
    }


# --------------------------------------------------------------------------- prefixes


@pytest.mark.parametrize("demand", [0, 1, 100, 171, 172, 1000, 5000, 60000])
def test_private_prefix_is_smallest_that_fits(demand: int) -> None:
    prefix = private_prefix_for(demand)
    need = math.ceil(demand * HEADROOM) + SUBNET_OVERHEAD
    assert prefix <= MIN_PRIVATE_PREFIX
    assert usable_addresses(prefix) >= need
    if prefix < MIN_PRIVATE_PREFIX:
        assert usable_addresses(prefix + 1) < need  # one size smaller would not do


def test_usable_addresses_subtracts_aws_reserved() -> None:
    assert usable_addresses(24) == 256 - AWS_RESERVED_PER_SUBNET


# --------------------------------------------------------------------------- plan_subnets


def test_plan_small_demand_pinned() -> None:
    plans = plan_subnets("10.0.0.0/16", {"us-east-1a": 0, "us-east-1b": 0})
    assert [(p.az, p.private_cidr, p.public_cidr, p.ip_demand) for p in plans] == [
        ("us-east-1a", "10.0.0.0/24", "10.0.2.0/24", 0),
        ("us-east-1b", "10.0.1.0/24", "10.0.3.0/24", 0),
    ]


def test_plan_sizes_every_private_subnet_for_the_largest_az() -> None:
    # 3000 * 1.25 + 32 + 5 = 3787 addresses -> /20 for every AZ.
    plans = plan_subnets("10.0.0.0/16", {"us-east-1a": 3000, "us-east-1b": 10})
    assert [(p.private_cidr, p.public_cidr) for p in plans] == [
        ("10.0.0.0/20", "10.0.32.0/24"),
        ("10.0.16.0/20", "10.0.33.0/24"),
    ]


def test_tiny_vpc_for_three_azs_suggests_a_larger_prefix() -> None:
    # 3 x /24 private + 3 x /24 public = 1536 addresses -> /21.
    with pytest.raises(SubnetPlanError, match=r"use /21 or larger") as caught:
        plan_subnets("10.0.0.0/24", dict.fromkeys(AZS3, 0))
    assert "10.0.0.0/24" in str(caught.value)


def test_tiny_vpc_with_large_demand_raises() -> None:
    # 5000 addresses -> a /19 private subnet cannot fit in a /24.
    with pytest.raises(SubnetPlanError) as caught:
        plan_subnets("10.0.0.0/24", {"us-east-1a": 5000, "us-east-1b": 0})
    message = str(caught.value)
    assert "10.0.0.0/24" in message
    assert "/19" in message


def test_tiny_vpc_with_large_demand_suggests_a_fitting_vpc_prefix() -> None:
    with pytest.raises(SubnetPlanError, match=r"use /17 or larger"):
        plan_subnets("10.0.0.0/24", {"us-east-1a": 5000, "us-east-1b": 0})


@st.composite
def vpcs(draw: st.DrawFn) -> ipaddress.IPv4Network:
    prefix = draw(st.integers(min_value=16, max_value=20), label="prefix")
    base = draw(st.integers(min_value=0, max_value=2**24 - 1), label="base")
    return ipaddress.IPv4Network(
        (int(ipaddress.IPv4Address("10.0.0.0")) + base, prefix), strict=False
    )


demands = st.integers(min_value=2, max_value=3).flatmap(
    lambda n: st.lists(st.integers(min_value=0, max_value=5000), min_size=n, max_size=n)
)


@settings(max_examples=150, deadline=None)
@given(vpc=vpcs(), per_az=demands)
def test_plan_subnets_property(vpc: ipaddress.IPv4Network, per_az: list[int]) -> None:
    demand = {f"us-east-1{'abc'[i]}": d for i, d in enumerate(per_az)}
    private_size = 2 ** (32 - min(private_prefix_for(d) for d in per_az))
    fits = len(per_az) * (private_size + 2 ** (32 - PUBLIC_PREFIX)) <= vpc.num_addresses
    try:
        plans = plan_subnets(str(vpc), demand)
    except SubnetPlanError as exc:
        assert not fits, f"{vpc} could hold the plan but raised: {exc}"
        suggested = re.search(r"use /(\d+) or larger", str(exc))
        if suggested:  # the suggestion must actually work
            bigger = vpc.supernet(new_prefix=int(suggested.group(1)))
            assert plan_subnets(str(bigger), demand)
        return

    assert fits
    assert [p.az for p in plans] == list(demand)
    networks = []
    for plan in plans:
        private = ipaddress.IPv4Network(plan.private_cidr)
        public = ipaddress.IPv4Network(plan.public_cidr)
        assert plan.ip_demand == demand[plan.az]
        assert private.subnet_of(vpc)
        assert public.subnet_of(vpc)
        assert public.prefixlen == PUBLIC_PREFIX
        assert private.prefixlen <= MIN_PRIVATE_PREFIX
        usable = private.num_addresses - AWS_RESERVED_PER_SUBNET
        assert usable >= demand[plan.az] * HEADROOM + SUBNET_OVERHEAD
        networks += [private, public]
    # One private + one public per AZ, all private subnets the same size, no overlap.
    assert len(networks) == 2 * len(demand)
    assert len({ipaddress.IPv4Network(p.private_cidr).prefixlen for p in plans}) == 1
    for a, b in combinations(networks, 2):
        assert not a.overlaps(b), f"{a} overlaps {b}"


def test_a_spot_pool_may_put_every_node_in_any_of_its_azs():
    from components.catalog import get_instance_type
    from components.resolve.sizing import PoolFootprint, ip_demand_per_az, node_ip_demand

    t4 = get_instance_type("g4dn.xlarge")
    azs = ["us-east-1a", "us-east-1b", "us-east-1c"]
    balanced = ip_demand_per_az([PoolFootprint("od", [t4], 6, azs)], azs)
    spot = ip_demand_per_az([PoolFootprint("spot", [t4], 6, azs, balanced=False)], azs)
    assert balanced == dict.fromkeys(azs, 2 * node_ip_demand(t4))
    assert spot == dict.fromkeys(azs, 6 * node_ip_demand(t4))
