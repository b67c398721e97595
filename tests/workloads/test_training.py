"""Training templates: the TrainJob and the NCCL acceptance test on the stack's EFA pool, the job
checked against the pool's nodes (components/resolve/workloads.py), and the rendered files."""

from __future__ import annotations

import dataclasses

import pytest

from components import versions
from components.catalog import get_instance_type
from components.catalog.conventions import FSX_CLAIM
from components.config import ConfigError
from components.resolve.workloads import (
    TrainingJobSpec,
    TrainingSpec,
    check_job,
    resolve_training,
)
from scripts.plan.stages.kubernetes import check
from tests.support import config, platform
from workloads.training import NCCL_ENV, nccl_acceptance, render, train_job


def prod_training(
    nodes: int | None = None, floor_gbps: float | None = None, stack: str = "prod"
) -> TrainingSpec:
    """The training templates of a shipped stack, resolved as the program does (with `nodes` and
    `floor_gbps` as `scripts.training render` passes them)."""
    spec = platform(stack)
    fsx = FSX_CLAIM if spec.storage.fsx is not None else None
    extra: dict[str, object] = {}
    if nodes is not None:
        extra["nodes"] = nodes
    if floor_gbps is not None:
        extra["floor_gbps"] = floor_gbps
    return resolve_training(
        config(stack),
        spec.pools,
        versions.TRAINING_IMAGE,
        fsx,
        **extra,  # type: ignore[arg-type]
    )


def p5_job(**overrides: object) -> TrainingJobSpec:
    """prod's example job on the p5.48xlarge pool, with fields replaced."""
    return dataclasses.replace(prod_training().example, **overrides)  # type: ignore[arg-type]


def pod_spec(manifest: dict) -> dict:
    patch = manifest["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]
    return patch["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]


def test_the_program_resolves_the_same_templates():
    assert platform("prod").training == prod_training()


def test_train_job_asks_for_every_gpu_and_efa_device_with_the_nccl_environment():
    job = p5_job()
    assert job.instance_type == get_instance_type("p5.48xlarge")
    manifest = train_job(job)
    trainer = manifest["spec"]["trainer"]
    assert trainer["resourcesPerNode"]["limits"] == {
        "nvidia.com/gpu": "8",
        "vpc.amazonaws.com/efa": "32",
    }
    assert trainer["resourcesPerNode"]["requests"] == trainer["resourcesPerNode"]["limits"]
    env = {e["name"]: e["value"] for e in trainer["env"]}
    assert env["FI_PROVIDER"] == "efa" and env["FI_EFA_USE_DEVICE_RDMA"] == "1"
    assert set(NCCL_ENV) <= set(env)
    spec = pod_spec(manifest)
    assert spec["nodeSelector"] == {"gpu-platform/pool": "h100-train"}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["dshm"]["emptyDir"]["medium"] == "Memory"
    assert volumes["fsx"]["persistentVolumeClaim"]["claimName"] == "fsx-lustre"
    assert manifest["spec"]["suspend"] is True  # deployed suspended: nothing runs, nothing paid
    assert check(manifest, versions.KUBERNETES_VERSION) == []


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"gpus_per_node": 9}, "gpusPerNode"),
        ({"efa_per_node": 33}, "efaPerNode"),
        ({"num_nodes": 0}, "numNodes"),
        ({"shm_gib": 2000}, "shmGib"),
        ({"instance_type": get_instance_type("g4dn.xlarge"), "gpus_per_node": 1}, "efaPerNode"),
    ],
)
def test_a_job_asking_more_than_the_node_has_names_the_key(overrides, key):
    problems = check_job(p5_job(**overrides), "gpu-platform:gpuPools[h100-train]")
    assert f"gpu-platform:gpuPools[h100-train].{key}" in [path for path, _ in problems]
    assert check_job(p5_job(), "gpu-platform:gpuPools[h100-train]") == []


def test_nccl_acceptance_mounts_the_benchmark_and_carries_the_floor():
    config_map, job = nccl_acceptance(prod_training(nodes=4, floor_gbps=350).acceptance)
    assert check(config_map, versions.KUBERNETES_VERSION) == []
    assert "busbw" in config_map["data"]["allreduce.py"]
    compile(config_map["data"]["allreduce.py"], "allreduce.py", "exec")
    trainer = job["spec"]["trainer"]
    assert trainer["numNodes"] == 4
    assert {"name": "BUSBW_FLOOR_GBPS", "value": "350"} in trainer["env"]
    assert trainer["command"] == ["torchrun", "/bench/allreduce.py"]
    mounts = pod_spec(job)["containers"][0]["volumeMounts"]
    assert {"name": "bench", "mountPath": "/bench"} in mounts
    bench = next(v for v in pod_spec(job)["volumes"] if v["name"] == "bench")
    assert bench["configMap"]["name"] == config_map["metadata"]["name"]
    assert check(job, versions.KUBERNETES_VERSION) == []


def test_render_uses_the_stacks_efa_pool_and_refuses_more_nodes_than_it_has():
    files = render(prod_training(nodes=2, floor_gbps=300))
    assert set(files) == {"train-job.yaml", "nccl-acceptance.yaml"}
    assert pod_spec(files["train-job.yaml"][0])["nodeSelector"] == {
        "gpu-platform/pool": "h100-train"
    }
    assert files["train-job.yaml"][0]["spec"]["trainer"]["numNodes"] == 2
    with pytest.raises(ConfigError) as caught:
        prod_training(nodes=99)
    [(path, message)] = caught.value.problems
    assert path == "gpu-platform:gpuPools" and "99" in message
    with pytest.raises(ConfigError) as caught:
        prod_training(stack="dev")  # dev has no EFA pool
    assert [path for path, _ in caught.value.problems] == ["gpu-platform:gpuPools"]
    assert platform("dev").training is None
