"""Resolve GPU pools: instance types, AZs, EFA layout, placement, capacity, labels and taints.

What a pool's launch template carries is derived from the instance catalog rather than hard-coded
per type:
- EFA (when the pool asks for it): AWS's recommended layout, read per network card from the
  catalog (see `efa_layout`): the ENA primary on the default card, one `efa-only` device on every
  card that takes EFA, up to the type's `MaximumEfaInterfaces` (`efa-only` has no IP addresses;
  needs VPC CNI >= 1.18.4). With VPC CNI custom networking the primary interface carries no pods
  and the CNI attaches the pods' interfaces on the default card, so that card's EFA device moves
  onto the primary (`efa`: EFA with ENA, the node's IP) and its device 1 stays free for the pods'
  interface: still one EFA device per card.
- A cluster placement group for EFA pools, in one AZ, unless the pool launches into a capacity
  reservation made outside that group (the launch would fail with InsufficientInstanceCapacity).
- Instance-store NVMe as RAID0 (nodeadm `localStorage` on AL2023, `apiclient ephemeral-storage` on
  Bottlerocket).
- Labels, the `nvidia.com/gpu=true:NoSchedule` taint (spot pools also `gpu-platform/spot`), and the
  Cluster Autoscaler node-template tags, so a pending GPU pod can bring a pool up from zero.
- Node auto repair (`nodeRepairConfig`), acting on the conditions the EKS node monitoring agent
  sets (`AcceleratedHardwareReady` for GPU faults: XID errors, NVLink, ECC); EKS starts a repair
  about 10 minutes after a fault is detected. Repair reboots or terminates the node and the node
  group launches a replacement. In a Capacity Block or an ODCR the replacement can only come from
  the reservation's own capacity: the terminated instance's slot is free again once it has shut
  down, so reserved pools repair one node at a time; a Capacity Block near its end (EC2 reclaims
  the block's instances ahead of its end time) cannot be repaired: a node lost then stays lost.
  Every pool stops repairing when half of its nodes are unhealthy, which points to a cause no
  replacement fixes (an AMI, a driver, the reservation itself). EKS's default action per fault is
  used: no per-condition overrides.
"""

from __future__ import annotations

import base64
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from components.catalog import InstanceType, mig_devices_per_gpu
from components.catalog.conventions import (
    AUTOSCALER_TEMPLATE,
    CAPACITY_TYPE_LABEL,
    DEVICE_PLUGIN_CONFIG_LABEL,
    EFA_LABEL,
    EFA_RESOURCE,
    GPU_MODEL_LABEL,
    GPU_RESOURCE,
    GPU_TAINT,
    MIG_CONFIG_LABEL,
    NODE_POOL_LABEL,
    PURPOSE_LABEL,
    SPOT_TAINT,
)
from components.config import (
    PROJECT_NAMESPACE,
    CapacityType,
    ConfigError,
    GpuAmiType,
    GpuPool,
    PoolPurpose,
)
from components.resolve.pools import offering_problems, pool_azs, pool_instance_types


def _fail(path: str, key: str, message: str) -> ConfigError:
    return ConfigError([(f"{PROJECT_NAMESPACE}:{path}.{key}", message)])


def time_slicing_config_name(replicas: int) -> str:
    """Name of the device-plugin config (a key of the GPU Operator's config map) for N replicas."""
    return f"time-sliced-{replicas}"


@dataclass(frozen=True)
class NetworkInterface:
    network_card_index: int
    device_index: int
    interface_type: str
    """`interface` (ENA with IP addresses), `efa` (EFA with ENA and IP addresses, card 0's
    primary with custom networking) or `efa-only`."""


@dataclass(frozen=True)
class NodeRepairSpec:
    """A node group's `nodeRepairConfig` (EKS API NodegroupRepairConfig): a count or a
    percentage for each limit, never both."""

    max_parallel_count: int | None = None
    max_parallel_percentage: int | None = None
    max_unhealthy_count: int | None = None
    max_unhealthy_percentage: int | None = None


RESERVED_REPAIR = NodeRepairSpec(max_parallel_count=1, max_unhealthy_percentage=50)
"""Capacity Block / ODCR pools: one node at a time (a replacement must fit the reservation)."""

POOL_REPAIR = NodeRepairSpec(max_parallel_percentage=25, max_unhealthy_percentage=50)
"""Other pools: a quarter of the nodes at a time."""


def node_repair(reserved: bool) -> NodeRepairSpec:
    """Repair limits for a pool that launches into a reservation (or not)."""
    return RESERVED_REPAIR if reserved else POOL_REPAIR


@dataclass(frozen=True)
class GpuPoolSpec:
    """One GPU managed node group, resolved: what its launch template and node group carry."""

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
    """Create a cluster placement group of the pool's own."""
    placement_group_name: str | None
    """An existing placement group (the one the pool's reservation was created in)."""
    reservation_id: str | None
    ami_type: str
    root_device: str
    disk_size_gib: int
    user_data: str | None
    """Base64 user data, or None."""
    labels: dict[str, str]
    taints: list[tuple[str, str, str]]
    autoscaler_tags: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    """Stack tags, copied into the launch template's tag specifications."""
    node_name: str = ""
    """`Name` tag of the pool's instances, volumes and interfaces: `<cluster>-<pool>`, so two
    stacks' nodes tell apart in the console."""
    update_strategy: str = "MINIMAL"
    """Node group updates replace nodes without launching extra ones first: a placement group,
    an exactly sized reservation or a Capacity Block has no room for surge nodes (the EKS API's
    NodegroupUpdateConfig recommends MINIMAL for accelerated instances)."""
    node_repair: NodeRepairSpec = POOL_REPAIR
    """Node auto repair limits (see the module docstring)."""

    @property
    def efa(self) -> bool:
        return self.efa_devices > 0

    @property
    def spot(self) -> bool:
        return self.capacity_type is CapacityType.SPOT

    @property
    def reserved(self) -> bool:
        """Launches into a Capacity Block or an ODCR (already paid for)."""
        return self.reservation_id is not None


EFA_DEVICE_TYPES = ("efa", "efa-only")
"""Interface types that carry an EFA device (`efa` with ENA, `efa-only` without)."""


def efa_layout(instance: InstanceType, custom_networking: bool = False) -> list[NetworkInterface]:
    """The network interfaces of an EFA node, derived from the type's network cards.

    AWS's recommended configuration (EC2 user guide, "Maximize network bandwidth on Amazon EC2
    instances with multiple network cards", efa-acc-inst-types):
    - the primary interface, device 0 of the default network card (`DefaultNetworkCardIndex`),
      is an ENA `interface` (an `efa-only` interface cannot be the primary); it carries the
      node's IP;
    - if that card takes EFA (its `InterfaceTypes` list `efa-only`) and has a second slot, an
      `efa-only` device at its device index 1;
    - on every other card that takes EFA, an `efa-only` device at device index 0;
    - no more EFA devices than `EfaInfo.MaximumEfaInterfaces` (lowest card indexes first).
    So p5.48xlarge gets 32 EFA devices on its 32 cards, p5en.48xlarge 16, p6-b200.48xlarge 8,
    and p6-b300.48xlarge 16 on cards 1-16 (its card 0 takes ENA only). Empty when the type takes
    no EFA device at all.

    With custom networking (pods' interfaces in the pod subnet, attached by the VPC CNI on the
    default card) an `efa-only` device 1 there would take the only slot a p5.48xlarge has left on
    that card (two interfaces per card) and leave its pods no interface at all: the default card's
    EFA device is then the primary itself (`efa`, EFA with ENA), and device 1 stays free."""
    default = instance.default_network_card_index
    budget = instance.max_efa_interfaces if instance.efa_supported else 0
    primary = NetworkInterface(default, 0, "interface")
    interfaces: list[NetworkInterface] = []
    for card in sorted(instance.cards, key=lambda c: c.index):
        if budget <= len(interfaces):
            break
        if "efa-only" not in card.interface_types:
            continue
        if card.index == default:
            if custom_networking:
                primary = NetworkInterface(default, 0, "efa")
                interfaces.append(primary)
            elif card.max_interfaces >= 2:
                interfaces.append(NetworkInterface(card.index, 1, "efa-only"))
        else:
            interfaces.append(NetworkInterface(card.index, 0, "efa-only"))
    if not interfaces:
        return []
    if primary.interface_type == "interface":
        interfaces.append(primary)
    return sorted(interfaces, key=lambda i: (i.network_card_index, i.device_index))


def efa_device_count(instance: InstanceType, custom_networking: bool = False) -> int:
    """EFA devices the recommended layout gives one node of this type."""
    return sum(
        1 for i in efa_layout(instance, custom_networking) if i.interface_type in EFA_DEVICE_TYPES
    )


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


def resolve_pool(
    pool: GpuPool,
    index: int,
    stack_azs: Sequence[str],
    tags: Mapping[str, str],
    cluster_name: str = "gpu-platform",
    region: str | None = None,
    custom_networking: bool = False,
) -> GpuPoolSpec:
    """Pure: instance types, AZs, EFA layout, placement, capacity, user data, labels and taints.
    Raises ConfigError naming `gpu-platform:gpuPools[<index>].<key>`."""
    path = f"gpuPools[{index}]"
    if pool.capacity_type is CapacityType.SPOT and pool.efa:
        raise _fail(path, "efa", "EFA training pools need one AZ and stable capacity: not spot")
    types = pool_instance_types(pool)
    azs = pool_azs(pool, stack_azs, region)
    unoffered = offering_problems(types, azs, region) if region else []
    if unoffered:
        key = "availabilityZones" if pool.availability_zones else "instanceTypes"
        raise _fail(path, key, "; ".join(unoffered) + " (AWS's instance type offerings)")
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
        layouts = {t.name: efa_layout(t, custom_networking) for t in types}
        first = types[0]
        if any(layout != layouts[first.name] for layout in layouts.values()):
            raise _fail(
                path,
                "instanceTypes",
                "EFA pools need types with the same EFA layout (network cards): "
                + ", ".join(
                    f"{n}: {sum(i.interface_type in EFA_DEVICE_TYPES for i in v)} EFA"
                    for n, v in layouts.items()
                ),
            )
        interfaces = efa_layout(first, custom_networking)
        if not interfaces:
            why = (
                "supports no EFA"
                if not first.efa_supported
                else "has no network card with room for an EFA device beside its primary"
            )
            raise _fail(path, "efa", f"{first.name} {why} (DescribeInstanceTypes NetworkCards)")
    if pool.capacity_type is CapacityType.CAPACITY_BLOCK and len(types) != 1:
        raise _fail(path, "instanceTypes", "a Capacity Block is for exactly one instance type")

    efa_devices = sum(1 for i in interfaces if i.interface_type in ("efa", "efa-only"))
    # EFA pools need one: their own, unless they launch into a reservation, which can only use
    # the group it was created in (if any).
    placement = pool.efa and pool.capacity_reservation_id is None
    if (
        pool.capacity_type is CapacityType.SPOT
        and len({(t.vcpus, t.memory_mib) for t in types}) > 1
    ):
        raise _fail(
            path,
            "instanceTypes",
            "spot types must share vCPUs and memory (the Cluster Autoscaler sizes an empty pool "
            "from its first type): split them into pools with the same labels",
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
        PURPOSE_LABEL: pool.purpose.value,
        CAPACITY_TYPE_LABEL: capacity_label,
        **({GPU_MODEL_LABEL: models[0]} if len(models) == 1 else {}),
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
    # Scale-from-zero templates carry every resource GPU pods request: GPUs, EFA devices and
    # ephemeral storage (the RAID0 instance store where there is one, else the root volume).
    # Hugepages are not configured on these nodes, so they are not advertised.
    scratch = (
        f"{min(t.instance_store_total_gb for t in types)}G" if raid0 else f"{pool.disk_size_gib}Gi"
    )
    autoscaler_tags[f"{AUTOSCALER_TEMPLATE}/resources/ephemeral-storage"] = scratch
    autoscaler_tags[f"{AUTOSCALER_TEMPLATE}/resources/{GPU_RESOURCE}"] = str(schedulable)
    if efa_devices:
        autoscaler_tags[f"{AUTOSCALER_TEMPLATE}/resources/{EFA_RESOURCE}"] = str(efa_devices)

    return GpuPoolSpec(
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
        placement_group_name=pool.placement_group_name,
        reservation_id=pool.capacity_reservation_id,
        ami_type=pool.ami_type.value,
        root_device="/dev/xvdb" if bottlerocket else "/dev/xvda",
        disk_size_gib=pool.disk_size_gib,
        user_data=user_data,
        labels=labels,
        taints=taints,
        autoscaler_tags=autoscaler_tags,
        tags=dict(tags),
        node_name=f"{cluster_name}-{pool.name}",
        node_repair=node_repair(pool.capacity_reservation_id is not None),
    )
