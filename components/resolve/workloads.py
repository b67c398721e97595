"""Resolve the workloads the platform ships: the Triton service and the training templates."""

from __future__ import annotations

from dataclasses import dataclass

from components.catalog import InstanceType
from components.config import PROJECT_NAMESPACE, ConfigError, StackConfig
from components.resolve.compute import GpuPoolSpec

TRITON_NAME = "triton"
TRITON_NAMESPACE = "inference"
DEFAULT_BUSBW_FLOOR_GBPS = 300.0
"""All-reduce bus bandwidth (GB/s) the NCCL acceptance job must reach."""
DEFAULT_SHM_GIB = 64


@dataclass(frozen=True)
class TritonSpec:
    """Validated settings, defaults applied: everything the manifest builders need."""

    name: str
    """Kubernetes object name (Deployment, Service, ServiceAccount, ...)."""
    namespace: str
    region: str
    inference_pool: str
    image: str
    min_replicas: int
    max_replicas: int
    gpus_per_replica: int
    queue_time_target_us: int
    model_prefix: str
    repository_poll_secs: int
    startup_timeout_seconds: int
    cpu_millicores: int
    memory_gib: int
    shm_size_gib: int
    tolerate_spot: bool

    @property
    def service_account(self) -> str:
        return self.name

    @property
    def selector(self) -> dict[str, str]:
        """Labels that select this service's pods."""
        return {"app.kubernetes.io/name": "triton", "app.kubernetes.io/instance": self.name}


@dataclass(frozen=True)
class TrainingJobSpec:
    """What a distributed job asks of the pool (checked against the pool's nodes)."""

    name: str
    namespace: str
    pool: str
    instance_type: InstanceType
    num_nodes: int
    gpus_per_node: int
    efa_per_node: int
    command: tuple[str, ...]
    image: str
    shm_gib: int = DEFAULT_SHM_GIB
    fsx_claim: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    spot: bool = False
    suspend: bool = False
    """Create the job suspended: nothing is scheduled (or paid for) until it is resumed."""


@dataclass(frozen=True)
class TrainingSpec:
    """The example training job and the NCCL acceptance test, on the stack's EFA pool."""

    example: TrainingJobSpec
    acceptance: TrainingJobSpec
    busbw_floor_gbps: float


def resolve_triton(config: StackConfig, pool: GpuPoolSpec) -> TritonSpec:
    t = config.triton
    return TritonSpec(
        name=TRITON_NAME,
        namespace=TRITON_NAMESPACE,
        region=config.region,
        inference_pool=pool.name,
        image=t.image,
        min_replicas=t.min_replicas,
        max_replicas=t.max_replicas,
        gpus_per_replica=t.gpus_per_replica,
        queue_time_target_us=t.queue_time_target_us,
        model_prefix=t.model_prefix.strip("/"),
        repository_poll_secs=t.repository_poll_secs,
        startup_timeout_seconds=t.startup_timeout_seconds,
        cpu_millicores=t.cpu_millicores,
        memory_gib=t.memory_gib,
        shm_size_gib=t.shm_size_gib,
        tolerate_spot=t.tolerate_spot,
    )


def check_job(job: TrainingJobSpec, path: str) -> list[tuple[str, str]]:
    """Problems (key path, message) when the job asks more than the pool's nodes have."""
    problems = []
    it = job.instance_type
    if job.num_nodes < 1:
        problems.append((f"{path}.numNodes", f"{job.num_nodes}: a job needs at least one node"))
    if not 1 <= job.gpus_per_node <= it.gpu_count:
        problems.append(
            (
                f"{path}.gpusPerNode",
                f"{job.gpus_per_node} GPUs per node, but {it.name} has {it.gpu_count}",
            )
        )
    if job.efa_per_node > it.max_efa_interfaces or job.efa_per_node > it.network_cards:
        problems.append(
            (
                f"{path}.efaPerNode",
                f"{job.efa_per_node} EFA devices per node, but {it.name} has "
                f"{min(it.max_efa_interfaces, it.network_cards)}",
            )
        )
    if job.shm_gib * 1024 > it.memory_mib // 2:
        problems.append((f"{path}.shmGib", f"{job.shm_gib} GiB of /dev/shm is over half the node"))
    return problems


def resolve_training(
    config: StackConfig,
    pools: tuple[GpuPoolSpec, ...],
    image: str,
    fsx_claim: str | None,
    *,
    nodes: int | None = None,
    floor_gbps: float = DEFAULT_BUSBW_FLOOR_GBPS,
    suspend: bool = True,
) -> TrainingSpec:
    """The example job and the NCCL acceptance test on the first EFA pool, `nodes` nodes each
    (default: 2, or the pool's maximum if smaller). Raises ConfigError."""
    where = f"{PROJECT_NAMESPACE}:gpuPools"
    pool = next((p for p in pools if p.efa), None)
    if pool is None:
        raise ConfigError([(where, "no pool has efa: true; training templates need one")])
    count = min(2, pool.max_size) if nodes is None else nodes
    if count > pool.max_size:
        raise ConfigError(
            [(where, f"{count} nodes asked; pool {pool.name} max is {pool.max_size}")]
        )
    instance = pool.instance_types[0]
    efa = min(instance.max_efa_interfaces, instance.network_cards)
    namespace = config.storage.training_namespace
    example = TrainingJobSpec(
        name="example-distributed-training",
        namespace=namespace,
        pool=pool.name,
        instance_type=instance,
        num_nodes=count,
        gpus_per_node=instance.gpu_count,
        efa_per_node=efa,
        command=("torchrun", "/fsx/code/train.py", "--data", "/fsx/datasets"),
        image=image,
        fsx_claim=fsx_claim,
        suspend=suspend,
    )
    acceptance = TrainingJobSpec(
        name="nccl-allreduce-acceptance",
        namespace=namespace,
        pool=pool.name,
        instance_type=instance,
        num_nodes=count,
        gpus_per_node=instance.gpu_count,
        efa_per_node=efa,
        command=("torchrun", "/bench/allreduce.py"),
        image=image,
        env=(("BUSBW_FLOOR_GBPS", f"{floor_gbps:g}"), ("NCCL_DEBUG", "INFO")),
        suspend=suspend,
    )
    index = pools.index(pool)
    problems = check_job(example, f"{where}[{index}]") + check_job(acceptance, f"{where}[{index}]")
    if problems:
        raise ConfigError(problems)
    return TrainingSpec(example=example, acceptance=acceptance, busbw_floor_gbps=floor_gbps)
