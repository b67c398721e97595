"""NVIDIA GPU Operator: device plugin, GPU feature discovery, DCGM exporter, MIG manager.

On EKS accelerated AMIs (AL2023 NVIDIA, Bottlerocket NVIDIA) the driver and the container toolkit
are already on the node, and NVIDIA ships no Amazon Linux driver containers: the operator runs with
`driver.enabled=false` and `toolkit.enabled=false`, unless a pool runs a plain AMI.

Sharing is set per pool by node label, from the pool's config:
- time-slicing (`timeSlicingReplicas`, e.g. T4 inference): the device plugin's config map gets one
  entry per replica count, and the pool's nodes carry `nvidia.com/device-plugin.config`;
- MIG (`migProfile`, e.g. H100): `mig.strategy: single`, and the nodes carry
  `nvidia.com/mig.config`, which the MIG manager applies.
The operator's daemonsets tolerate the GPU and spot taints; DCGM metrics get a ServiceMonitor when
observability is on.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.catalog.conventions import GPU_TAINT, SPOT_TAINT
from components.common.helm import chart_release
from components.resolve.compute import time_slicing_config_name
from components.resolve.software import GpuOperatorSpec
from components.software import dcgm

NAMESPACE = "gpu-operator"
DEVICE_PLUGIN_CONFIG = "device-plugin-config"
DEFAULT_DEVICE_PLUGIN_CONFIG = "default"


def time_slicing_config(replicas: int) -> str:
    return yaml.safe_dump(
        {
            "version": "v1",
            "sharing": {
                "timeSlicing": {"resources": [{"name": "nvidia.com/gpu", "replicas": replicas}]}
            },
        },
        sort_keys=False,
    )


def values(spec: GpuOperatorSpec) -> dict[str, Any]:
    """Pure: the chart values."""
    tolerations = [
        {"key": key, "operator": "Exists", "effect": effect}
        for key, _, effect in (GPU_TAINT, SPOT_TAINT)
    ]
    configs = {DEFAULT_DEVICE_PLUGIN_CONFIG: yaml.safe_dump({"version": "v1"})}
    for replicas in spec.time_slicing_replicas:
        configs[time_slicing_config_name(replicas)] = time_slicing_config(replicas)
    on_node = spec.driver_on_node
    return {
        "driver": {"enabled": not on_node},
        "toolkit": {"enabled": not on_node},
        "nfd": {"enabled": True},
        "node-feature-discovery": {"worker": {"tolerations": tolerations}},
        "daemonsets": {"tolerations": tolerations},
        "devicePlugin": {
            "config": {
                "create": True,
                "name": DEVICE_PLUGIN_CONFIG,
                "default": DEFAULT_DEVICE_PLUGIN_CONFIG,
                "data": configs,
            }
        },
        "mig": {"strategy": "single"},
        "migManager": {"enabled": spec.mig, "config": {"default": "all-disabled"}},
        # The exporter's default counters plus DCGM_EXP_XID_ERRORS_COUNT (software/dcgm.py).
        "dcgmExporter": {
            "serviceMonitor": {"enabled": spec.service_monitor},
            "config": dcgm.exporter_config(),
        },
    }


class GpuOperator(pulumi.ComponentResource):
    """The gpu-operator chart, pinned in components/versions.py."""

    def __init__(
        self,
        name: str,
        spec: GpuOperatorSpec,
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ):
        chart_values = values(spec)
        super().__init__("gpuplatform:index:GpuOperator", name, {}, opts)
        self.release = chart_release(
            f"{name}-chart",
            "gpu-operator",
            namespace=NAMESPACE,
            create_namespace=True,
            values=chart_values,
            provider=provider,
            parent=self,
        )
        self.register_outputs({})
