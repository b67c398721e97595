"""GPU node groups: an EKS managed node group plus the launch template that makes GPUs usable.

The pool's shape (types, AZs, EFA layout, placement, capacity, user data, labels, taints) is
resolved in `components.resolve.compute`; this module only builds it:
- an EFA security group that allows all traffic from and to itself (NCCL hangs without the egress
  rule), put with the cluster security group on every EFA interface;
- a cluster placement group where the spec asks for one;
- Capacity Blocks: the instance type moves into the launch template, market type
  `capacity-block`, the reservation targeted; ODCRs via the reservation target;
- IMDSv2, an encrypted gp3 root volume, tags that reach instances, volumes and interfaces;
- the Cluster Autoscaler node-template tags on the node group's Auto Scaling group;
- node auto repair with the limits the resolve chose (one node at a time in a reservation).

Spot pools (`SpotPool`) spread over every AZ. EKS managed node groups turn on Capacity
Rebalancing for spot: when EC2 signals an elevated interruption risk, a replacement node is
launched and the old one cordoned and drained; on the two-minute interruption notice the node is
drained. Jobs that cannot checkpoint must stay off spot: spot nodes carry the
`gpu-platform/spot=true:NoSchedule` taint and only pods that tolerate it land there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from components.catalog.conventions import AUTOSCALER_TEMPLATE
from components.cluster import Cluster
from components.common import launch_template
from components.common.security_groups import allow_all_traffic
from components.config import CapacityType
from components.network import Network
from components.resolve.compute import GpuPoolSpec, NodeRepairSpec

_EFFECTS = {
    "NoSchedule": "NO_SCHEDULE",
    "NoExecute": "NO_EXECUTE",
    "PreferNoSchedule": "PREFER_NO_SCHEDULE",
}


class PoolRefs(TypedDict):
    """Handles of what the network and the cluster created, for a GPU pool."""

    cluster_name: pulumi.Input[str]
    """EKS cluster the nodes join."""
    subnet_ids_by_az: Mapping[str, pulumi.Input[str]]
    """Private subnet per AZ."""
    node_role_arn: pulumi.Input[str]
    cluster_security_group_id: pulumi.Input[str]
    """EKS cluster security group (put on EFA interfaces, which replace the default one)."""
    vpc_id: pulumi.Input[str]
    node_prerequisites: NotRequired[Sequence[pulumi.Resource]]
    """What must exist before the first node joins: the vpc-cni add-on (with custom networking,
    its ENIConfigs and environment), so no node starts with pods on the node subnet."""


def pool_refs(cluster: Cluster, network: Network) -> PoolRefs:
    """What every GPU pool takes from the cluster and the network."""
    return {
        "cluster_name": cluster.cluster_name,
        "subnet_ids_by_az": network.private_subnet_ids_by_az,
        "node_role_arn": cluster.node_role_arn,
        "cluster_security_group_id": cluster.cluster_security_group_id,
        "vpc_id": network.vpc_id,
        "node_prerequisites": [cluster.vpc_cni],
    }


def node_repair_config(repair: NodeRepairSpec) -> aws.eks.NodeGroupNodeRepairConfigArgsDict:
    """`nodeRepairConfig`: auto repair on, with the limits the resolve chose (unset ones left
    out: EKS takes a count or a percentage per limit, never both)."""
    config: aws.eks.NodeGroupNodeRepairConfigArgsDict = {"enabled": True}
    if repair.max_parallel_count is not None:
        config["max_parallel_nodes_repaired_count"] = repair.max_parallel_count
    if repair.max_parallel_percentage is not None:
        config["max_parallel_nodes_repaired_percentage"] = repair.max_parallel_percentage
    if repair.max_unhealthy_count is not None:
        config["max_unhealthy_node_threshold_count"] = repair.max_unhealthy_count
    if repair.max_unhealthy_percentage is not None:
        config["max_unhealthy_node_threshold_percentage"] = repair.max_unhealthy_percentage
    return config


class GpuNodeGroup(pulumi.ComponentResource):
    """A GPU managed node group with its launch template (and EFA security group and placement
    group when the pool uses EFA)."""

    TYPE = "gpuplatform:index:GpuNodeGroup"

    node_group_name: pulumi.Output[str]
    autoscaling_group_name: pulumi.Output[str]
    spec: GpuPoolSpec

    def __init__(
        self,
        name: str,
        spec: GpuPoolSpec,
        refs: PoolRefs,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__(self.TYPE, name, {}, opts)
        self.spec = spec
        child = pulumi.ResourceOptions(parent=self)

        template: dict[str, Any] = {
            "description": f"GPU pool {spec.name}",
            "metadata_options": launch_template.metadata_options(),
            "block_device_mappings": [
                launch_template.root_volume(spec.disk_size_gib, spec.root_device)
            ],
            "tag_specifications": launch_template.tag_specifications(spec.tags, spec.node_name),
            "update_default_version": True,
        }
        if spec.user_data:
            template["user_data"] = spec.user_data

        if spec.network_interfaces:
            efa_sg = aws.ec2.SecurityGroup(
                f"{name}-efa",
                vpc_id=refs["vpc_id"],
                description=f"EFA traffic between the nodes of GPU pool {spec.name}",
                opts=child,
            )
            allow_all_traffic(
                (f"{name}-efa-in", f"{name}-efa-out"),
                efa_sg.id,
                efa_sg.id,
                (
                    "All traffic from nodes of the same EFA group",
                    "All traffic to nodes of the same EFA group",
                ),
                child,
            )
            groups = [refs["cluster_security_group_id"], efa_sg.id]
            template["network_interfaces"] = [
                {
                    "network_card_index": i.network_card_index,
                    "device_index": i.device_index,
                    "interface_type": i.interface_type,
                    "security_groups": groups,
                    "delete_on_termination": "true",
                }
                for i in spec.network_interfaces
            ]
            self.efa_security_group_id: pulumi.Output[str] | None = efa_sg.id
        else:
            self.efa_security_group_id = None

        if spec.placement_group:
            group = aws.ec2.PlacementGroup(f"{name}-pg", strategy="cluster", opts=child)
            template["placement"] = {"group_name": group.name}
        elif spec.placement_group_name:
            template["placement"] = {"group_name": spec.placement_group_name}
        if spec.reservation_id:
            template["capacity_reservation_specification"] = {
                "capacity_reservation_target": {"capacity_reservation_id": spec.reservation_id}
            }
        node_group_types: list[str] | None = [t.name for t in spec.instance_types]
        if spec.capacity_type is CapacityType.CAPACITY_BLOCK:
            template["instance_market_options"] = {"market_type": "capacity-block"}
            template["instance_type"] = spec.instance_types[0].name
            node_group_types = None

        lt = aws.ec2.LaunchTemplate(f"{name}-lt", opts=child, **template)

        node_group = aws.eks.NodeGroup(
            f"{name}-ng",
            cluster_name=refs["cluster_name"],
            node_group_name_prefix=f"{spec.name}-",
            node_role_arn=refs["node_role_arn"],
            subnet_ids=[refs["subnet_ids_by_az"][az] for az in spec.azs],
            instance_types=node_group_types,
            ami_type=spec.ami_type,
            capacity_type=spec.capacity_type.value,
            scaling_config={
                "min_size": spec.min_size,
                "desired_size": spec.desired_size,
                "max_size": spec.max_size,
            },
            update_config=(
                {"max_unavailable": 1, "update_strategy": spec.update_strategy}
                if spec.efa
                else {"max_unavailable_percentage": 33, "update_strategy": spec.update_strategy}
            ),
            labels=spec.labels,
            taints=[{"key": k, "value": v, "effect": _EFFECTS[e]} for k, v, e in spec.taints],
            launch_template={"id": lt.id, "version": lt.latest_version.apply(str)},
            node_repair_config=node_repair_config(spec.node_repair),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=list(refs.get("node_prerequisites") or ()),
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )

        asg_name = node_group.resources.apply(
            lambda resources: resources[0].autoscaling_groups[0].name  # type: ignore[index]
        )
        for key, value in sorted(spec.autoscaler_tags.items()):
            slug = key.removeprefix(AUTOSCALER_TEMPLATE + "/").replace("/", "-").replace(".", "-")
            slug += "-" + hashlib.sha256(key.encode()).hexdigest()[:6]  # `a.b` and `a-b` differ
            aws.autoscaling.Tag(
                f"{name}-ca-{slug}",
                autoscaling_group_name=asg_name,
                tag={"key": key, "value": value, "propagate_at_launch": False},
                opts=child,
            )

        self.node_group_name = node_group.node_group_name
        self.autoscaling_group_name = asg_name
        self.register_outputs(
            {
                "node_group_name": self.node_group_name,
                "autoscaling_group_name": self.autoscaling_group_name,
                "spec": json.dumps(
                    {"instanceTypes": [t.name for t in spec.instance_types], "azs": spec.azs}
                ),
            }
        )


class SpotPool(GpuNodeGroup):
    """A spot GPU pool diversified over every catalog type that meets its GPU need."""

    TYPE = "gpuplatform:index:SpotPool"


def node_group_class(spec: GpuPoolSpec) -> type[GpuNodeGroup]:
    """SpotPool for spot capacity, GpuNodeGroup otherwise (the type token is part of the URN)."""
    return SpotPool if spec.capacity_type is CapacityType.SPOT else GpuNodeGroup
