"""Network component under recording mocks: what it registers, where, with which inputs."""

from __future__ import annotations

import ipaddress
import json

import pytest

from components.catalog import get_instance_type
from components.config import ConfigError, InterfaceEndpoint, NatGateways
from components.network import Network, NetworkArgs, resolve
from components.sizing import (
    HEADROOM,
    SUBNET_OVERHEAD,
    PoolFootprint,
    ip_demand_per_az,
    usable_addresses,
)

AZS = ["us-east-1a", "us-east-1b", "us-east-1c"]


def args(**overrides: object) -> NetworkArgs:
    base = NetworkArgs(
        region="us-east-1",
        availability_zones=AZS,
        vpc_cidr="10.60.0.0/16",
        pools=[
            PoolFootprint("system", [get_instance_type("m7i.xlarge")], 6, AZS),
            PoolFootprint("h100", [get_instance_type("p5.48xlarge")], 16, AZS[:1]),
            PoolFootprint("t4", [get_instance_type("g4dn.xlarge")], 30, AZS),
        ],
        nat_gateways=NatGateways.ONE_PER_AZ,
        interface_endpoints=[
            InterfaceEndpoint.ECR_API,
            InterfaceEndpoint.ECR_DKR,
            InterfaceEndpoint.STS,
        ],
        flow_logs=True,
        flow_log_retention_days=365,
        flow_log_traffic_type="ALL",
        name_prefix="test",
    )
    base.update(overrides)  # type: ignore[typeddict-item]
    return base


def test_children_are_parented_to_the_component_and_named_from_it(run_pulumi):
    recorded = run_pulumi(lambda: Network("net", args()))
    component = recorded.one("gpuplatform:index:Network")
    children = [
        r
        for r in recorded.registrations
        if r.urn != component.urn and r.type != "pulumi:pulumi:Stack"
    ]
    assert children, "the component registered nothing"
    assert all(r.parent == component.urn for r in children)
    assert all(r.name.startswith("net-") for r in children)


def test_private_subnets_hold_the_largest_fleet(run_pulumi):
    spec_args = args()
    recorded = run_pulumi(lambda: Network("net", spec_args))
    demand = ip_demand_per_az(spec_args["pools"], AZS)
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


@pytest.mark.parametrize(
    ("mode", "expected"), [(NatGateways.ONE_PER_AZ, 3), (NatGateways.SINGLE, 1)]
)
def test_nat_gateways_per_mode(run_pulumi, mode, expected):
    recorded = run_pulumi(lambda: Network("net", args(nat_gateways=mode)))
    nats = recorded.of_type("aws:ec2/natGateway:NatGateway")
    assert len(nats) == expected
    routes = [r for r in recorded.of_type("aws:ec2/route:Route") if "natGatewayId" in r.inputs]
    assert len(routes) == 3  # every private route table reaches a NAT gateway
    assert len({r.inputs["natGatewayId"] for r in routes}) == expected


def test_endpoints_keep_traffic_off_nat(run_pulumi):
    recorded = run_pulumi(lambda: Network("net", args()))
    endpoints = recorded.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
    by_service = {e.inputs["serviceName"]: e for e in endpoints}
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
    with_logs = run_pulumi(lambda: Network("net", args(flow_logs=True)))
    flow = with_logs.one("aws:ec2/flowLog:FlowLog")
    group = with_logs.one("aws:cloudwatch/logGroup:LogGroup")
    assert flow.inputs["trafficType"] == "ALL"
    assert flow.inputs["logDestination"] == group.outputs["arn"]
    assert group.inputs["retentionInDays"] == 365
    policy = json.loads(with_logs.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    resources = policy["Statement"][0]["Resource"]
    assert "*" not in resources and group.outputs["arn"] in resources

    without = run_pulumi(lambda: Network("net", args(flow_logs=False)))
    assert not without.of_type("aws:ec2/flowLog:FlowLog")
    assert not without.of_type("aws:iam/role:Role")


def test_too_small_a_vpc_is_a_config_error_before_anything_is_registered(run_pulumi):
    with pytest.raises(ConfigError) as caught:
        resolve(args(vpc_cidr="10.60.0.0/24"))
    assert caught.value.problems[0][0] == "gpu-platform:vpcCidr"
    assert "10.60.0.0/24" in str(caught.value)

    raised: list[ConfigError] = []

    def program() -> None:
        try:
            Network("net", args(vpc_cidr="10.60.0.0/24"))
        except ConfigError as exc:
            raised.append(exc)

    recorded = run_pulumi(program)
    assert raised, "an undersized VPC was accepted"
    assert [r.type for r in recorded.registrations] == ["pulumi:pulumi:Stack"]
