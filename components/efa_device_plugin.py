"""EFA device plugin: advertises `vpc.amazonaws.com/efa` on EFA nodes (32 on p5.48xlarge).

Runs only on nodes of EFA pools (label `gpu-platform/efa=true`, and the chart's own instance-type
affinity, given the pools' types) and tolerates the GPU and spot taints.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from components.gpu_node_group import EFA_LABEL, GPU_TAINT, SPOT_TAINT
from components.helm import chart_release

NAMESPACE = "kube-system"


class EfaDevicePluginArgs(TypedDict):
    instance_types: Sequence[str]
    """Instance types of the EFA pools (the chart schedules only on these)."""
    provider: k8s.Provider


def values(instance_types: Sequence[str]) -> dict[str, Any]:
    """Pure: chart values."""
    return {
        "nodeSelector": {EFA_LABEL: "true"},
        "tolerations": [
            {"key": key, "operator": "Exists", "effect": effect}
            for key, _, effect in (GPU_TAINT, SPOT_TAINT)
        ],
        "supportedInstanceLabels": {
            "keys": ["node.kubernetes.io/instance-type"],
            "values": sorted(set(instance_types)),
        },
    }


class EfaDevicePlugin(pulumi.ComponentResource):
    """The aws-efa-k8s-device-plugin chart, pinned in components/versions.py."""

    def __init__(
        self, name: str, args: EfaDevicePluginArgs, opts: pulumi.ResourceOptions | None = None
    ):
        chart_values = values(args["instance_types"])
        super().__init__("gpuplatform:index:EfaDevicePlugin", name, {}, opts)
        self.release = chart_release(
            f"{name}-chart",
            "aws-efa-k8s-device-plugin",
            namespace=NAMESPACE,
            values=chart_values,
            provider=args["provider"],
            parent=self,
        )
        self.register_outputs({})
