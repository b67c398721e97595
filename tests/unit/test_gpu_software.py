"""GPU Operator values, MIG/time-slicing config, Kubeflow manifests, training templates."""

from __future__ import annotations

import json

import pytest
import yaml

from components.catalog import MIG_PROFILES, get_instance_type, mig_devices_per_gpu
from components.config import ConfigError, GpuPool, StackConfig, Team
from components.gpu_node_group import (
    DEVICE_PLUGIN_CONFIG_LABEL,
    MIG_CONFIG_LABEL,
    GpuNodeGroupArgs,
    resolve,
    time_slicing_config_name,
)
from components.gpu_operator import DEFAULT_DEVICE_PLUGIN_CONFIG, values
from components.kubeflow import pipelines_directories, team_manifests
from scripts.plan.kubernetes_stage import check
from tests.conftest import stack_raw_config
from workloads.training import (
    NCCL_ENV,
    TrainingJob,
    nccl_acceptance,
    render,
    train_job,
    validate,
)

AZS = ["us-east-1a", "us-east-1b"]
GPU_TEMPLATE = "k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu"


def pool(**fields: object) -> GpuPool:
    return GpuPool.model_validate({"name": "p", "maxSize": 2, **fields})


def resolved(p: GpuPool):
    return resolve(
        GpuNodeGroupArgs(
            pool=p,
            config_path="gpuPools[0]",
            stack_azs=AZS,
            cluster_name="c",
            subnet_ids_by_az={},
            node_role_arn="",
            cluster_security_group_id="",
            vpc_id="",
            tags={},
        )
    )


# ------------------------------------------------------------------ sharing GPUs


@pytest.mark.parametrize("replicas", [1, 2, 4, 48])
def test_time_slicing_labels_the_pool_and_scales_the_autoscaler_template(replicas):
    spec = resolved(pool(instanceTypes=["g4dn.12xlarge"], timeSlicingReplicas=replicas))
    assert spec.labels[DEVICE_PLUGIN_CONFIG_LABEL] == time_slicing_config_name(replicas)
    assert spec.schedulable_gpus_per_node == 4 * replicas
    assert spec.autoscaler_tags[GPU_TEMPLATE] == str(4 * replicas)


@pytest.mark.parametrize("profile", sorted(MIG_PROFILES["H100"]))
def test_mig_labels_the_pool_and_counts_mig_devices(profile):
    spec = resolved(pool(instanceTypes=["p5.48xlarge"], migProfile=profile))
    assert spec.labels[MIG_CONFIG_LABEL] == profile
    assert spec.schedulable_gpus_per_node == 8 * mig_devices_per_gpu("H100", profile)
    assert MIG_CONFIG_LABEL not in resolved(pool(instanceTypes=["p5.48xlarge"])).labels


@pytest.mark.parametrize(
    ("fields", "key", "fragment"),
    [
        ({"instanceTypes": ["g4dn.xlarge"], "timeSlicingReplicas": 0}, "timeSlicingReplicas", "0"),
        ({"instanceTypes": ["g4dn.xlarge"], "migProfile": "all-1g.10gb"}, "migProfile", "T4"),
        ({"instanceTypes": ["p5.48xlarge"], "migProfile": "all-1g.5gb"}, "migProfile", "H100"),
        (
            {
                "instanceTypes": ["p4d.24xlarge"],
                "migProfile": "all-1g.5gb",
                "timeSlicingReplicas": 2,
            },
            "migProfile",
            "not both",
        ),
    ],
)
def test_sharing_bad_input_names_the_key(fields, key, fragment):
    raw = stack_raw_config("dev")
    raw["gpu-platform:gpuPools"] = json.dumps([{"name": "p", "maxSize": 1, **fields}])
    from components.config import load_stack_config

    with pytest.raises(ConfigError) as caught:
        load_stack_config(raw)
    problems = dict(caught.value.problems)
    assert f"gpu-platform:gpuPools[0].{key}" in problems
    assert fragment in problems[f"gpu-platform:gpuPools[0].{key}"]


def test_gpu_operator_values_keep_the_ami_driver_and_define_every_time_slicing_config():
    chart = values(
        {
            "time_slicing_replicas": [4, 2, 4],
            "mig": True,
            "driver_on_node": True,
            "service_monitor": True,
            "provider": None,  # type: ignore[typeddict-item]
        }
    )
    assert chart["driver"] == {"enabled": False} and chart["toolkit"] == {"enabled": False}
    data = chart["devicePlugin"]["config"]["data"]
    assert set(data) == {DEFAULT_DEVICE_PLUGIN_CONFIG, "time-sliced-2", "time-sliced-4"}
    sharing = yaml.safe_load(data["time-sliced-4"])["sharing"]["timeSlicing"]["resources"]
    assert sharing == [{"name": "nvidia.com/gpu", "replicas": 4}]
    assert chart["migManager"]["enabled"] is True and chart["mig"]["strategy"] == "single"
    assert chart["dcgmExporter"]["serviceMonitor"]["enabled"] is True
    tolerated = {t["key"] for t in chart["daemonsets"]["tolerations"]}
    assert tolerated == {"nvidia.com/gpu", "gpu-platform/spot"}


def test_a_plain_ami_gets_the_operator_driver():
    chart = values(
        {
            "time_slicing_replicas": [],
            "mig": False,
            "driver_on_node": False,
            "service_monitor": False,
            "provider": None,
        }  # type: ignore[typeddict-item]
    )
    assert chart["driver"]["enabled"] is True and chart["toolkit"]["enabled"] is True


# ------------------------------------------------------------------ Kubeflow


def test_team_namespace_quota_and_limits_are_valid_kubernetes():
    objects = team_manifests(Team(name="team-a", gpu_quota=16, efa_quota=64))
    assert [o["kind"] for o in objects] == ["Namespace", "ResourceQuota", "LimitRange"]
    for obj in objects:
        assert check(obj, "1.36") == []
    hard = objects[1]["spec"]["hard"]
    assert hard["requests.nvidia.com/gpu"] == "16"
    assert hard["requests.vpc.amazonaws.com/efa"] == "64"
    labels = objects[0]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"


def test_pipelines_apply_cluster_resources_before_the_platform_agnostic_env():
    first, second = pipelines_directories("9.9.9")
    assert first.endswith("/9.9.9/manifests/kustomize/cluster-scoped-resources")
    assert second.endswith("/9.9.9/manifests/kustomize/env/platform-agnostic")


# ------------------------------------------------------------------ training


def p5_job(**overrides: object) -> TrainingJob:
    base = {
        "name": "j",
        "namespace": "training",
        "pool": "h100-train",
        "instance_type": get_instance_type("p5.48xlarge"),
        "num_nodes": 2,
        "gpus_per_node": 8,
        "efa_per_node": 32,
        "command": ["torchrun", "train.py"],
    }
    base.update(overrides)
    return TrainingJob(**base)  # type: ignore[arg-type]


def pod_spec(manifest: dict) -> dict:
    patch = manifest["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]
    return patch["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]


def test_train_job_asks_for_every_gpu_and_efa_device_with_the_nccl_environment():
    manifest = train_job(p5_job())
    trainer = manifest["spec"]["trainer"]
    assert trainer["resourcesPerNode"]["limits"] == {
        "nvidia.com/gpu": "8",
        "vpc.amazonaws.com/efa": "32",
    }
    env = {e["name"]: e["value"] for e in trainer["env"]}
    assert env["FI_PROVIDER"] == "efa" and env["FI_EFA_USE_DEVICE_RDMA"] == "1"
    assert set(NCCL_ENV) <= set(env)
    spec = pod_spec(manifest)
    assert spec["nodeSelector"] == {"gpu-platform/pool": "h100-train"}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["dshm"]["emptyDir"]["medium"] == "Memory"
    assert volumes["fsx"]["persistentVolumeClaim"]["claimName"] == "fsx-lustre"
    assert check(manifest, "1.36") == []


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
    with pytest.raises(ConfigError) as caught:
        validate(p5_job(**overrides))
    assert any(path.endswith(key) for path, _ in caught.value.problems)


def test_nccl_acceptance_mounts_the_benchmark_and_carries_the_floor():
    config_map, job = nccl_acceptance(
        "training", "h100-train", get_instance_type("p5.48xlarge"), 4, 350
    )
    assert check(config_map, "1.36") == []
    assert "busbw" in config_map["data"]["allreduce.py"]
    compile(config_map["data"]["allreduce.py"], "allreduce.py", "exec")
    trainer = job["spec"]["trainer"]
    assert trainer["numNodes"] == 4
    assert {"name": "BUSBW_FLOOR_GBPS", "value": "350"} in trainer["env"]
    mounts = pod_spec(job)["containers"][0]["volumeMounts"]
    assert {"name": "bench", "mountPath": "/bench"} in mounts


def test_render_uses_the_stacks_efa_pool_and_refuses_more_nodes_than_it_has():
    from components.config import load_stack_config

    prod: StackConfig = load_stack_config(stack_raw_config("prod"))
    files = render(prod, 2, 300)
    assert set(files) == {"train-job.yaml", "nccl-acceptance.yaml"}
    assert pod_spec(files["train-job.yaml"][0])["nodeSelector"] == {
        "gpu-platform/pool": "h100-train"
    }
    with pytest.raises(ConfigError):
        render(prod, 99, 300)
    with pytest.raises(ConfigError):
        render(load_stack_config(stack_raw_config("dev")), 1, 300)  # dev has no EFA pool
