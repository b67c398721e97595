"""The network's pod range and control-plane subnets under recording mocks (preview=False)."""

from __future__ import annotations

from components.catalog.conventions import SUBNET_ROLE_TAG
from components.network import Network
from tests.support import platform

AZS = ["us-east-1a", "us-east-1b", "us-east-1c"]
SUBNET = "aws:ec2/subnet:Subnet"
ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"


def by_name(recorded, token):
    return {r.name: r for r in recorded.of_type(token)}


def test_the_pod_range_is_associated_before_its_subnets_are_created(run_pulumi):
    recorded = run_pulumi(lambda: Network("net", platform("prod").network))
    secondary = recorded.one(
        "aws:ec2/vpcIpv4CidrBlockAssociation:VpcIpv4CidrBlockAssociation", "net-pod-cidr"
    )
    vpc = recorded.one("aws:ec2/vpc:Vpc")
    assert secondary.inputs["cidrBlock"] == "100.64.0.0/16"
    assert secondary.inputs["vpcId"] == vpc.id
    subnets = by_name(recorded, SUBNET)
    pods = {az: subnets[f"net-pods-{az}"] for az in AZS}
    assert {az: s.inputs["cidrBlock"] for az, s in pods.items()} == {
        "us-east-1a": "100.64.0.0/18",
        "us-east-1b": "100.64.64.0/18",
        "us-east-1c": "100.64.128.0/18",
    }
    for az, subnet in pods.items():
        assert subnet.inputs["availabilityZone"] == az
        assert secondary.urn in subnet.dependencies
        assert subnet.inputs["tags"][SUBNET_ROLE_TAG] == "pods"
        assert subnet.inputs["tags"]["Name"] == f"gpu-platform-prod-pods-{az}"
        # Private: no public addresses, no load balancer role tags.
        assert not subnet.inputs.get("mapPublicIpOnLaunch")
        assert not any(k.startswith("kubernetes.io/role/") for k in subnet.inputs["tags"])


def test_pod_and_control_plane_subnets_route_like_their_azs_node_subnet(run_pulumi):
    recorded = run_pulumi(lambda: Network("net", platform("prod").network))
    subnets = by_name(recorded, SUBNET)
    tables = by_name(recorded, "aws:ec2/routeTable:RouteTable")
    associations = by_name(recorded, ASSOCIATION)
    for az in AZS:
        private_table = tables[f"net-private-{az}"].id
        for role in ("private", "pods", "control-plane"):
            association = associations[f"net-{role}-{az}"]
            assert association.inputs["subnetId"] == subnets[f"net-{role}-{az}"].id
            assert association.inputs["routeTableId"] == private_table
    # The private tables carry the transit gateway route back to the deployer network, so a
    # private endpoint in the control-plane subnets still answers it.
    routes = [r for r in recorded.of_type("aws:ec2/route:Route") if "-tgw-" in r.name]
    assert {r.inputs["routeTableId"] for r in routes} == {
        tables[f"net-private-{az}"].id for az in AZS
    }


def test_the_control_plane_gets_its_own_28s(run_pulumi):
    recorded = run_pulumi(lambda: Network("net", platform("prod").network))
    subnets = by_name(recorded, SUBNET)
    control = [subnets[f"net-control-plane-{az}"] for az in AZS]
    assert [s.inputs["cidrBlock"] for s in control] == [
        "10.60.51.0/28",
        "10.60.51.16/28",
        "10.60.51.32/28",
    ]
    assert all(s.inputs["tags"][SUBNET_ROLE_TAG] == "control-plane" for s in control)


def test_pods_reach_the_interface_endpoints_from_their_range(run_pulumi):
    recorded = run_pulumi(lambda: Network("net", platform("prod").network))
    rules = by_name(recorded, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert rules["net-endpoints-https"].inputs["cidrIpv4"] == "10.60.0.0/16"
    pods = rules["net-endpoints-https-pods"].inputs
    assert (pods["cidrIpv4"], pods["fromPort"], pods["toPort"]) == ("100.64.0.0/16", 443, 443)
    assert pods["securityGroupId"] == rules["net-endpoints-https"].inputs["securityGroupId"]


def test_without_the_options_nothing_of_it_is_created(run_pulumi):
    spec = platform("prod", podNetwork=None, subnets=None).network
    recorded = run_pulumi(lambda: Network("net", spec))
    assert not recorded.of_type("aws:ec2/vpcIpv4CidrBlockAssociation:VpcIpv4CidrBlockAssociation")
    names = set(by_name(recorded, SUBNET))
    assert not any("-pods-" in n or "-control-plane-" in n for n in names)
    assert "net-endpoints-https-pods" not in by_name(
        recorded, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
    )
