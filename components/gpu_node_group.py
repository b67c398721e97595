"""GPU node groups: an EKS managed node group plus the launch template that makes GPUs usable.

What the launch template carries, derived from the instance catalog rather than hard-coded per type:
- EFA (when the pool asks for it): one EFA device on every network card. Card 0 device 0 is the
  ENA primary interface (it carries the node's IP), card 0 device 1 and device 0 of every other
  card are `efa-only` (no IP addresses; needs VPC CNI >= 1.18.4). p5.48xlarge gets 32 EFA devices,
  p5en.48xlarge 16, p4d.24xlarge 4. Every interface carries the cluster security group and an EFA
  group that allows all traffic from and to itself (NCCL hangs without the egress rule).
- A cluster placement group for EFA pools, in one AZ, unless the pool launches into a capacity
  reservation made outside that group (the launch would fail with InsufficientInstanceCapacity).
- Capacity: ON_DEMAND, SPOT, or CAPACITY_BLOCK (the instance type moves into the launch template,
  market type `capacity-block`, the reservation targeted); ODCRs via the reservation target.
- Instance-store NVMe as RAID0 (nodeadm `localStorage` on AL2023, `apiclient ephemeral-storage` on
  Bottlerocket), IMDSv2, an encrypted gp3 root volume, and tags that reach instances, volumes and
  network interfaces.
- Labels, the `nvidia.com/gpu=true:NoSchedule` taint (spot pools also `gpu-platform/spot`), and the
  Cluster Autoscaler node-template tags on the Auto Scaling group, so a pending GPU pod can bring
  a pool up from zero.

Spot pools (`SpotPool`) take a GPU need instead of instance types and spread over every AZ. EKS
managed node groups turn on Capacity Rebalancing for spot: when EC2 signals an elevated
interruption risk, a replacement node is launched and the old one cordoned and drained; on the
two-minute interruption notice the node is drained. Jobs that cannot checkpoint must stay off spot:
spot nodes carry the `gpu-platform/spot=true:NoSchedule` taint and only pods that tolerate it land
there.
"""

from __future__ import annotations

import base64
import hashlib
import json
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

import pulumi
import pulumi_aws as aws

from components import launch_template
from components.catalog import InstanceType, mig_devices_per_gpu
from components.cluster import NODE_POOL_LABEL
from components.config import (
    PROJECT_NAMESPACE,
    CapacityType,
    ConfigError,
    GpuAmiType,
    GpuPool,
    PoolPurpose,
)
from components.pools import pool_azs, pool_instance_types

GPU_TAINT = ("nvidia.com/gpu", "true", "NoSchedule")
SPOT_TAINT = ("gpu-platform/spot", "true", "NoSchedule")
EFA_LABEL = "gpu-platform/efa"
EFA_RESOURCE = "vpc.amazonaws.com/efa"
GPU_RESOURCE = "nvidia.com/gpu"
AUTOSCALER_TEMPLATE = "k8s.io/cluster-autoscaler/node-template"
DEVICE_PLUGIN_CONFIG_LABEL = "nvidia.com/device-plugin.config"
MIG_CONFIG_LABEL = "nvidia.com/mig.config"


def time_slicing_config_name(replicas: int) -> str:
    """Name of the device-plugin config (a key of the GPU Operator's config map) for N replicas."""
    return f"time-sliced-{replicas}"


_EFFECTS = {
    "NoSchedule": "NO_SCHEDULE",
    "NoExecute": "NO_EXECUTE",
    "PreferNoSchedule": "PREFER_NO_SCHEDULE",
}


class GpuNodeGroupArgs(TypedDict):
    pool: GpuPool
    """The pool's validated config (plain: decides which resources exist)."""
    config_path: str
    """Where the pool sits in the stack config, for error messages (e.g. `gpuPools[1]`)."""
    stack_azs: Sequence[str]
    """The stack's AZs (a pool without its own AZ list uses them)."""
    cluster_name: pulumi.Input[str]
    """EKS cluster the nodes join."""
    subnet_ids_by_az: Mapping[str, pulumi.Input[str]]
    """Private subnet per AZ."""
    node_role_arn: pulumi.Input[str]
    cluster_security_group_id: pulumi.Input[str]
    """EKS cluster security group (put on EFA interfaces, which replace the default one)."""
    vpc_id: pulumi.Input[str]
    tags: Mapping[str, str]
    """Stack tags, copied into the launch template's tag specifications."""


@dataclass(frozen=True)
class NetworkInterface:
    network_card_index: int
    device_index: int
    interface_type: str
    """`interface` (ENA with IP addresses) or `efa-only`."""


@dataclass(frozen=True)
class ResolvedGpuNodeGroup:
    name: str
    purpose: PoolPurpose
    capacity_type: CapacityType
    instance_types: list[InstanceType]
    azs: list[str]
    min_size: int
    desired_size: int
    max_size: int
    gpus_per_node: int
    schedulable_gpus_per_node: int
    """`nvidia.com/gpu` per node as the device plugin advertises it (time-slicing or MIG)."""
    network_interfaces: list[NetworkInterface]
    efa_devices: int
    placement_group: bool
    reservation_id: str | None
    ami_type: str
    root_device: str
    disk_size_gib: int
    user_data: str | None
    """Base64 user data, or None."""
    labels: dict[str, str]
    taints: list[tuple[str, str, str]]
    autoscaler_tags: dict[str, str] = field(default_factory=dict)

    @property
    def efa(self) -> bool:
        return self.efa_devices > 0


def efa_layout(instance: InstanceType) -> list[NetworkInterface]:
    """One EFA device per network card: card 0 keeps its ENA primary at device 0."""
    interfaces = [NetworkInterface(0, 0, "interface"), NetworkInterface(0, 1, "efa-only")]
    interfaces += [
        NetworkInterface(card, 0, "efa-only") for card in range(1, instance.network_cards)
    ]
    return interfaces


NODEADM_RAID0 = textwrap.dedent(
    """\
    MIME-Version: 1.0
    Content-Type: multipart/mixed; boundary="//"

    --//
    Content-Type: application/node.eks.aws

    ---
    apiVersion: node.eks.aws/v1alpha1
    kind: NodeConfig
    spec:
      instance:
        localStorage:
          strategy: RAID0

    --//--
    """
)
"""AL2023: nodeadm stripes every instance-store NVMe disk into one RAID0 array for containerd and
kubelet (EKS merges its own NodeConfig for joining the cluster)."""

BOTTLEROCKET_RAID0 = textwrap.dedent(
    """\
    [settings.bootstrap-commands.k8s-ephemeral-storage]
    commands = [
        ["apiclient", "ephemeral-storage", "init"],
        ["apiclient", "ephemeral-storage", "bind", "--dirs",
         "/var/lib/containerd", "/var/lib/kubelet", "/var/log/pods"]
    ]
    essential = true
    mode = "always"
    """
)
"""Bottlerocket: RAID0 over the instance-store disks, bound to containerd, kubelet and pod logs."""


def _fail(path: str, key: str, message: str) -> ConfigError:
    return ConfigError([(f"{PROJECT_NAMESPACE}:{path}.{key}", message)])


def resolve(args: GpuNodeGroupArgs) -> ResolvedGpuNodeGroup:
    """Pure: instance types, AZs, EFA layout, placement, capacity, user data, labels and taints."""
    pool = args["pool"]
    path = args["config_path"]
    types = pool_instance_types(pool)
    azs = pool_azs(pool, args["stack_azs"])
    gpu_counts = {t.gpu_count for t in types}
    if len(gpu_counts) != 1:
        raise _fail(
            path,
            "instanceTypes",
            f"types with different GPU counts {sorted(gpu_counts)} cannot share a pool "
            "(the autoscaler builds one node template per pool)",
        )
    interfaces: list[NetworkInterface] = []
    if pool.efa:
        cards = {t.network_cards for t in types}
        if len(cards) != 1:
            raise _fail(path, "instanceTypes", "EFA pools need types with the same network cards")
        first = types[0]
        if first.max_interfaces_per_card < 2 and first.network_cards == 1:
            raise _fail(path, "efa", f"{first.name} has one interface per card: no room for EFA")
        if first.network_cards > first.max_efa_interfaces:
            raise _fail(
                path,
                "efa",
                f"{first.name} supports {first.max_efa_interfaces} EFA interfaces "
                f"for {first.network_cards} network cards",
            )
        interfaces = efa_layout(first)
    if pool.capacity_type is CapacityType.CAPACITY_BLOCK and len(types) != 1:
        raise _fail(path, "instanceTypes", "a Capacity Block is for exactly one instance type")

    efa_devices = sum(1 for i in interfaces if i.interface_type == "efa-only")
    placement = pool.efa and (
        pool.capacity_reservation_id is None or pool.reservation_in_placement_group
    )
    bottlerocket = pool.ami_type is GpuAmiType.BOTTLEROCKET_NVIDIA
    raid0 = all(t.instance_store_disks > 0 for t in types)
    user_data = None
    if raid0:
        text = BOTTLEROCKET_RAID0 if bottlerocket else NODEADM_RAID0
        user_data = base64.b64encode(text.encode()).decode()

    models = sorted({t.gpu_model for t in types if t.gpu_model})
    capacity_label = {
        CapacityType.ON_DEMAND: "on-demand",
        CapacityType.SPOT: "spot",
        CapacityType.CAPACITY_BLOCK: "capacity-block",
    }[pool.capacity_type]
    labels = {
        NODE_POOL_LABEL: pool.name,
        "gpu-platform/purpose": pool.purpose.value,
        "gpu-platform/capacity-type": capacity_label,
        **({"gpu-platform/gpu-model": models[0]} if len(models) == 1 else {}),
        **({EFA_LABEL: "true"} if interfaces else {}),
        **pool.labels,
    }
    taints = [GPU_TAINT] + ([SPOT_TAINT] if pool.capacity_type is CapacityType.SPOT else [])
    gpus = gpu_counts.pop()
    # What the device plugin advertises as nvidia.com/gpu: shared or partitioned GPUs count more.
    schedulable = gpus
    if pool.time_slicing_replicas:
        labels[DEVICE_PLUGIN_CONFIG_LABEL] = time_slicing_config_name(pool.time_slicing_replicas)
        schedulable = gpus * pool.time_slicing_replicas
    if pool.mig_profile:
        labels[MIG_CONFIG_LABEL] = pool.mig_profile
        schedulable = gpus * mig_devices_per_gpu(models[0], pool.mig_profile)
    autoscaler_tags = {f"{AUTOSCALER_TEMPLATE}/label/{k}": v for k, v in labels.items()}
    autoscaler_tags |= {f"{AUTOSCALER_TEMPLATE}/taint/{k}": f"{v}:{e}" for k, v, e in taints}
    autoscaler_tags[f"{AUTOSCALER_TEMPLATE}/resources/{GPU_RESOURCE}"] = str(schedulable)
    if efa_devices:
        autoscaler_tags[f"{AUTOSCALER_TEMPLATE}/resources/{EFA_RESOURCE}"] = str(efa_devices)

    return ResolvedGpuNodeGroup(
        name=pool.name,
        purpose=pool.purpose,
        capacity_type=pool.capacity_type,
        instance_types=types,
        azs=azs,
        min_size=pool.min_size,
        desired_size=pool.resolved_desired_size,
        max_size=pool.max_size,
        gpus_per_node=gpus,
        schedulable_gpus_per_node=schedulable,
        network_interfaces=interfaces,
        efa_devices=efa_devices,
        placement_group=placement,
        reservation_id=pool.capacity_reservation_id,
        ami_type=pool.ami_type.value,
        root_device="/dev/xvdb" if bottlerocket else "/dev/xvda",
        disk_size_gib=pool.disk_size_gib,
        user_data=user_data,
        labels=labels,
        taints=taints,
        autoscaler_tags=autoscaler_tags,
    )


class GpuNodeGroup(pulumi.ComponentResource):
    """A GPU managed node group with its launch template (and EFA security group and placement
    group when the pool uses EFA)."""

    TYPE = "gpuplatform:index:GpuNodeGroup"

    node_group_name: pulumi.Output[str]
    autoscaling_group_name: pulumi.Output[str]
    spec: ResolvedGpuNodeGroup

    def __init__(
        self, name: str, args: GpuNodeGroupArgs, opts: pulumi.ResourceOptions | None = None
    ):
        spec = self._resolve(args)  # first: invalid input registers nothing
        super().__init__(self.TYPE, name, {}, opts)
        self.spec = spec
        child = pulumi.ResourceOptions(parent=self)

        template: dict[str, Any] = {
            "description": f"GPU pool {spec.name}",
            "metadata_options": launch_template.metadata_options(),
            "block_device_mappings": [
                launch_template.root_volume(spec.disk_size_gib, spec.root_device)
            ],
            "tag_specifications": launch_template.tag_specifications(args["tags"], f"{name}"),
            "update_default_version": True,
        }
        if spec.user_data:
            template["user_data"] = spec.user_data

        if spec.network_interfaces:
            efa_sg = aws.ec2.SecurityGroup(
                f"{name}-efa",
                vpc_id=args["vpc_id"],
                description=f"EFA traffic between the nodes of GPU pool {spec.name}",
                opts=child,
            )
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-efa-in",
                security_group_id=efa_sg.id,
                referenced_security_group_id=efa_sg.id,
                ip_protocol="-1",
                description="All traffic from nodes of the same EFA group",
                opts=child,
            )
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-efa-out",
                security_group_id=efa_sg.id,
                referenced_security_group_id=efa_sg.id,
                ip_protocol="-1",
                description="All traffic to nodes of the same EFA group",
                opts=child,
            )
            groups = [args["cluster_security_group_id"], efa_sg.id]
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
            cluster_name=args["cluster_name"],
            node_group_name_prefix=f"{spec.name}-",
            node_role_arn=args["node_role_arn"],
            subnet_ids=[args["subnet_ids_by_az"][az] for az in spec.azs],
            instance_types=node_group_types,
            ami_type=spec.ami_type,
            capacity_type=spec.capacity_type.value,
            scaling_config={
                "min_size": spec.min_size,
                "desired_size": spec.desired_size,
                "max_size": spec.max_size,
            },
            update_config=(
                {"max_unavailable": 1} if spec.efa else {"max_unavailable_percentage": 33}
            ),
            labels=spec.labels,
            taints=[{"key": k, "value": v, "effect": _EFFECTS[e]} for k, v, e in spec.taints],
            launch_template={"id": lt.id, "version": lt.latest_version.apply(str)},
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["scalingConfig.desiredSize"]),
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

    def _resolve(self, args: GpuNodeGroupArgs) -> ResolvedGpuNodeGroup:
        return resolve(args)


def resolve_spot(args: GpuNodeGroupArgs) -> ResolvedGpuNodeGroup:
    """Pure: a spot pool is SPOT capacity over every configured AZ, scaling to zero."""
    pool = args["pool"]
    path = args["config_path"]
    if pool.capacity_type is not CapacityType.SPOT:
        raise _fail(path, "capacityType", f"a spot pool needs SPOT (got {pool.capacity_type})")
    if pool.efa:
        raise _fail(path, "efa", "EFA training pools need one AZ and stable capacity: not spot")
    return resolve(args)


class SpotPool(GpuNodeGroup):
    """A spot GPU pool diversified over every catalog type that meets its GPU need."""

    TYPE = "gpuplatform:index:SpotPool"

    def _resolve(self, args: GpuNodeGroupArgs) -> ResolvedGpuNodeGroup:
        return resolve_spot(args)
