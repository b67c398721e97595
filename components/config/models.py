"""The typed stack config: every section a stack file (`stacks/Pulumi.<env>.yaml`) may set.

Defaults live here, on the fields, and nowhere else. Rules that read several fields of one section
are `model_validator(mode="after")` validators, so they see every field whatever the declaration
order; they raise `problem(field, message)` so the error names the field's key path. Rules that
span sections live in `components.config.checks`.

Layer rule: imports only the catalog and the pinned versions (layer 1).
"""

from __future__ import annotations

import difflib
import ipaddress
import itertools
import re
import types
import typing
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from components import versions
from components.catalog import (
    get_instance_type,
    mig_devices_per_gpu,
    supported_instance_types,
    types_meeting,
)
from components.catalog.conventions import (
    PLATFORM_TAG_KEYS,
    PLATFORM_TAGS_PER_RESOURCE,
)
from components.catalog.conventions import RESERVED_LABEL_PREFIXES as _RESERVED_LABEL_PREFIXES
from components.catalog.zones import CAPACITY_BLOCK_TYPES, known_regions, region_zones
from components.config.choices import (
    AccessPolicy,
    AuditTrail,
    CapacityType,
    EndpointAccess,
    Environment,
    GpuAmiType,
    InterfaceEndpoint,
    LogType,
    NatGateways,
    PoolPurpose,
    StorageClass,
)

# --------------------------------------------------------------------------- model base


def problem(field: str, message: str) -> PydanticCustomError:
    """An error of a model validator that belongs to one field: the loader puts the field's key
    at the end of the error's path (`gpuPools[1].maxSize`), as a field validator's error has."""
    return PydanticCustomError("field_problem", "{message}", {"field": field, "message": message})


def _scalar_kinds(annotation: Any) -> frozenset[type]:
    """The scalar types (bool, int, float) a field's annotation admits."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _scalar_kinds(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return frozenset().union(*(_scalar_kinds(arg) for arg in typing.get_args(annotation)))
    if annotation in (bool, int, float):
        return frozenset({annotation})
    return frozenset()


_NUMBERS = frozenset({int, float})


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_enum_values=False,
        use_attribute_docstrings=True,
    )

    @field_validator("*", mode="before")
    @classmethod
    def _booleans_and_numbers_apart(cls, value: Any, info: ValidationInfo) -> Any:
        """Pydantic's lax mode reads `true` as 1 and `0` as false. In a stack file a boolean
        where a number belongs (`maxSize: true`), or a number where a boolean belongs
        (`enabled: 0`), is a mistake, so both are refused; numbers and booleans written as
        strings (how `pulumi config set` stores them) still parse."""
        if info.field_name is None or not isinstance(value, int | float):
            return value
        kinds = _scalar_kinds(cls.model_fields[info.field_name].annotation)
        if isinstance(value, bool):
            if kinds & _NUMBERS and bool not in kinds:
                raise ValueError("must be a number, not a boolean")
        elif bool in kinds and not kinds & _NUMBERS:
            raise ValueError("must be true or false, not a number")
        return value


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
        "mount-s3",
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
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
"""EKS takes node group label keys and values of 1-63 characters, in Kubernetes' label syntax."""
_TAG_TEXT = re.compile(r"^[\w +\-=.:/@]*$")
"""What every AWS service takes in a tag key or value: letters, digits, spaces, + - = . _ : / @."""
MAX_RESOURCE_TAGS = 50
"""User tags per AWS resource (tags starting aws: do not count)."""
MAX_STACK_TAGS = MAX_RESOURCE_TAGS - PLATFORM_TAGS_PER_RESOURCE
"""The stack's own `tags`: what is left of AWS's 50 after the platform's."""
_PRIVATE_BLOCKS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")


# --------------------------------------------------------------------------- sections


LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
)  # fmt: skip
"""The retention periods CloudWatch Logs accepts (PutRetentionPolicy `retentionInDays`)."""


def _log_retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        lower = max((d for d in LOG_RETENTION_DAYS if d < value), default=None)
        upper = min((d for d in LOG_RETENTION_DAYS if d > value), default=None)
        near = ", ".join(str(d) for d in (lower, upper) if d is not None)
        raise ValueError(f"CloudWatch Logs does not keep logs {value} days (nearest: {near})")
    return value


LogRetentionDays = Annotated[int, AfterValidator(_log_retention)]


class FlowLogs(_Model):
    enabled: bool = False
    """VPC flow logs to CloudWatch Logs. Default: off (prod stacks turn it on)."""
    retention_days: LogRetentionDays = 90
    """Log group retention. Default: 90 days."""
    traffic_type: str = Field(default="ALL", pattern="^(ACCEPT|REJECT|ALL)$")
    """Which traffic to log. Default: ALL."""


_NAMESPACE_SCOPE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$|^[a-z0-9][-a-z0-9]{0,61}\*$")


def _namespace_scope(names: list[str]) -> list[str]:
    if not names:
        raise ValueError(
            "an empty list would scope the policy to the whole cluster: name the namespaces, "
            "or leave the key out for cluster-wide access"
        )
    for name in names:
        if not _NAMESPACE_SCOPE.match(name):
            raise ValueError(
                f"{name!r} is not a namespace name (lower-case letters, digits and '-', at most "
                "63, starting and ending with a letter or digit) nor a prefix ending in '*'"
            )
    return names


class AccessEntry(_Model):
    principal_arn: str = Field(pattern=r"^arn:aws[a-z-]*:(iam|sts)::\d{12}:(role|user)/.+$")
    """IAM role or user ARN granted access to the cluster."""
    policy: AccessPolicy = AccessPolicy.VIEW
    """EKS access policy. Default: view."""
    namespaces: Annotated[list[str], AfterValidator(_namespace_scope)] | None = None
    """Limit the policy to these namespaces (a name may end in `*`, EKS's wildcard: `team-*`).
    Default: cluster-wide."""


def _ipv4_network(cidr: str) -> ipaddress.IPv4Network:
    """`cidr` as a network; ValueError naming it (and why) when it is not an IPv4 CIDR."""
    try:
        return ipaddress.IPv4Network(cidr)
    except ValueError as exc:
        raise ValueError(f"{cidr!r} is not an IPv4 CIDR ({exc})") from None


def _ipv4_cidrs(value: list[str]) -> list[str]:
    for cidr in value:
        _ipv4_network(cidr)
    return value


Ipv4Cidrs = Annotated[list[str], AfterValidator(_ipv4_cidrs)]


def _once_each(values: list[Any]) -> list[Any]:
    """The list, when no value is in it twice (AWS refuses a repeat, or would drop it unseen)."""
    seen = [getattr(v, "value", v) for v in values]
    dupes = sorted({str(v) for v in seen if seen.count(v) > 1})
    if dupes:
        raise ValueError(f"{', '.join(dupes)} listed twice")
    return values


InstanceTypes = Annotated[list[InstanceTypeName], AfterValidator(_once_each)]
_PRINCIPAL = r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/.+$"


class Deployer(_Model):
    """The identity and the machines that run `pulumi up` for this stack."""

    principal_arn: str = Field(pattern=_PRINCIPAL)
    """IAM role (or user) `pulumi up` runs as. It gets the cluster's one cluster-admin access
    entry, created explicitly (the cluster is created with
    `bootstrapClusterCreatorAdminPermissions: false`, so no principal gets two entries).
    Required."""
    runner_labels: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    """GitHub Actions runner labels the deploy workflow runs this stack on (self-hosted runners
    whose egress is `egressCidrs`). Default: none (GitHub-hosted runners; only a public endpoint
    open to the internet can be reached from them)."""
    egress_cidrs: Ipv4Cidrs = Field(default_factory=list)
    """Where the deployer's traffic to the Kubernetes API comes from: within `publicAccessCidrs`
    for a public endpoint, within `apiAccess.sourceCidrs` for a private one. Default: none."""


class ApiAccess(_Model):
    """Who may reach a private Kubernetes API endpoint (HTTPS, port 443), through an extra
    security group on the control plane's network interfaces."""

    source_cidrs: Ipv4Cidrs = Field(default_factory=list)
    """Networks outside the stack's VPC: a VPN, a peered or transit-attached deployer network.
    Default: none."""
    source_security_group_ids: list[str] = Field(default_factory=list)
    """Security groups in the same VPC (existing-VPC mode): self-hosted runners, bastions.
    Default: none."""
    transit_gateway_id: str | None = Field(default=None, pattern=r"^tgw-[0-9a-f]{8,17}$")
    """Attach the stack's VPC to this transit gateway and route `sourceCidrs` through it from the
    private subnets, so a deployer network that exists before the stack reaches the API on the
    first `pulumi up`. Default: none."""

    @field_validator("source_security_group_ids")
    @classmethod
    def _groups(cls, value: list[str]) -> list[str]:
        bad = [g for g in value if not re.match(r"^sg-[0-9a-f]{8,17}$", g)]
        if bad:
            raise ValueError(f"{bad} are not security group ids (sg-...)")
        return value


class ExistingVpc(_Model):
    """Deploy into a VPC that exists before the stack (and holds the deployer)."""

    vpc_id: str = Field(pattern=r"^vpc-[0-9a-f]{8,17}$")
    """The VPC's id. Required."""
    private_subnet_ids: dict[str, str]
    """Private subnet id per availability zone, one for each of the stack's AZs. Their size is
    checked against the fleet by `python -m scripts.ops preflight`. Required."""
    pod_subnet_ids: dict[str, str] = Field(default_factory=dict)
    """Pod subnet id per availability zone (VPC CNI custom networking): pods take their
    addresses from these subnets, nodes keep theirs in `privateSubnetIds`. One per AZ, in the
    VPC (a secondary CIDR the VPC's owner associated); preflight checks their free addresses
    against the pods at maximum size. `podNetwork` is refused with an existing VPC: this is its
    form there. Default: none (pods share the node subnets)."""

    @field_validator("private_subnet_ids", "pod_subnet_ids")
    @classmethod
    def _subnets(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(s for s in value.values() if not re.match(r"^subnet-[0-9a-f]{8,17}$", s))
        if bad:
            raise ValueError(f"{bad} are not subnet ids (subnet-...)")
        return value


class Subnets(_Model):
    """The address plan. Without it, subnets follow a fixed plan that depends only on `vpcCidr`
    and the AZs (the VPC split in four: up to three private subnets and a block of public ones),
    so growing or adding pools never moves a subnet; a fleet the plan cannot hold is an error."""

    private_cidrs: dict[str, str] = Field(default_factory=dict)
    """Private subnet CIDR per AZ, to pin an existing layout. Default: the fixed plan."""
    public_cidrs: dict[str, str] = Field(default_factory=dict)
    """Public subnet CIDR per AZ, to pin an existing layout. Default: the fixed plan."""
    dedicated_control_plane: bool = False
    """Give the EKS control plane's network interfaces small subnets of their own (a /28 per AZ,
    carved from the spare quarter of the public block of the fixed plan) instead of the node
    subnets, as the EKS user guide recommends. Default: off (the control plane uses the private
    node subnets)."""
    control_plane_cidrs: dict[str, str] = Field(default_factory=dict)
    """Control-plane subnet CIDR per AZ (/24 to /28, inside `vpcCidr`): pins the dedicated
    control-plane subnets, and turns them on. Default: the derived /28s when
    `dedicatedControlPlane` is on."""

    @field_validator("private_cidrs", "public_cidrs")
    @classmethod
    def _cidrs(cls, value: dict[str, str]) -> dict[str, str]:
        return _subnet_cidrs(value, 16)

    @field_validator("control_plane_cidrs")
    @classmethod
    def _control_plane(cls, value: dict[str, str]) -> dict[str, str]:
        return _subnet_cidrs(value, 24)

    @property
    def control_plane(self) -> bool:
        """Dedicated control-plane subnets, derived or pinned."""
        return self.dedicated_control_plane or bool(self.control_plane_cidrs)


def _subnet_cidrs(value: dict[str, str], largest: int) -> dict[str, str]:
    """Subnet CIDRs per AZ: IPv4, from /`largest` to AWS's smallest subnet (/28)."""
    for cidr in value.values():
        net = _ipv4_network(cidr)
        if not largest <= net.prefixlen <= 28:
            raise ValueError(f"{cidr}: these subnets are /{largest} to /28")
    return value


class PodNetwork(_Model):
    """Pod addresses from a secondary VPC CIDR (VPC CNI custom networking): the range is
    associated with the VPC, a pod subnet is carved per AZ, and the vpc-cni add-on puts pods'
    network interfaces there (one ENIConfig per AZ), so nodes take only their own address from
    the private subnets. Set before the first nodes join: nodes that joined before keep pods on
    the node subnets until they are replaced."""

    cidr: str
    """Secondary IPv4 range, /16 to /26: RFC 6598 (100.64.0.0/10), or another range of the RFC
    1918 block `vpcCidr` is in (AWS refuses a secondary range from another RFC 1918 block).
    Required."""
    subnet_cidrs: dict[str, str] = Field(default_factory=dict)
    """Pod subnet CIDR per AZ inside `cidr`, to pin an existing layout. Default: the fixed plan
    (`cidr` split in four, a quarter per AZ in the stack's AZ order)."""

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        net = _ipv4_network(value)
        if not 16 <= net.prefixlen <= 26:
            raise ValueError(
                f"{value}: a secondary VPC range is /16 or smaller, and it must split into a pod "
                "subnet (/28 at least) per quarter: /16 to /26"
            )
        return value

    @field_validator("subnet_cidrs")
    @classmethod
    def _subnet_cidrs(cls, value: dict[str, str]) -> dict[str, str]:
        return _subnet_cidrs(value, 16)


class _NodeGroup(_Model):
    """Node counts shared by the system pool and GPU pools (each declares its own defaults)."""

    min_size: int
    desired_size: int | None
    max_size: int

    @model_validator(mode="after")
    def _sizes(self) -> Self:
        low, desired, high = self.min_size, self.desired_size, self.max_size
        if high < low:
            raise problem("max_size", f"{high} is below minSize {low}")
        if desired is not None and desired < low:
            raise problem("desired_size", f"{desired} is below minSize {low}")
        if desired is not None and high < desired:
            raise problem("max_size", f"{high} is below desiredSize {desired}")
        return self

    @property
    def resolved_desired_size(self) -> int:
        """desiredSize, defaulting to minSize (the one place that default is applied)."""
        return self.min_size if self.desired_size is None else self.desired_size


class SystemPool(_NodeGroup):
    """The small on-demand CPU node group for cluster add-ons (CoreDNS, controllers, operators)."""

    instance_types: InstanceTypes = Field(default=["m7i.xlarge"], min_length=1)
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


class GpuPool(_NodeGroup):
    """One GPU managed node group."""

    name: str
    """Pool name: lowercase letters, digits and dashes (it becomes a node label)."""
    purpose: PoolPurpose = PoolPurpose.BATCH
    """training | inference | batch: decides labels and which workloads land here.
    Default: batch."""
    instance_types: InstanceTypes | None = Field(default=None, min_length=1)
    """Explicit instance types. Give this or `gpuNeed`, not both."""
    gpu_need: GpuNeed | None = None
    """Derive a diversified list of instance types (spot pools). Give this or `instanceTypes`."""
    capacity_type: CapacityType = CapacityType.ON_DEMAND
    """ON_DEMAND | SPOT | CAPACITY_BLOCK. Default: ON_DEMAND."""
    capacity_reservation_id: str | None = None
    """Capacity Block or ODCR id (cr-...). Required for CAPACITY_BLOCK."""
    placement_group_name: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,254}$"
    )
    """Name of the existing cluster placement group the capacity reservation was created in
    (an EFA pool launches into it). A reservation made outside any placement group takes none:
    forcing one fails with InsufficientInstanceCapacity. EFA pools without a reservation get a
    placement group of their own. Default: none."""
    min_size: int = Field(default=0, ge=0)
    """Default: 0 (scale to zero)."""
    desired_size: int | None = None
    """Default: minSize."""
    max_size: int = Field(ge=0)
    """Required: the largest node count this pool may reach."""
    efa: bool = False
    """Attach EFA devices on every network card (multi-node training). Default: false."""
    availability_zones: Annotated[list[str], AfterValidator(_once_each)] | None = Field(
        default=None, min_length=1
    )
    """Subset of the stack's AZs. Default: all of them; EFA pools default to the first one."""
    ami_type: GpuAmiType = GpuAmiType.AL2023_NVIDIA
    """Default: AL2023_x86_64_NVIDIA (driver and container toolkit on the AMI)."""
    disk_size_gib: int = Field(default=200, ge=50, le=16384)
    """Encrypted gp3 root volume (container images are large). Default: 200 GiB."""
    time_slicing_replicas: int | None = None
    """Share each GPU between this many pods, 2 to 48 (NVIDIA device-plugin time-slicing; no
    memory or fault isolation). For GPUs without MIG, such as the T4. Default: off."""
    mig_profile: str | None = None
    """Partition each GPU with MIG (e.g. `all-1g.10gb` on H100). Default: off."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Extra node labels."""

    @field_validator("labels")
    @classmethod
    def _own_labels(cls, value: dict[str, str]) -> dict[str, str]:
        reserved = sorted(k for k in value if k.split("/")[0] in _RESERVED_LABEL_PREFIXES)
        if reserved:
            raise ValueError(
                f"{reserved} use a reserved prefix ({', '.join(_RESERVED_LABEL_PREFIXES)}): "
                "the platform sets those labels itself"
            )
        for key, label in value.items():
            if len(key) > 63 or not _LABEL_KEY.match(key):
                raise ValueError(
                    f"label key {key!r} is not a Kubernetes label key of at most 63 characters "
                    "(EKS node group labels)"
                )
            if not _LABEL_VALUE.match(label):
                raise ValueError(
                    f"label {key!r} value {label!r} must be 1-63 letters, digits, '-', '_' or "
                    "'.', starting and ending with a letter or digit (EKS node group labels)"
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

    @field_validator("instance_types")
    @classmethod
    def _gpu_only(cls, value: list[str] | None) -> list[str] | None:
        cpu = [name for name in value or [] if not get_instance_type(name).is_gpu]
        if cpu:
            raise ValueError(f"{cpu} have no GPU; GPU pools take GPU types")
        return value

    @field_validator("time_slicing_replicas")
    @classmethod
    def _replicas(cls, value: int | None) -> int | None:
        if value == 1:
            raise ValueError(
                "1 replica shares nothing (each pod still gets a whole GPU): give 2 to 48, or "
                "leave timeSlicingReplicas out"
            )
        if value is not None and not 2 <= value <= 48:
            raise ValueError(f"{value} replicas: time-slicing needs 2 to 48")
        return value

    @field_validator("capacity_reservation_id")
    @classmethod
    def _reservation_shape(cls, value: str | None) -> str | None:
        if value is not None and not _RESERVATION.match(value):
            raise ValueError(f"{value!r} is not a capacity reservation id (cr-...)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        """Rules between fields: each sees every field, whatever the declaration order."""
        types = self.instance_types or []
        if self.gpu_need is not None and types:
            raise problem("gpu_need", "give either instanceTypes or gpuNeed, not both")
        if self.gpu_need is None and not types:
            raise problem("gpu_need", "give instanceTypes or gpuNeed")
        if self.gpu_need is not None:
            need = self.gpu_need
            if not types_meeting(
                gpu_model=need.gpu_model,
                min_gpus=need.gpus_per_node,
                max_gpus=need.gpus_per_node,
                min_gpu_memory_gib=need.min_gpu_memory_gib,
            ):
                raise problem(
                    "gpu_need",
                    f"no catalog instance type has {need.gpus_per_node} x "
                    f"{need.gpu_model or 'any GPU'} with >= {need.min_gpu_memory_gib} GiB each",
                )
        bottlerocket = self.ami_type is GpuAmiType.BOTTLEROCKET_NVIDIA
        if self.time_slicing_replicas is not None and bottlerocket:
            raise problem(
                "time_slicing_replicas",
                "Bottlerocket NVIDIA runs its own device plugin: time-slicing needs amiType "
                "AL2023_x86_64_NVIDIA",
            )
        if self.mig_profile is not None:
            if self.time_slicing_replicas is not None:
                raise problem("mig_profile", "a pool uses MIG or time-slicing, not both")
            if bottlerocket:
                raise problem(
                    "mig_profile",
                    "Bottlerocket NVIDIA runs its own device plugin: MIG needs amiType "
                    "AL2023_x86_64_NVIDIA",
                )
            if self.gpu_need is not None:
                raise problem("mig_profile", "MIG pools take explicit instanceTypes, not gpuNeed")
            for name in types:
                model = get_instance_type(name).gpu_model or "no GPU"
                try:
                    mig_devices_per_gpu(model, self.mig_profile)
                except ValueError as exc:
                    raise problem("mig_profile", str(exc)) from None
        reservation = self.capacity_reservation_id
        if self.capacity_type is CapacityType.CAPACITY_BLOCK:
            unsold = [t for t in types if t not in CAPACITY_BLOCK_TYPES]
            if unsold:
                raise problem(
                    "instance_types",
                    f"Capacity Blocks are not sold for {unsold} (they are for "
                    f"{', '.join(sorted(CAPACITY_BLOCK_TYPES))})",
                )
        if self.capacity_type is CapacityType.CAPACITY_BLOCK and reservation is None:
            raise problem("capacity_reservation_id", "required when capacityType is CAPACITY_BLOCK")
        if self.placement_group_name is not None and reservation is None:
            raise problem(
                "placement_group_name",
                "only a pool in a capacity reservation takes an existing placement group "
                "(EFA pools without one get their own): remove it",
            )
        if self.capacity_type is CapacityType.SPOT and reservation is not None:
            raise problem(
                "capacity_reservation_id", "a SPOT pool cannot launch into a capacity reservation"
            )
        if reservation is not None and len(types) != 1:
            raise problem(
                "capacity_reservation_id",
                "a capacity reservation is for one instance type: give exactly one instanceTypes",
            )
        if self.max_size == 0:
            raise problem("max_size", "0 leaves the pool unable to ever run a node")
        if self.efa:
            lacking = [name for name in types if not get_instance_type(name).efa_supported]
            if lacking:
                with_efa = [
                    n
                    for n in supported_instance_types(gpu_only=True)
                    if get_instance_type(n).efa_supported
                ]
                raise problem(
                    "efa",
                    f"{', '.join(lacking)} {'does' if len(lacking) == 1 else 'do'} not support "
                    f"EFA (GPU types that do: {', '.join(with_efa)})",
                )
            if self.gpu_need is not None:
                raise problem("efa", "EFA pools take explicit instanceTypes, not gpuNeed")
        return self


_RECURRING_SCHEDULE = re.compile(
    r"^(rate\(1 (minute|hour|day)\)|rate\((?!1 )[1-9]\d* (minutes|hours|days)\)"
    r"|cron\(\S+( \S+){5}\))$"
)
"""EventBridge Scheduler's recurring forms (Scheduler user guide, "Schedule types"): a rate
(singular unit for 1) or a six-field cron expression; `at(...)` runs once."""


class FsxConfig(_Model):
    """Hot tier: FSx for Lustre PERSISTENT_2 linked to the datasets and checkpoints buckets."""

    enabled: bool = False
    """Default: off (dev uses S3 directly)."""
    storage_capacity_gib: int = 1200
    """1200, 2400, then steps of 2400 GiB. Default: 1200."""
    per_unit_storage_throughput: int = 125
    """MB/s per TiB: 125, 250, 500 or 1000. Default: 125, the tier the price snapshot carries
    (the faster tiers plan unpriced, so blocked by cost-limits, until `prices refresh` adds
    their prices); raise it, or set `targetGbpsPerTrainingNode`, for more throughput per TiB."""
    automatic_backup_retention_days: int = Field(default=0, ge=0, le=90)
    """Must stay 0: FSx for Lustre takes no backups of a file system linked to S3 (FSx Lustre user
    guide, "Protecting your data with backups"), and the hot tier always links the datasets and
    checkpoints buckets; their versioned S3 objects are the durable copy. Default: 0."""
    efa_enabled: bool | None = None
    """EFA-enabled file system (`efaEnabled`, GPUDirect Storage from P5-class clients): capacity in
    increments of 4800/9600/19200/38400 GiB at 1000/500/250/125 MB/s/TiB, fixed at creation.
    `false` keeps a TCP-only file system; `true` needs an EFA pool. Default: on when a training
    pool uses EFA."""
    target_gbps_per_training_node: float | None = Field(default=None, gt=0)
    """Aggregate throughput (GB/s) each node of the training pools (the EFA pools, else the
    `training` pools) gets when they all run at `maxSize`. The resolve raises the capacity to the
    smallest valid size at `perUnitStorageThroughput` that meets it (aggregate = capacity TiB x
    MB/s/TiB) and refuses a target no capacity can meet. Default: none (the configured capacity)."""
    metadata_iops: int | None = None
    """Provisioned metadata IOPS of an EFA-enabled file system (FSx API
    CreateFileSystemLustreMetadataConfiguration: 1500, 3000, 6000, 12000, then multiples of 12000
    up to 192000). Default: none (mode AUTOMATIC: FSx scales metadata IOPS with capacity)."""
    release_after_days: int = Field(default=30, ge=1)
    """A scheduled task releases the data of exported files not read or written for this many
    days (`RELEASE_DATA_FROM_FILESYSTEM`); their metadata stays and the next read fetches them
    back from S3. Default: 30."""
    release_schedule: str = "rate(1 day)"
    """EventBridge Scheduler expression of the release task: `rate(...)` or a six-field
    `cron(...)` (UTC). Default: rate(1 day)."""
    free_capacity_alarm_fraction: float = Field(default=0.1, gt=0, lt=1)
    """Alarm when free data capacity falls below this fraction of the file system. Default: 0.1."""
    alarm_emails: list[str] = Field(default_factory=list)
    """Email subscriptions of the hot tier's alarm topic (each confirms by mail).
    Default: none (the topic has no subscribers)."""
    working_set_gib: float | None = Field(default=None, gt=0)
    """Data the hot tier must hold at once (files used within `releaseAfterDays`), reported by the
    plan against the capacity. Default: the expected sizes of the linked buckets (datasets and
    checkpoints)."""

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

    @field_validator("metadata_iops")
    @classmethod
    def _metadata_iops(cls, value: int | None) -> int | None:
        if value is None or value in (1500, 3000, 6000):
            return value
        if 12000 <= value <= 192000 and value % 12000 == 0:
            return value
        raise ValueError(
            f"{value} metadata IOPS does not exist: use 1500, 3000, 6000 or a multiple of 12000 "
            "up to 192000 (or leave the key out for AUTOMATIC)"
        )

    @field_validator("release_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        if not _RECURRING_SCHEDULE.match(value):
            raise ValueError(
                f"{value!r} is not a recurring EventBridge Scheduler expression: use "
                "rate(1 day), rate(N days|hours|minutes) or a six-field cron(...)"
            )
        return value

    @field_validator("alarm_emails")
    @classmethod
    def _alarm_emails(cls, value: list[str]) -> list[str]:
        bad = [e for e in value if not _EMAIL.match(e)]
        if bad:
            raise ValueError(f"{bad} are not email addresses")
        return value

    @model_validator(mode="after")
    def _no_backups_of_a_linked_file_system(self) -> Self:
        if self.automatic_backup_retention_days > 0:
            raise problem(
                "automatic_backup_retention_days",
                f"{self.automatic_backup_retention_days} days of backups: FSx for Lustre does not "
                "back up a file system linked to S3 by data repository associations, and the hot "
                "tier always links datasets and checkpoints; remove the key (S3 versioning and "
                "storage.recoveryWindowDays protect the data)",
            )
        return self


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

    days: int = Field(ge=0, le=36500)
    """Days after creation (at most 36500, a century; S3 takes no day count past a 32-bit
    integer)."""
    storage_class: StorageClass
    """Target S3 storage class."""


class BucketConfig(_Model):
    """One warm-tier bucket and its cold-tier lifecycle."""

    expected_size_gib: float = Field(default=0, ge=0)
    """For cost estimates only. Default: 0."""
    transitions: list[Transition] = Field(default_factory=list)
    """Current-version transitions, in increasing days. Default: none."""
    noncurrent_expiration_days: int | None = Field(default=None, ge=1, le=36500)
    """Expire noncurrent versions after this many days (at most 36500). Default: keep."""

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


StackBucket = Literal["datasets", "checkpoints", "models"]
"""The stack's buckets (components/storage)."""
_S3_PREFIX = r"^([A-Za-z0-9!_.*'()-]+/)*$"
"""An S3 key prefix Mountpoint can mount: empty, or path segments each ending in `/`."""


class MountpointVolume(_Model):
    """One bucket (or a prefix of it) mounted in team namespaces by Mountpoint for Amazon S3."""

    bucket: StackBucket
    """datasets, checkpoints or models. The claim in each team namespace is `s3-<bucket>`."""
    prefix: str = Field(default="", pattern=_S3_PREFIX)
    """Key prefix to mount, ending in `/` (Mountpoint `--prefix`). Default: the whole bucket."""
    per_team: bool = False
    """Each team mounts `<prefix><team>/` only, and the driver's role reaches only those
    prefixes. Default: false (every team sees the same prefix)."""
    read_only: bool = True
    """Mount read-only (`read-only`); otherwise new files can be written and files deleted
    (`allow-delete`; the buckets are versioned). Default: true."""
    teams: list[str] | None = None
    """Team namespaces that get the claim. Default: every team."""
    maximum_throughput_gbps: float | None = Field(default=None, gt=0)
    """Throughput each mount aims for (Mountpoint `--maximum-throughput-gbps`). The Mountpoint
    Pods cannot read the instance type from IMDS (the nodes' hop limit is 1), so without it
    Mountpoint aims for its 10 Gbps default. Default: unset."""

    @field_validator("teams")
    @classmethod
    def _unique_teams(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _once_each(value)


def _default_mountpoint_volumes() -> list[MountpointVolume]:
    return [
        MountpointVolume(bucket="datasets"),
        MountpointVolume(bucket="checkpoints", per_team=True, read_only=False),
    ]


class MountpointConfig(_Model):
    """Mountpoint for Amazon S3 CSI driver (v2, EKS add-on `aws-mountpoint-s3-csi-driver`):
    buckets as volumes in team namespaces, straight from S3 (no hot tier in between)."""

    enabled: bool = False
    """Default: off."""
    volumes: list[MountpointVolume] = Field(default_factory=_default_mountpoint_volumes)
    """What each team namespace mounts. Default: datasets read-only, and checkpoints read-write
    per team (`<team>/`, where the shipped jobs' checkpoints land through the hot tier)."""

    @field_validator("volumes")
    @classmethod
    def _one_claim_per_bucket(cls, value: list[MountpointVolume]) -> list[MountpointVolume]:
        buckets = [v.bucket for v in value]
        dupes = sorted({b for b in buckets if buckets.count(b) > 1})
        if dupes:
            raise ValueError(
                f"{', '.join(dupes)} listed twice: a team namespace has one claim per bucket"
            )
        return value


FSX_IMPORTED_BUCKETS = ("datasets", "checkpoints")
"""Buckets the hot tier links (and imports from) when it is on."""
_UNREADABLE_BY_FSX = frozenset({StorageClass.GLACIER, StorageClass.DEEP_ARCHIVE})
"""Archival classes, "not accessible in real time" until restored (S3 user guide, "Restoring an
archived object"): FSx for Lustre cannot read such an object back into the file system."""


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
    recovery_window_days: int = Field(default=30, ge=1)
    """How long an overwritten or deleted S3 object stays restorable from its noncurrent version:
    every bucket's `noncurrentExpirationDays` must be at least this. Default: 30."""
    mountpoint: MountpointConfig = Field(default_factory=MountpointConfig)
    """S3 buckets mounted in team namespaces by Mountpoint for Amazon S3. Default: off."""

    data_user_arns: list[Annotated[str, Field(pattern=_PRINCIPAL)]] = Field(default_factory=list)
    """IAM roles or users (people, data pipelines) that read and write objects in the buckets
    with the storage key, through S3 only: the key's policy names them as key users (their own IAM
    policies still decide which buckets and objects). Nobody else outside the stack's roles can
    decrypt the buckets' objects. Default: none."""

    @model_validator(mode="after")
    def _noncurrent_versions_cover_the_recovery_window(self) -> Self:
        for name in ("datasets", "checkpoints", "models"):
            expire = getattr(self, name).noncurrent_expiration_days
            if expire is not None and expire < self.recovery_window_days:
                raise problem(
                    f"{name}.noncurrentExpirationDays",
                    f"noncurrent versions expire after {expire} days, inside the "
                    f"{self.recovery_window_days}-day recovery window "
                    "(storage.recoveryWindowDays): keep them at least that long, or shorten "
                    "the window",
                )
        return self

    @model_validator(mode="after")
    def _fsx_can_read_back_what_it_imports(self) -> Self:
        if not self.fsx.enabled:
            return self
        for name in FSX_IMPORTED_BUCKETS:
            for index, transition in enumerate(getattr(self, name).transitions):
                if transition.storage_class in _UNREADABLE_BY_FSX:
                    raise problem(
                        f"{name}.transitions[{index}].storageClass",
                        f"{transition.storage_class.value} on the {name} bucket, which FSx for "
                        "Lustre imports: FSx cannot read GLACIER or DEEP_ARCHIVE objects without "
                        "a restore, so a file released from the hot tier could not be read back; "
                        "use GLACIER_IR (or a warmer class)",
                    )
        return self


class Team(_Model):
    """A team namespace for training and pipelines, with GPU quota and Pod Security."""

    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    """Namespace name."""
    gpu_quota: int = Field(ge=0)
    """The team's own `nvidia.com/gpu`: the most the namespace may request at once, or with Kueue
    its ClusterQueue's nominal quota (borrowed quota comes on top). Required."""
    efa_quota: int = Field(default=0, ge=0)
    """The team's own `vpc.amazonaws.com/efa` devices, likewise. Default: 0 (no multi-node EFA
    jobs)."""
    gpu_borrowing_limit: int | None = Field(default=None, ge=0)
    """With Kueue: most GPUs the team's ClusterQueue may borrow beyond `gpuQuota` from quota the
    other teams of the cohort leave idle (Kueue `borrowingLimit` on each flavor); the namespace's
    ResourceQuota is raised by as much. Default: none (up to the other teams' whole quota)."""
    efa_borrowing_limit: int | None = Field(default=None, ge=0)
    """With Kueue: most EFA devices the team may borrow beyond `efaQuota`, likewise.
    Default: none (up to the other teams' whole EFA quota)."""
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
    kueue: bool = True
    """Kueue admission for team GPU jobs (a ClusterQueue per team in one cohort, a LocalQueue per
    team namespace, a ResourceFlavor per GPU pool). Default: on; it needs at least one team and one
    GPU pool, and is off without them."""


EXAMPLE_MODEL = "echo"
"""The example model the stack seeds into the repository (a Python-backend identity model that
needs no weights), and the default served model."""
EXAMPLE_MODEL_VERSION = "v1"
_MODEL_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$"
_MODEL_VERSION = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"


class TritonModel(_Model):
    """One model the Triton service loads at startup, from its own versioned location."""

    name: str = Field(pattern=_MODEL_NAME)
    """Triton model name: its directory in the repository and the name clients call.
    Required."""
    version: str = Field(pattern=_MODEL_VERSION)
    """Release label of the model's location: each pod copies the model from
    `s3://<models bucket>/<modelPrefix>/<name>/<version>/<name>/` (`config.pbtxt` and the
    numbered version directories) when it starts. Promote a release by uploading it under a new
    label and changing this value; never change a label's objects (pods that start later would
    serve them). Required."""


class TritonConfig(_Model):
    """The Triton inference service (when `addons.triton` is on)."""

    image: str = versions.TRITON_IMAGE
    """Triton image with a pinned tag or digest (not `latest`). Default: see
    components/versions.py."""
    model_sync_image: str = versions.MODEL_SYNC_IMAGE
    """AWS CLI v2 image (2.15.0 or later, pinned tag or digest) of the init containers that copy
    the served models from the models bucket into each pod with its Pod Identity credentials
    (Triton's own S3 client predates Pod Identity). Default: see components/versions.py."""
    models: list[TritonModel] = Field(
        default_factory=lambda: [TritonModel(name=EXAMPLE_MODEL, version=EXAMPLE_MODEL_VERSION)],
        min_length=1,
    )
    """Models served (explicit model control: only these load, each from its own release).
    Default: the seeded example model `echo`, release `v1`."""
    min_replicas: int | None = Field(default=None, ge=1, strict=True)
    """Fewest replicas KEDA keeps (Triton does not scale to zero here); prod needs at least 2.
    Default: 2 in prod, 1 otherwise."""
    max_replicas: int | None = Field(default=None, ge=1, strict=True)
    """Most replicas KEDA may run; at most what the inference pool holds at its maxSize.
    Default: that number."""
    gpus_per_replica: int = Field(default=1, ge=1, strict=True)
    """`nvidia.com/gpu` per replica (on time-sliced pools, a slice each). Default: 1."""
    queue_time_target_us: int = Field(default=50_000, ge=1, strict=True)
    """Average queue time per request (microseconds) that KEDA scales on and the
    TritonQueueTimeHigh alert fires above. Default: 50000 (50 ms)."""
    model_prefix: str = Field(default="triton", pattern=r"^[A-Za-z0-9!_.*'()/-]*$")
    """Key prefix of the model repository in the models bucket. Default: triton."""
    startup_timeout_seconds: int = Field(default=600, ge=10, strict=True)
    """How long a starting replica may take to download and load its models. Default: 600."""
    cpu_millicores: int | None = Field(default=None, ge=100, strict=True)
    """CPU request per replica. Default: the inference node's allocatable CPU (vCPUs minus the
    system reserve) divided by the replicas one node holds."""
    memory_gib: int | None = Field(default=None, ge=1, strict=True)
    """Memory request and limit per replica, including /dev/shm. Default: the node's
    allocatable memory (minus the system reserve) divided by the replicas one node holds."""
    shm_size_gib: int = Field(default=1, ge=1, strict=True)
    """Size of the memory-backed /dev/shm. Default: 1."""
    tolerate_spot: bool = False
    """Also tolerate the spot taint (for a spot inference pool). Default: false."""
    client_namespaces: list[str] | None = None
    """Namespaces whose pods may call Triton's HTTP and gRPC ports (NetworkPolicy). Default:
    every namespace of the cluster (nothing from outside it)."""

    @field_validator("image", "model_sync_image")
    @classmethod
    def _pinned(cls, value: str) -> str:
        name = value.rsplit("/", 1)[-1]
        if "@sha256:" in value:
            return value
        if ":" not in name or name.endswith(":latest") or any(c.isspace() for c in value):
            raise ValueError(f"{value!r}: pin a tag or digest (not latest)")
        return value

    @field_validator("client_namespaces")
    @classmethod
    def _namespaces(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        bad = [n for n in value if not re.match(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", n)]
        if bad:
            raise ValueError(f"{bad} are not namespace names")
        if not value:
            raise ValueError("empty: leave it out to admit every namespace of the cluster")
        return value

    @model_validator(mode="after")
    def _ranges(self) -> Self:
        if (
            self.min_replicas is not None
            and self.max_replicas is not None
            and self.max_replicas < self.min_replicas
        ):
            raise problem(
                "max_replicas", f"{self.max_replicas} is below minReplicas {self.min_replicas}"
            )
        if self.memory_gib is not None and self.shm_size_gib >= self.memory_gib:
            raise problem(
                "shm_size_gib",
                f"{self.shm_size_gib} GiB must be below memoryGib {self.memory_gib} "
                "(it counts against it)",
            )
        if "//" in self.model_prefix:
            raise problem("model_prefix", f"{self.model_prefix!r} is not an S3 key prefix")
        names = [m.name for m in self.models]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise problem("models", f"{dupes} listed twice: a model loads from one release")
        return self


_SNS_TOPIC_ARN = re.compile(
    r"^arn:aws(-[a-z]+)*:sns:[a-z]{2}(-gov)?-[a-z]+-\d:\d{12}:[A-Za-z0-9_-]{1,256}$"
)


class Alerting(_Model):
    """Where Alertmanager sends alerts (kube-prometheus-stack's default route ends at its `null`
    receiver). Every alert goes to every receiver configured here; the Watchdog heartbeat stays
    on `null`."""

    sns_topic_arn: str | None = None
    """An existing SNS topic to publish to (Alertmanager `sns_configs`, through Pod Identity with
    `sns:Publish` on it). Default: none."""
    emails: list[str] = Field(default_factory=list)
    """Addresses subscribed (SNS email subscriptions, confirmed by each recipient) to an alert
    topic the stack creates; no SMTP server is needed. Default: none."""
    webhook_urls: list[str] = Field(default_factory=list)
    """HTTPS endpoints that take Alertmanager's webhook payload (e.g. a chat or paging bridge).
    Default: none."""
    send_resolved: bool = True
    """Also notify when an alert resolves. Default: true."""

    @field_validator("sns_topic_arn")
    @classmethod
    def _topic(cls, value: str | None) -> str | None:
        if value is not None and not _SNS_TOPIC_ARN.match(value):
            raise ValueError(f"{value!r} is not an SNS topic ARN")
        return value

    @field_validator("emails")
    @classmethod
    def _alert_emails(cls, value: list[str]) -> list[str]:
        bad = [e for e in value if not _EMAIL.match(e)]
        if bad:
            raise ValueError(f"{bad} are not email addresses")
        return value

    @field_validator("webhook_urls")
    @classmethod
    def _https(cls, value: list[str]) -> list[str]:
        bad = [u for u in value if not re.match(r"^https://[^\s/]+(/\S*)?$", u)]
        if bad:
            raise ValueError(f"{bad}: webhooks must be https:// URLs")
        return value

    @property
    def configured(self) -> bool:
        return bool(self.sns_topic_arn or self.emails or self.webhook_urls)


_TRAIL_ARN = re.compile(
    r"^arn:aws[a-z-]*:cloudtrail:[a-z]{2}(-gov)?-[a-z]+-\d:\d{12}:trail/[A-Za-z0-9._-]{3,128}$"
)
"""A CloudTrail trail ARN (`arn:<partition>:cloudtrail:<region>:<account>:trail/<name>`; trail
names are 3-128 letters, digits, periods, underscores and dashes: CloudTrail API CreateTrail)."""


class Audit(_Model):
    """Who did what to the platform's account and data: a CloudTrail trail with the buckets' S3
    data events, S3 server access logs, and customer-key encryption of the stack's log groups.
    The environment decides every default (prod: all on; dev and staging: all off)."""

    trail: AuditTrail | None = None
    """stack | organization | off. Default: `stack` in prod, `organization` when
    `organizationTrailArn` is set, else off."""
    organization_trail_arn: str | None = None
    """ARN of an existing organisation trail that already records this account: the stack creates
    no trail of its own and exports this ARN. Default: none."""
    multi_region: bool = True
    """The stack's trail records management events in every region, not only the stack's: a
    stolen credential used elsewhere (GPU instances in another region) is recorded too.
    Default: true."""
    cloud_watch_logs: bool = False
    """Also deliver the trail to a CloudWatch Logs group (for metric filters and alarms; billed
    per GB ingested). Default: off."""
    cloud_watch_logs_retention_days: LogRetentionDays = 365
    """Retention of that log group. Default: 365 days."""
    log_retention_days: int = Field(default=2557, ge=1, le=36500)
    """Days the trail's and the access logs' objects are kept in their buckets (current and
    noncurrent versions). Default: 2557 (7 years)."""
    expected_log_size_gib: float = Field(default=100.0, gt=0, allow_inf_nan=False)
    """Expected size of each log bucket (priced by the plan at S3 Standard). Default: 100 GiB."""
    s3_access_logs: bool | None = None
    """S3 server access logs of the datasets, checkpoints and models buckets, into a log bucket
    of the stack's. Default: true in prod."""
    log_group_kms: bool | None = None
    """Encrypt every log group the stack creates with a customer KMS key of the stack's (the
    `log-groups-encrypted` rule's `requireCustomerKey`). Default: true in prod."""
    key_administrator_arns: list[str] = Field(default_factory=list)
    """IAM roles or users that administer the audit keys besides the deployer (manage, rotate,
    schedule deletion; never decrypt). Default: none."""
    log_reader_arns: list[str] = Field(default_factory=list)
    """IAM roles or users that may decrypt the trail's log files. Default: none (principals of
    the account whose IAM policies allow it)."""

    @field_validator("organization_trail_arn")
    @classmethod
    def _trail_arn(cls, value: str | None) -> str | None:
        if value is not None and not _TRAIL_ARN.match(value):
            raise ValueError(
                f"{value!r} is not a CloudTrail trail ARN "
                "(arn:aws:cloudtrail:<region>:<account>:trail/<name>)"
            )
        return value

    @field_validator("key_administrator_arns", "log_reader_arns")
    @classmethod
    def _principals(cls, value: list[str]) -> list[str]:
        pattern = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/.+$")
        bad = [v for v in value if not pattern.match(v)]
        if bad:
            raise ValueError(f"{bad} are not IAM role or user ARNs")
        return value

    @model_validator(mode="after")
    def _trail_mode(self) -> Self:
        if self.trail is AuditTrail.ORGANIZATION and self.organization_trail_arn is None:
            raise problem(
                "organization_trail_arn",
                "required with trail: organization (the ARN of the organisation trail)",
            )
        if self.organization_trail_arn is not None and self.trail in (
            AuditTrail.STACK,
            AuditTrail.OFF,
        ):
            raise problem(
                "organization_trail_arn",
                f"set, but trail is {self.trail.value}: drop it or set trail: organization",
            )
        return self


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
    """VPC IPv4 range; subnets are carved from it by a fixed plan (see `subnets`).
    Default: 10.0.0.0/16."""
    subnets: Subnets = Field(default_factory=Subnets)
    """The address plan (pin an existing layout here). Default: the fixed plan."""
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
    cluster_log_types: Annotated[list[LogType], AfterValidator(_once_each)] = Field(
        default_factory=lambda: [LogType.API, LogType.AUDIT, LogType.AUTHENTICATOR]
    )
    """Control-plane log types. Default: api, audit, authenticator."""
    cluster_log_retention_days: LogRetentionDays = 90
    """Default: 90 days."""
    deployer: Deployer
    """Who runs `pulumi up` for this stack, and from where. Required."""
    api_access: ApiAccess = Field(default_factory=ApiAccess)
    """Who may reach a private API endpoint. Default: nobody beyond the VPC itself."""
    pod_network: PodNetwork | None = None
    """Pod addresses from a secondary VPC CIDR (VPC CNI custom networking). Default: none (pods
    take addresses from the node subnets)."""
    existing_vpc: ExistingVpc | None = None
    """Use an existing VPC and its private subnets instead of creating a network. Default: none
    (the stack creates its VPC)."""
    deletion_protection: bool | None = None
    """EKS cluster deletion protection. Default: true in prod."""
    node_ssm_access: bool = False
    """Attach AmazonSSMManagedInstanceCore to the node role, so nodes can be reached with SSM
    Session Manager for debugging (no SSH, no open port). Default: off."""
    access_entries: list[AccessEntry] = Field(default_factory=list)
    """Extra principals granted cluster access (the deploying identity is admin); one entry per
    principal, as EKS allows."""
    system_pool: SystemPool = Field(default_factory=SystemPool)
    """The on-demand CPU node group for add-ons. Default: 2-4 x m7i.xlarge."""
    gpu_pools: list[GpuPool] = Field(default_factory=list)
    """GPU node groups. Default: none."""
    storage: StorageConfig = Field(default_factory=StorageConfig)
    """Hot (FSx), warm (S3) and cold (lifecycle) tiers."""
    addons: Addons = Field(default_factory=Addons)
    """Cluster software toggles."""
    triton: TritonConfig = Field(default_factory=TritonConfig)
    """Triton inference service settings (used when addons.triton is on)."""
    alerting: Alerting = Field(default_factory=Alerting)
    """Alert receivers (SNS topic, emails, webhooks). Default: none; prod with observability on
    must set one."""
    monthly_budget_usd: float = Field(gt=0, allow_inf_nan=False)
    """Monthly budget for the whole stack. Required."""
    activate_cost_allocation_tags: bool = False
    """Activate the stack's tag keys for cost allocation from this stack. The activation is
    account-wide and AWS accepts it only once a key has appeared on billed resources (about a
    day after the first deployment), from the payer account: turn it on in one stack, later.
    Default: false."""
    budget_alert_emails: Annotated[list[str], AfterValidator(_once_each)] = Field(
        default_factory=list, max_length=10
    )
    """Who gets the budget alerts (80% actual, 100% forecast): at most 10, AWS Budgets' limit of
    email subscribers per notification. Default: none (no alerts)."""
    teams: list[Team] = Field(default_factory=list)
    """Team namespaces with GPU quotas (used by Kubeflow). Default: none."""
    tags: dict[str, str] = Field(default_factory=dict)
    """Tags on every taggable resource, beside the platform's own (`environment`, `project`,
    `stack`, `managed-by` and each resource's `Name`, which are not available here): at most 44
    (AWS takes 50 per resource), in the characters every AWS service takes in tags."""
    protect_stateful: bool | None = None
    """Protect and retain stateful resources (KMS keys, buckets, FSx). Default: true in prod."""
    audit: Audit = Field(default_factory=Audit)
    """Audit trail, S3 access logs and customer-key log groups. Default: on in prod, off
    elsewhere."""

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not _REGION.match(value) or value not in known_regions():
            hint = difflib.get_close_matches(value, sorted(known_regions()), n=1)
            raise ValueError(
                f"{value!r} is not an AWS region"
                + (f" (did you mean {hint[0]!r}?)" if hint else "")
            )
        return value

    @field_validator("availability_zones")
    @classmethod
    def _azs(cls, value: list[str]) -> list[str]:
        for az in value:
            if not _AZ.match(az):
                raise ValueError(f"{az!r} is not an availability zone name")
        if len(set(value)) != len(value):
            raise ValueError(f"{value} lists an AZ twice")
        return value

    @model_validator(mode="after")
    def _azs_in_region(self) -> Self:
        outside = [az for az in self.availability_zones if not az.startswith(self.region)]
        if outside:
            raise problem("availability_zones", f"{outside} not in region {self.region}")
        zones = region_zones(self.region)
        missing = [az for az in self.availability_zones if zones and az not in zones]
        if missing:
            raise problem(
                "availability_zones",
                f"{missing} do not exist in {self.region} (its zones: {', '.join(zones or ())})",
            )
        return self

    @field_validator("vpc_cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        net = _ipv4_network(value)
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

    @field_validator("access_entries")
    @classmethod
    def _one_entry_per_principal(cls, value: list[AccessEntry]) -> list[AccessEntry]:
        _once_each([entry.principal_arn for entry in value])  # EKS: one access entry each
        return value

    @field_validator("interface_endpoints")
    @classmethod
    def _unique_endpoints(cls, value: list[InterfaceEndpoint]) -> list[InterfaceEndpoint]:
        return _once_each(value)

    @field_validator("public_access_cidrs")
    @classmethod
    def _public_cidrs(cls, value: list[str]) -> list[str]:
        return _ipv4_cidrs(value)

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
            if not 1 <= len(key) <= 128 or key.lower().startswith("aws:"):
                raise ValueError(f"tag key {key!r} must be 1-128 characters, not starting aws:")
            if len(val) > 256:
                raise ValueError(f"tag {key!r} value is longer than 256 characters")
            if val.lower().startswith("aws:"):
                raise ValueError(f"tag {key!r} value must not start with aws: (AWS's own)")
            for text in (key, val):
                if not _TAG_TEXT.match(text):
                    raise ValueError(
                        f"tag {key!r}: {text!r} has a character AWS does not take in every "
                        "service's tags (letters, digits, spaces and + - = . _ : / @)"
                    )
            if key in PLATFORM_TAG_KEYS:
                raise ValueError(
                    f"tag {key!r} is set by the platform on every resource; use another key"
                )
        if len(value) > MAX_STACK_TAGS:
            raise ValueError(
                f"{len(value)} tags: at most {MAX_STACK_TAGS} (AWS takes 50 per resource, and the "
                f"platform sets up to {MAX_RESOURCE_TAGS - MAX_STACK_TAGS} of its own)"
            )
        return value

    @property
    def custom_networking(self) -> bool:
        """VPC CNI custom networking: pods on pod subnets (`podNetwork`, or an existing VPC's
        `podSubnetIds`), not on the node subnets."""
        return self.pod_network is not None or bool(
            self.existing_vpc and self.existing_vpc.pod_subnet_ids
        )

    @property
    def cluster_deletion_protection(self) -> bool:
        if self.deletion_protection is None:
            return self.environment is Environment.PROD
        return self.deletion_protection

    @property
    def protect(self) -> bool:
        return (
            self.environment is Environment.PROD
            if self.protect_stateful is None
            else self.protect_stateful
        )
