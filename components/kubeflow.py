"""Kubeflow: distributed training (Trainer v2) and Pipelines, plus team namespaces with GPU quotas.

Training uses Kubeflow Trainer v2 (the `kubeflow-trainer` Helm chart pinned in
components/versions.py; it brings JobSet and needs Kubernetes >= 1.31) rather than the v1
Training Operator: Trainer v2 is where Kubeflow's training work goes, its TrainJob separates the
runtime (how to launch torchrun) from the job (image, nodes, resources), and its `runtimePatches`
place pods on the EFA pool without forking the runtime. The chart installs the default
`torch-distributed` ClusterTrainingRuntime.

Pipelines is the standalone Kubeflow Pipelines deployment, applied from its kustomize manifests at
a pinned tag (cluster-scoped resources first, then `env/platform-agnostic`).

Each team gets a namespace with Pod Security Admission labels, a ResourceQuota on
`requests.nvidia.com/gpu` (and EFA devices), and a LimitRange giving containers default requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from components import versions
from components.config import Team
from components.helm import chart_release

TRAINER_NAMESPACE = "kubeflow-system"
PIPELINES_NAMESPACE = "kubeflow"
PIPELINES_REPO = "https://github.com/kubeflow/pipelines/tree"


class KubeflowArgs(TypedDict):
    teams: Sequence[Team]
    """Team namespaces to create."""
    pipelines: bool
    """Install Kubeflow Pipelines too."""
    provider: k8s.Provider


def trainer_values() -> dict[str, Any]:
    """Pure: chart values: the default torch runtime on (`torch-distributed`)."""
    return {"runtimes": {"torchDistributed": {"enabled": True}}}


def pipelines_directories(ref: str = versions.KUBEFLOW_PIPELINES_REF) -> list[str]:
    """Pure: the two kustomizations of the standalone deployment, in apply order."""
    base = f"{PIPELINES_REPO}/{ref}/manifests/kustomize"
    return [f"{base}/cluster-scoped-resources", f"{base}/env/platform-agnostic"]


def team_manifests(team: Team) -> list[dict[str, Any]]:
    """Pure: namespace, quota and limit range of one team."""
    level = team.pod_security
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": team.name,
                "labels": {
                    "pod-security.kubernetes.io/enforce": level,
                    "pod-security.kubernetes.io/warn": "restricted",
                    "pod-security.kubernetes.io/audit": "restricted",
                    "gpu-platform/team": team.name,
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "gpu-quota", "namespace": team.name},
            "spec": {
                "hard": {
                    "requests.nvidia.com/gpu": str(team.gpu_quota),
                    "requests.vpc.amazonaws.com/efa": str(team.efa_quota),
                }
            },
        },
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": {"name": "container-defaults", "namespace": team.name},
            "spec": {
                "limits": [
                    {
                        "type": "Container",
                        "defaultRequest": {"cpu": "500m", "memory": "1Gi"},
                        "default": {"cpu": "2", "memory": "8Gi"},
                    }
                ]
            },
        },
    ]


class Kubeflow(pulumi.ComponentResource):
    """Kubeflow Trainer v2, Kubeflow Pipelines (optional) and team namespaces."""

    def __init__(self, name: str, args: KubeflowArgs, opts: pulumi.ResourceOptions | None = None):
        teams = [team_manifests(team) for team in args["teams"]]
        super().__init__("gpuplatform:index:Kubeflow", name, {}, opts)
        provider = args["provider"]
        self.trainer = chart_release(
            f"{name}-trainer",
            "kubeflow-trainer",
            namespace=TRAINER_NAMESPACE,
            create_namespace=True,
            values=trainer_values(),
            provider=provider,
            parent=self,
        )
        if args["pipelines"]:
            previous: list[pulumi.Resource] = []
            for index, directory in enumerate(pipelines_directories()):
                step = k8s.kustomize.v2.Directory(
                    f"{name}-pipelines-{index}",
                    directory=directory,
                    opts=pulumi.ResourceOptions(
                        parent=self, provider=provider, depends_on=previous
                    ),
                )
                previous = [step]
        for manifests in teams:
            namespace, quota, limits = manifests
            ns = k8s.core.v1.Namespace(
                f"{name}-team-{namespace['metadata']['name']}",
                metadata=namespace["metadata"],
                opts=pulumi.ResourceOptions(parent=self, provider=provider),
            )
            after = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[ns])
            k8s.core.v1.ResourceQuota(
                f"{name}-team-{namespace['metadata']['name']}-quota",
                metadata=quota["metadata"],
                spec=quota["spec"],
                opts=after,
            )
            k8s.core.v1.LimitRange(
                f"{name}-team-{namespace['metadata']['name']}-limits",
                metadata=limits["metadata"],
                spec=limits["spec"],
                opts=after,
            )
        self.register_outputs({})
