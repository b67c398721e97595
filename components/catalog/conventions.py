"""Names the whole platform agrees on: node labels, taints, extended resources, tag keys.

The resolve, the builders, the workloads and the policy pack import them from here (layer 1), so
a label or tag key is written once.
"""

from __future__ import annotations

from typing import Final

NODE_POOL_LABEL: Final = "gpu-platform/pool"
"""Node label carrying the pool name (`system` for the system node group)."""
SYSTEM_POOL: Final = "system"
PURPOSE_LABEL: Final = "gpu-platform/purpose"
CAPACITY_TYPE_LABEL: Final = "gpu-platform/capacity-type"
GPU_MODEL_LABEL: Final = "gpu-platform/gpu-model"
EFA_LABEL: Final = "gpu-platform/efa"
TEAM_LABEL: Final = "gpu-platform/team"
RESERVED_LABEL_PREFIXES: Final = (
    "gpu-platform",
    "nvidia.com",
    "eks.amazonaws.com",
    "kubernetes.io",
)
"""Label prefixes the platform sets itself: not available to a pool's own labels."""

GPU_TAINT: Final = ("nvidia.com/gpu", "true", "NoSchedule")
SPOT_TAINT: Final = ("gpu-platform/spot", "true", "NoSchedule")

GPU_RESOURCE: Final = "nvidia.com/gpu"
EFA_RESOURCE: Final = "vpc.amazonaws.com/efa"

DEVICE_PLUGIN_CONFIG_LABEL: Final = "nvidia.com/device-plugin.config"
MIG_CONFIG_LABEL: Final = "nvidia.com/mig.config"
AUTOSCALER_TEMPLATE: Final = "k8s.io/cluster-autoscaler/node-template"
"""Prefix of the Auto Scaling group tags the Cluster Autoscaler builds empty nodes from."""

PLATFORM_TAG_KEYS: Final = frozenset({"environment", "project", "stack", "managed-by", "Name"})
"""Tag keys the platform sets on resources itself (the stack's tags, `stack_tags` in
components/resolve, and each resource's Name): not available as a stack's own tag keys."""
PLATFORM_TAGS_PER_RESOURCE: Final = 6
"""The most tags the platform puts on one resource beside the stack's own: the four stack tags,
Name and one role tag (a subnet's); a test checks it against every shipped stack's plan."""

SUBNET_ROLE_TAG: Final = "gpu-platform/subnet-role"
"""Subnet tag: `pods` (VPC CNI custom networking, pods' addresses) or `control-plane` (the EKS
control plane's network interfaces). The plan's capacity stage reads it from the document."""
POD_SUBNET_ROLE: Final = "pods"
CONTROL_PLANE_SUBNET_ROLE: Final = "control-plane"
EXPECTED_SIZE_TAG: Final = "gpu-platform/expected-size-gib"
"""Bucket tag carrying the configured expected size, so cost checks can price a preview alone."""
WORKING_SET_TAG: Final = "gpu-platform/working-set-gib"
"""FSx file system tag carrying the configured working set, so the plan can compare the hot
tier's capacity with it from a preview alone."""

TAGGED_AT_LAUNCH: Final = ("instance", "volume", "network-interface")
"""Launch template tag specifications: managed node group tags stop at the node group."""

DEFAULT_STORAGE_CLASS: Final = "gp3-encrypted"
FSX_CLAIM: Final = "fsx-lustre"
"""Name of the FSx PersistentVolumeClaim in a namespace that mounts the hot tier."""
TRAINING_SERVICE_ACCOUNT: Final = "training-runner"

MANAGED_BY_LABELS: Final = {"app.kubernetes.io/part-of": "gpu-platform"}
