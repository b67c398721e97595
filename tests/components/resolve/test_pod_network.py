"""The pod range (VPC CNI custom networking) and the control-plane subnets in the resolve: the
fixed layouts, the demand that moves from the node subnets to the pod subnets, and the errors."""

from __future__ import annotations

import ipaddress
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.catalog import eks_max_pods, get_instance_type
from components.config import ConfigError
from components.resolve.cluster import ENI_CONFIG_LABEL, vpc_cni_configuration
from components.resolve.pools import footprints
from components.resolve.sizing import (
    PREFIX_SIZE,
    WARM_PREFIX_TARGET,
    PoolFootprint,
    SubnetPlanError,
    ip_demand_per_az,
    layout_control_plane,
    layout_pod_subnets,
    node_ip_demand,
    plan_pod_subnets,
    pod_ip_demand,
    required_addresses,
)
from tests.support import config, platform

AZS = ("us-east-1a", "us-east-1b", "us-east-1c")
PODS = {"cidr": "100.64.0.0/16"}


# --------------------------------------------------------------------------- per-node demand


def test_with_custom_networking_a_node_takes_one_address_from_its_node_subnet() -> None:
    for name in ("m7i.xlarge", "g4dn.xlarge", "p5.48xlarge"):
        instance = get_instance_type(name)
        assert node_ip_demand(instance, custom_networking=True) == 1
        assert node_ip_demand(instance) > 100


def test_the_pods_take_their_prefixes_and_the_secondary_interfaces_from_the_pod_subnet() -> None:
    # p5.48xlarge: 2 interfaces on card 0, 50 addresses each; without the primary interface one
    # interface holds 49 prefixes = 784 pods + 2, capped at 250 (192 vCPUs) -> 16 prefixes.
    p5 = get_instance_type("p5.48xlarge")
    assert eks_max_pods(p5, prefix_delegation=True, custom_networking=True) == 250
    assert pod_ip_demand(p5) == PREFIX_SIZE * (16 + WARM_PREFIX_TARGET) + 1 == 273
    # m5.large-shaped arithmetic, as the EKS user guide gives it: 3 ENIs x 10 -> 29, custom 20.
    g4dn = get_instance_type("g4dn.xlarge")  # 3 interfaces, 10 addresses each, 4 vCPUs
    assert eks_max_pods(g4dn, prefix_delegation=False) == 29
    assert eks_max_pods(g4dn, prefix_delegation=False, custom_networking=True) == 20
    assert pod_ip_demand(g4dn) == PREFIX_SIZE * (math.ceil(110 / 16) + 1) + 2 == 130


# --------------------------------------------------------------------------- layouts


def test_the_pod_range_splits_in_four_a_quarter_per_az() -> None:
    assert layout_pod_subnets("100.64.0.0/16", AZS) == {
        "us-east-1a": "100.64.0.0/18",
        "us-east-1b": "100.64.64.0/18",
        "us-east-1c": "100.64.128.0/18",
    }
    # A third AZ takes the next quarter without moving the first two.
    assert (
        layout_pod_subnets("100.64.0.0/16", AZS[:2]).items()
        <= layout_pod_subnets("100.64.0.0/16", AZS).items()
    )


@settings(max_examples=40, deadline=None)
@given(
    prefix=st.integers(min_value=16, max_value=26),
    demand=st.lists(st.integers(min_value=0, max_value=400), min_size=3, max_size=3),
)
def test_pod_subnets_never_move_when_pools_grow(prefix: int, demand: list[int]) -> None:
    cidr = f"100.64.0.0/{prefix}"
    base = layout_pod_subnets(cidr, AZS)
    try:
        plans = plan_pod_subnets(cidr, dict(zip(AZS, demand, strict=True)))
    except SubnetPlanError:
        return  # over the ceiling: an error, never a re-carve
    assert {p.az: p.cidr for p in plans} == base
    for plan in plans:
        net = ipaddress.IPv4Network(plan.cidr)
        assert net.subnet_of(ipaddress.IPv4Network(cidr))
        assert required_addresses(plan.ip_demand) <= net.num_addresses


def test_a_pod_subnet_too_small_for_its_pods_is_an_error_never_a_move() -> None:
    with pytest.raises(SubnetPlanError, match=r"pod subnet 100\.64\.0\.0/26 \(a quarter") as caught:
        plan_pod_subnets("100.64.0.0/24", {"us-east-1a": 300, "us-east-1b": 0})
    assert "never move" in str(caught.value)


def test_the_derived_control_plane_subnets_are_28s_in_the_spare_public_quarter() -> None:
    # 10.0.0.0/16: public /24s at 10.0.192-194.0, the spare quarter 10.0.195.0/24.
    assert layout_control_plane("10.0.0.0/16", AZS) == {
        "us-east-1a": "10.0.195.0/28",
        "us-east-1b": "10.0.195.16/28",
        "us-east-1c": "10.0.195.32/28",
    }
    # 10.0.0.0/22: public /26s, the spare one 10.0.3.192/26 holds four /28s.
    assert layout_control_plane("10.0.0.0/22", AZS[:2]) == {
        "us-east-1a": "10.0.3.192/28",
        "us-east-1b": "10.0.3.208/28",
    }
    with pytest.raises(SubnetPlanError, match=r"pin subnets\.controlPlaneCidrs"):
        layout_control_plane("10.0.0.0/24", AZS)


# --------------------------------------------------------------------------- the resolved stack


def test_custom_networking_moves_the_pods_demand_to_the_pod_subnets() -> None:
    stack = config("prod", podNetwork=PODS)
    fleet = footprints(stack.system_pool, stack.gpu_pools, list(AZS), stack.region)
    network = platform("prod", podNetwork=PODS).network
    assert network.custom_networking
    assert network.pod_cidr == "100.64.0.0/16"
    nodes = ip_demand_per_az(fleet, AZS, lambda t: node_ip_demand(t, True))
    pods = ip_demand_per_az(fleet, AZS, pod_ip_demand)
    assert {s.az: s.ip_demand for s in network.subnets} == nodes
    assert {s.az: (s.cidr, s.ip_demand) for s in network.pod_subnets} == {
        az: (cidr, pods[az]) for az, cidr in layout_pod_subnets("100.64.0.0/16", AZS).items()
    }
    # Node addresses only: prod's max fleet in us-east-1a is 18 nodes (2 system, 4 H100, 4 T4,
    # 8 spot), each one address.
    assert nodes["us-east-1a"] == 18
    without = platform("prod", podNetwork=None).network
    assert not without.custom_networking and without.pod_subnets == ()
    assert without.subnets[0].ip_demand > 1000
    # The pinned node and public subnets do not move.
    assert [(s.private_cidr, s.public_cidr) for s in network.subnets] == [
        (s.private_cidr, s.public_cidr) for s in without.subnets
    ]


def test_a_fleet_over_the_pod_subnets_ceiling_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        platform("prod", podNetwork={"cidr": "100.64.0.0/24"})
    (key, message), *_ = caught.value.problems
    assert key == "gpu-platform:podNetwork.cidr"
    assert "us-east-1a" in message and "100.64.0.0/26" in message
    pinned = {
        "us-east-1a": "100.64.0.0/28",
        "us-east-1b": "100.64.1.0/24",
        "us-east-1c": "100.64.2.0/24",
    }
    with pytest.raises(ConfigError) as caught:
        platform("prod", podNetwork={"cidr": "100.64.0.0/16", "subnetCidrs": pinned})
    assert caught.value.problems[0][0] == "gpu-platform:podNetwork.subnetCidrs"


def test_the_derived_control_plane_subnets_and_their_clash_with_a_pinned_layout() -> None:
    network = platform("dev", subnets={"dedicatedControlPlane": True}).network
    assert network.dedicated_control_plane
    assert [s.control_plane_cidr for s in network.subnets] == list(
        layout_control_plane(network.vpc_cidr, network.azs).values()
    )
    assert not platform("dev").network.dedicated_control_plane
    # A pinned public subnet sitting where the derived ones would go: pin them instead.
    dev = platform("dev").network
    publics = {s.az: s.public_cidr for s in dev.subnets}
    spare = next(iter(layout_control_plane(dev.vpc_cidr, dev.azs).values()))
    first = dev.azs[0]
    publics[first] = str(ipaddress.IPv4Network(spare).supernet(new_prefix=24))
    with pytest.raises(ConfigError) as caught:
        platform("dev", subnets={"publicCidrs": publics, "dedicatedControlPlane": True})
    key, message = caught.value.problems[0]
    assert key == "gpu-platform:subnets.controlPlaneCidrs"
    assert "pin subnets.controlPlaneCidrs" in message


def test_prod_ships_pod_networking_and_pinned_control_plane_subnets() -> None:
    network = platform("prod").network
    assert network.pod_cidr == "100.64.0.0/16"
    assert [s.control_plane_cidr for s in network.subnets] == [
        "10.60.51.0/28",
        "10.60.51.16/28",
        "10.60.51.32/28",
    ]
    assert platform("prod").cluster.custom_networking
    assert not platform("dev").cluster.custom_networking


# --------------------------------------------------------------------------- add-on values


def test_the_vpc_cni_values_with_and_without_custom_networking() -> None:
    plain = json.loads(vpc_cni_configuration("us-east-1"))
    assert plain == {
        "enableNetworkPolicy": "true",
        "env": {"ENABLE_PREFIX_DELEGATION": "true", "WARM_PREFIX_TARGET": str(WARM_PREFIX_TARGET)},
    }
    custom = json.loads(
        vpc_cni_configuration(
            "us-east-1", {"us-east-1a": "subnet-a", "us-east-1b": "subnet-b"}, ["sg-cluster"]
        )
    )
    assert custom["env"] == {
        **plain["env"],
        "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "true",
        "ENI_CONFIG_LABEL_DEF": "topology.kubernetes.io/zone",
    }
    assert ENI_CONFIG_LABEL == "topology.kubernetes.io/zone"
    # One ENIConfig per AZ, named after it (the zone label's value), in the pod subnet.
    assert custom["eniConfig"] == {
        "create": True,
        "region": "us-east-1",
        "subnets": {
            "us-east-1a": {"id": "subnet-a", "securityGroups": ["sg-cluster"]},
            "us-east-1b": {"id": "subnet-b", "securityGroups": ["sg-cluster"]},
        },
    }


def test_an_efa_pool_still_fits_with_custom_networking() -> None:
    # efa-only interfaces take no address: a 40-node p5 pool in one AZ needs 40 node addresses
    # and 40 x 273 pod addresses, which a /18 pod subnet holds (13687 with headroom of 16384).
    p5 = PoolFootprint("h100", [get_instance_type("p5.48xlarge")], 40, ["us-east-1a"])
    assert ip_demand_per_az([p5], ["us-east-1a"], lambda t: node_ip_demand(t, True)) == {
        "us-east-1a": 40
    }
    plans = plan_pod_subnets("100.64.0.0/16", ip_demand_per_az([p5], ["us-east-1a"], pod_ip_demand))
    assert plans[0].ip_demand == 40 * 273


@settings(max_examples=60, deadline=None)
@given(
    prefix=st.integers(min_value=16, max_value=24),
    second=st.integers(min_value=0, max_value=255),
    azs=st.integers(min_value=2, max_value=3),
)
def test_derived_control_plane_subnets_sit_clear_of_the_fixed_plan(
    prefix: int, second: int, azs: int
) -> None:
    from components.resolve.sizing import layout_subnets

    vpc = ipaddress.IPv4Network(f"10.{second}.0.0/{prefix}", strict=False)
    zones = AZS[:azs]
    try:
        derived = layout_control_plane(str(vpc), zones)
    except SubnetPlanError:
        return  # too small: the error names subnets.controlPlaneCidrs
    taken = [
        ipaddress.IPv4Network(c) for _, *cidrs in layout_subnets(str(vpc), zones) for c in cidrs
    ]
    nets = [ipaddress.IPv4Network(c) for c in derived.values()]
    assert list(derived) == list(zones)
    assert all(n.prefixlen == 28 and n.subnet_of(vpc) for n in nets)
    assert not any(n.overlaps(t) for n in nets for t in taken)
    assert len(set(nets)) == len(nets)
