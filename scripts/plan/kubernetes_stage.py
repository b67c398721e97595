"""Kept for existing imports: the Kubernetes stage lives in `scripts.plan.stages.kubernetes`."""

from scripts.plan.stages.kubernetes import KubernetesStage, check, cluster_version, manifest

__all__ = ["KubernetesStage", "check", "cluster_version", "manifest"]
