"""Kubeflow: distributed training (Trainer v2) and Pipelines.

Training uses Kubeflow Trainer v2 (the `kubeflow-trainer` Helm chart pinned in
components/versions.py; it brings JobSet and needs Kubernetes >= 1.31) rather than the v1
Training Operator: Trainer v2 is where Kubeflow's training work goes, its TrainJob separates the
runtime (how to launch torchrun) from the job (image, nodes, resources), and its `runtimePatches`
place pods on the EFA pool without forking the runtime. The chart installs the default
`torch-distributed` ClusterTrainingRuntime.

Pipelines is the standalone Kubeflow Pipelines deployment, applied from its kustomize manifests at
a pinned tag (cluster-scoped resources first, then `env/platform-agnostic`).

Team namespaces and their GPU quotas are not Kubeflow's: they are the tenancy component's, and
exist whether or not Kubeflow is on.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.common.helm import chart_release
from components.resolve.software import KubeflowSpec

TRAINER_NAMESPACE = "kubeflow-system"
PIPELINES_NAMESPACE = "kubeflow"
PIPELINES_REPO = "https://github.com/kubeflow/pipelines/tree"


def trainer_values() -> dict[str, Any]:
    """Pure: chart values: the default torch runtime on (`torch-distributed`)."""
    return {"runtimes": {"torchDistributed": {"enabled": True}}}


def pipelines_directories(ref: str) -> list[str]:
    """Pure: the two kustomizations of the standalone deployment, in apply order."""
    base = f"{PIPELINES_REPO}/{ref}/manifests/kustomize"
    return [f"{base}/cluster-scoped-resources", f"{base}/env/platform-agnostic"]


class Kubeflow(pulumi.ComponentResource):
    """Kubeflow Trainer v2 and Kubeflow Pipelines (optional)."""

    def __init__(
        self,
        name: str,
        spec: KubeflowSpec,
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("gpuplatform:index:Kubeflow", name, {}, opts)
        self.trainer = chart_release(
            f"{name}-trainer",
            "kubeflow-trainer",
            namespace=TRAINER_NAMESPACE,
            create_namespace=True,
            values=trainer_values(),
            provider=provider,
            parent=self,
        )
        if spec.pipelines:
            previous: list[pulumi.Resource] = []
            for index, directory in enumerate(pipelines_directories(spec.pipelines_ref)):
                step = k8s.kustomize.v2.Directory(
                    f"{name}-pipelines-{index}",
                    directory=directory,
                    opts=pulumi.ResourceOptions(
                        parent=self, provider=provider, depends_on=previous
                    ),
                )
                previous = [step]
        self.register_outputs({})
