"""GPU sharing (time-slicing and MIG pool labels), GPU Operator values and the EFA device plugin.
Kubeflow: tests/components/software/test_kubeflow.py; team namespaces:
tests/components/test_tenancy.py; training templates: tests/workloads/test_training.py."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import yaml

from components.catalog import MIG_PROFILES, mig_devices_per_gpu
from components.catalog.conventions import (
    AUTOSCALER_TEMPLATE,
    DEVICE_PLUGIN_CONFIG_LABEL,
    EFA_LABEL,
    GPU_RESOURCE,
    MIG_CONFIG_LABEL,
)
from components.config import ConfigError, GpuAmiType
from components.resolve.compute import GpuPoolSpec, time_slicing_config_name
from components.software import efa_device_plugin
from components.software.gpu_operator import DEFAULT_DEVICE_PLUGIN_CONFIG, values
from tests.support import config, platform

GPU_TEMPLATE = f"{AUTOSCALER_TEMPLATE}/resources/{GPU_RESOURCE}"


def one_pool(**fields: Any) -> GpuPoolSpec:
    """dev with one GPU pool `p` (the given keys, camelCase), resolved as the program does."""
    (spec,) = platform("dev", gpuPools=[{"name": "p", "maxSize": 2, **fields}]).pools
    return spec


# ------------------------------------------------------------------ sharing GPUs


@pytest.mark.parametrize("replicas", [2, 4, 48])
def test_time_slicing_labels_the_pool_and_scales_the_autoscaler_template(replicas):
    spec = one_pool(instanceTypes=["g4dn.12xlarge"], timeSlicingReplicas=replicas)
    assert spec.labels[DEVICE_PLUGIN_CONFIG_LABEL] == time_slicing_config_name(replicas)
    assert spec.schedulable_gpus_per_node == 4 * replicas
    assert spec.autoscaler_tags[GPU_TEMPLATE] == str(4 * replicas)


@pytest.mark.parametrize("profile", sorted(MIG_PROFILES["H100"]))
def test_mig_labels_the_pool_and_counts_mig_devices(profile):
    spec = one_pool(instanceTypes=["p5.48xlarge"], migProfile=profile)
    assert spec.labels[MIG_CONFIG_LABEL] == profile
    assert spec.schedulable_gpus_per_node == 8 * mig_devices_per_gpu("H100", profile)
    assert spec.autoscaler_tags[GPU_TEMPLATE] == str(spec.schedulable_gpus_per_node)
    assert MIG_CONFIG_LABEL not in one_pool(instanceTypes=["p5.48xlarge"]).labels


@pytest.mark.parametrize(
    ("fields", "key", "fragment"),
    [
        ({"instanceTypes": ["g4dn.xlarge"], "timeSlicingReplicas": 0}, "timeSlicingReplicas", "0"),
        (
            {"instanceTypes": ["g4dn.xlarge"], "timeSlicingReplicas": 1},
            "timeSlicingReplicas",
            "1 replica shares nothing",
        ),
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
    with pytest.raises(ConfigError) as caught:
        config("dev", gpuPools=[{"name": "p", "maxSize": 1, **fields}])
    problems = dict(caught.value.problems)
    assert f"gpu-platform:gpuPools[0].{key}" in problems
    assert fragment in problems[f"gpu-platform:gpuPools[0].{key}"]


# ------------------------------------------------------------------ GPU Operator

SHARED_POOLS = [
    {"name": "ts4", "instanceTypes": ["g4dn.xlarge"], "timeSlicingReplicas": 4, "maxSize": 1},
    {"name": "ts2", "instanceTypes": ["g4dn.xlarge"], "timeSlicingReplicas": 2, "maxSize": 1},
    {
        "name": "ts4-infer",
        "purpose": "inference",
        "instanceTypes": ["g4dn.xlarge"],
        "timeSlicingReplicas": 4,
        "maxSize": 1,
    },
    {"name": "mig", "instanceTypes": ["p5.48xlarge"], "migProfile": "all-1g.10gb", "maxSize": 1},
]


def test_gpu_operator_values_keep_the_ami_driver_and_define_every_time_slicing_config():
    shared = platform("prod", gpuPools=SHARED_POOLS)
    spec = shared.gpu_operator
    assert spec is not None
    assert spec.time_slicing_replicas == (2, 4)
    assert spec.mig is True and spec.driver_on_node is True and spec.service_monitor is True
    chart = values(spec)
    assert chart["driver"] == {"enabled": False} and chart["toolkit"] == {"enabled": False}
    data = chart["devicePlugin"]["config"]["data"]
    assert set(data) == {DEFAULT_DEVICE_PLUGIN_CONFIG, "time-sliced-2", "time-sliced-4"}
    assert chart["devicePlugin"]["config"]["default"] == DEFAULT_DEVICE_PLUGIN_CONFIG
    sharing = yaml.safe_load(data["time-sliced-4"])["sharing"]["timeSlicing"]["resources"]
    assert sharing == [{"name": "nvidia.com/gpu", "replicas": 4}]
    assert chart["migManager"]["enabled"] is True and chart["mig"]["strategy"] == "single"
    assert chart["dcgmExporter"]["serviceMonitor"]["enabled"] is True
    tolerated = {t["key"] for t in chart["daemonsets"]["tolerations"]}
    assert tolerated == {"nvidia.com/gpu", "gpu-platform/spot"}
    # Every time-sliced pool's node label names a config the device plugin has.
    labelled = {p.labels.get(DEVICE_PLUGIN_CONFIG_LABEL) for p in shared.pools} - {None}
    assert labelled == {"time-sliced-2", "time-sliced-4"} and labelled <= set(data)


def test_without_sharing_or_observability_the_operator_has_no_extras():
    spec = platform("dev", addons={"observability": False}).gpu_operator
    assert spec is not None
    chart = values(spec)
    assert set(chart["devicePlugin"]["config"]["data"]) == {DEFAULT_DEVICE_PLUGIN_CONFIG}
    assert chart["migManager"]["enabled"] is False
    assert chart["dcgmExporter"]["serviceMonitor"]["enabled"] is False


@pytest.mark.parametrize("ami", list(GpuAmiType))
def test_every_offered_gpu_ami_keeps_its_own_driver(ami):
    pools = [{"name": "p", "maxSize": 1, "instanceTypes": ["g4dn.xlarge"], "amiType": ami.value}]
    spec = platform("dev", gpuPools=pools).gpu_operator
    assert spec is not None and spec.driver_on_node is True


def test_a_plain_ami_gets_the_operator_driver():
    spec = platform("dev").gpu_operator
    assert spec is not None
    chart = values(dataclasses.replace(spec, driver_on_node=False))
    assert chart["driver"]["enabled"] is True and chart["toolkit"]["enabled"] is True


def test_the_operator_is_off_when_its_addon_is():
    assert platform("prod", addons={"gpuOperator": False}).gpu_operator is None


# ------------------------------------------------------------------ EFA device plugin


def test_efa_plugin_runs_only_on_the_efa_pools_instance_types():
    prod = platform("prod")
    assert prod.efa_plugin is not None
    efa_types = {t.name for p in prod.pools if p.efa for t in p.instance_types}
    assert set(prod.efa_plugin.instance_types) == efa_types == {"p5.48xlarge"}
    chart = efa_device_plugin.values(
        prod.efa_plugin.instance_types, prod.efa_plugin.image_repository
    )
    assert chart["image"]["repository"].startswith("602401143452.dkr.ecr.us-east-1.amazonaws.com/")
    assert chart["nodeSelector"] == {EFA_LABEL: "true"}
    assert chart["supportedInstanceLabels"]["values"] == ["p5.48xlarge"]
    assert {t["key"] for t in chart["tolerations"]} == {"nvidia.com/gpu", "gpu-platform/spot"}
    # The pools' nodes carry the label the plugin selects.
    assert all(p.labels.get(EFA_LABEL) == "true" for p in prod.pools if p.efa)


def test_no_efa_pool_means_no_efa_plugin():
    assert platform("dev").efa_plugin is None  # dev has no EFA pool
    assert platform("prod", addons={"efaDevicePlugin": False}).efa_plugin is None
