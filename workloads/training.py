"""Distributed training on the H100 pool: a TrainJob template and the NCCL acceptance test.

Both are Kubeflow Trainer v2 `TrainJob`s on the `torch-distributed` runtime, placed on an EFA pool
through a runtime patch (node selector, GPU and spot tolerations, volumes), with:
- 8 GPUs and every EFA device of the instance type per node (`vpc.amazonaws.com/efa: 32` on
  p5.48xlarge), derived from the catalog;
- the EFA/NCCL environment: `FI_PROVIDER=efa`, `FI_EFA_USE_DEVICE_RDMA=1`, NCCL over the
  aws-ofi-nccl plugin (`NCCL_NET_PLUGIN=ofi`), which the pinned AWS Deep Learning Container ships;
- the FSx for Lustre claim mounted at /fsx (datasets and checkpoints, linked to S3);
- a memory-backed /dev/shm (NCCL and data loaders need far more than the default 64 MiB).

They are rendered, not deployed: `python -m scripts.training render --stack prod --out DIR`
writes YAML to apply with kubectl when a job should run (a p5 job costs money the moment it
starts). The acceptance test measures all-reduce bus bandwidth across the nodes and fails below a
threshold: the EFA line rate is 3200 Gbps = 400 GB/s per p5 node, and the default floor of
300 GB/s (75% of line rate, for 1 GiB messages) is a conservative acceptance level for two or more
nodes, not a benchmark figure; hierarchical NCCL algorithms can report more.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from components import versions
from components.catalog import InstanceType
from components.config import PROJECT_NAMESPACE, ConfigError, StackConfig
from components.gpu_node_group import EFA_RESOURCE, GPU_RESOURCE, GPU_TAINT, SPOT_TAINT
from components.pools import pool_instance_types
from components.storage import FSX_STORAGE_NAME

RUNTIME = "torch-distributed"
CONTAINER = "node"
DEFAULT_BUSBW_FLOOR_GBPS = 300.0
NCCL_ENV = {
    "FI_PROVIDER": "efa",
    "FI_EFA_USE_DEVICE_RDMA": "1",
    "FI_EFA_FORK_SAFE": "1",
    "NCCL_NET_PLUGIN": "ofi",
    "NCCL_SOCKET_IFNAME": "^lo,docker",
    "NCCL_DEBUG": "WARN",
}


@dataclass(frozen=True)
class TrainingJob:
    """What a distributed job asks of the pool."""

    name: str
    namespace: str
    pool: str
    instance_type: InstanceType
    num_nodes: int
    gpus_per_node: int
    efa_per_node: int
    command: list[str]
    image: str = versions.TRAINING_IMAGE
    shm_gib: int = 64
    fsx_claim: str | None = FSX_STORAGE_NAME
    env: dict[str, str] = field(default_factory=dict)
    spot: bool = False
    suspend: bool = False
    """Create the job suspended: nothing is scheduled (or paid for) until it is resumed."""


def validate(job: TrainingJob, path: str = "training") -> None:
    """Raise ConfigError naming the key when the job asks more than the pool's nodes have."""
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
    if problems:
        raise ConfigError(problems)


def train_job(job: TrainingJob) -> dict[str, Any]:
    """Pure: the TrainJob manifest."""
    validate(job)
    resources = {GPU_RESOURCE: str(job.gpus_per_node)}
    if job.efa_per_node:
        resources[EFA_RESOURCE] = str(job.efa_per_node)
    tolerations = [{"key": GPU_TAINT[0], "operator": "Exists", "effect": GPU_TAINT[2]}]
    if job.spot:
        tolerations.append({"key": SPOT_TAINT[0], "operator": "Exists", "effect": SPOT_TAINT[2]})
    volumes: list[dict[str, Any]] = [
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{job.shm_gib}Gi"}}
    ]
    mounts: list[dict[str, Any]] = [{"name": "dshm", "mountPath": "/dev/shm"}]
    if job.fsx_claim:
        volumes.append({"name": "fsx", "persistentVolumeClaim": {"claimName": job.fsx_claim}})
        mounts.append({"name": "fsx", "mountPath": "/fsx"})
    env = {**(NCCL_ENV if job.efa_per_node else {}), **job.env}
    pod_spec = {
        "nodeSelector": {"gpu-platform/pool": job.pool},
        "tolerations": tolerations,
        "volumes": volumes,
        "containers": [{"name": CONTAINER, "volumeMounts": mounts}],
    }
    return {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": job.name, "namespace": job.namespace},
        "spec": {
            "runtimeRef": {"name": RUNTIME},
            **({"suspend": True} if job.suspend else {}),
            "trainer": {
                "image": job.image,
                "command": job.command,
                "numNodes": job.num_nodes,
                "numProcPerNode": job.gpus_per_node,
                "resourcesPerNode": {"requests": dict(resources), "limits": dict(resources)},
                "env": [{"name": k, "value": v} for k, v in sorted(env.items())],
            },
            "runtimePatches": [
                {
                    "manager": "gpu-platform",
                    "trainingRuntimeSpec": {
                        "template": {
                            "spec": {
                                "replicatedJobs": [
                                    {
                                        "name": CONTAINER,
                                        "template": {"spec": {"template": {"spec": pod_spec}}},
                                    }
                                ]
                            }
                        }
                    },
                }
            ],
        },
    }


ALL_REDUCE_BENCH = textwrap.dedent(
    '''\
    """All-reduce bus bandwidth across every GPU of the job; exit 1 below the floor."""
    import json, os, time
    import torch
    import torch.distributed as dist

    dist.init_process_group("nccl")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    size = int(os.environ.get("BENCH_BYTES", str(1 << 30)))
    floor = float(os.environ.get("BUSBW_FLOOR_GBPS", "300"))
    data = torch.ones(size // 4, dtype=torch.float32, device="cuda")
    for _ in range(5):
        dist.all_reduce(data)
    torch.cuda.synchronize()
    iterations = int(os.environ.get("BENCH_ITERATIONS", "20"))
    start = time.perf_counter()
    for _ in range(iterations):
        dist.all_reduce(data)
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / iterations
    algbw = size / seconds / 1e9
    busbw = algbw * 2 * (world - 1) / world
    if rank == 0:
        print(json.dumps({"world": world, "bytes": size, "algbwGBps": round(algbw, 1),
                          "busbwGBps": round(busbw, 1), "floorGBps": floor}), flush=True)
    dist.destroy_process_group()
    raise SystemExit(0 if busbw >= floor else 1)
    '''
)
"""Run by torchrun on every node; prints one JSON line (rank 0) and fails below the floor."""


def nccl_acceptance(
    namespace: str,
    pool: str,
    instance: InstanceType,
    nodes: int,
    floor_gbps: float,
    suspend: bool = False,
) -> list[dict[str, Any]]:
    """Pure: the ConfigMap with the benchmark and the TrainJob that runs it on `nodes` nodes."""
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "nccl-allreduce-bench", "namespace": namespace},
        "data": {"allreduce.py": ALL_REDUCE_BENCH},
    }
    job = TrainingJob(
        name="nccl-allreduce-acceptance",
        namespace=namespace,
        pool=pool,
        instance_type=instance,
        num_nodes=nodes,
        gpus_per_node=instance.gpu_count,
        efa_per_node=min(instance.max_efa_interfaces, instance.network_cards),
        command=["torchrun", "/bench/allreduce.py"],
        fsx_claim=None,
        env={"BUSBW_FLOOR_GBPS": f"{floor_gbps:g}", "NCCL_DEBUG": "INFO"},
        suspend=suspend,
    )
    manifest = train_job(job)
    patch = manifest["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]
    pod = patch["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
    pod["volumes"].append({"name": "bench", "configMap": {"name": "nccl-allreduce-bench"}})
    pod["containers"][0]["volumeMounts"].append({"name": "bench", "mountPath": "/bench"})
    return [config_map, manifest]


def training_pool(config: StackConfig) -> tuple[str, InstanceType, int]:
    """The stack's EFA training pool: (name, instance type, max nodes)."""
    for pool in config.gpu_pools:
        if pool.efa:
            return pool.name, pool_instance_types(pool)[0], pool.max_size
    raise ConfigError(
        [(f"{PROJECT_NAMESPACE}:gpuPools", "no pool has efa: true; training templates need one")]
    )


def render(
    config: StackConfig, nodes: int, floor_gbps: float, suspend: bool = False
) -> dict[str, list[dict[str, Any]]]:
    """Pure: file name -> manifests, for the stack's EFA pool."""
    pool, instance, max_nodes = training_pool(config)
    if nodes > max_nodes:
        raise ConfigError(
            [
                (
                    f"{PROJECT_NAMESPACE}:gpuPools",
                    f"{nodes} nodes asked; pool {pool} max is {max_nodes}",
                )
            ]
        )
    namespace = config.storage.training_namespace
    efa = min(instance.max_efa_interfaces, instance.network_cards)
    example = TrainingJob(
        name="example-distributed-training",
        namespace=namespace,
        pool=pool,
        instance_type=instance,
        num_nodes=nodes,
        gpus_per_node=instance.gpu_count,
        efa_per_node=efa,
        command=["torchrun", "/fsx/code/train.py", "--data", "/fsx/datasets"],
        fsx_claim=FSX_STORAGE_NAME if config.storage.fsx.enabled else None,
        suspend=suspend,
    )
    return {
        "train-job.yaml": [train_job(example)],
        "nccl-acceptance.yaml": nccl_acceptance(
            namespace, pool, instance, nodes, floor_gbps, suspend
        ),
    }


class TrainingWorkloadsArgs(TypedDict):
    manifests: Sequence[dict[str, Any]]
    """Rendered objects (`render(..., suspend=True)`): ConfigMaps and TrainJobs."""
    provider: k8s.Provider
    depends_on: Sequence[pulumi.Resource]
    """The Trainer release (TrainJob CRD, runtime) and the storage component (namespace, claim)."""


class TrainingWorkloads(pulumi.ComponentResource):
    """The training template and the NCCL acceptance test, deployed suspended: resume one with
    `kubectl -n <ns> patch trainjob <name> --type merge -p '{"spec":{"suspend":false}}'`."""

    def __init__(
        self, name: str, args: TrainingWorkloadsArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("gpuplatform:index:TrainingWorkloads", name, {}, opts)
        after = pulumi.ResourceOptions(
            parent=self, provider=args["provider"], depends_on=list(args["depends_on"])
        )
        for obj in args["manifests"]:
            meta = obj["metadata"]
            child = f"{name}-{obj['kind'].lower()}-{meta['name']}"
            if obj["kind"] == "ConfigMap":
                k8s.core.v1.ConfigMap(child, metadata=meta, data=obj["data"], opts=after)
            else:
                k8s.apiextensions.CustomResource(
                    child,
                    api_version=obj["apiVersion"],
                    kind=obj["kind"],
                    metadata=meta,
                    spec=obj["spec"],
                    opts=after,
                )
        self.register_outputs({})
