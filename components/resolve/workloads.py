"""Resolve the workloads the platform ships: the Triton service. The training templates resolve
in components/resolve/training.py."""

from __future__ import annotations

from dataclasses import dataclass

from components.catalog import InstanceType, eks_max_pods
from components.config import PROJECT_NAMESPACE, ConfigError, Environment, StackConfig
from components.config.models import EXAMPLE_MODEL, EXAMPLE_MODEL_VERSION
from components.resolve.compute import GpuPoolSpec
from components.resolve.software import DEFAULT_MONITORING_NAMESPACE

TRITON_NAME = "triton"
TRITON_NAMESPACE = "inference"
ADMIN_HEADER = "triton-admin-key"
"""Header (HTTP) / metadata key (gRPC, prefixed `triton-grpc-protocol-` by Triton) carrying the
admin key that the restricted APIs require."""


@dataclass(frozen=True)
class TritonModelSpec:
    """One served model and where it loads from."""

    name: str
    version: str
    """Release label (the last part of the location)."""
    repository: str
    """Key prefix (in the models bucket) of the release holding `<name>/`:
    `<modelPrefix>/<name>/<version>`."""


@dataclass(frozen=True)
class TritonSpec:
    """Validated settings, defaults applied: everything the manifest builders need."""

    name: str
    """Kubernetes object name (Deployment, Service, ServiceAccount, ...)."""
    namespace: str
    region: str
    cluster_name: str
    """The EKS cluster (the Pod Identity association and the role's trust name it)."""
    inference_pool: str
    image: str
    model_sync_image: str
    """AWS CLI image of the init containers that copy the models into the pod."""
    min_replicas: int
    max_replicas: int
    gpus_per_replica: int
    queue_time_target_us: int
    model_prefix: str
    models: tuple[TritonModelSpec, ...]
    """Copied into the pod's repository at startup and loaded (`--load-model`), each from its own
    release."""
    example: TritonModelSpec
    """The example model the stack writes into the bucket."""
    startup_timeout_seconds: int
    cpu_millicores: int
    memory_mib: int
    replicas_per_node: int
    """Replicas one inference node holds (GPU slots, CPU and memory)."""
    shm_size_gib: int
    tolerate_spot: bool
    client_namespaces: tuple[str, ...] | None
    """Namespaces admitted to the http/grpc ports; None: every namespace of the cluster."""
    monitoring_namespace: str
    """Where the Prometheus that scrapes the metrics port runs."""
    admin_header: str = ADMIN_HEADER

    @property
    def service_account(self) -> str:
        return self.name

    @property
    def selector(self) -> dict[str, str]:
        """Labels that select this service's pods."""
        return {"app.kubernetes.io/name": "triton", "app.kubernetes.io/instance": self.name}

    @property
    def admin_secret(self) -> str:
        """Kubernetes Secret holding the admin key of the restricted APIs."""
        return f"{self.name}-admin-key"


# --------------------------------------------------------------------------- Triton sizing

VM_MEMORY_OVERHEAD = 0.075
"""Share of an instance's nominal memory the node never reports as capacity (hypervisor and
kernel): Karpenter's default `vmMemoryOverheadPercent`."""
EVICTION_HARD_MIB = 100
"""kubelet `evictionHard: memory.available` on the EKS AMIs."""
DAEMONSET_CPU_MILLICORES = 400
DAEMONSET_MEMORY_MIB = 1024
"""Allowance for the DaemonSets every GPU node runs (VPC CNI and its network policy agent,
kube-proxy, the EBS and FSx CSI node plugins, the Pod Identity agent, the NVIDIA device plugin,
feature discovery and DCGM exporter, node exporter, node monitoring agent)."""


def kube_reserved_millicores(vcpus: int) -> int:
    """kube-reserved CPU as the EKS AMIs set it: 6% of the first core, 1% of the second, 0.5% of
    the third and fourth, 0.25% of every further core."""
    tiers = ((1, 60), (1, 10), (2, 5))
    reserved, left = 0, vcpus
    for cores, per_core in tiers:
        used = min(left, cores)
        reserved += used * per_core
        left -= used
    return reserved + left * 25 // 10


def node_allocatable(instance: InstanceType) -> tuple[int, int]:
    """(millicores, MiB) a workload may request on one node of this type: capacity minus
    kube-reserved (CPU tiers above; memory 255 MiB + 11 MiB per pod at the prefix-delegation
    max pods), the eviction threshold and the DaemonSet allowance."""
    cpu = instance.vcpus * 1000 - kube_reserved_millicores(instance.vcpus)
    capacity_mib = int(instance.memory_mib * (1 - VM_MEMORY_OVERHEAD))
    kube_reserved_mib = 255 + 11 * eks_max_pods(instance, prefix_delegation=True)
    memory = capacity_mib - kube_reserved_mib - EVICTION_HARD_MIB
    return cpu - DAEMONSET_CPU_MILLICORES, memory - DAEMONSET_MEMORY_MIB


@dataclass(frozen=True)
class TritonSizing:
    """What one replica requests and how many the inference pool holds."""

    cpu_millicores: int
    memory_mib: int
    replicas_per_node: int
    pool_capacity: int
    """Replicas the pool holds at its maxSize."""


def triton_sizing(config: StackConfig, pool: GpuPoolSpec) -> TritonSizing:
    """Pure: requests per replica (from the config, else the node's allocatable divided by the
    GPU slots a node has for replicas) and the pool's capacity in replicas. Raises ConfigError
    naming `gpu-platform:triton.<key>` when a replica cannot fit one node."""
    t = config.triton
    where = f"{PROJECT_NAMESPACE}:triton"
    # The smallest type of the pool bounds what every node can hold.
    cpu_alloc, mem_alloc = min(node_allocatable(i) for i in pool.instance_types)
    slots = pool.schedulable_gpus_per_node // t.gpus_per_replica
    if slots < 1:
        raise ConfigError(
            [
                (
                    f"{where}.gpusPerReplica",
                    f"{t.gpus_per_replica} GPUs per replica, but a {pool.name} node advertises "
                    f"{pool.schedulable_gpus_per_node}",
                )
            ]
        )
    cpu = t.cpu_millicores if t.cpu_millicores is not None else cpu_alloc // slots
    memory = t.memory_gib * 1024 if t.memory_gib is not None else mem_alloc // slots
    problems = []
    if cpu > cpu_alloc:
        problems.append(
            (
                f"{where}.cpuMillicores",
                f"{cpu}m does not fit one {pool.name} node ({cpu_alloc}m allocatable after the "
                "system reserve)",
            )
        )
    if memory > mem_alloc:
        problems.append(
            (
                f"{where}.memoryGib",
                f"{memory} MiB does not fit one {pool.name} node ({mem_alloc} MiB allocatable "
                "after the system reserve)",
            )
        )
    if t.shm_size_gib * 1024 >= memory:
        problems.append(
            (
                f"{where}.shmSizeGib",
                f"{t.shm_size_gib} GiB must be below the replica's memory ({memory} MiB; it "
                "counts against it)",
            )
        )
    if problems:
        raise ConfigError(problems)
    per_node = min(slots, cpu_alloc // cpu, mem_alloc // memory)
    return TritonSizing(cpu, memory, per_node, per_node * pool.max_size)


def resolve_triton(config: StackConfig, pool: GpuPoolSpec, cluster_name: str) -> TritonSpec:
    """Pure: the Triton service on `pool`: sizing, replica range, served models. Raises
    ConfigError naming `gpu-platform:triton.<key>`."""
    t = config.triton
    where = f"{PROJECT_NAMESPACE}:triton"
    sizing = triton_sizing(config, pool)
    prod = config.environment is Environment.PROD
    min_replicas = t.min_replicas if t.min_replicas is not None else (2 if prod else 1)
    max_replicas = t.max_replicas if t.max_replicas is not None else sizing.pool_capacity
    holds = (
        f"pool {pool.name} holds {sizing.pool_capacity} replicas at its maxSize "
        f"{pool.max_size} ({sizing.replicas_per_node} per node)"
    )
    problems = []
    if prod and min_replicas < 2:
        problems.append(
            (
                f"{where}.minReplicas",
                f"{min_replicas}: prod serves from at least 2 replicas, so a node drain or "
                "failure never takes the service down",
            )
        )
    if max_replicas > sizing.pool_capacity:
        problems.append((f"{where}.maxReplicas", f"{max_replicas} replicas, but the {holds}"))
    elif min_replicas > max_replicas:
        key = "minReplicas" if t.max_replicas is None else "maxReplicas"
        problems.append(
            (f"{where}.{key}", f"minReplicas {min_replicas} above maxReplicas {max_replicas}")
        )
    if problems:
        raise ConfigError(problems)
    prefix = t.model_prefix.strip("/")

    def location(name: str, version: str) -> TritonModelSpec:
        return TritonModelSpec(name, version, "/".join(p for p in (prefix, name, version) if p))

    return TritonSpec(
        name=TRITON_NAME,
        namespace=TRITON_NAMESPACE,
        region=config.region,
        cluster_name=cluster_name,
        inference_pool=pool.name,
        image=t.image,
        model_sync_image=t.model_sync_image,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        gpus_per_replica=t.gpus_per_replica,
        queue_time_target_us=t.queue_time_target_us,
        model_prefix=prefix,
        models=tuple(location(m.name, m.version) for m in t.models),
        example=location(EXAMPLE_MODEL, EXAMPLE_MODEL_VERSION),
        startup_timeout_seconds=t.startup_timeout_seconds,
        cpu_millicores=sizing.cpu_millicores,
        memory_mib=sizing.memory_mib,
        replicas_per_node=sizing.replicas_per_node,
        shm_size_gib=t.shm_size_gib,
        tolerate_spot=t.tolerate_spot,
        client_namespaces=None if t.client_namespaces is None else tuple(t.client_namespaces),
        monitoring_namespace=DEFAULT_MONITORING_NAMESPACE,
    )
