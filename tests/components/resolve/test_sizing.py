"""Tests for the IP demand and subnet planning maths (components.resolve.sizing)."""

from __future__ import annotations

import ipaddress
import math
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.catalog import eks_max_pods, get_instance_type
from components.resolve.sizing import (
    AWS_RESERVED_PER_SUBNET,
    PREFIX_SIZE,
    SUBNET_OVERHEAD,
    WARM_PREFIX_TARGET,
    PoolFootprint,
    SubnetPlanError,
    ip_demand_per_az,
    node_ip_demand,
    plan_subnets,
    required_addresses,
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


# --------------------------------------------------------------------------- the address plan


def test_usable_addresses_subtracts_aws_reserved() -> None:
    assert usable_addresses(24) == 256 - AWS_RESERVED_PER_SUBNET


def test_the_fixed_plan_splits_the_vpc_in_four() -> None:
    plans = plan_subnets("10.0.0.0/16", {"us-east-1a": 0, "us-east-1b": 0})
    assert [(p.az, p.private_cidr, p.public_cidr, p.ip_demand) for p in plans] == [
        ("us-east-1a", "10.0.0.0/18", "10.0.192.0/24", 0),
        ("us-east-1b", "10.0.64.0/18", "10.0.193.0/24", 0),
    ]


@pytest.mark.parametrize("demand", [0, 10, 3000, 9000])
def test_demand_never_moves_a_subnet(demand: int) -> None:
    base = plan_subnets("10.0.0.0/16", {"us-east-1a": 0, "us-east-1b": 0})
    grown = plan_subnets("10.0.0.0/16", {"us-east-1a": demand, "us-east-1b": 10})
    assert [(p.private_cidr, p.public_cidr) for p in grown] == [
        (p.private_cidr, p.public_cidr) for p in base
    ]


def test_a_third_az_takes_the_spare_block_without_moving_the_others() -> None:
    two = plan_subnets("10.0.0.0/16", dict.fromkeys(AZS3[:2], 0))
    three = plan_subnets("10.0.0.0/16", dict.fromkeys(AZS3, 0))
    assert [(p.private_cidr, p.public_cidr) for p in three[:2]] == [
        (p.private_cidr, p.public_cidr) for p in two
    ]
    assert three[2].private_cidr == "10.0.128.0/18"


def test_pinned_subnets_are_kept_and_checked_against_the_fleet() -> None:
    pinned = {"us-east-1a": "10.0.0.0/22", "us-east-1b": "10.0.4.0/22"}
    plans = plan_subnets("10.0.0.0/16", {"us-east-1a": 500, "us-east-1b": 0}, pinned)
    assert [p.private_cidr for p in plans] == list(pinned.values())
    # 1000 * 1.25 + 32 + 5 = 1287 addresses do not fit a /22 (1024): an error, never a move.
    with pytest.raises(SubnetPlanError, match=r"1287 addresses in us-east-1a") as caught:
        plan_subnets("10.0.0.0/16", {"us-east-1a": 1000, "us-east-1b": 0}, pinned)
    assert "never move" in str(caught.value)


def test_required_addresses_add_headroom_overhead_and_aws_reserved() -> None:
    assert required_addresses(1000) == 1250 + SUBNET_OVERHEAD + AWS_RESERVED_PER_SUBNET


@st.composite
def vpcs(draw: st.DrawFn) -> ipaddress.IPv4Network:
    prefix = draw(st.integers(min_value=16, max_value=24), label="prefix")
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
    private_size = vpc.num_addresses // 4
    fits = all(required_addresses(d) <= private_size for d in per_az)
    try:
        plans = plan_subnets(str(vpc), demand)
    except SubnetPlanError:
        assert not fits
        return
    assert fits
    assert [p.az for p in plans] == list(demand)
    networks = []
    for plan in plans:
        private = ipaddress.IPv4Network(plan.private_cidr)
        public = ipaddress.IPv4Network(plan.public_cidr)
        assert private.subnet_of(vpc) and public.subnet_of(vpc)
        assert private.prefixlen == vpc.prefixlen + 2
        networks += [private, public]
    for a, b in combinations(networks, 2):
        assert not a.overlaps(b), f"{a} overlaps {b}"
    # The layout is the same whatever the demand.
    assert [p.private_cidr for p in plans] == [
        p.private_cidr for p in plan_subnets(str(vpc), dict.fromkeys(demand, 0))
    ]


def test_a_spot_pool_may_put_every_node_in_any_of_its_azs():
    from components.catalog import get_instance_type
    from components.resolve.sizing import PoolFootprint, ip_demand_per_az, node_ip_demand

    t4 = get_instance_type("g4dn.xlarge")
    azs = ["us-east-1a", "us-east-1b", "us-east-1c"]
    balanced = ip_demand_per_az([PoolFootprint("od", [t4], 6, azs)], azs)
    spot = ip_demand_per_az([PoolFootprint("spot", [t4], 6, azs, balanced=False)], azs)
    assert balanced == dict.fromkeys(azs, 2 * node_ip_demand(t4))
    assert spot == dict.fromkeys(azs, 6 * node_ip_demand(t4))
