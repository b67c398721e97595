"""Typed stack configuration: everything a stack file (`stacks/Pulumi.<env>.yaml`) may set.

The stack config lives in the project's namespace (`gpu-platform:<key>`, keys in camelCase),
plus the AWS provider's `aws:region`. `load_stack_config` turns the raw key/value map the Pulumi
engine hands the program (every value a string; objects and lists as JSON) into a validated
`StackConfig`, or raises `ConfigError` naming every offending key path and value, before any
resource is registered.

Defaults live here, on the fields, and nowhere else. Derived facts that depend on several fields
(pool AZs, placement groups) are worked out by the components' `resolve()` functions.

Layer rule: this module imports only the catalog and the pinned versions (layer 1).
"""

from __future__ import annotations

import difflib
import ipaddress
import itertools
import json
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel

from components import versions
from components.catalog import get_instance_type

PROJECT_NAMESPACE = "gpu-platform"
"""Config namespace: the project name in Pulumi.yaml (`pulumi config set <key>` writes here)."""

REGION_KEY = "aws:region"


class ConfigError(ValueError):
    """Invalid stack config. `problems` holds (key path, message) pairs; str() is one per line."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("\n".join(f"{path}: {message}" for path, message in problems))


# --------------------------------------------------------------------------- closed choices


class Environment(StrEnum):
    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"


class EndpointAccess(StrEnum):
    """Who reaches the Kubernetes API endpoint."""

    PUBLIC = "public"
    """Public endpoint (restricted by `publicAccessCidrs`) plus private access from the VPC."""
    PRIVATE = "private"
    """Private endpoint only: reachable from the VPC (or peered networks / VPN)."""


class NatGateways(StrEnum):
    SINGLE = "single"
    """One NAT gateway for all AZs: cheaper, but an AZ outage cuts egress for the others."""
    ONE_PER_AZ = "one_per_az"
    """One NAT gateway per AZ: what production wants."""


class CapacityType(StrEnum):
    ON_DEMAND = "ON_DEMAND"
    SPOT = "SPOT"
    CAPACITY_BLOCK = "CAPACITY_BLOCK"


class GpuAmiType(StrEnum):
    """EKS accelerated AMI types (AL2 reached end of support on 2025-11-26 and is not offered)."""

    AL2023_NVIDIA = "AL2023_x86_64_NVIDIA"
    BOTTLEROCKET_NVIDIA = "BOTTLEROCKET_x86_64_NVIDIA"


class PoolPurpose(StrEnum):
    TRAINING = "training"
    INFERENCE = "inference"
    BATCH = "batch"


class LogType(StrEnum):
    API = "api"
    AUDIT = "audit"
    AUTHENTICATOR = "authenticator"
    CONTROLLER_MANAGER = "controllerManager"
    SCHEDULER = "scheduler"


class AccessPolicy(StrEnum):
    """EKS access policies an access entry may be granted (short names)."""

    CLUSTER_ADMIN = "cluster-admin"
    ADMIN = "admin"
    EDIT = "edit"
    VIEW = "view"


class InterfaceEndpoint(StrEnum):
    """VPC interface endpoints the network may create (service after `com.amazonaws.<region>.`)."""

    ECR_API = "ecr.api"
    ECR_DKR = "ecr.dkr"
    STS = "sts"
    EC2 = "ec2"
    LOGS = "logs"
    ELASTICLOADBALANCING = "elasticloadbalancing"
    AUTOSCALING = "autoscaling"
    EKS_AUTH = "eks-auth"


# --------------------------------------------------------------------------- model base


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_enum_values=False,
        use_attribute_docstrings=True,
    )


def _known_instance_type(name: str) -> str:
    get_instance_type(name)  # raises UnknownInstanceTypeError (a ValueError) naming the value
    return name


InstanceTypeName = Annotated[str, AfterValidator(_known_instance_type)]

_K8S_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,28}[a-z0-9])?$")
_AZ = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$")
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_RESERVATION = re.compile(r"^cr-[0-9a-f]{8,17}$")
RESERVED_NAMESPACES = frozenset(
    {
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "inference",
        "monitoring",
        "monitoring-node-exporter",
        "keda",
        "gpu-operator",
        "kubeflow",
        "kubeflow-system",
    }
)
"""Namespaces the platform creates or Kubernetes owns: not available as team names."""
_RESERVED_LABEL_PREFIXES = ("gpu-platform", "nvidia.com", "eks.amazonaws.com", "kubernetes.io")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PRIVATE_BLOCKS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")


# --------------------------------------------------------------------------- sections


class FlowLogs(_Model):
    enabled: bool = False
    """VPC flow logs to CloudWatch Logs. Default: off (prod stacks turn it on)."""
    retention_days: int = Field(default=90, ge=1, le=3653)
    """Log group retention. Default: 90 days."""
    traffic_type: str = Field(default="ALL", pattern="^(ACCEPT|REJECT|ALL)$")
    """Which traffic to log. Default: ALL."""


class AccessEntry(_Model):
    principal_arn: str = Field(pattern=r"^arn:aws[a-z-]*:(iam|sts)::\d{12}:(role|user)/.+$")
    """IAM role or user ARN granted access to the cluster."""
    policy: AccessPolicy = AccessPolicy.VIEW
    """EKS access policy. Default: view."""
    namespaces: list[str] | None = None
    """Limit the policy to these namespaces. Default: cluster-wide."""


class SystemPool(_Model):
    """The small on-demand CPU node group for cluster add-ons (CoreDNS, controllers, operators)."""

    instance_types: list[InstanceTypeName] = Field(default=["m7i.xlarge"], min_length=1)
    """Default: [m7i.xlarge]."""
    min_size: int = Field(default=2, ge=1)
    """Default: 2 (CoreDNS and controllers keep two replicas)."""
    desired_size: int | None = None
    """Default: minSize."""
    max_size: int = Field(default=4, ge=1)
    """Default: 4."""
    disk_size_gib: int = Field(default=50, ge=20, le=16384)
    """Encrypted gp3 root volume. Default: 50 GiB."""

    @field_validator("instance_types")
    @classmethod
    def _cpu_only(cls, value: list[str]) -> list[str]:
        gpu = [name for name in value if get_instance_type(name).is_gpu]
        if gpu:
            raise ValueError(f"{gpu} are GPU types; the system pool takes CPU types")
        return value

    @field_validator("desired_size")
    @classmethod
    def _desired_in_range(cls, value: int | None, info: ValidationInfo) -> int | None:
        minimum = info.data.get("min_size")
        if value is not None and minimum is not None and value < minimum:
            raise ValueError(f"{value} is below minSize {minimum}")
        return value

    @field_validator("max_size")
    @classmethod
    def _max_not_below(cls, value: int, info: ValidationInfo) -> int:
        _check_max(value, info)
        return value


def _check_max(value: int, info: ValidationInfo) -> None:
    minimum = info.data.get("min_size")
    desired = info.data.get("desired_size")
    if minimum is not None and value < minimum:
        raise ValueError(f"{value} is below minSize {minimum}")
    if desired is not None and value < desired:
        raise ValueError(f"{value} is below desiredSize {desired}")


class GpuNeed(_Model):
    """What a pool's nodes must offer; the pool's instance types are derived from the catalog."""

    gpu_model: str | None = None
    """GPU model (e.g. T4, A10G, L4, H100). Default: any."""
    gpus_per_node: int = Field(default=1, ge=1, le=16)
    """Exact GPUs per node. Default: 1."""
    min_gpu_memory_gib: float = Field(default=0, ge=0)
    """Minimum memory per GPU. Default: 0 (any)."""
    max_instance_types: int = Field(default=4, ge=1, le=20)
    """How many matching types to diversify over (cheapest first). Default: 4."""


class GpuPool(_Model):
    """One GPU managed node group."""

    name: str
    """Pool name: lowercase letters, digits and dashes (it becomes a node label)."""
    purpose: PoolPurpose = PoolPurpose.BATCH
    """training | inference | batch: decides labels and which workloads land here.
    Default: batch."""
    instance_types: list[InstanceTypeName] | None = Field(default=None, min_length=1)
    """Explicit instance types. Give this or `gpuNeed`, not both."""
    gpu_need: GpuNeed | None = Field(default=None, validate_default=True)
    """Derive a diversified list of instance types (spot pools). Give this or `instanceTypes`."""
    capacity_type: CapacityType = CapacityType.ON_DEMAND
    """ON_DEMAND | SPOT | CAPACITY_BLOCK. Default: ON_DEMAND."""
    capacity_reservation_id: str | None = Field(default=None, validate_default=True)
    """Capacity Block or ODCR id (cr-...). Required for CAPACITY_BLOCK."""
    reservation_in_placement_group: bool = False
    """True when the reservation was created inside this pool's placement group. Default: false."""
    min_size: int = Field(default=0, ge=0)
    """Default: 0 (scale to zero)."""
    desired_size: int | None = None
    """Default: minSize."""
    max_size: int = Field(ge=0)
    """Required: the largest node count this pool may reach."""
    efa: bool = False
    """Attach EFA devices on every network card (multi-node training). Default: false."""
    availability_zones: list[str] | None = Field(default=None, min_length=1)
    """Subset of the stack's AZs. Default: all of them; EFA pools default to the first one."""
    ami_type: GpuAmiType = GpuAmiType.AL2023_NVIDIA
    """Default: AL2023_x86_64_NVIDIA (driver and container toolkit on the AMI)."""
    disk_size_gib: int = Field(default=200, ge=50, le=16384)
    """Encrypted gp3 root volume (container images are large). Default: 200 GiB."""
    time_slicing_replicas: int | None = Field(default=None, validate_default=True)
    """Share each GPU between this many pods (NVIDIA device-plugin time-slicing; no memory or
    fault isolation). For GPUs without MIG, such as the T4. Default: off."""
    mig_profile: str | None = Field(default=None, validate_default=True)
    """Partition each GPU with MIG (e.g. `all-1g.10gb` on H100). Default: off."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Extra node labels."""

    @field_validator("time_slicing_replicas")
    @classmethod
    def _replicas(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and not 1 <= value <= 48:
            raise ValueError(f"{value} replicas: time-slicing needs 1 to 48")
        if value is not None and info.data.get("ami_type") is GpuAmiType.BOTTLEROCKET_NVIDIA:
            raise ValueError(
                "Bottlerocket NVIDIA runs its own device plugin: time-slicing needs amiType "
                "AL2023_x86_64_NVIDIA"
            )
        return value

    @field_validator("mig_profile")
    @classmethod
    def _mig(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        if info.data.get("time_slicing_replicas") is not None:
            raise ValueError("a pool uses MIG or time-slicing, not both")
        if info.data.get("ami_type") is GpuAmiType.BOTTLEROCKET_NVIDIA:
            raise ValueError(
                "Bottlerocket NVIDIA runs its own device plugin: MIG needs amiType "
                "AL2023_x86_64_NVIDIA"
            )
        from components.catalog import mig_devices_per_gpu

        for name in info.data.get("instance_types") or []:
            model = get_instance_type(name).gpu_model or "no GPU"
            mig_devices_per_gpu(model, value)  # ValueError names the supported profiles
        if info.data.get("gpu_need") is not None:
            raise ValueError("MIG pools take explicit instanceTypes, not gpuNeed")
        return value

    @field_validator("labels")
    @classmethod
    def _own_labels(cls, value: dict[str, str]) -> dict[str, str]:
        reserved = sorted(k for k in value if k.split("/")[0] in _RESERVED_LABEL_PREFIXES)
        if reserved:
            raise ValueError(
                f"{reserved} use a reserved prefix ({', '.join(_RESERVED_LABEL_PREFIXES)}): "
                "the platform sets those labels itself"
            )
        return value

    @field_validator("name")
    @classmethod
    def _name_shape(cls, value: str) -> str:
        if not _K8S_NAME.match(value):
            raise ValueError(
                f"{value!r} must be 1-30 lowercase letters, digits or dashes, "
                "starting with a letter"
            )
        if value == "system":
            raise ValueError("'system' is the system node group's pool name")
        return value

    @field_validator("gpu_need")
    @classmethod
    def _one_source(cls, value: GpuNeed | None, info: ValidationInfo) -> GpuNeed | None:
        types = info.data.get("instance_types")
        if value is not None and types:
            raise ValueError("give either instanceTypes or gpuNeed, not both")
        if value is None and not types and "instance_types" in info.data:
            raise ValueError("give instanceTypes or gpuNeed")
        if value is not None:
            from components.catalog import types_meeting

            found = types_meeting(
                gpu_model=value.gpu_model,
                min_gpus=value.gpus_per_node,
                max_gpus=value.gpus_per_node,
                min_gpu_memory_gib=value.min_gpu_memory_gib,
            )
            if not found:
                raise ValueError(
                    f"no catalog instance type has {value.gpus_per_node} x "
                    f"{value.gpu_model or 'any GPU'} with >= {value.min_gpu_memory_gib} GiB each"
                )
        return value

    @field_validator("instance_types")
    @classmethod
    def _gpu_only(cls, value: list[str] | None) -> list[str] | None:
        cpu = [name for name in value or [] if not get_instance_type(name).is_gpu]
        if cpu:
            raise ValueError(f"{cpu} have no GPU; GPU pools take GPU types")
        return value

    @field_validator("capacity_reservation_id")
    @classmethod
    def _reservation(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("capacity_type")
        if value is not None and not _RESERVATION.match(value):
            raise ValueError(f"{value!r} is not a capacity reservation id (cr-...)")
        if kind == CapacityType.CAPACITY_BLOCK and value is None:
            raise ValueError("required when capacityType is CAPACITY_BLOCK")
        if kind == CapacityType.SPOT and value is not None:
            raise ValueError("a SPOT pool cannot launch into a capacity reservation")
        if value is not None and len(info.data.get("instance_types") or []) != 1:
            raise ValueError(
                "a capacity reservation is for one instance type: give exactly one instanceTypes"
            )
        return value

    @field_validator("desired_size")
    @classmethod
    def _desired_in_range(cls, value: int | None, info: ValidationInfo) -> int | None:
        minimum = info.data.get("min_size")
        if value is not None and minimum is not None and value < minimum:
            raise ValueError(f"{value} is below minSize {minimum}")
        return value

    @field_validator("max_size")
    @classmethod
    def _max_not_below(cls, value: int, info: ValidationInfo) -> int:
        _check_max(value, info)
        if value == 0:
            raise ValueError("0 leaves the pool unable to ever run a node")
        return value

    @field_validator("efa")
    @classmethod
    def _efa_supported(cls, value: bool, info: ValidationInfo) -> bool:
        if not value:
            return value
        types = info.data.get("instance_types") or []
        lacking = [name for name in types if not get_instance_type(name).efa_supported]
        if lacking:
            from components.catalog import supported_instance_types

            with_efa = [
                n
                for n in supported_instance_types(gpu_only=True)
                if get_instance_type(n).efa_supported
            ]
            raise ValueError(
                f"{', '.join(lacking)} {'does' if len(lacking) == 1 else 'do'} not support EFA "
                f"(GPU types that do: {', '.join(with_efa)})"
            )
        if info.data.get("gpu_need") is not None:
            raise ValueError("EFA pools take explicit instanceTypes, not gpuNeed")
        return value

    @property
    def resolved_desired_size(self) -> int:
        return self.min_size if self.desired_size is None else self.desired_size


class FsxConfig(_Model):
    """Hot tier: FSx for Lustre PERSISTENT_2 linked to the datasets bucket."""

    enabled: bool = False
    """Default: off (dev uses S3 directly)."""
    storage_capacity_gib: int = 1200
    """1200, 2400, then steps of 2400 GiB. Default: 1200."""
    per_unit_storage_throughput: int = 250
    """MB/s per TiB: 125, 250, 500 or 1000. Default: 250."""
    automatic_backup_retention_days: int = Field(default=0, ge=0, le=90)
    """Daily automatic backups kept this many days. Default: 0 (prod stacks set it)."""

    @field_validator("storage_capacity_gib")
    @classmethod
    def _capacity(cls, value: int) -> int:
        if value == 1200 or (value >= 2400 and value % 2400 == 0):
            return value
        lower = max(1200, value // 2400 * 2400)
        upper = 2400 if value < 2400 else (value // 2400 + 1) * 2400
        raise ValueError(
            f"{value} GiB is not a PERSISTENT_2 size: use 1200, 2400 or a multiple of 2400 "
            f"(nearest: {lower}, {upper})"
        )

    @field_validator("per_unit_storage_throughput")
    @classmethod
    def _throughput(cls, value: int) -> int:
        if value not in (125, 250, 500, 1000):
            raise ValueError(f"{value} MB/s/TiB does not exist: use 125, 250, 500 or 1000")
        return value


class StorageClass(StrEnum):
    """S3 storage classes a lifecycle rule may transition to."""

    STANDARD_IA = "STANDARD_IA"
    INTELLIGENT_TIERING = "INTELLIGENT_TIERING"
    GLACIER_IR = "GLACIER_IR"
    GLACIER = "GLACIER"
    DEEP_ARCHIVE = "DEEP_ARCHIVE"


_COLDNESS = {
    StorageClass.STANDARD_IA: 1,
    StorageClass.INTELLIGENT_TIERING: 1,
    StorageClass.GLACIER_IR: 2,
    StorageClass.GLACIER: 3,
    StorageClass.DEEP_ARCHIVE: 4,
}
"""Lifecycle transitions only move objects to colder classes."""


class Transition(_Model):
    """One lifecycle step: move current objects to a colder class after `days`."""

    days: int = Field(ge=0)
    """Days after creation."""
    storage_class: StorageClass
    """Target S3 storage class."""


class BucketConfig(_Model):
    """One warm-tier bucket and its cold-tier lifecycle."""

    expected_size_gib: float = Field(default=0, ge=0)
    """For cost estimates only. Default: 0."""
    transitions: list[Transition] = Field(default_factory=list)
    """Current-version transitions, in increasing days. Default: none."""
    noncurrent_expiration_days: int | None = Field(default=None, ge=1)
    """Expire noncurrent versions after this many days. Default: keep."""

    @field_validator("transitions")
    @classmethod
    def _ordered(cls, value: list[Transition]) -> list[Transition]:
        for before, after in itertools.pairwise(value):
            if after.days <= before.days:
                raise ValueError(
                    f"transition to {after.storage_class} at day {after.days} must come after "
                    f"{before.storage_class} at day {before.days}"
                )
            if _COLDNESS[after.storage_class] <= _COLDNESS[before.storage_class]:
                raise ValueError(
                    f"{after.storage_class} after {before.storage_class}: each transition must "
                    "go to a colder class"
                )
            if before.storage_class is StorageClass.STANDARD_IA and after.days < before.days + 30:
                raise ValueError(
                    f"objects stay in STANDARD_IA at least 30 days: {after.storage_class} at day "
                    f"{after.days} comes before day {before.days + 30}"
                )
        for transition in value:
            if transition.storage_class is StorageClass.STANDARD_IA and transition.days < 30:
                raise ValueError(
                    f"S3 moves objects to STANDARD_IA no earlier than day 30 "
                    f"(got day {transition.days})"
                )
        return value


class StorageConfig(_Model):
    """Storage tiers: FSx for Lustre (hot), S3 buckets (warm) and their lifecycle (cold)."""

    fsx: FsxConfig = Field(default_factory=FsxConfig)
    """Hot tier. Default: off."""
    datasets: BucketConfig = Field(default_factory=BucketConfig)
    """Training data bucket (linked to FSx when the hot tier is on)."""
    checkpoints: BucketConfig = Field(default_factory=BucketConfig)
    """Checkpoint bucket."""
    models: BucketConfig = Field(default_factory=BucketConfig)
    """Model repository bucket (Triton reads it)."""
    checkpoint_size_gib: float = Field(default=0, ge=0)
    """Size of one training checkpoint, for the plan's write-time estimate. Default: 0 (skip)."""
    training_namespace: str = Field(
        default="training", pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
    )
    """Namespace of the FSx claim and the training service account. Default: training."""


class Team(_Model):
    """A team namespace for training and pipelines, with GPU quota and Pod Security."""

    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    """Namespace name."""
    gpu_quota: int = Field(ge=0)
    """Most `nvidia.com/gpu` the namespace may request at once. Required."""
    efa_quota: int = Field(default=0, ge=0)
    """Most `vpc.amazonaws.com/efa` devices. Default: 0 (no multi-node EFA jobs)."""
    pod_security: str = Field(default="baseline", pattern="^(privileged|baseline|restricted)$")
    """Pod Security Admission level enforced. Default: baseline (restricted is warned)."""


class Addons(_Model):
    """Cluster software toggles (chart versions live in components/versions.py)."""

    gpu_operator: bool = True
    """NVIDIA GPU Operator. Default: on."""
    efa_device_plugin: bool = True
    """EFA device plugin (only schedules on EFA nodes). Default: on."""
    cluster_autoscaler: bool = True
    """Cluster Autoscaler with scale-from-zero tags. Default: on."""
    observability: bool = True
    """kube-prometheus-stack, DCGM dashboards, GPU alerts. Default: on."""
    kubeflow: bool = False
    """Kubeflow training and Pipelines. Default: off."""
    triton: bool = False
    """NVIDIA Triton inference service. Default: off."""


# --------------------------------------------------------------------------- the stack


class StackConfig(_Model):
    """Everything one stack (environment) sets."""

    environment: Environment
    """dev | staging | prod. Required."""
    region: str
    """From `aws:region`. Required."""
    availability_zones: list[str] = Field(min_length=2, max_length=3)
    """2-3 AZs in the region. Required."""
    vpc_cidr: str = "10.0.0.0/16"
    """VPC IPv4 range; subnets are carved from it to fit the largest fleet. Default: 10.0.0.0/16."""
    nat_gateways: NatGateways = NatGateways.SINGLE
    """single | one_per_az. Default: single."""
    interface_endpoints: list[InterfaceEndpoint] = Field(
        default_factory=lambda: [
            InterfaceEndpoint.ECR_API,
            InterfaceEndpoint.ECR_DKR,
            InterfaceEndpoint.STS,
        ]
    )
    """Interface endpoints (an S3 gateway endpoint is always created).
    Default: ecr.api, ecr.dkr, sts."""
    flow_logs: FlowLogs = Field(default_factory=FlowLogs)
    """VPC flow logs. Default: off."""
    cluster_name: str | None = Field(default=None, pattern=r"^[a-zA-Z][-a-zA-Z0-9]{0,99}$")
    """EKS cluster name. Default: `<project>-<stack>`."""
    kubernetes_version: str = versions.KUBERNETES_VERSION
    """EKS Kubernetes minor version. Default: see components/versions.py."""
    endpoint_access: EndpointAccess = EndpointAccess.PUBLIC
    """public | private. Default: public (prod stacks set private)."""
    public_access_cidrs: list[str] = Field(default_factory=lambda: ["0.0.0.0/0"])
    """Who may reach a public endpoint. Default: anywhere (narrow it)."""
    cluster_log_types: list[LogType] = Field(
        default_factory=lambda: [LogType.API, LogType.AUDIT, LogType.AUTHENTICATOR]
    )
    """Control-plane log types. Default: api, audit, authenticator."""
    cluster_log_retention_days: int = Field(default=90, ge=1, le=3653)
    """Default: 90 days."""
    access_entries: list[AccessEntry] = Field(default_factory=list)
    """Extra principals granted cluster access (the deploying identity is admin)."""
    system_pool: SystemPool = Field(default_factory=SystemPool)
    """The on-demand CPU node group for add-ons. Default: 2-4 x m7i.xlarge."""
    gpu_pools: list[GpuPool] = Field(default_factory=list)
    """GPU node groups. Default: none."""
    storage: StorageConfig = Field(default_factory=StorageConfig)
    """Hot (FSx), warm (S3) and cold (lifecycle) tiers."""
    addons: Addons = Field(default_factory=Addons)
    """Cluster software toggles."""
    monthly_budget_usd: float = Field(gt=0, allow_inf_nan=False)
    """Monthly budget for the whole stack. Required."""
    activate_cost_allocation_tags: bool = False
    """Activate the stack's tag keys for cost allocation from this stack. The activation is
    account-wide and AWS accepts it only once a key has appeared on billed resources (about a
    day after the first deployment), from the payer account: turn it on in one stack, later.
    Default: false."""
    budget_alert_emails: list[str] = Field(default_factory=list)
    """Who gets the budget alerts (80% actual, 100% forecast). Default: none (no alerts)."""
    teams: list[Team] = Field(default_factory=list)
    """Team namespaces with GPU quotas (used by Kubeflow). Default: none."""
    tags: dict[str, str] = Field(default_factory=dict)
    """Tags on every taggable resource (environment and project are added)."""
    protect_stateful: bool | None = None
    """Protect and retain stateful resources (KMS keys, buckets, FSx). Default: true in prod."""

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not _REGION.match(value):
            raise ValueError(f"{value!r} is not an AWS region name")
        return value

    @field_validator("availability_zones")
    @classmethod
    def _azs(cls, value: list[str], info: ValidationInfo) -> list[str]:
        region = info.data.get("region")
        for az in value:
            if not _AZ.match(az):
                raise ValueError(f"{az!r} is not an availability zone name")
            if region and not az.startswith(region):
                raise ValueError(f"{az} is not in region {region}")
        if len(set(value)) != len(value):
            raise ValueError(f"{value} lists an AZ twice")
        return value

    @field_validator("vpc_cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            net = ipaddress.IPv4Network(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an IPv4 CIDR ({exc})") from None
        if not 16 <= net.prefixlen <= 24:
            raise ValueError(f"{value} must be between /16 and /24 (AWS VPC limits)")
        if not any(net.subnet_of(ipaddress.IPv4Network(block)) for block in _PRIVATE_BLOCKS):
            raise ValueError(
                f"{value} is not a private range (RFC 1918: {', '.join(_PRIVATE_BLOCKS[:3])}; "
                f"or RFC 6598: {_PRIVATE_BLOCKS[3]})"
            )
        return value

    @field_validator("kubernetes_version")
    @classmethod
    def _k8s(cls, value: str) -> str:
        if value not in versions.EKS_ADDONS:
            quoted = (
                " (quote versions in YAML: a bare 1.30 reads as 1.3)"
                if value.endswith(".3")
                else ""
            )
            raise ValueError(
                f"{value!r} is not a supported version "
                f"(supported: {', '.join(versions.EKS_ADDONS)}){quoted}"
            )
        return value

    @field_validator("interface_endpoints")
    @classmethod
    def _unique_endpoints(cls, value: list[InterfaceEndpoint]) -> list[InterfaceEndpoint]:
        dupes = sorted({e.value for e in value if value.count(e) > 1})
        if dupes:
            raise ValueError(f"{dupes} listed twice")
        return value

    @field_validator("public_access_cidrs")
    @classmethod
    def _public_cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ipaddress.IPv4Network(cidr)
            except ValueError:
                raise ValueError(f"{cidr!r} is not an IPv4 CIDR") from None
        return value

    @field_validator("gpu_pools")
    @classmethod
    def _unique_pool_names(cls, value: list[GpuPool]) -> list[GpuPool]:
        names = [pool.name for pool in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"pool names must be unique: {', '.join(dupes)}")
        return value

    @field_validator("budget_alert_emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        bad = [e for e in value if not _EMAIL.match(e)]
        if bad:
            raise ValueError(f"{bad} are not email addresses")
        return value

    @field_validator("tags")
    @classmethod
    def _tag_shape(cls, value: dict[str, str]) -> dict[str, str]:
        for key, val in value.items():
            if not 1 <= len(key) <= 128 or key.startswith("aws:"):
                raise ValueError(f"tag key {key!r} must be 1-128 characters, not starting aws:")
            if len(val) > 256:
                raise ValueError(f"tag {key!r} value is longer than 256 characters")
        return value

    @property
    def protect(self) -> bool:
        return (
            self.environment is Environment.PROD
            if self.protect_stateful is None
            else self.protect_stateful
        )


# --------------------------------------------------------------------------- loading


def _field_aliases(model: type[BaseModel]) -> dict[str, str]:
    return {info.alias or name: name for name, info in model.model_fields.items()}


def _parse_value(raw: Any) -> Any:
    """Config values arrive as strings; objects and lists are JSON-encoded by the engine."""
    if isinstance(raw, str) and raw[:1] in ("{", "["):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def _format_loc(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _lookup(data: Any, loc: tuple[int | str, ...]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _siblings(loc: tuple[int | str, ...]) -> list[str]:
    """Known keys at the level of an unknown key, for did-you-mean hints."""
    model: Any = StackConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = _field_aliases(model)
        name = fields.get(str(part))
        if name is None:
            return []
        annotation = model.model_fields[name].annotation
        inner = _model_in(annotation)
        if inner is None:
            return []
        model = inner
    return list(_field_aliases(model))


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _aliased(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Errors on defaulted fields carry Python names; show the config's (camelCase) keys."""
    model: type[BaseModel] | None = StackConfig
    out: list[int | str] = []
    for part in loc:
        if isinstance(part, str) and model is not None and part in model.model_fields:
            info = model.model_fields[part]
            out.append(info.alias or part)
            model = _model_in(info.annotation)
        else:
            out.append(part)
            if isinstance(part, str) and model is not None and part not in _field_aliases(model):
                model = None
            elif isinstance(part, str) and model is not None:
                model = _model_in(model.model_fields[_field_aliases(model)[part]].annotation)
    return tuple(out)


def _describe(error: Any, data: Mapping[str, Any]) -> tuple[str, str]:
    loc = _aliased(tuple(error["loc"]))
    # Errors inside an Annotated item validator report the list index last; keep it.
    path = _format_loc(loc)
    path = REGION_KEY if path == "region" else f"{PROJECT_NAMESPACE}:{path}"
    kind = error["type"]
    if kind == "extra_forbidden":
        hint = difflib.get_close_matches(str(loc[-1]), _siblings(loc), n=1)
        message = "unknown key" + (f" (did you mean {hint[0]!r}?)" if hint else "")
        return path, message
    if kind == "missing":
        return path, "required key is missing"
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    value = _lookup(data, loc)
    if value is not None and repr(value) not in message and str(value) not in message:
        message += f" (got {json.dumps(value) if not isinstance(value, str) else repr(value)})"
    return path, message


def load_stack_config(raw: Mapping[str, Any]) -> StackConfig:
    """Validate the engine's raw config map (`{"gpu-platform:environment": "dev", ...}`).

    Keys in the project namespace that the model does not know are errors (usually typos); keys
    of other namespaces (`aws:`, `kubernetes:`, `pulumi:`) are left to their owners, except
    `aws:region`, which the stack needs. Raises `ConfigError` listing every problem found.
    """
    aliases = _field_aliases(StackConfig)
    data: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    prefix = PROJECT_NAMESPACE + ":"
    for key in sorted(raw):
        if not key.startswith(prefix):
            continue
        name = key[len(prefix) :]
        if name == "region" or name not in aliases:
            hint = difflib.get_close_matches(name, [a for a in aliases if a != "region"], n=1)
            problems.append(
                (key, "unknown key" + (f" (did you mean {prefix + hint[0]!r}?)" if hint else ""))
            )
            continue
        data[name] = _parse_value(raw[key])
    if raw.get(REGION_KEY) is not None:
        data["region"] = raw[REGION_KEY]
    try:
        config = StackConfig.model_validate(data)
    except ValidationError as exc:
        problems.extend(_describe(error, data) for error in exc.errors())
        raise ConfigError(problems) from None
    problems.extend(_cross_checks(config))
    if problems:
        raise ConfigError(problems)
    return config


def _cross_checks(config: StackConfig) -> list[tuple[str, str]]:
    """Checks that span sections (pool AZs against the stack's AZs, add-on prerequisites)."""
    problems: list[tuple[str, str]] = []
    addons = f"{PROJECT_NAMESPACE}:addons"
    seen: set[str] = set()
    for index, team in enumerate(config.teams):
        path = f"{PROJECT_NAMESPACE}:teams[{index}].name"
        if team.name in seen:
            problems.append((path, f"{team.name!r} is listed twice"))
        if team.name in RESERVED_NAMESPACES or team.name.startswith("kube-"):
            problems.append((path, f"{team.name!r} is a namespace the platform or Kubernetes uses"))
        if team.name == config.storage.training_namespace:
            problems.append(
                (path, f"{team.name!r} is the training namespace (storage.trainingNamespace)")
            )
        seen.add(team.name)
    if config.addons.triton:
        if not any(p.purpose is PoolPurpose.INFERENCE for p in config.gpu_pools):
            problems.append((f"{addons}.triton", "Triton needs a GPU pool with purpose: inference"))
        if not config.addons.observability:
            problems.append(
                (f"{addons}.triton", "Triton scales on Prometheus metrics: turn on observability")
            )
    for index, pool in enumerate(config.gpu_pools):
        path = f"{PROJECT_NAMESPACE}:gpuPools[{index}].availabilityZones"
        if pool.availability_zones is None:
            continue
        unknown = [az for az in pool.availability_zones if az not in config.availability_zones]
        if unknown:
            problems.append(
                (
                    path,
                    f"{unknown} not among the stack's availabilityZones "
                    f"{config.availability_zones}",
                )
            )
        if pool.efa and len(pool.availability_zones) != 1:
            problems.append(
                (path, f"an EFA pool lives in exactly one AZ (got {pool.availability_zones})")
            )
        if pool.capacity_reservation_id and len(pool.availability_zones) != 1:
            problems.append(
                (
                    path,
                    "a pool in a capacity reservation lives in the reservation's AZ only "
                    f"(got {pool.availability_zones})",
                )
            )
    return problems
