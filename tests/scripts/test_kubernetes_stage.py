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


def _with_deps(step_: dict[str, Any], *dependencies: dict[str, Any]) -> dict[str, Any]:
    step_["newState"]["dependencies"] = [d["urn"] for d in dependencies]
    return step_


MONITOR = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "ServiceMonitor",
    "metadata": {"name": "triton", "namespace": "inference"},
    "spec": {"endpoints": [{"port": "metrics"}], "selector": {}},
}


def _ordering_problems(*steps: dict[str, Any]) -> list[str]:
    document = {"steps": list(steps)}
    result = KubernetesStage().run(PlanContext(stack="x", document=document))
    return [p for p in result.blocking if "races the CRD" in p]


def test_a_custom_resource_must_depend_on_what_installs_its_crd():
    monitor_type = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
    namespace = step(
        "kubernetes:core/v1:Namespace",
        "ns",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "inference"}},
    )
    prometheus = step("kubernetes:helm.sh/v3:Release", "prom", {"chart": "kube-prometheus-stack"})
    keda = step("kubernetes:helm.sh/v3:Release", "keda", {"chart": "keda"})

    # Only on its namespace: it races the CRD on a fresh cluster.
    racing = _with_deps(step(monitor_type, "m", MONITOR), namespace)
    assert len(_ordering_problems(namespace, prometheus, racing)) == 1
    # On the wrong release: still racing.
    wrong = _with_deps(step(monitor_type, "m", MONITOR), keda)
    assert len(_ordering_problems(keda, wrong)) == 1
    # On the release that installs monitoring.coreos.com, directly or through another step.
    direct = _with_deps(step(monitor_type, "m", MONITOR), prometheus)
    assert _ordering_problems(prometheus, direct) == []
    via = _with_deps(step("kubernetes:core/v1:Namespace", "ns2", {}), prometheus)
    indirect = _with_deps(step(monitor_type, "m", MONITOR), via)
    assert _ordering_problems(prometheus, via, indirect) == []
    # A CRD of the group, or a kustomize directory, installs it too.
    crd = step(
        "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
        "crd",
        {"spec": {"group": "monitoring.coreos.com"}},
    )
    assert _ordering_problems(crd, _with_deps(step(monitor_type, "m", MONITOR), crd)) == []


def test_every_custom_resource_of_the_shipped_stacks_depends_on_its_crd():
    from tests.support import STACKS, shipped_plan

    for stack in STACKS:
        document, _ = shipped_plan(stack)
        objects = document["kubernetes"]["objects"]
        assert not [o for o in objects if any("races the CRD" in p for p in o["problems"])]
