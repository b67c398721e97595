"""Network component under recording mocks: what it registers, where, with which inputs."""

from __future__ import annotations

import ipaddress
import json

import pytest

from components.catalog import get_instance_type
from components.config import ConfigError
from components.network import Network
from components.resolve.network import NetworkSpec
from components.resolve.sizing import (
    HEADROOM,
    SUBNET_OVERHEAD,
    PoolFootprint,
    ip_demand_per_az,
    usable_addresses,
)
from tests.support import ROOT, platform

AZS = ["us-east-1a", "us-east-1b", "us-east-1c"]

# prod (3 AZs, 10.60.0.0/16, a NAT gateway per AZ, flow logs for 365 days) with the fleet below:
# a single-AZ H100 pool makes us-east-1a the hungriest AZ.
OVERRIDES: dict[str, object] = {
    "systemPool": {"instanceTypes": ["m7i.xlarge"], "minSize": 3, "maxSize": 6},
    "gpuPools": [
        {
            "name": "h100",
            "purpose": "training",
            "instanceTypes": ["p5.48xlarge"],
            "maxSize": 16,
            "availabilityZones": AZS[:1],
        },
        {"name": "t4", "purpose": "inference", "instanceTypes": ["g4dn.xlarge"], "maxSize": 30},
    ],
    "interfaceEndpoints": ["ecr.api", "ecr.dkr", "sts"],
    "subnets": None,  # the fixed address plan, not prod's pinned subnets
    "podNetwork": None,  # pods on the node subnets (test_pod_network_component.py has the rest)
}
FOOTPRINTS = [
    PoolFootprint("system", [get_instance_type("m7i.xlarge")], 6, AZS),
    PoolFootprint("h100", [get_instance_type("p5.48xlarge")], 16, AZS[:1]),
    PoolFootprint("t4", [get_instance_type("g4dn.xlarge")], 30, AZS),
]


def spec(**overrides: object) -> NetworkSpec:
    return platform("prod", **{**OVERRIDES, **overrides}).network


def test_children_are_parented_to_the_component_and_named_from_it(run_pulumi):
    network = spec()
    recorded = run_pulumi(lambda: Network("net", network))
    component = recorded.one("gpuplatform:index:Network")
    children = [
        r
        for r in recorded.registrations
        if r.urn != component.urn and r.type != "pulumi:pulumi:Stack"
    ]
    assert children, "the component registered nothing"
    assert all(r.parent == component.urn for r in children)
    assert all(r.name.startswith("net-") for r in children)
    # `Name` tags carry the cluster name, not the component name.
    vpc = recorded.one("aws:ec2/vpc:Vpc")
    assert vpc.inputs["tags"]["Name"] == "gpu-platform-prod-vpc"


def test_private_subnets_hold_the_largest_fleet(run_pulumi):
    network = spec()
    recorded = run_pulumi(lambda: Network("net", network))
    demand = ip_demand_per_az(FOOTPRINTS, AZS)
    vpc = ipaddress.IPv4Network("10.60.0.0/16")
    private = [r for r in recorded.of_type("aws:ec2/subnet:Subnet") if "-private-" in r.name]
    public = [r for r in recorded.of_type("aws:ec2/subnet:Subnet") if "-public-" in r.name]
    assert sorted(r.inputs["availabilityZone"] for r in private) == AZS
    assert sorted(r.inputs["availabilityZone"] for r in public) == AZS
    networks = [ipaddress.IPv4Network(r.inputs["cidrBlock"]) for r in private + public]
    for index, net in enumerate(networks):
        assert net.subnet_of(vpc)
        assert not any(net.overlaps(other) for other in networks[index + 1 :])
    for subnet in private:
        prefix = ipaddress.IPv4Network(subnet.inputs["cidrBlock"]).prefixlen
        need = demand[subnet.inputs["availabilityZone"]] * HEADROOM + SUBNET_OVERHEAD
        assert usable_addresses(prefix) >= need
    # The single-AZ H100 pool makes us-east-1a the hungriest AZ, and it still fits.
    assert demand["us-east-1a"] > demand["us-east-1b"]


@pytest.mark.parametrize(("mode", "expected"), [("one_per_az", 3), ("single", 1)])
def test_nat_gateways_per_mode(run_pulumi, mode, expected):
    network = spec(natGateways=mode)
    recorded = run_pulumi(lambda: Network("net", network))
    nats = recorded.of_type("aws:ec2/natGateway:NatGateway")
    assert len(nats) == expected
    routes = [r for r in recorded.of_type("aws:ec2/route:Route") if "natGatewayId" in r.inputs]
    assert len(routes) == 3  # every private route table reaches a NAT gateway
    assert len({r.inputs["natGatewayId"] for r in routes}) == expected


def test_endpoints_keep_traffic_off_nat(run_pulumi):
    network = spec()
    recorded = run_pulumi(lambda: Network("net", network))
    endpoints = recorded.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
    by_service = {e.inputs["serviceName"]: e for e in endpoints}
    assert len(endpoints) == 4  # the S3 gateway and the three configured interface endpoints
    s3 = by_service["com.amazonaws.us-east-1.s3"]
    assert s3.inputs["vpcEndpointType"] == "Gateway"
    assert len(s3.inputs["routeTableIds"]) == 3
    for service in ("ecr.api", "ecr.dkr", "sts"):
        endpoint = by_service[f"com.amazonaws.us-east-1.{service}"]
        assert endpoint.inputs["vpcEndpointType"] == "Interface"
        assert endpoint.inputs["privateDnsEnabled"] is True
        assert len(endpoint.inputs["subnetIds"]) == 3
    https = recorded.one("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert (https.inputs["fromPort"], https.inputs["toPort"], https.inputs["cidrIpv4"]) == (
        443,
        443,
        "10.60.0.0/16",
    )


def test_flow_logs_only_when_enabled_and_scoped_to_their_log_group(run_pulumi):
    logged = spec(flowLogs={"enabled": True, "retentionDays": 365, "trafficType": "ALL"})
    with_logs = run_pulumi(lambda: Network("net", logged))
    flow = with_logs.one("aws:ec2/flowLog:FlowLog")
    group = with_logs.one("aws:cloudwatch/logGroup:LogGroup")
    assert flow.inputs["trafficType"] == "ALL"
    assert flow.inputs["logDestination"] == group.outputs["arn"]
    assert group.inputs["retentionInDays"] == 365
    policy = json.loads(with_logs.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    resources = policy["Statement"][0]["Resource"]
    assert "*" not in resources and group.outputs["arn"] in resources

    unlogged = spec(flowLogs={"enabled": False})
    without = run_pulumi(lambda: Network("net", unlogged))
    assert not without.of_type("aws:ec2/flowLog:FlowLog")
    assert not without.of_type("aws:iam/role:Role")


def test_too_small_a_vpc_is_a_config_error_before_anything_is_registered(run_pulumi):
    with pytest.raises(ConfigError) as caught:
        spec(vpcCidr="10.60.0.0/24")
    assert caught.value.problems[0][0] == "gpu-platform:vpcCidr"
    assert "10.60.0.0/24" in str(caught.value)

    # The program resolves before it builds: an undersized VPC stops it with nothing registered.
    raised: list[ConfigError] = []

    def program() -> None:
        try:
            Network("net", spec(vpcCidr="10.60.0.0/24"))
        except ConfigError as exc:
            raised.append(exc)

    recorded = run_pulumi(program)
    assert raised, "an undersized VPC was accepted"
    assert [r.type for r in recorded.registrations] == ["pulumi:pulumi:Stack"]


def test_the_default_security_group_is_taken_over_and_left_empty(run_pulumi):
    recorded = run_pulumi(lambda: Network("net", spec()))
    vpc = recorded.one("aws:ec2/vpc:Vpc")
    group = recorded.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert group.inputs["vpcId"] == vpc.id
    assert vpc.urn in group.property_dependencies["vpcId"]
    assert not group.inputs.get("ingress") and not group.inputs.get("egress")


def test_every_shipped_stack_requires_the_locked_default_group():
    for stack in ("dev", "staging", "prod"):
        config = json.loads((ROOT / "policies" / "config" / f"{stack}.json").read_text())
        assert config["default-security-group"]["requireLockedDefaultSecurityGroup"] is True


def test_the_flow_log_group_takes_the_logs_key_and_prod_keeps_it(run_pulumi):
    key = "arn:aws:kms:us-east-1:123456789012:key/logs"
    logged = spec(flowLogs={"enabled": True})
    recorded = run_pulumi(lambda: Network("net", logged, {"log_kms_key_arn": key}))
    group = recorded.one("aws:cloudwatch/logGroup:LogGroup")
    assert group.inputs["kmsKeyId"] == key
    assert group.protect is True and group.retain_on_delete is True  # prod protects

    unprotected = spec(flowLogs={"enabled": True}, protectStateful=False)
    plain = run_pulumi(lambda: Network("net", unprotected)).one("aws:cloudwatch/logGroup:LogGroup")
    assert "kmsKeyId" not in plain.inputs
    assert plain.protect is False and plain.retain_on_delete is False
