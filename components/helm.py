"""Helm releases of the charts pinned in components/versions.py, and Pod Identity roles for them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import iam, versions


def chart_release(
    name: str,
    chart_key: str,
    *,
    namespace: str,
    values: Mapping[str, Any],
    provider: k8s.Provider,
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource] = (),
    create_namespace: bool = False,
) -> k8s.helm.v3.Release:
    """A Helm release of `versions.CHARTS[chart_key]` (repository, chart, version pinned there)."""
    chart = versions.CHARTS[chart_key]
    oci = chart.repo.startswith("oci://")
    return k8s.helm.v3.Release(
        name,
        name=chart.chart,
        chart=f"{chart.repo}/{chart.chart}" if oci else chart.chart,
        version=chart.version,
        repository_opts=None if oci else {"repo": chart.repo},
        namespace=namespace,
        create_namespace=create_namespace,
        values=dict(values),
        atomic=True,
        cleanup_on_fail=True,
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=list(depends_on)),
    )


def pod_identity_role(
    name: str,
    *,
    cluster_name: pulumi.Input[str],
    namespace: str,
    service_account: str,
    policy: pulumi.Input[str],
    parent: pulumi.Resource,
) -> aws.iam.Role:
    """An IAM role that only `namespace/service_account` in the cluster can assume (Pod Identity),
    with one inline policy."""
    child = pulumi.ResourceOptions(parent=parent)
    role = aws.iam.Role(name, assume_role_policy=iam.pod_identity_trust(), opts=child)
    aws.iam.RolePolicy(name, role=role.id, policy=policy, opts=child)
    aws.eks.PodIdentityAssociation(
        name,
        cluster_name=cluster_name,
        namespace=namespace,
        service_account=service_account,
        role_arn=role.arn,
        opts=child,
    )
    return role
