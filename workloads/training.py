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
from typing import Any, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from components.catalog.conventions import (
    EFA_RESOURCE,
    GPU_RESOURCE,
    GPU_TAINT,
    NODE_POOL_LABEL,
    SPOT_TAINT,
)
from components.resolve.workloads import TrainingJobSpec, TrainingSpec

RUNTIME = "torch-distributed"
CONTAINER = "node"
NCCL_ENV = {
    "FI_PROVIDER": "efa",
    "FI_EFA_USE_DEVICE_RDMA": "1",
    "FI_EFA_FORK_SAFE": "1",
    "NCCL_NET_PLUGIN": "ofi",
    "NCCL_SOCKET_IFNAME": "^lo,docker",
    "NCCL_DEBUG": "WARN",
}


def train_job(job: TrainingJobSpec) -> dict[str, Any]:
    """Pure: the TrainJob manifest (the job was checked against its pool by the resolve)."""
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
    env = {**(NCCL_ENV if job.efa_per_node else {}), **dict(job.env)}
    pod_spec = {
        "nodeSelector": {NODE_POOL_LABEL: job.pool},
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
                "command": list(job.command),
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


def nccl_acceptance(job: TrainingJobSpec) -> list[dict[str, Any]]:
    """Pure: the ConfigMap with the benchmark and the TrainJob that runs it."""
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "nccl-allreduce-bench", "namespace": job.namespace},
        "data": {"allreduce.py": ALL_REDUCE_BENCH},
    }
    manifest = train_job(job)
    patch = manifest["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]
    pod = patch["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
    pod["volumes"].append({"name": "bench", "configMap": {"name": "nccl-allreduce-bench"}})
    pod["containers"][0]["volumeMounts"].append({"name": "bench", "mountPath": "/bench"})
    return [config_map, manifest]


def render(spec: TrainingSpec) -> dict[str, list[dict[str, Any]]]:
    """Pure: file name -> manifests."""
    return {
        "train-job.yaml": [train_job(spec.example)],
        "nccl-acceptance.yaml": nccl_acceptance(spec.acceptance),
    }


class TrainingRefs(TypedDict):
    provider: k8s.Provider
    depends_on: Sequence[pulumi.Resource]
    """The Trainer release (TrainJob CRD, runtime) and the storage component (namespace, claim)."""


class TrainingWorkloads(pulumi.ComponentResource):
    """The training template and the NCCL acceptance test, deployed suspended: resume one with
    `kubectl -n <ns> patch trainjob <name> --type merge -p '{"spec":{"suspend":false}}'`."""

    def __init__(
        self,
        name: str,
        spec: TrainingSpec,
        refs: TrainingRefs,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("gpuplatform:index:TrainingWorkloads", name, {}, opts)
        after = pulumi.ResourceOptions(
            parent=self, provider=refs["provider"], depends_on=list(refs["depends_on"])
        )
        manifests = [obj for objs in render(spec).values() for obj in objs]
        for obj in manifests:
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
