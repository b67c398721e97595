"""Resolve the training templates: the example jobs (EFA pool and spot pool) and the NCCL
acceptance test, each checked against its pool's nodes and its namespace's quota.

Where jobs run: in the first team namespace (`teams`) whose GPU and EFA quota holds the job, so the
shipped examples run under a team's quota as teams' own jobs do; without such a team, in the
storage component's training namespace (no quota). Either namespace has the `training-runner`
service account (with the training role) and, with the hot tier on, the `fsx-lustre` claim.

Restarts (spot reclaim, a lost node, a crashed rank): the jobs use the platform's
`torch-distributed-restartable` ClusterTrainingRuntime, whose JobSet restarts the whole gang up
to `DEFAULT_MAX_RESTARTS` times (a distributed job cannot continue with a rank missing).

Checkpoint contract (what a restarted job relies on): each job gets `CHECKPOINT_DIR`, a
directory of its own on the hot tier, `/fsx/checkpoints/<namespace>/<job>` (FSx exports it to the
checkpoints bucket, the durable copy). The training script writes each checkpoint to
`$CHECKPOINT_DIR/step-<N>.tmp`, renames it to `step-<N>` when complete and then writes the step's
name into `$CHECKPOINT_DIR/latest` (write a temporary file, rename it over `latest`). At start it
reads `latest`, if present, and resumes from that directory; a restarted job therefore starts from
the last complete checkpoint, never from a half-written one. Without the hot tier there is no
shared file system: `CHECKPOINT_DIR` is not set and jobs write to the checkpoints bucket
themselves (the training role may).
"""

from __future__ import annotations

from dataclasses import dataclass

from components.catalog import InstanceType
from components.catalog.conventions import TRAINING_SERVICE_ACCOUNT
from components.config import PROJECT_NAMESPACE, ConfigError, StackConfig
from components.resolve.compute import GpuPoolSpec, efa_device_count

DEFAULT_SHM_GIB = 64
TRAINING_RUNTIME = "torch-distributed-restartable"
"""The platform's ClusterTrainingRuntime (workloads/training.py): torch-distributed, restartable."""
DEFAULT_MAX_RESTARTS = 3
"""JobSet restarts of the whole job before it is marked failed (spot reclaims, lost nodes)."""
CHECKPOINT_ROOT = "/fsx/checkpoints"
"""Where jobs checkpoint: the FSx path linked to the checkpoints bucket, under /fsx."""
GIB = 1 << 30
MIB = 1 << 20

AWS_P5_ALLREDUCE_BUSBW_GBPS: dict[int, float] = {
    64 * MIB: 209.19,
    256 * MIB: 342.81,
    1 * GIB: 436.95,
}
"""All-reduce bus bandwidth (GB/s, out-of-place) AWS publishes for 2x p5.48xlarge over EFA, by
message size: aws-samples/awsome-distributed-training, micro-benchmarks/nccl-tests/README.md
(the all_reduce_perf table "from 8B to 16GB on 2x p5.48xlarge": 1073741824 B -> 436.95 GB/s,
268435456 B -> 342.81, 67108864 B -> 209.19)."""
REFERENCE_INSTANCE_TYPE = "p5.48xlarge"
DEFAULT_FLOOR_FRACTION = 0.9
"""The acceptance floor at each size: this fraction of AWS's published figure (run-to-run noise
and a different NCCL build stay inside 10%; a missing EFA device or a wrong plugin does not)."""
DEFAULT_BUSBW_FLOOR_GBPS = round(AWS_P5_ALLREDUCE_BUSBW_GBPS[GIB] * DEFAULT_FLOOR_FRACTION, 1)
"""The 1 GiB floor on p5 (393.3 GB/s)."""
LINE_RATE_FRACTION = 0.75
"""Without a published figure for the type: 75% of the EFA line rate, at 1 GiB only."""


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
    """Tolerate the spot taint (the pool is spot)."""
    suspend: bool = False
    """Create the job suspended: nothing is scheduled (or paid for) until it is resumed."""
    service_account: str = TRAINING_SERVICE_ACCOUNT
    """The pods' service account: the training role (S3 datasets read, checkpoints write)."""
    runtime: str = TRAINING_RUNTIME
    checkpoint_dir: str | None = None
    """`CHECKPOINT_DIR` of the checkpoint contract (module docstring); None without the hot tier."""
    queue: str | None = None
    """The Kueue LocalQueue of the job's namespace (its `kueue.x-k8s.io/queue-name` label), or None
    (no Kueue, or a namespace without a queue: the storage component's training namespace)."""

    @property
    def gpus(self) -> int:
        return self.num_nodes * self.gpus_per_node

    @property
    def efa_devices(self) -> int:
        return self.num_nodes * self.efa_per_node


@dataclass(frozen=True)
class TrainingSpec:
    """The example jobs and the NCCL acceptance test, and the runtime they use."""

    example: TrainingJobSpec
    acceptance: TrainingJobSpec
    busbw_floor_gbps: float
    """The floor at 1 GiB (the size AWS quotes)."""
    busbw_floors: tuple[tuple[int, float], ...] = ()
    """(message bytes, floor GB/s), smallest first: the acceptance test checks each."""
    spot_example: TrainingJobSpec | None = None
    """A restartable job on the first spot GPU pool, when there is one."""
    runtime: str = TRAINING_RUNTIME
    max_restarts: int = DEFAULT_MAX_RESTARTS


def busbw_floors(
    instance: InstanceType, floor_gbps: float | None = None
) -> tuple[tuple[int, float], ...]:
    """Pure: the acceptance floors by message size. On p5, 90% of AWS's published figures at 64
    MiB, 256 MiB and 1 GiB; elsewhere 75% of the EFA line rate at 1 GiB. `floor_gbps` replaces
    the 1 GiB floor (and scales the others with it on p5)."""
    if instance.name == REFERENCE_INSTANCE_TYPE:
        scale = DEFAULT_FLOOR_FRACTION
        if floor_gbps is not None:
            scale = floor_gbps / AWS_P5_ALLREDUCE_BUSBW_GBPS[GIB]
        return tuple(
            (size, round(gbps * scale, 1))
            for size, gbps in sorted(AWS_P5_ALLREDUCE_BUSBW_GBPS.items())
        )
    line_rate = instance.network_bandwidth_gbps / 8 * LINE_RATE_FRACTION
    return ((GIB, round(floor_gbps if floor_gbps is not None else line_rate, 1)),)


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
    if job.efa_per_node > efa_device_count(it):
        problems.append(
            (
                f"{path}.efaPerNode",
                f"{job.efa_per_node} EFA devices per node, but {it.name} has "
                f"{efa_device_count(it)}",
            )
        )
    if job.shm_gib * 1024 > it.memory_mib // 2:
        problems.append((f"{path}.shmGib", f"{job.shm_gib} GiB of /dev/shm is over half the node"))
    return problems


def job_namespace(config: StackConfig, gpus: int, efa_devices: int) -> str:
    """Pure: the first team namespace whose quota holds `gpus` and `efa_devices`, else the
    training namespace."""
    for team in config.teams:
        if team.gpu_quota >= gpus and team.efa_quota >= efa_devices:
            return team.name
    return config.storage.training_namespace


def _checkpoint_dir(fsx_claim: str | None, namespace: str, job: str) -> str | None:
    return f"{CHECKPOINT_ROOT}/{namespace}/{job}" if fsx_claim else None


def _spot_example(
    config: StackConfig,
    pools: tuple[GpuPoolSpec, ...],
    image: str,
    fsx_claim: str | None,
    suspend: bool,
) -> TrainingJobSpec | None:
    pool = next((p for p in pools if p.spot and p.gpus_per_node > 0), None)
    if pool is None:
        return None
    instance = min(pool.instance_types, key=lambda t: t.gpu_count)
    gpus = max(1, min(pool.gpus_per_node, instance.gpu_count))
    nodes = 1
    name = "example-spot-training"
    namespace = job_namespace(config, nodes * gpus, 0)
    checkpoints = _checkpoint_dir(fsx_claim, namespace, name)
    return TrainingJobSpec(
        name=name,
        namespace=namespace,
        pool=pool.name,
        instance_type=instance,
        num_nodes=nodes,
        gpus_per_node=gpus,
        efa_per_node=0,
        command=("torchrun", "/fsx/code/train.py", "--data", "/fsx/datasets"),
        image=image,
        shm_gib=min(DEFAULT_SHM_GIB, instance.memory_mib // 1024 // 4),
        fsx_claim=fsx_claim,
        env=(("CHECKPOINT_DIR", checkpoints),) if checkpoints else (),
        spot=True,
        suspend=suspend,
        checkpoint_dir=checkpoints,
    )


def resolve_training(
    config: StackConfig,
    pools: tuple[GpuPoolSpec, ...],
    image: str,
    fsx_claim: str | None,
    *,
    nodes: int | None = None,
    floor_gbps: float | None = None,
    suspend: bool = True,
) -> TrainingSpec:
    """The example job and the NCCL acceptance test on the first EFA pool, `nodes` nodes each
    (default: 2, or the pool's maximum if smaller), and a spot example on the first spot GPU pool.
    Raises ConfigError."""
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
    efa = efa_device_count(instance)
    namespace = job_namespace(config, count * instance.gpu_count, count * efa)
    example_name = "example-distributed-training"
    checkpoints = _checkpoint_dir(fsx_claim, namespace, example_name)
    example = TrainingJobSpec(
        name=example_name,
        namespace=namespace,
        pool=pool.name,
        instance_type=instance,
        num_nodes=count,
        gpus_per_node=instance.gpu_count,
        efa_per_node=efa,
        command=("torchrun", "/fsx/code/train.py", "--data", "/fsx/datasets"),
        image=image,
        fsx_claim=fsx_claim,
        env=(("CHECKPOINT_DIR", checkpoints),) if checkpoints else (),
        spot=pool.spot,
        suspend=suspend,
        checkpoint_dir=checkpoints,
    )
    floors = busbw_floors(instance, floor_gbps)
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
        env=(
            ("BENCH_SIZES", ",".join(str(size) for size, _ in floors)),
            ("BUSBW_FLOORS_GBPS", ",".join(f"{gbps:g}" for _, gbps in floors)),
            ("NCCL_DEBUG", "INFO"),
        ),
        spot=pool.spot,
        suspend=suspend,
    )
    index = pools.index(pool)
    problems = check_job(example, f"{where}[{index}]") + check_job(acceptance, f"{where}[{index}]")
    spot = _spot_example(config, pools, image, fsx_claim, suspend)
    if spot is not None:
        problems += check_job(
            spot, f"{where}[{pools.index(next(p for p in pools if p.name == spot.pool))}]"
        )
    if problems:
        raise ConfigError(problems)
    return TrainingSpec(
        example=example,
        acceptance=acceptance,
        busbw_floor_gbps=dict(floors)[GIB],
        busbw_floors=floors,
        spot_example=spot,
    )
