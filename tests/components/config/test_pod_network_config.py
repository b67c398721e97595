"""Config errors of the pod range (custom networking) and the control-plane subnets: each names
its key and value, before anything is registered."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.config import ConfigError, load_stack_config
from components.config.checks import secondary_range_allowed
from tests.conftest import stack_raw_config

PROD_AZS = ["us-east-1a", "us-east-1b", "us-east-1c"]
VPC = {"vpcId": "vpc-0123456789abcdef0"}
NODE_SUBNETS = {
    "us-east-1a": "subnet-0aaaaaaaaaaaaaaa1",
    "us-east-1b": "subnet-0aaaaaaaaaaaaaaa2",
    "us-east-1c": "subnet-0aaaaaaaaaaaaaaa3",
}
POD_SUBNETS = {
    "us-east-1a": "subnet-0bbbbbbbbbbbbbbb1",
    "us-east-1b": "subnet-0bbbbbbbbbbbbbbb2",
    "us-east-1c": "subnet-0bbbbbbbbbbbbbbb3",
}


def problems(**overrides: Any) -> dict[str, str]:
    """prod's config with `overrides` (None removes a key): the problems it is refused with."""
    raw = stack_raw_config("prod")
    for key, value in overrides.items():
        if value is None:
            raw.pop(f"gpu-platform:{key}", None)
        else:
            raw[f"gpu-platform:{key}"] = json.dumps(value)
    with pytest.raises(ConfigError) as caught:
        load_stack_config(raw)
    return dict(caught.value.problems)


def loads(**overrides: Any) -> None:
    raw = stack_raw_config("prod")
    for key, value in overrides.items():
        raw[f"gpu-platform:{key}"] = json.dumps(value)
    load_stack_config(raw)


@pytest.mark.parametrize(
    ("cidr", "fragment"),
    [
        # Another RFC 1918 block than vpcCidr's (10.60.0.0/16): AWS refuses the association.
        ("172.16.0.0/16", "cannot be a secondary range of vpcCidr 10.60.0.0/16"),
        ("192.168.0.0/16", "cannot be a secondary range"),
        # Public space is not a pod range here.
        ("8.8.0.0/16", "cannot be a secondary range"),
        # Inside vpcCidr.
        ("10.60.128.0/17", "overlaps vpcCidr 10.60.0.0/16"),
        # The deployer network routed through the transit gateway.
        ("10.100.0.0/16", "overlaps apiAccess.sourceCidrs 10.100.0.0/16"),
    ],
)
def test_a_pod_range_aws_or_the_routes_cannot_take_is_refused(cidr: str, fragment: str) -> None:
    found = problems(podNetwork={"cidr": cidr})
    assert fragment in found["gpu-platform:podNetwork.cidr"], found


@pytest.mark.parametrize(
    ("cidr", "fragment"),
    [
        ("100.64.0.0/27", "/16 to /26"),
        ("100.64.0.0/12", "/16 to /26"),
        ("100.64.0.0", "/16 to /26"),  # a host is a /32
        ("not-a-cidr", "is not an IPv4 CIDR"),
    ],
)
def test_a_pod_range_of_the_wrong_size_is_refused(cidr: str, fragment: str) -> None:
    found = problems(podNetwork={"cidr": cidr})
    assert fragment in found["gpu-platform:podNetwork.cidr"], found


def test_rfc_6598_and_the_vpcs_own_rfc_1918_block_are_accepted() -> None:
    loads(podNetwork={"cidr": "100.64.0.0/16"})
    loads(podNetwork={"cidr": "10.61.0.0/16"})
    assert secondary_range_allowed("172.31.0.0/16", "172.20.0.0/16")
    assert secondary_range_allowed("192.168.0.0/20", "100.127.0.0/16")
    assert not secondary_range_allowed("100.64.0.0/16", "10.0.0.0/16")
    assert not secondary_range_allowed("10.0.0.0/16", "172.16.0.0/16")


def test_pinned_pod_subnets_need_every_az_inside_the_range_without_overlap() -> None:
    missing = problems(
        podNetwork={
            "cidr": "100.64.0.0/16",
            "subnetCidrs": {"us-east-1a": "100.64.0.0/18", "us-east-1b": "100.64.64.0/18"},
        }
    )
    assert "needs one CIDR per AZ" in missing["gpu-platform:podNetwork.subnetCidrs"]
    found = problems(
        podNetwork={
            "cidr": "100.64.0.0/16",
            "subnetCidrs": {
                "us-east-1a": "100.64.0.0/18",
                "us-east-1b": "100.64.32.0/19",
                "us-east-1c": "100.65.0.0/18",
            },
        }
    )
    assert (
        "overlaps us-east-1a 100.64.0.0/18"
        in found["gpu-platform:podNetwork.subnetCidrs.us-east-1b"]
    )
    assert "outside 100.64.0.0/16" in found["gpu-platform:podNetwork.subnetCidrs.us-east-1c"]


def test_an_existing_vpc_takes_pod_subnet_ids_not_a_pod_range() -> None:
    existing = {**VPC, "privateSubnetIds": NODE_SUBNETS}
    found = problems(existingVpc=existing, podNetwork={"cidr": "100.64.0.0/16"})
    assert "existingVpc.podSubnetIds" in found["gpu-platform:podNetwork"]
    # The pod subnet ids: one per AZ, none of them a node subnet, all subnet ids.
    partial = {"us-east-1a": POD_SUBNETS["us-east-1a"]}
    found = problems(existingVpc={**existing, "podSubnetIds": partial})
    assert "one subnet per availabilityZones" in found["gpu-platform:existingVpc.podSubnetIds"]
    shared = {**POD_SUBNETS, "us-east-1b": NODE_SUBNETS["us-east-1b"]}
    found = problems(existingVpc={**existing, "podSubnetIds": shared})
    assert "also node subnets" in found["gpu-platform:existingVpc.podSubnetIds"]
    found = problems(existingVpc={**existing, "podSubnetIds": {"us-east-1a": "sn-1"}})
    assert "are not subnet ids" in found["gpu-platform:existingVpc.podSubnetIds"]


def test_pinned_control_plane_subnets_need_every_az_inside_the_vpc_clear_of_the_others() -> None:
    pinned = json.loads(stack_raw_config("prod")["gpu-platform:subnets"])
    found = problems(subnets={**pinned, "controlPlaneCidrs": {"us-east-1a": "10.60.51.0/28"}})
    assert "needs one CIDR per AZ" in found["gpu-platform:subnets.controlPlaneCidrs"]
    found = problems(
        subnets={
            **pinned,
            "controlPlaneCidrs": {
                "us-east-1a": "10.60.48.0/28",  # inside us-east-1a's public subnet
                "us-east-1b": "10.61.0.0/28",
                "us-east-1c": "10.60.51.0/28",
            },
        }
    )
    assert (
        "overlaps us-east-1a 10.60.48.0/24"
        in found["gpu-platform:subnets.controlPlaneCidrs.us-east-1a"]
    )
    assert "outside vpcCidr" in found["gpu-platform:subnets.controlPlaneCidrs.us-east-1b"]
    found = problems(subnets={**pinned, "controlPlaneCidrs": {"us-east-1a": "10.60.0.0/20"}})
    assert "/24 to /28" in found["gpu-platform:subnets.controlPlaneCidrs"]


def test_control_plane_subnets_are_refused_with_an_existing_vpc() -> None:
    found = problems(
        existingVpc={**VPC, "privateSubnetIds": NODE_SUBNETS},
        subnets={"dedicatedControlPlane": True},
    )
    assert "existingVpc" in found["gpu-platform:subnets"]
