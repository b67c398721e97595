"""Tenancy: a namespace per team, with Pod Security Admission labels, a ResourceQuota on
`requests.nvidia.com/gpu` (and EFA devices) and a LimitRange giving containers default requests.

Teams exist whether or not Kubeflow is on: a team can run plain Jobs, TrainJobs or pipelines in
its namespace, always under its quota.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.catalog.conventions import TEAM_LABEL
from components.resolve.tenancy import DEFAULT_LIMIT, DEFAULT_REQUEST, TeamSpec, TenancySpec

LEGACY_PARENT = "gpuplatform:index:Kubeflow"
"""Team objects were first created under the Kubeflow component (named `kubeflow`): each is
aliased to its old URN, so moving them here replaces nothing on a live stack."""


NAMESPACE_TYPE = "kubernetes:core/v1:Namespace"
QUOTA_TYPE = "kubernetes:core/v1:ResourceQuota"
LIMITS_TYPE = "kubernetes:core/v1:LimitRange"


def legacy_urn(stack: str, project: str, type_token: str, name: str) -> str:
    """Pure: the URN a team object had under the Kubeflow component, e.g.
    `urn:pulumi:prod::gpu-platform::gpuplatform:index:Kubeflow$kubernetes:core/v1:Namespace::
    kubeflow-team-research`."""
    return f"urn:pulumi:{stack}::{project}::{LEGACY_PARENT}${type_token}::kubeflow-{name}"


def team_manifests(team: TeamSpec) -> list[dict[str, Any]]:
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
                    TEAM_LABEL: team.name,
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
                        "defaultRequest": dict(DEFAULT_REQUEST),
                        "default": dict(DEFAULT_LIMIT),
                    }
                ]
            },
        },
    ]


class Tenancy(pulumi.ComponentResource):
    """Every configured team's namespace, GPU/EFA quota and container defaults."""

    namespaces: dict[str, k8s.core.v1.Namespace]

    def __init__(
        self,
        name: str,
        spec: TenancySpec,
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("gpuplatform:index:Tenancy", name, {}, opts)
        stack, project = pulumi.get_stack(), pulumi.get_project()

        def options(kind: str, stem: str, *depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(
                parent=self,
                provider=provider,
                depends_on=list(depends_on),
                aliases=[legacy_urn(stack, project, kind, stem)],
            )

        self.namespaces = {}
        for team in spec.teams:
            namespace, quota, limits = team_manifests(team)
            stem = f"team-{team.name}"
            ns = k8s.core.v1.Namespace(
                f"{name}-{stem}",
                metadata=namespace["metadata"],
                opts=options(NAMESPACE_TYPE, stem),
            )
            k8s.core.v1.ResourceQuota(
                f"{name}-{stem}-quota",
                metadata=quota["metadata"],
                spec=quota["spec"],
                opts=options(QUOTA_TYPE, f"{stem}-quota", ns),
            )
            k8s.core.v1.LimitRange(
                f"{name}-{stem}-limits",
                metadata=limits["metadata"],
                spec=limits["spec"],
                opts=options(LIMITS_TYPE, f"{stem}-limits", ns),
            )
            self.namespaces[team.name] = ns
        self.register_outputs({"namespaces": sorted(self.namespaces)})
