"""Cluster Autoscaler: scales GPU pools from zero, preferring reserved capacity, then spot.

It discovers node groups by the tags EKS puts on their Auto Scaling groups
(`k8s.io/cluster-autoscaler/enabled`, `k8s.io/cluster-autoscaler/<cluster>`), and builds a node
template for an empty group from the `k8s.io/cluster-autoscaler/node-template/...` tags the GPU
node groups add (labels, taints, `nvidia.com/gpu` and `vpc.amazonaws.com/efa` capacity), so a
pending GPU pod can bring a pool up from zero.

The priority expander picks, among groups that fit a pending pod: Capacity Block and reserved
pools first (already paid for), then spot, then on-demand.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.catalog.conventions import NODE_POOL_LABEL, SYSTEM_POOL
from components.common import iam
from components.common.helm import chart_release
from components.common.identity import pod_identity
from components.resolve.software import AutoscalerPool, AutoscalerSpec

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "cluster-autoscaler"
PRIORITY_RESERVED = 100
PRIORITY_SPOT = 50
PRIORITY_ON_DEMAND = 10


def _pool_regex(pool: str) -> str:
    # Managed node group ASGs are named eks-<node group name>-<uuid>; our node group names are
    # <pool>-<26-character unique suffix> (timestamp digits and a hex counter), so pool `t4`
    # never matches pool `t4-2`.
    return f"^eks-{pool}-[0-9a-f]{{26}}-.*"


def priorities(pools: Sequence[AutoscalerPool]) -> dict[str, list[str]]:
    tiers: dict[int, list[str]] = {}
    for pool in pools:
        if pool.reserved:
            level = PRIORITY_RESERVED
        elif pool.spot:
            level = PRIORITY_SPOT
        else:
            level = PRIORITY_ON_DEMAND
        tiers.setdefault(level, []).append(_pool_regex(pool.name))
    tiers.setdefault(PRIORITY_ON_DEMAND, []).append(".*")  # everything else (the system pool)
    return {str(level): sorted(regexes) for level, regexes in sorted(tiers.items(), reverse=True)}


def policy(region: str, part: str, cluster_name: str) -> str:
    """The autoscaler's documented least-privilege policy: reads everywhere, writes only on this
    cluster's node group ASGs."""
    asgs = f"arn:{part}:autoscaling:{region}:*:autoScalingGroup:*:autoScalingGroupName/eks-*"
    writes = iam.allow(
        ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
        [asgs],
        sid="ScaleOwnNodeGroups",
    )
    writes["Condition"] = {
        "StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}
    }
    reads = iam.allow(
        [
            "autoscaling:DescribeAutoScalingGroups",
            "autoscaling:DescribeAutoScalingInstances",
            "autoscaling:DescribeLaunchConfigurations",
            "autoscaling:DescribeScalingActivities",
            "autoscaling:DescribeTags",
            "ec2:DescribeImages",
            "ec2:DescribeInstanceTypes",
            "ec2:DescribeLaunchTemplateVersions",
            "ec2:GetInstanceTypesFromInstanceRequirements",
            "eks:DescribeNodegroup",
        ],
        ["*"],
        sid="DiscoverNodeGroups",
    )
    return iam.document([reads, writes])


def values(spec: AutoscalerSpec) -> dict[str, Any]:
    """Pure: the chart values."""
    return {
        "cloudProvider": "aws",
        "awsRegion": spec.region,
        "autoDiscovery": {"clusterName": spec.cluster_name},
        "rbac": {"serviceAccount": {"create": True, "name": SERVICE_ACCOUNT}},
        "image": {"tag": spec.image_tag},
        "extraArgs": {
            "expander": "priority,least-waste",
            "balance-similar-node-groups": True,
            "skip-nodes-with-local-storage": False,
            "scale-down-unneeded-time": "10m",
        },
        "expanderPriorities": priorities(spec.pools),
        "nodeSelector": {NODE_POOL_LABEL: SYSTEM_POOL},
        "priorityClassName": "system-cluster-critical",
    }


class ClusterAutoscaler(pulumi.ComponentResource):
    """Cluster Autoscaler (Helm) with a Pod Identity role."""

    def __init__(
        self,
        name: str,
        spec: AutoscalerSpec,
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("gpuplatform:index:ClusterAutoscaler", name, {}, opts)
        identity = pod_identity(
            f"{name}-role",
            cluster_name=spec.cluster_name,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            policy=policy(spec.region, spec.partition, spec.cluster_name),
            parent=self,
        )
        # A pod admitted before its association exists never gets credentials: wait for all three.
        self.release = chart_release(
            f"{name}-chart",
            "cluster-autoscaler",
            namespace=NAMESPACE,
            values=values(spec),
            provider=provider,
            parent=self,
            depends_on=identity.ready,
        )
        self.role_arn = identity.role.arn
        self.register_outputs({"role_arn": self.role_arn})
