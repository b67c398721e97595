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
from dataclasses import dataclass
from typing import Any, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from components import iam, versions
from components.cluster import NODE_POOL_LABEL
from components.config import CapacityType
from components.helm import chart_release, pod_identity_role

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "cluster-autoscaler"
PRIORITY_RESERVED = 100
PRIORITY_SPOT = 50
PRIORITY_ON_DEMAND = 10


@dataclass(frozen=True)
class PoolRef:
    name: str
    capacity_type: CapacityType
    reserved: bool = False


class ClusterAutoscalerArgs(TypedDict):
    cluster_name: str
    """Physical cluster name (auto-discovery and the IAM condition use it)."""
    region: str
    kubernetes_version: str
    pools: Sequence[PoolRef]
    """GPU pools, for the priority expander."""
    provider: k8s.Provider


@dataclass(frozen=True)
class ResolvedClusterAutoscaler:
    values: dict[str, Any]
    policy: str


def _pool_regex(pool: str) -> str:
    # Managed node group ASGs are named eks-<node group name>-<uuid>; our node group names are
    # <pool>-<26-character unique suffix> (timestamp digits and a hex counter), so pool `t4`
    # never matches pool `t4-2`.
    return f"^eks-{pool}-[0-9a-f]{{26}}-.*"


def priorities(pools: Sequence[PoolRef]) -> dict[str, list[str]]:
    tiers: dict[int, list[str]] = {}
    for pool in pools:
        if pool.capacity_type is CapacityType.CAPACITY_BLOCK or pool.reserved:
            level = PRIORITY_RESERVED
        elif pool.capacity_type is CapacityType.SPOT:
            level = PRIORITY_SPOT
        else:
            level = PRIORITY_ON_DEMAND
        tiers.setdefault(level, []).append(_pool_regex(pool.name))
    tiers.setdefault(PRIORITY_ON_DEMAND, []).append(".*")  # everything else (the system pool)
    return {str(level): sorted(regexes) for level, regexes in sorted(tiers.items(), reverse=True)}


def policy(region: str, cluster_name: str) -> str:
    """The autoscaler's documented least-privilege policy: reads everywhere, writes only on this
    cluster's node group ASGs."""
    part = iam.partition(region)
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


def resolve(args: ClusterAutoscalerArgs) -> ResolvedClusterAutoscaler:
    """Pure: Helm values and IAM policy."""
    values: dict[str, Any] = {
        "cloudProvider": "aws",
        "awsRegion": args["region"],
        "autoDiscovery": {"clusterName": args["cluster_name"]},
        "rbac": {"serviceAccount": {"create": True, "name": SERVICE_ACCOUNT}},
        "image": {"tag": versions.CLUSTER_AUTOSCALER_IMAGE_TAG[args["kubernetes_version"]]},
        "extraArgs": {
            "expander": "priority,least-waste",
            "balance-similar-node-groups": True,
            "skip-nodes-with-local-storage": False,
            "scale-down-unneeded-time": "10m",
        },
        "expanderPriorities": priorities(args["pools"]),
        "nodeSelector": {NODE_POOL_LABEL: "system"},
        "priorityClassName": "system-cluster-critical",
    }
    return ResolvedClusterAutoscaler(
        values=values, policy=policy(args["region"], args["cluster_name"])
    )


class ClusterAutoscaler(pulumi.ComponentResource):
    """Cluster Autoscaler (Helm) with a Pod Identity role."""

    def __init__(
        self, name: str, args: ClusterAutoscalerArgs, opts: pulumi.ResourceOptions | None = None
    ):
        spec = resolve(args)
        super().__init__("gpuplatform:index:ClusterAutoscaler", name, {}, opts)
        role = pod_identity_role(
            f"{name}-role",
            cluster_name=args["cluster_name"],
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            policy=spec.policy,
            parent=self,
        )
        self.release = chart_release(
            f"{name}-chart",
            "cluster-autoscaler",
            namespace=NAMESPACE,
            values=spec.values,
            provider=args["provider"],
            parent=self,
            depends_on=[role],
        )
        self.role_arn = role.arn
        self.register_outputs({"role_arn": self.role_arn})
