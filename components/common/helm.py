"""Helm releases of the charts pinned in components/versions.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import versions


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
