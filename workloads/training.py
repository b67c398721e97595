"""Distributed training: the platform's restartable runtime, example TrainJobs and the NCCL
acceptance test.

Everything runs on Kubeflow Trainer v2 (`TrainJob`, API `trainer.kubeflow.org/v1alpha1`, Trainer
v2.3.0):
- `torch-distributed-restartable`, a ClusterTrainingRuntime like the chart's `torch-distributed`
  with a restart policy: a failed pod fails its Job at once (`backoffLimit: 0`) and the JobSet
  restarts the whole gang, up to `maxRestarts` times (a spot reclaim or a lost node takes a rank
  away; torchrun cannot continue without it). Restarted jobs resume from their last checkpoint
  (the contract in components/resolve/training.py: `CHECKPOINT_DIR`, `step-<N>`, `latest`).
- Jobs are placed on their pool by a runtime patch (node selector, GPU and, on spot pools, spot
  tolerations, volumes) and run as the `training-runner` service account (the training role:
  datasets read, checkpoints write), in a team namespace under its quota where one holds them.
- 8 GPUs and every EFA device of the instance type per node (`vpc.amazonaws.com/efa: 32` on
  p5.48xlarge), derived from the catalog, and the EFA/NCCL environment: `FI_PROVIDER=efa` and
  NCCL over the aws-ofi-nccl plugin (`NCCL_NET_PLUGIN=ofi`), which the pinned AWS Deep Learning
  Container ships. `FI_EFA_USE_DEVICE_RDMA` and `FI_EFA_FORK_SAFE` are not set: AWS's EFA
  cheatsheet (aws-samples/awsome-distributed-training, 1.architectures/efa-cheatsheet.md) says
  not to set the first with libfabric >= 1.18.0 and aws-ofi-nccl >= 1.7.0 (the plugin enables
  device RDMA itself; it refuses libfabric < 1.18 on EFA, aws-ofi-nccl#333) and that the second
  is not needed on kernels >= 5.15 (AL2023 runs 6.x).
- The FSx for Lustre claim at /fsx (datasets, code, checkpoints) and a memory-backed /dev/shm.

TrainJob `spec.trainer`, `spec.runtimeRef`, `spec.initializer`, `spec.managedBy`,
`spec.activeDeadlineSeconds` and the runtime patches' pod fields (containers, volumes,
serviceAccountName, ...) are immutable in the v2.3.0 CRD (CEL `self == oldSelf`): the jobs are
registered with `replace_on_changes` on those paths (and delete-before-replace, the name being
fixed), so a change replaces the job instead of failing the update. `spec.suspend` stays mutable.

The jobs are deployed suspended (a p5 job costs money the moment it starts); resume one with
`kubectl -n <ns> patch trainjob <name> --type merge -p '{"spec":{"suspend":false}}'`, or render
them with `python -m scripts.training render --stack prod --out DIR`.

The acceptance test measures all-reduce bus bandwidth across the nodes at several message sizes
(64 MiB, 256 MiB and 1 GiB on p5) and fails below 90% of the figures AWS publishes for
2x p5.48xlarge (436.95 GB/s at 1 GiB; aws-samples/awsome-distributed-training,
micro-benchmarks/nccl-tests/README.md).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any, Final, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from components.catalog.conventions import (
    EFA_RESOURCE,
    GPU_RESOURCE,
    GPU_TAINT,
    MANAGED_BY_LABELS,
    NODE_POOL_LABEL,
    SPOT_TAINT,
)
from components.resolve.software import QUEUE_NAME_LABEL
from components.resolve.training import TrainingJobSpec, TrainingSpec

API_VERSION: Final = "trainer.kubeflow.org/v1alpha1"
API_GROUP: Final = "trainer.kubeflow.org"
RUNTIME_KIND: Final = "ClusterTrainingRuntime"
CONTAINER: Final = "node"
"""The replicated job and container name of the torch runtime (`node`)."""
PATCH_MANAGER: Final = "gpu-platform"
BENCH_CONFIG_MAP: Final = "nccl-allreduce-bench"
NCCL_ENV: Final = {
    "FI_PROVIDER": "efa",
    "NCCL_NET_PLUGIN": "ofi",
    "NCCL_SOCKET_IFNAME": "^lo,docker",
    "NCCL_DEBUG": "WARN",
}
OBSOLETE_ENV: Final = ("FI_EFA_USE_DEVICE_RDMA", "FI_EFA_FORK_SAFE")
"""Set by older examples; not needed with current libfabric/aws-ofi-nccl (module docstring)."""
IMMUTABLE_PATHS: Final = (
    "spec.trainer",
    "spec.runtimeRef",
    "spec.runtimePatches",
    "spec.initializer",
    "spec.managedBy",
    "spec.activeDeadlineSeconds",
)
"""TrainJob fields the v2.3.0 CRD makes immutable (`spec.runtimePatches` covers the immutable pod
fields of the patches and `runtimePatches[].manager`)."""


def restartable_runtime(name: str, max_restarts: int, image: str) -> dict[str, Any]:
    """Pure: the ClusterTrainingRuntime the jobs use: the chart's torch-distributed shape (torch
    ML policy, one `node` replicated job) with a gang restart policy. `image` is the default a
    TrainJob's `spec.trainer.image` replaces."""
    return {
        "apiVersion": API_VERSION,
        "kind": RUNTIME_KIND,
        "metadata": {
            "name": name,
            "labels": {**MANAGED_BY_LABELS, "trainer.kubeflow.org/framework": "torch"},
        },
        "spec": {
            "mlPolicy": {"numNodes": 1, "torch": {}},
            "template": {
                "spec": {
                    "failurePolicy": {"maxRestarts": max_restarts},
                    "replicatedJobs": [
                        {
                            "name": CONTAINER,
                            "template": {
                                "metadata": {
                                    "labels": {
                                        "trainer.kubeflow.org/trainjob-ancestor-step": "trainer"
                                    }
                                },
                                "spec": {
                                    "backoffLimit": 0,
                                    "template": {
                                        "spec": {
                                            "restartPolicy": "Never",
                                            "containers": [{"name": CONTAINER, "image": image}],
                                        }
                                    },
                                },
                            },
                        }
                    ],
                }
            },
        },
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
        "serviceAccountName": job.service_account,
        "nodeSelector": {NODE_POOL_LABEL: job.pool},
        "tolerations": tolerations,
        "volumes": volumes,
        "containers": [{"name": CONTAINER, "volumeMounts": mounts}],
    }
    return {
        "apiVersion": API_VERSION,
        "kind": "TrainJob",
        "metadata": {
            "name": job.name,
            "namespace": job.namespace,
            "labels": {
                **MANAGED_BY_LABELS,
                **({QUEUE_NAME_LABEL: job.queue} if job.queue is not None else {}),
            },
        },
        "spec": {
            "runtimeRef": {"apiGroup": API_GROUP, "kind": RUNTIME_KIND, "name": job.runtime},
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
                    "manager": PATCH_MANAGER,
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
    """All-reduce bus bandwidth across every GPU of the job at several message sizes; exit 1 when
    any size is below its floor. BENCH_SIZES and BUSBW_FLOORS_GBPS are comma-separated lists of
    the same length (bytes; GB/s)."""
    import json, os, time
    import torch
    import torch.distributed as dist

    dist.init_process_group("nccl")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    sizes = [int(s) for s in os.environ.get("BENCH_SIZES", str(1 << 30)).split(",")]
    floors = [float(f) for f in os.environ.get("BUSBW_FLOORS_GBPS", "0").split(",")]
    if len(floors) != len(sizes):
        raise SystemExit("BENCH_SIZES and BUSBW_FLOORS_GBPS differ in length")
    iterations = int(os.environ.get("BENCH_ITERATIONS", "20"))
    ok = True
    for size, floor in zip(sizes, floors):
        data = torch.ones(size // 4, dtype=torch.float32, device="cuda")
        for _ in range(5):
            dist.all_reduce(data)
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(iterations):
            dist.all_reduce(data)
        torch.cuda.synchronize()
        seconds = (time.perf_counter() - start) / iterations
        algbw = size / seconds / 1e9
        busbw = algbw * 2 * (world - 1) / world
        ok = ok and busbw >= floor
        if rank == 0:
            print(json.dumps({"world": world, "bytes": size, "algbwGBps": round(algbw, 1),
                              "busbwGBps": round(busbw, 1), "floorGBps": floor,
                              "pass": busbw >= floor}), flush=True)
        del data
    dist.destroy_process_group()
    raise SystemExit(0 if ok else 1)
    '''
)
"""Run by torchrun on every node; prints one JSON line per size (rank 0), fails below a floor."""


def nccl_acceptance(job: TrainingJobSpec) -> list[dict[str, Any]]:
    """Pure: the ConfigMap with the benchmark and the TrainJob that runs it."""
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": BENCH_CONFIG_MAP, "namespace": job.namespace},
        "data": {"allreduce.py": ALL_REDUCE_BENCH},
    }
    manifest = train_job(job)
    patch = manifest["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]
    pod = patch["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
    pod["volumes"].append({"name": "bench", "configMap": {"name": BENCH_CONFIG_MAP}})
    pod["containers"][0]["volumeMounts"].append({"name": "bench", "mountPath": "/bench"})
    return [config_map, manifest]


def render(spec: TrainingSpec) -> dict[str, list[dict[str, Any]]]:
    """Pure: file name -> manifests (the runtime first: the jobs name it)."""
    files = {
        "runtime.yaml": [restartable_runtime(spec.runtime, spec.max_restarts, spec.example.image)],
        "train-job.yaml": [train_job(spec.example)],
        "nccl-acceptance.yaml": nccl_acceptance(spec.acceptance),
    }
    if spec.spot_example is not None:
        files["spot-train-job.yaml"] = [train_job(spec.spot_example)]
    return files


class TrainingRefs(TypedDict):
    provider: k8s.Provider
    depends_on: Sequence[pulumi.Resource]
    """The Trainer release (TrainJob and runtime CRDs), the storage component (training namespace,
    claim, service account) and the tenancy component (team namespaces, claims, accounts)."""


class TrainingWorkloads(pulumi.ComponentResource):
    """The restartable runtime, the example jobs and the NCCL acceptance test, deployed
    suspended: resume one with
    `kubectl -n <ns> patch trainjob <name> --type merge -p '{"spec":{"suspend":false}}'`."""

    def __init__(
        self,
        name: str,
        spec: TrainingSpec,
        refs: TrainingRefs,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("gpuplatform:index:TrainingWorkloads", name, {}, opts)
        provider = refs["provider"]
        after = list(refs["depends_on"])
        files = render(spec)
        [runtime_manifest] = files.pop("runtime.yaml")
        runtime = k8s.apiextensions.CustomResource(
            f"{name}-runtime-{runtime_manifest['metadata']['name']}",
            api_version=runtime_manifest["apiVersion"],
            kind=runtime_manifest["kind"],
            metadata=runtime_manifest["metadata"],
            spec=runtime_manifest["spec"],
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=after),
        )
        config_maps: list[pulumi.Resource] = []
        jobs = []
        for obj in (obj for objs in files.values() for obj in objs):
            meta = obj["metadata"]
            child = f"{name}-{obj['kind'].lower()}-{meta['name']}"
            if obj["kind"] == "ConfigMap":
                config_maps.append(
                    k8s.core.v1.ConfigMap(
                        child,
                        metadata=meta,
                        data=obj["data"],
                        opts=pulumi.ResourceOptions(
                            parent=self, provider=provider, depends_on=after
                        ),
                    )
                )
            else:
                jobs.append((child, obj))
        for child, obj in jobs:
            k8s.apiextensions.CustomResource(
                child,
                api_version=obj["apiVersion"],
                kind=obj["kind"],
                metadata=obj["metadata"],
                spec=obj["spec"],
                opts=pulumi.ResourceOptions(
                    parent=self,
                    provider=provider,
                    depends_on=[*after, runtime, *config_maps],
                    replace_on_changes=list(IMMUTABLE_PATHS),
                    delete_before_replace=True,
                ),
            )
        self.register_outputs({})
