"""GPU node groups under recording mocks: launch template, EFA, placement, capacity, CA tags."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from components.catalog import get_instance_type
from components.config import ConfigError, GpuPool
from components.gpu_node_group import (
    AUTOSCALER_TEMPLATE,
    GpuNodeGroup,
    GpuNodeGroupArgs,
    SpotPool,
    resolve,
)

AZS = ["us-east-1a", "us-east-1b", "us-east-1c"]
SUBNETS = {"us-east-1a": "subnet-a", "us-east-1b": "subnet-b", "us-east-1c": "subnet-c"}
CLUSTER_SG = "sg-cluster0000000001"
RESERVATION = "cr-0123456789abcdef0"
TAGS = {"environment": "test", "project": "gpu-platform", "managed-by": "pulumi"}

COMPONENT = "gpuplatform:index:GpuNodeGroup"
SPOT_COMPONENT = "gpuplatform:index:SpotPool"
STACK = "pulumi:pulumi:Stack"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
PLACEMENT_GROUP = "aws:ec2/placementGroup:PlacementGroup"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
ASG_TAG = "aws:autoscaling/tag:Tag"


def pool(**fields: Any) -> GpuPool:
    raw: dict[str, Any] = {"name": "gpu", "maxSize": 4}
    raw.update(fields)
    return GpuPool.model_validate(raw)


def args(gpu_pool: GpuPool, config_path: str = "gpuPools[0]") -> GpuNodeGroupArgs:
    """Wired like stacks/__main__.py does, with plain values in place of outputs."""
    return GpuNodeGroupArgs(
        pool=gpu_pool,
        config_path=config_path,
        stack_azs=AZS,
        cluster_name="gpu-test",
        subnet_ids_by_az=SUBNETS,
        node_role_arn="arn:aws:iam::123456789012:role/gpu-test-node",
        cluster_security_group_id=CLUSTER_SG,
        vpc_id="vpc-0123456789abcdef0",
        tags=TAGS,
    )


P5 = pool(name="h100", purpose="training", instanceTypes=["p5.48xlarge"], efa=True)
T4 = pool(name="t4", purpose="inference", instanceTypes=["g4dn.xlarge"])
T4_SPOT = pool(name="t4-spot", capacityType="SPOT", gpuNeed={"gpuModel": "T4", "gpusPerNode": 1})


def capacity_block(**fields: Any) -> GpuPool:
    return pool(
        name="h100-cb",
        purpose="training",
        instanceTypes=["p5.48xlarge"],
        efa=True,
        capacityType="CAPACITY_BLOCK",
        capacityReservationId=RESERVATION,
        **fields,
    )


@pytest.fixture
def p5(run_pulumi):
    return run_pulumi(lambda: GpuNodeGroup("pool-h100", args(P5)))


# --------------------------------------------------------------------------- p5 with EFA


def test_children_are_parented_to_the_component_and_named_from_it(p5):
    component = p5.one(COMPONENT)
    assert component.name == "pool-h100"
    children = [r for r in p5.registrations if r.type not in (STACK, COMPONENT)]
    assert children
    assert all(r.parent == component.urn for r in children)
    assert all(r.name.startswith("pool-h100-") for r in children)
    assert p5.children(component.urn) == children
    assert len({r.urn for r in p5.registrations}) == len(p5.registrations)


def test_p5_launch_template_has_one_efa_device_per_network_card(p5):
    interfaces = p5.one(LAUNCH_TEMPLATE).inputs["networkInterfaces"]
    p5_type = get_instance_type("p5.48xlarge")
    cards = [i["networkCardIndex"] for i in interfaces]
    assert len(set(cards)) == 32 == p5_type.network_cards
    assert max(cards.count(c) for c in set(cards)) <= 2
    assert sum(i["interfaceType"] == "efa-only" for i in interfaces) == 32
    assert len(interfaces) == 33
    first = {(i["networkCardIndex"], i["deviceIndex"]): i["interfaceType"] for i in interfaces}
    assert first[(0, 0)] == "interface"
    assert first[(0, 1)] == "efa-only"
    assert len(first) == len(interfaces)  # no slot used twice


def test_every_efa_interface_carries_the_cluster_and_efa_groups(p5):
    efa_sg = p5.one(SECURITY_GROUP, "pool-h100-efa")
    assert efa_sg.inputs["vpcId"] == "vpc-0123456789abcdef0"
    for interface in p5.one(LAUNCH_TEMPLATE).inputs["networkInterfaces"]:
        assert sorted(interface["securityGroups"]) == sorted([CLUSTER_SG, efa_sg.id])


@pytest.mark.parametrize("rule_type", [INGRESS, EGRESS])
def test_efa_group_allows_all_traffic_from_and_to_itself(p5, rule_type):
    efa_sg = p5.one(SECURITY_GROUP)
    rule = p5.one(rule_type)
    assert rule.inputs["securityGroupId"] == efa_sg.id
    assert rule.inputs["referencedSecurityGroupId"] == efa_sg.id
    assert rule.inputs["ipProtocol"] == "-1"
    assert "cidrIpv4" not in rule.inputs
    assert efa_sg.urn in rule.dependencies


def test_p5_placement_group_is_cluster_and_used_by_the_launch_template(p5):
    group = p5.one(PLACEMENT_GROUP)
    assert group.inputs["strategy"] == "cluster"
    template = p5.one(LAUNCH_TEMPLATE)
    assert template.inputs["placement"]["groupName"] == group.outputs["name"]
    assert group.urn in template.dependencies


def test_p5_node_group_is_in_exactly_one_subnet(p5):
    node_group = p5.one(NODE_GROUP)
    assert node_group.inputs["subnetIds"] == [SUBNETS[AZS[0]]]
    assert node_group.inputs["amiType"] == "AL2023_x86_64_NVIDIA"
    assert node_group.inputs["capacityType"] == "ON_DEMAND"
    assert node_group.inputs["instanceTypes"] == ["p5.48xlarge"]
    assert node_group.inputs["taints"] == [
        {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}
    ]
    assert node_group.inputs["labels"]["gpu-platform/efa"] == "true"
    assert node_group.inputs["clusterName"] == "gpu-test"
    assert node_group.inputs["nodeRoleArn"] == "arn:aws:iam::123456789012:role/gpu-test-node"


def test_node_group_uses_the_launch_template(p5):
    template = p5.one(LAUNCH_TEMPLATE)
    node_group = p5.one(NODE_GROUP)
    assert node_group.inputs["launchTemplate"]["id"] == template.id
    assert node_group.inputs["launchTemplate"]["version"] == str(template.outputs["latestVersion"])
    assert template.urn in node_group.dependencies


def test_launch_template_requires_imdsv2_and_tags_instances_volumes_and_enis(p5):
    template = p5.one(LAUNCH_TEMPLATE).inputs
    assert template["metadataOptions"]["httpTokens"] == "required"
    specs = {s["resourceType"]: s["tags"] for s in template["tagSpecifications"]}
    assert set(specs) == {"instance", "volume", "network-interface"}
    for tags in specs.values():
        assert tags.items() >= TAGS.items()
    root = template["blockDeviceMappings"][0]
    assert root["deviceName"] == "/dev/xvda"
    assert root["ebs"]["encrypted"] == "true"
    assert root["ebs"]["volumeType"] == "gp3"
    assert "RAID0" in base64.b64decode(template["userData"]).decode()


def test_autoscaler_tags_target_the_node_group_asg(p5):
    node_group = p5.one(NODE_GROUP)
    asg = node_group.outputs["resources"][0]["autoscalingGroups"][0]["name"]
    tags = p5.of_type(ASG_TAG)
    assert tags
    assert {t.inputs["autoscalingGroupName"] for t in tags} == {asg}
    assert all(t.inputs["tag"]["propagateAtLaunch"] is False for t in tags)
    values = {t.inputs["tag"]["key"]: t.inputs["tag"]["value"] for t in tags}
    assert values[f"{AUTOSCALER_TEMPLATE}/resources/nvidia.com/gpu"] == "8"
    assert values[f"{AUTOSCALER_TEMPLATE}/resources/vpc.amazonaws.com/efa"] == "32"
    assert values[f"{AUTOSCALER_TEMPLATE}/taint/nvidia.com/gpu"] == "true:NoSchedule"
    assert values == resolve(args(P5)).autoscaler_tags
    assert all(node_group.urn in t.dependencies for t in tags)


# --------------------------------------------------------------------------- Capacity Block


def test_capacity_block_moves_the_type_into_the_launch_template(run_pulumi):
    recorded = run_pulumi(lambda: GpuNodeGroup("pool-h100-cb", args(capacity_block())))
    node_group = recorded.one(NODE_GROUP).inputs
    assert node_group["capacityType"] == "CAPACITY_BLOCK"
    assert not node_group.get("instanceTypes")
    template = recorded.one(LAUNCH_TEMPLATE).inputs
    assert template["instanceType"] == "p5.48xlarge"
    assert template["instanceMarketOptions"]["marketType"] == "capacity-block"
    target = template["capacityReservationSpecification"]["capacityReservationTarget"]
    assert target["capacityReservationId"] == RESERVATION
    # The block was not made inside our placement group: forcing one would fail the launch.
    assert recorded.of_type(PLACEMENT_GROUP) == []
    assert "placement" not in template
    assert len(template["networkInterfaces"]) == 33  # EFA stays on


def test_capacity_block_made_in_the_placement_group_uses_it(run_pulumi):
    recorded = run_pulumi(
        lambda: GpuNodeGroup("pool-h100-cb", args(capacity_block(reservationInPlacementGroup=True)))
    )
    group = recorded.one(PLACEMENT_GROUP)
    template = recorded.one(LAUNCH_TEMPLATE).inputs
    assert template["placement"]["groupName"] == group.outputs["name"]


def test_odcr_on_demand_pool_targets_the_reservation_without_capacity_block(run_pulumi):
    odcr = pool(
        name="h100-odcr", instanceTypes=["p5.48xlarge"], efa=True, capacityReservationId=RESERVATION
    )
    recorded = run_pulumi(lambda: GpuNodeGroup("pool-h100-odcr", args(odcr)))
    template = recorded.one(LAUNCH_TEMPLATE).inputs
    target = template["capacityReservationSpecification"]["capacityReservationTarget"]
    assert target["capacityReservationId"] == RESERVATION
    assert "instanceMarketOptions" not in template
    assert "instanceType" not in template
    assert recorded.one(NODE_GROUP).inputs["instanceTypes"] == ["p5.48xlarge"]
    assert recorded.of_type(PLACEMENT_GROUP) == []


# --------------------------------------------------------------------------- T4, on demand


def test_t4_pool_spans_every_az_without_efa(run_pulumi):
    recorded = run_pulumi(lambda: GpuNodeGroup("pool-t4", args(T4)))
    assert recorded.of_type(SECURITY_GROUP) == []
    assert recorded.of_type(INGRESS) == []
    assert recorded.of_type(EGRESS) == []
    assert recorded.of_type(PLACEMENT_GROUP) == []
    template = recorded.one(LAUNCH_TEMPLATE).inputs
    assert "networkInterfaces" not in template
    assert "placement" not in template
    assert template["userData"]
    node_group = recorded.one(NODE_GROUP).inputs
    assert node_group["subnetIds"] == [SUBNETS[az] for az in AZS]
    assert node_group["instanceTypes"] == ["g4dn.xlarge"]
    values = {t.inputs["tag"]["key"]: t.inputs["tag"]["value"] for t in recorded.of_type(ASG_TAG)}
    assert values[f"{AUTOSCALER_TEMPLATE}/resources/nvidia.com/gpu"] == "1"
    assert not any("vpc.amazonaws.com/efa" in key for key in values)


def test_bottlerocket_pool_uses_the_data_volume_device(run_pulumi):
    rocket = pool(name="t4-br", instanceTypes=["g4dn.xlarge"], amiType="BOTTLEROCKET_x86_64_NVIDIA")
    recorded = run_pulumi(lambda: GpuNodeGroup("pool-t4-br", args(rocket)))
    template = recorded.one(LAUNCH_TEMPLATE).inputs
    assert template["blockDeviceMappings"][0]["deviceName"] == "/dev/xvdb"
    assert "ephemeral-storage" in base64.b64decode(template["userData"]).decode()
    assert recorded.one(NODE_GROUP).inputs["amiType"] == "BOTTLEROCKET_x86_64_NVIDIA"


# --------------------------------------------------------------------------- spot


def test_spot_pool_is_diversified_scales_to_zero_and_is_tainted(run_pulumi):
    recorded = run_pulumi(lambda: SpotPool("pool-t4-spot", args(T4_SPOT)))
    component = recorded.one(SPOT_COMPONENT)
    assert recorded.of_type(COMPONENT) == []
    node_group = recorded.one(NODE_GROUP)
    assert node_group.parent == component.urn
    inputs = node_group.inputs
    assert inputs["capacityType"] == "SPOT"
    assert len(inputs["instanceTypes"]) >= 2
    assert all(get_instance_type(t).gpu_model == "T4" for t in inputs["instanceTypes"])
    assert inputs["scalingConfig"]["minSize"] == 0
    assert inputs["subnetIds"] == [SUBNETS[az] for az in AZS]
    assert inputs["taints"] == [
        {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"},
        {"key": "gpu-platform/spot", "value": "true", "effect": "NO_SCHEDULE"},
    ]
    values = {t.inputs["tag"]["key"]: t.inputs["tag"]["value"] for t in recorded.of_type(ASG_TAG)}
    assert values[f"{AUTOSCALER_TEMPLATE}/taint/gpu-platform/spot"] == "true:NoSchedule"


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kind", "gpu_pool", "key"),
    [
        (
            GpuNodeGroup,
            pool(name="mixed", instanceTypes=["g4dn.xlarge", "g4dn.12xlarge"]),
            "gpu-platform:gpuPools[5].instanceTypes",
        ),
        (SpotPool, T4, "gpu-platform:gpuPools[5].capacityType"),
    ],
    ids=["mixed-gpu-counts", "spot-pool-on-demand"],
)
def test_bad_input_registers_nothing(run_pulumi, kind, gpu_pool, key):
    errors: list[ConfigError] = []

    def program() -> None:
        try:
            kind("pool-bad", args(gpu_pool, "gpuPools[5]"))
        except ConfigError as error:
            errors.append(error)

    recorded = run_pulumi(program)
    assert len(errors) == 1
    assert [k for k, _ in errors[0].problems] == [key]
    assert [r.type for r in recorded.registrations] == [STACK]


# --------------------------------------------------------------------------- regressions


def test_distinct_labels_get_distinct_autoscaler_tag_resources(run_pulumi):
    labelled = pool(name="t4", instanceTypes=["g4dn.xlarge"], labels={"team.x": "a", "team-x": "b"})
    recorded = run_pulumi(lambda: GpuNodeGroup("pool-t4", args(labelled)))
    tags = recorded.of_type(ASG_TAG)
    assert len(tags) == len(resolve(args(labelled)).autoscaler_tags)
    assert len({t.urn for t in tags}) == len(tags)
