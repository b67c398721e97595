"""EFA device plugin: advertises `vpc.amazonaws.com/efa` on EFA nodes (32 on p5.48xlarge).

Runs only on nodes of EFA pools (label `gpu-platform/efa=true`, and the chart's own instance-type
affinity, given the pools' types) and tolerates the GPU and spot taints.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.catalog.conventions import EFA_LABEL, GPU_TAINT, SPOT_TAINT
from components.common.helm import chart_release
from components.resolve.software import EfaPluginSpec

NAMESPACE = "kube-system"


def values(instance_types: Sequence[str], image_repository: str) -> dict[str, Any]:
    """Pure: chart values (keys of the chart's values.yaml at the pinned version)."""
    return {
        "image": {"repository": image_repository},
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
        self,
        name: str,
        spec: EfaPluginSpec,
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ):
        chart_values = values(spec.instance_types, spec.image_repository)
        super().__init__("gpuplatform:index:EfaDevicePlugin", name, {}, opts)
        self.release = chart_release(
            f"{name}-chart",
            "aws-efa-k8s-device-plugin",
            namespace=NAMESPACE,
            values=chart_values,
            provider=provider,
            parent=self,
        )
        self.register_outputs({})
