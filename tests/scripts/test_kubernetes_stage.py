"""Kubernetes stage: rendered objects are checked against the cluster version's schema."""

from __future__ import annotations

from typing import Any

from scripts.plan.stages import PlanContext
from scripts.plan.stages.kubernetes import KubernetesStage, check, cluster_version


def step(kind: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    urn = f"urn:pulumi:x::p::{kind}::{name}"
    return {"op": "create", "urn": urn, "newState": {"urn": urn, "type": kind, "inputs": inputs}}


def deployment(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]},
            },
            **spec,
        },
    }


def test_valid_and_misspelt_built_in_objects():
    assert check(deployment(replicas=2), "1.36") == []
    problems = check(deployment(replicaz=2), "1.36")  # strict: unknown fields are errors
    assert problems and "replicaz" in problems[0]
    assert check(deployment(replicas="two"), "1.36")


def test_custom_resources_are_checked_for_shape():
    good = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "a"},
        "spec": {"scaleTargetRef": {"name": "a"}},
    }
    assert check(good, "1.36") == []
    assert check({**good, "metadata": {"name": "Not_DNS"}}, "1.36")
    assert check({**good, "spec": None}, "1.36")


def test_stage_blocks_on_an_invalid_object_and_reads_the_cluster_version():
    document = {
        "steps": [
            step("aws:eks/cluster:Cluster", "eks", {"version": "1.35"}),
            step("kubernetes:apps/v1:Deployment", "ok", deployment(replicas=1)),
            step("kubernetes:apps/v1:Deployment", "bad", deployment(replicaz=1)),
            step("kubernetes:helm.sh/v3:Release", "chart", {"chart": "x"}),
        ]
    }
    assert cluster_version(document) == "1.35"
    result = KubernetesStage().run(PlanContext(stack="x", document=document))
    assert result.data["kubernetesVersion"] == "1.35"
    assert len(result.data["objects"]) == 2  # the Helm release is not a manifest
    assert len(result.blocking) == 1 and "replicaz" in result.blocking[0]
