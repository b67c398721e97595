"""GPU node groups under recording mocks: launch template, EFA, placement, capacity, CA tags.

Specs are a shipped stack's pools (or its config with `gpuPools` replaced), resolved as the
program does; refs are plain strings in place of the network's and the cluster's outputs.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from components.catalog import get_instance_type
from components.catalog.conventions import AUTOSCALER_TEMPLATE
from components.compute import GpuNodeGroup, PoolRefs, SpotPool, node_group_class
from components.config import CapacityType, ConfigError
from components.resolve.compute import GpuPoolSpec
from tests.support import STACKS, config, platform, raw_config, shipped_plan

STACK = "prod"
"""Three AZs, and an EFA p5 pool (`h100-train`) as shipped."""
SHIPPED = platform(STACK)
AZS = config(STACK).availability_zones
ADDONS = {**json.loads(raw_config(STACK)["gpu-platform:addons"]), "triton": False}
"""The stack's add-ons without Triton, which needs an inference pool the tests may not have."""
SUBNETS = {az: f"subnet-0{i}a1b2c3d4e5f6000" for i, az in enumerate(AZS)}
CLUSTER_SG = "sg-cluster0000000001"
VPC = "vpc-0123456789abcdef0"
NODE_ROLE = "arn:aws:iam::123456789012:role/gpu-platform-prod-node"
RESERVATION = "cr-0123456789abcdef0"
REFS = PoolRefs(
    cluster_name=SHIPPED.cluster.name,
    subnet_ids_by_az=SUBNETS,
    node_role_arn=NODE_ROLE,
    cluster_security_group_id=CLUSTER_SG,
    vpc_id=VPC,
)

COMPONENT = "gpuplatform:index:GpuNodeGroup"
SPOT_COMPONENT = "gpuplatform:index:SpotPool"
STACK_TYPE = "pulumi:pulumi:Stack"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
PLACEMENT_GROUP = "aws:ec2/placementGroup:PlacementGroup"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
ASG_TAG = "aws:autoscaling/tag:Tag"


def pool(**fields: Any) -> dict[str, Any]:
    """A `gpuPools` entry in camelCase."""
    raw: dict[str, Any] = {"name": "gpu", "maxSize": 4}
    raw.update(fields)
    return raw


def pools_config(entry: dict[str, Any], index: int) -> dict[str, Any]:
    """Overrides putting `entry` at `gpuPools[index]` (earlier entries: small T4 pools)."""
    fillers = [
        pool(name=f"fill{i}", instanceTypes=["g4dn.xlarge"], maxSize=1) for i in range(index)
    ]
    return {"gpuPools": [*fillers, entry], "addons": ADDONS}


def spec_of(entry: dict[str, Any]) -> GpuPoolSpec:
    return platform(STACK, **pools_config(entry, 0)).pools[0]


def build(spec: GpuPoolSpec) -> GpuNodeGroup:
    """As stacks/__main__.py builds a pool."""
    return node_group_class(spec)(f"pool-{spec.name}", spec, REFS)


P5 = next(p for p in SHIPPED.pools if p.efa)
T4 = spec_of(pool(name="t4", purpose="inference", instanceTypes=["g4dn.xlarge"]))
T4_SPOT = spec_of(
    pool(name="t4-spot", capacityType="SPOT", gpuNeed={"gpuModel": "T4", "gpusPerNode": 1})
)
P5_NAME = f"pool-{P5.name}"


def capacity_block(**fields: Any) -> GpuPoolSpec:
    return spec_of(
        pool(
            name="h100-cb",
            purpose="training",
            instanceTypes=["p5.48xlarge"],
            efa=True,
            capacityType="CAPACITY_BLOCK",
            capacityReservationId=RESERVATION,
            **fields,
        )
    )


def asg_tag_values(recorded) -> dict[str, str]:
    return {t.inputs["tag"]["key"]: t.inputs["tag"]["value"] for t in recorded.of_type(ASG_TAG)}


@pytest.fixture
def p5(run_pulumi):
    return run_pulumi(lambda: build(P5))


# --------------------------------------------------------------------------- the shipped pool


def test_the_shipped_efa_pool_is_a_p5_with_the_full_layout():
    assert [t.name for t in P5.instance_types] == ["p5.48xlarge"]
    assert P5.efa_devices == 32
    assert node_group_class(P5) is GpuNodeGroup


@pytest.mark.parametrize("stack", STACKS)
def test_spot_pools_are_built_as_spot_pools_and_the_rest_as_node_groups(stack):
    spec = platform(stack)
    assert spec.pools
    for gpu_pool in spec.pools:
        expected = SpotPool if gpu_pool.capacity_type is CapacityType.SPOT else GpuNodeGroup
        assert node_group_class(gpu_pool) is expected, gpu_pool.name


# --------------------------------------------------------------------------- p5 with EFA


def test_children_are_parented_to_the_component_and_named_from_it(p5):
    component = p5.one(COMPONENT)
    assert component.name == P5_NAME
    children = [r for r in p5.registrations if r.type not in (STACK_TYPE, COMPONENT)]
    assert children
    assert all(r.parent == component.urn for r in children)
    assert all(r.name.startswith(f"{P5_NAME}-") for r in children)
    assert p5.children(component.urn) == children
    assert len({r.urn for r in p5.registrations}) == len(p5.registrations)


def test_p5_launch_template_has_one_efa_device_per_network_card(run_pulumi):
    p5_type = get_instance_type("p5.48xlarge")
    without_pod_network = next(p for p in platform(STACK, podNetwork=None).pools if p.efa)
    recorded = run_pulumi(lambda: build(without_pod_network))
    interfaces = recorded.one(LAUNCH_TEMPLATE).inputs["networkInterfaces"]
    cards = [i["networkCardIndex"] for i in interfaces]
    assert len(set(cards)) == 32 == p5_type.network_cards
    assert max(cards.count(c) for c in set(cards)) <= 2
    assert sum(i["interfaceType"] == "efa-only" for i in interfaces) == 32
    assert len(interfaces) == 33
    first = {(i["networkCardIndex"], i["deviceIndex"]): i["interfaceType"] for i in interfaces}
    assert first[(0, 0)] == "interface"
    assert first[(0, 1)] == "efa-only"
    assert len(first) == len(interfaces)  # no slot used twice


def test_with_custom_networking_the_p5_primary_carries_card_zeros_efa_device(p5):
    # prod ships podNetwork: pods' interfaces go on card 0 (the VPC CNI's card), whose second
    # slot must stay free, so card 0's EFA device is the primary (`efa`, with the node's IP).
    interfaces = p5.one(LAUNCH_TEMPLATE).inputs["networkInterfaces"]
    slots = {(i["networkCardIndex"], i["deviceIndex"]): i["interfaceType"] for i in interfaces}
    assert slots[(0, 0)] == "efa"
    assert (0, 1) not in slots
    assert sorted(slots) == [(card, 0) for card in range(32)]
    assert sum(t in ("efa", "efa-only") for t in slots.values()) == 32 == P5.efa_devices


def test_every_efa_interface_carries_the_cluster_and_efa_groups(p5):
    efa_sg = p5.one(SECURITY_GROUP, f"{P5_NAME}-efa")
    assert efa_sg.inputs["vpcId"] == VPC
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
    assert node_group.inputs["labels"] == P5.labels
    assert node_group.inputs["clusterName"] == SHIPPED.cluster.name
    assert node_group.inputs["nodeRoleArn"] == NODE_ROLE
    assert node_group.inputs["nodeGroupNamePrefix"] == f"{P5.name}-"
    # EFA pools: one at a time, and no surge node (a placement group or reservation has no room)
    assert node_group.inputs["updateConfig"] == {"maxUnavailable": 1, "updateStrategy": "MINIMAL"}


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
    assert P5.tags == SHIPPED.tags
    for tags in specs.values():
        assert tags.items() >= SHIPPED.tags.items()
        # `<cluster>-<pool>`: nodes of two stacks tell apart in the console.
        assert tags["Name"] == f"gpu-platform-{STACK}-{P5.name}" == P5.node_name
    root = template["blockDeviceMappings"][0]
    assert root["deviceName"] == "/dev/xvda"
    assert root["ebs"]["encrypted"] == "true"
    assert root["ebs"]["volumeType"] == "gp3"
    assert root["ebs"]["volumeSize"] == P5.disk_size_gib
    assert "RAID0" in base64.b64decode(template["userData"]).decode()


def test_autoscaler_tags_target_the_node_group_asg(p5):
    node_group = p5.one(NODE_GROUP)
    asg = node_group.outputs["resources"][0]["autoscalingGroups"][0]["name"]
    tags = p5.of_type(ASG_TAG)
    assert tags
    assert {t.inputs["autoscalingGroupName"] for t in tags} == {asg}
    assert all(t.inputs["tag"]["propagateAtLaunch"] is False for t in tags)
    values = asg_tag_values(p5)
    assert values[f"{AUTOSCALER_TEMPLATE}/resources/nvidia.com/gpu"] == "8"
    assert values[f"{AUTOSCALER_TEMPLATE}/resources/vpc.amazonaws.com/efa"] == "32"
    assert values[f"{AUTOSCALER_TEMPLATE}/taint/nvidia.com/gpu"] == "true:NoSchedule"
    assert values == P5.autoscaler_tags
    assert all(node_group.urn in t.dependencies for t in tags)


# --------------------------------------------------------------------------- Capacity Block


def test_capacity_block_moves_the_type_into_the_launch_template(run_pulumi):
    recorded = run_pulumi(lambda: build(capacity_block()))
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
    assert len(template["networkInterfaces"]) == 32  # EFA stays on (prod: custom networking)
    assert recorded.one(COMPONENT).name == "pool-h100-cb"


def test_capacity_block_made_in_a_placement_group_launches_into_that_group(run_pulumi):
    recorded = run_pulumi(lambda: build(capacity_block(placementGroupName="p5-block-pg")))
    # The reservation's own group, by name: never a new one it can never be in.
    assert recorded.of_type(PLACEMENT_GROUP) == []
    template = recorded.one(LAUNCH_TEMPLATE).inputs
    assert template["placement"]["groupName"] == "p5-block-pg"


def p5_odcr() -> dict[str, Any]:
    return pool(
        name="h100-odcr", instanceTypes=["p5.48xlarge"], efa=True, capacityReservationId=RESERVATION
    )


def test_odcr_on_demand_pool_targets_the_reservation_without_capacity_block(run_pulumi):
    odcr = spec_of(p5_odcr())
    recorded = run_pulumi(lambda: build(odcr))
    template = recorded.one(LAUNCH_TEMPLATE).inputs
    target = template["capacityReservationSpecification"]["capacityReservationTarget"]
    assert target["capacityReservationId"] == RESERVATION
    assert "instanceMarketOptions" not in template
    assert "instanceType" not in template
    assert recorded.one(NODE_GROUP).inputs["instanceTypes"] == ["p5.48xlarge"]
    assert recorded.of_type(PLACEMENT_GROUP) == []


RESERVED_REPAIR = {
    "enabled": True,
    "maxParallelNodesRepairedCount": 1,
    "maxUnhealthyNodeThresholdPercentage": 50,
}
POOL_REPAIR = {
    "enabled": True,
    "maxParallelNodesRepairedPercentage": 25,
    "maxUnhealthyNodeThresholdPercentage": 50,
}


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: capacity_block(), RESERVED_REPAIR),
        (lambda: spec_of(p5_odcr()), RESERVED_REPAIR),
        (lambda: P5, POOL_REPAIR),
        (lambda: T4, POOL_REPAIR),
        (lambda: T4_SPOT, POOL_REPAIR),
    ],
)
def test_node_auto_repair_is_on_one_node_at_a_time_in_a_reservation(run_pulumi, make, expected):
    spec = make()
    recorded = run_pulumi(lambda: build(spec))
    assert recorded.one(NODE_GROUP).inputs["nodeRepairConfig"] == expected


@pytest.mark.parametrize("stack", STACKS)
def test_every_shipped_gpu_node_group_has_auto_repair(stack):
    document, _ = shipped_plan(stack)
    states = [s["newState"] for s in document["steps"] if s.get("newState")]
    pools = {s["urn"]: s for s in states if s["type"] in (COMPONENT, SPOT_COMPONENT)}
    groups = [s for s in states if s["type"] == NODE_GROUP and s.get("parent") in pools]
    assert len(groups) == len(platform(stack).pools) > 0
    reserved = {f"pool-{p.name}" for p in platform(stack).pools if p.reserved}
    for group in groups:
        name = group["urn"].rsplit("::", 1)[-1].removesuffix("-ng")
        expected = RESERVED_REPAIR if name in reserved else POOL_REPAIR
        assert group["inputs"]["nodeRepairConfig"] == expected, group["urn"]


# --------------------------------------------------------------------------- T4, on demand


def test_t4_pool_spans_every_az_without_efa(run_pulumi):
    recorded = run_pulumi(lambda: build(T4))
    assert recorded.one(COMPONENT).name == "pool-t4"
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
    assert node_group["updateConfig"] == {
        "maxUnavailablePercentage": 33,
        "updateStrategy": "MINIMAL",
    }
    values = asg_tag_values(recorded)
    assert values[f"{AUTOSCALER_TEMPLATE}/resources/nvidia.com/gpu"] == "1"
    assert not any("vpc.amazonaws.com/efa" in key for key in values)


def test_bottlerocket_pool_uses_the_data_volume_device(run_pulumi):
    rocket = spec_of(
        pool(name="t4-br", instanceTypes=["g4dn.xlarge"], amiType="BOTTLEROCKET_x86_64_NVIDIA")
    )
    recorded = run_pulumi(lambda: build(rocket))
    template = recorded.one(LAUNCH_TEMPLATE).inputs
    assert template["blockDeviceMappings"][0]["deviceName"] == "/dev/xvdb"
    assert "ephemeral-storage" in base64.b64decode(template["userData"]).decode()
    assert recorded.one(NODE_GROUP).inputs["amiType"] == "BOTTLEROCKET_x86_64_NVIDIA"


# --------------------------------------------------------------------------- spot


def test_spot_pool_is_diversified_scales_to_zero_and_is_tainted(run_pulumi):
    recorded = run_pulumi(lambda: build(T4_SPOT))
    component = recorded.one(SPOT_COMPONENT)
    assert component.name == "pool-t4-spot"
    assert recorded.of_type(COMPONENT) == []
    node_group = recorded.one(NODE_GROUP)
    assert node_group.parent == component.urn
    inputs = node_group.inputs
    assert inputs["capacityType"] == "SPOT"
    types = [get_instance_type(t) for t in inputs["instanceTypes"]]
    assert types and all(t.gpu_model == "T4" for t in types)
    assert len({(t.vcpus, t.memory_mib) for t in types}) == 1  # one node template fits all
    assert inputs["scalingConfig"]["minSize"] == 0
    assert inputs["subnetIds"] == [SUBNETS[az] for az in AZS]
    assert inputs["taints"] == [
        {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"},
        {"key": "gpu-platform/spot", "value": "true", "effect": "NO_SCHEDULE"},
    ]
    values = asg_tag_values(recorded)
    assert values[f"{AUTOSCALER_TEMPLATE}/taint/gpu-platform/spot"] == "true:NoSchedule"


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        (
            pool(name="mixed", instanceTypes=["g4dn.xlarge", "g4dn.12xlarge"]),
            "gpu-platform:gpuPools[5].instanceTypes",
        ),
        (
            pool(name="h100-spot", instanceTypes=["p5.48xlarge"], capacityType="SPOT", efa=True),
            "gpu-platform:gpuPools[5].efa",
        ),
    ],
    ids=["mixed-gpu-counts", "spot-pool-with-efa"],
)
def test_bad_input_registers_nothing(run_pulumi, entry, key):
    """The program resolves every pool before it builds one: a bad pool registers nothing."""
    errors: list[ConfigError] = []

    def program() -> None:
        try:
            spec = platform(STACK, **pools_config(entry, 5))
        except ConfigError as error:
            errors.append(error)
            return
        for gpu_pool in spec.pools:
            build(gpu_pool)

    recorded = run_pulumi(program)
    assert len(errors) == 1
    assert [k for k, _ in errors[0].problems] == [key]
    assert [r.type for r in recorded.registrations] == [STACK_TYPE]


# --------------------------------------------------------------------------- regressions


def test_distinct_labels_get_distinct_autoscaler_tag_resources(run_pulumi):
    labelled = spec_of(
        pool(name="t4", instanceTypes=["g4dn.xlarge"], labels={"team.x": "a", "team-x": "b"})
    )
    recorded = run_pulumi(lambda: build(labelled))
    tags = recorded.of_type(ASG_TAG)
    assert len(tags) == len(labelled.autoscaler_tags)
    assert len({t.urn for t in tags}) == len(tags)
    assert asg_tag_values(recorded) == labelled.autoscaler_tags
