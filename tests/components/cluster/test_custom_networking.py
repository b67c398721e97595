"""The cluster with pod networking (VPC CNI custom networking) and dedicated control-plane
subnets, under recording mocks (preview=False, so the add-on values are computed), and the
ordering in the shipped prod stack: no node joins before the vpc-cni add-on is configured."""

from __future__ import annotations

import json

from components.cluster import Cluster
from tests.support import platform, shipped_plan

NODE_SUBNETS = ["subnet-node-a", "subnet-node-b"]
CONTROL_PLANE = ["subnet-cp-a", "subnet-cp-b"]
PODS = {"us-east-1a": "subnet-pods-a", "us-east-1b": "subnet-pods-b"}
ADDON = "aws:eks/addon:Addon"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


def custom_cluster():
    spec = platform("dev", podNetwork={"cidr": "100.64.0.0/16"}).cluster
    assert spec.custom_networking
    return lambda: Cluster(
        "c",
        spec,
        {
            "subnet_ids": NODE_SUBNETS,
            "vpc_id": "vpc-0abc",
            "control_plane_subnet_ids": CONTROL_PLANE,
            "pod_subnet_ids_by_az": PODS,
        },
    )


def test_the_vpc_cni_addon_gets_an_eniconfig_per_az_with_the_cluster_security_group(run_pulumi):
    recorded = run_pulumi(custom_cluster())
    cluster = recorded.one("aws:eks/cluster:Cluster")
    group = cluster.outputs["vpcConfig"]["clusterSecurityGroupId"]
    cni = next(a for a in recorded.of_type(ADDON) if a.inputs["addonName"] == "vpc-cni")
    values = json.loads(cni.inputs["configurationValues"])
    assert values["env"]["AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG"] == "true"
    assert values["env"]["ENI_CONFIG_LABEL_DEF"] == "topology.kubernetes.io/zone"
    assert values["env"]["ENABLE_PREFIX_DELEGATION"] == "true"
    assert values["eniConfig"] == {
        "create": True,
        "region": "us-east-1",
        "subnets": {az: {"id": s, "securityGroups": [group]} for az, s in PODS.items()},
    }
    assert cluster.urn in cni.dependencies


def test_the_control_plane_uses_its_subnets_and_the_nodes_keep_theirs(run_pulumi):
    recorded = run_pulumi(custom_cluster())
    cluster = recorded.one("aws:eks/cluster:Cluster")
    assert cluster.inputs["vpcConfig"]["subnetIds"] == CONTROL_PLANE
    system = recorded.one(NODE_GROUP)
    assert system.inputs["subnetIds"] == NODE_SUBNETS


def test_without_pod_networking_the_values_carry_no_eniconfig(run_pulumi):
    spec = platform("dev").cluster
    recorded = run_pulumi(
        lambda: Cluster("c", spec, {"subnet_ids": NODE_SUBNETS, "vpc_id": "vpc-0abc"})
    )
    cni = next(a for a in recorded.of_type(ADDON) if a.inputs["addonName"] == "vpc-cni")
    values = json.loads(cni.inputs["configurationValues"])
    assert "eniConfig" not in values
    assert "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG" not in values["env"]
    assert recorded.one("aws:eks/cluster:Cluster").inputs["vpcConfig"]["subnetIds"] == NODE_SUBNETS


def test_in_prod_every_node_group_waits_for_the_configured_vpc_cni_addon():
    document, _ = shipped_plan("prod")
    states = [step["newState"] for step in document["steps"]]
    cni = next(s for s in states if s["type"] == ADDON and s["inputs"]["addonName"] == "vpc-cni")
    pod_subnets = {
        s["urn"] for s in states if s["type"] == "aws:ec2/subnet:Subnet" and "-pods-" in s["urn"]
    }
    assert len(pod_subnets) == 3
    # The add-on's values are built from the pod subnets (and the cluster's security group).
    assert pod_subnets <= set(cni["propertyDependencies"]["configurationValues"])
    groups = [s for s in states if s["type"] == NODE_GROUP]
    assert len(groups) == 4  # system, h100-train, t4-infer, batch-spot
    for group in groups:
        assert cni["urn"] in group["dependencies"], group["urn"]
    # The control plane's interfaces sit in the control-plane subnets, not the node subnets.
    cluster = next(s for s in states if s["type"] == "aws:eks/cluster:Cluster")
    deps = cluster["propertyDependencies"]["vpcConfig"]
    names = {u.rsplit("::", 1)[-1] for u in deps}
    assert names >= {f"network-control-plane-us-east-1{z}" for z in "abc"}
    assert not any(n.startswith("network-private-") for n in names)
    # Both wait for their subnets' route table associations: the control plane's interfaces
    # answer the deployer through the private tables' transit gateway route, pods need NAT.
    association = "aws:ec2/routeTableAssociation:RouteTableAssociation::network-"
    for z in "abc":
        assert any(u.endswith(f"{association}control-plane-us-east-1{z}") for u in deps)
        assert any(
            u.endswith(f"{association}pods-us-east-1{z}")
            for u in cni["propertyDependencies"]["configurationValues"]
        )


def test_an_existing_vpcs_pod_subnets_go_to_the_eniconfigs(tmp_path):
    import yaml

    from scripts.plan.__main__ import plan
    from tests.support import ROOT

    data = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    pods = {"us-east-1a": "subnet-0bbbbbbbbbbbbbbb1", "us-east-1b": "subnet-0bbbbbbbbbbbbbbb2"}
    data["config"]["gpu-platform:existingVpc"] = {
        "vpcId": "vpc-0123456789abcdef0",
        "privateSubnetIds": {
            "us-east-1a": "subnet-0aaaaaaaaaaaaaaa1",
            "us-east-1b": "subnet-0aaaaaaaaaaaaaaa2",
        },
        "podSubnetIds": pods,
    }
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(data))
    document, _ = plan("dev", path)
    states = [step["newState"] for step in document["steps"]]
    cni = next(s for s in states if s["type"] == ADDON and s["inputs"]["addonName"] == "vpc-cni")
    values = json.loads(cni["inputs"]["configurationValues"])
    assert {az: v["id"] for az, v in values["eniConfig"]["subnets"].items()} == pods
    assert values["env"]["AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG"] == "true"
    # Nothing of the network is created in an existing VPC.
    assert not any(s["type"] == "aws:ec2/subnet:Subnet" for s in states)
