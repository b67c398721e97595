"""Training templates: the TrainJob and the NCCL acceptance test on the stack's EFA pool, the job
checked against the pool's nodes (components/resolve/workloads.py), and the rendered files."""

from __future__ import annotations

import dataclasses

import pytest

from components import versions
from components.catalog import get_instance_type
from components.catalog.conventions import (
    FSX_CLAIM,
    GPU_TAINT,
    SPOT_TAINT,
    TRAINING_SERVICE_ACCOUNT,
)
from components.config import ConfigError
from components.resolve.software import queue_training
from components.resolve.storage import FSX_LINKS
from components.resolve.training import (
    AWS_P5_ALLREDUCE_BUSBW_GBPS,
    CHECKPOINT_ROOT,
    DEFAULT_BUSBW_FLOOR_GBPS,
    DEFAULT_MAX_RESTARTS,
    TrainingJobSpec,
    TrainingSpec,
    busbw_floors,
    check_job,
    job_namespace,
    resolve_training,
)
from scripts.plan.stages.kubernetes import check
from tests.support import config, platform
from workloads.training import (
    IMMUTABLE_PATHS,
    NCCL_ENV,
    OBSOLETE_ENV,
    nccl_acceptance,
    render,
    restartable_runtime,
    train_job,
)


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
    training = resolve_training(
        config(stack),
        spec.pools,
        versions.TRAINING_IMAGE,
        fsx,
        **extra,  # type: ignore[arg-type]
    )
    return queue_training(training, spec.kueue) if spec.kueue is not None else training


def p5_job(**overrides: object) -> TrainingJobSpec:
    """prod's example job on the p5.48xlarge pool, with fields replaced."""
    return dataclasses.replace(prod_training().example, **overrides)  # type: ignore[arg-type]


def pod_spec(manifest: dict) -> dict:
    patch = manifest["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]
    return patch["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]


def test_the_program_resolves_the_same_templates_without_queueing_them():
    # The program deploys the templates suspended and outside Kueue; rendered copies are queued.
    spec = platform("prod")
    assert spec.kueue is not None
    assert spec.training == dataclasses.replace(
        prod_training(),
        example=dataclasses.replace(prod_training().example, queue=None),
        acceptance=dataclasses.replace(prod_training().acceptance, queue=None),
        spot_example=dataclasses.replace(prod_training().spot_example, queue=None)
        if prod_training().spot_example is not None
        else None,
    )


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
    assert env["FI_PROVIDER"] == "efa" and env["NCCL_NET_PLUGIN"] == "ofi"
    assert set(NCCL_ENV) <= set(env)
    # Obsolete with libfabric >= 1.18 / aws-ofi-nccl >= 1.7 and kernels >= 5.15.
    assert not set(OBSOLETE_ENV) & set(env)
    assert set(OBSOLETE_ENV) == {"FI_EFA_USE_DEVICE_RDMA", "FI_EFA_FORK_SAFE"}
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
    env = {e["name"]: e["value"] for e in trainer["env"]}
    sizes = [int(b) for b in env["BENCH_SIZES"].split(",")]
    floors = [float(f) for f in env["BUSBW_FLOORS_GBPS"].split(",")]
    assert sizes == [64 << 20, 256 << 20, 1 << 30]
    assert floors[-1] == 350  # the 1 GiB floor asked for; the others scale with it
    assert floors == sorted(floors)
    assert trainer["command"] == ["torchrun", "/bench/allreduce.py"]
    mounts = pod_spec(job)["containers"][0]["volumeMounts"]
    assert {"name": "bench", "mountPath": "/bench"} in mounts
    bench = next(v for v in pod_spec(job)["volumes"] if v["name"] == "bench")
    assert bench["configMap"]["name"] == config_map["metadata"]["name"]
    assert check(job, versions.KUBERNETES_VERSION) == []


def test_render_uses_the_stacks_efa_pool_and_refuses_more_nodes_than_it_has():
    files = render(prod_training(nodes=2, floor_gbps=300))
    assert set(files) == {
        "runtime.yaml",
        "train-job.yaml",
        "nccl-acceptance.yaml",
        "spot-train-job.yaml",
    }
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


# --------------------------------------------------------------------------- service account


def test_every_job_runs_as_the_training_service_account():
    spec = prod_training()
    jobs = [spec.example, spec.acceptance, spec.spot_example]
    for job in jobs:
        assert job is not None
        assert pod_spec(train_job(job))["serviceAccountName"] == TRAINING_SERVICE_ACCOUNT


# --------------------------------------------------------------------------- team namespaces


def test_shipped_jobs_run_in_a_team_namespace_whose_quota_holds_them():
    spec = prod_training()
    research = next(t for t in config("prod").teams if t.name == "team-research")
    for job in (spec.example, spec.acceptance):
        assert job.namespace == "team-research"
        assert job.gpus <= research.gpu_quota and job.efa_devices <= research.efa_quota
    assert spec.spot_example is not None and spec.spot_example.namespace == "team-research"


def test_without_a_team_that_fits_jobs_use_the_training_namespace():
    small = [{"name": "team-small", "gpuQuota": 8, "efaQuota": 0}]
    spec = platform("prod", teams=small).training
    assert spec is not None
    assert spec.example.namespace == config("prod").storage.training_namespace
    # The 1-GPU spot job fits the small team.
    assert spec.spot_example is not None and spec.spot_example.namespace == "team-small"
    assert job_namespace(config("prod", teams=small), 16, 64) == "training"


# --------------------------------------------------------------------------- restarts


def test_jobs_use_the_restartable_runtime():
    spec = prod_training()
    runtime = restartable_runtime(spec.runtime, spec.max_restarts, spec.example.image)
    template = runtime["spec"]["template"]["spec"]
    assert runtime["kind"] == "ClusterTrainingRuntime"
    assert template["failurePolicy"] == {"maxRestarts": DEFAULT_MAX_RESTARTS}
    (node,) = template["replicatedJobs"]
    assert node["name"] == "node"
    assert node["template"]["spec"]["backoffLimit"] == 0  # a lost rank restarts the gang
    assert node["template"]["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert runtime["spec"]["mlPolicy"] == {"numNodes": 1, "torch": {}}
    for job in (spec.example, spec.acceptance, spec.spot_example):
        assert job is not None
        ref = train_job(job)["spec"]["runtimeRef"]
        assert ref == {
            "apiGroup": "trainer.kubeflow.org",
            "kind": "ClusterTrainingRuntime",
            "name": runtime["metadata"]["name"],
        }
    assert check(runtime, versions.KUBERNETES_VERSION) == []


def test_checkpoint_contract_gives_each_job_its_own_directory_on_the_linked_prefix():
    spec = prod_training()
    for job in (spec.example, spec.spot_example):
        assert job is not None
        env = {e["name"]: e["value"] for e in train_job(job)["spec"]["trainer"]["env"]}
        assert env["CHECKPOINT_DIR"] == f"/fsx/checkpoints/{job.namespace}/{job.name}"
        assert job.checkpoint_dir == env["CHECKPOINT_DIR"]
        mounts = pod_spec(train_job(job))["containers"][0]["volumeMounts"]
        assert {"name": "fsx", "mountPath": "/fsx"} in mounts
    # /fsx/checkpoints is the FSx path linked to the checkpoints bucket (the durable copy).
    assert (
        "/fsx" + next(path for path, bucket in FSX_LINKS.items() if bucket == "checkpoints")
        == CHECKPOINT_ROOT
    )
    no_fsx = resolve_training(config("prod"), platform("prod").pools, "img:1", None)
    assert no_fsx.example.checkpoint_dir is None
    assert "CHECKPOINT_DIR" not in dict(no_fsx.example.env)


def test_spot_example_runs_on_the_spot_pool_and_tolerates_reclaim():
    spec = prod_training()
    job = spec.spot_example
    assert job is not None and job.spot
    pools = {p.name: p for p in platform("prod").pools}
    pool = pools[job.pool]
    assert pool.spot and job.pool == "batch-spot"
    assert job.instance_type in pool.instance_types
    manifest = train_job(job)
    pod = pod_spec(manifest)
    assert pod["nodeSelector"] == {"gpu-platform/pool": "batch-spot"}
    keys = {(t["key"], t["effect"]) for t in pod["tolerations"]}
    assert {(SPOT_TAINT[0], SPOT_TAINT[2]), (GPU_TAINT[0], GPU_TAINT[2])} <= keys
    assert tuple(pool.taints) and all((k, e) in keys for k, _, e in pool.taints)
    assert manifest["spec"]["runtimeRef"]["name"] == spec.runtime
    assert check_job(job, "x") == []
    assert check(manifest, versions.KUBERNETES_VERSION) == []
    # The EFA job on the on-demand pool does not tolerate spot.
    assert SPOT_TAINT[0] not in {t["key"] for t in pod_spec(train_job(spec.example))["tolerations"]}
    no_spot = [p for p in config("prod").gpu_pools if p.capacity_type.value != "SPOT"]
    spec_without = platform(
        "prod", gpuPools=[p.model_dump(by_alias=True, exclude_none=True) for p in no_spot]
    ).training
    assert spec_without is not None and spec_without.spot_example is None


# --------------------------------------------------------------------------- immutability


def test_every_immutable_field_the_job_sets_replaces_the_job():
    manifest = train_job(p5_job())
    for key in manifest["spec"]:
        if key != "suspend":  # the one field Kueue and operators change in place
            assert f"spec.{key}" in IMMUTABLE_PATHS, key
    assert "spec.suspend" not in IMMUTABLE_PATHS


def test_jobs_are_registered_to_replace_on_immutable_changes(run_pulumi, monkeypatch):
    import pulumi
    import pulumi_kubernetes as k8s

    from workloads import training

    seen: dict[str, pulumi.ResourceOptions] = {}
    original = k8s.apiextensions.CustomResource

    def recording(name, *args, **kwargs):
        seen[name] = kwargs["opts"]
        return original(name, *args, **kwargs)

    monkeypatch.setattr(training.k8s.apiextensions, "CustomResource", recording)
    spec = prod_training()

    def body() -> None:
        provider = k8s.Provider("k8s", kubeconfig="{}")
        trainer = k8s.core.v1.ConfigMap("trainer", opts=pulumi.ResourceOptions(provider=provider))
        training.TrainingWorkloads(
            "training", spec, {"provider": provider, "depends_on": [trainer]}
        )

    recorded = run_pulumi(body)
    runtime_name = f"training-runtime-{spec.runtime}"
    jobs = {n: o for n, o in seen.items() if n.startswith("training-trainjob-")}
    assert set(jobs) == {
        f"training-trainjob-{j.name}"
        for j in (spec.example, spec.acceptance, spec.spot_example)
        if j is not None
    }
    for opts in jobs.values():
        assert opts.replace_on_changes == list(IMMUTABLE_PATHS)
        assert opts.delete_before_replace is True
    assert not seen[runtime_name].replace_on_changes
    runtime = recorded.one("kubernetes:trainer.kubeflow.org/v1alpha1:ClusterTrainingRuntime")
    trainer = recorded.one("kubernetes:core/v1:ConfigMap", "trainer")
    assert trainer.urn in runtime.dependencies
    for job in recorded.of_type("kubernetes:trainer.kubeflow.org/v1alpha1:TrainJob"):
        assert {runtime.urn, trainer.urn} <= set(job.dependencies)


# --------------------------------------------------------------------------- NCCL floors


def test_p5_floors_are_ninety_percent_of_awss_published_bus_bandwidth():
    floors = dict(busbw_floors(get_instance_type("p5.48xlarge")))
    # aws-samples/awsome-distributed-training micro-benchmarks/nccl-tests README, 2x p5.48xlarge.
    assert AWS_P5_ALLREDUCE_BUSBW_GBPS[1 << 30] == 436.95
    assert floors == {
        64 << 20: round(209.19 * 0.9, 1),
        256 << 20: round(342.81 * 0.9, 1),
        1 << 30: round(436.95 * 0.9, 1),
    }
    assert floors[1 << 30] > 393 > 300  # well above the old 300 GB/s floor
    assert prod_training().busbw_floor_gbps == DEFAULT_BUSBW_FLOOR_GBPS == floors[1 << 30]


def test_types_without_a_published_figure_fall_back_to_the_line_rate():
    p4d = get_instance_type("p4d.24xlarge")
    ((size, floor),) = busbw_floors(p4d)
    assert size == 1 << 30
    assert floor == round(p4d.network_bandwidth_gbps / 8 * 0.75, 1)


def test_the_benchmark_checks_every_size_against_its_floor():
    _, job = nccl_acceptance(prod_training().acceptance)
    script = job and nccl_acceptance(prod_training().acceptance)[0]["data"]["allreduce.py"]
    compile(script, "allreduce.py", "exec")
    assert "BENCH_SIZES" in script and "BUSBW_FLOORS_GBPS" in script
    assert "for size, floor in zip(sizes, floors)" in script
    assert "raise SystemExit(0 if ok else 1)" in script
