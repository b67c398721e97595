"""Kubernetes stage: every Kubernetes object the program renders, checked against its schema.

Built-in kinds are validated against the Kubernetes OpenAPI schema of the cluster's version (the
EKS cluster's `version` input; `kubernetes-validate` ships the schemas, so this works offline), in
strict mode, so a misspelt field is an error. Custom resources (ServiceMonitor, PrometheusRule,
ScaledObject, TrainJob, ...) are checked for shape: apiVersion with a group, kind, a DNS-1123
metadata.name, and an object `spec`. Helm releases and kustomizations are upstream artifacts at
pinned versions and are not re-validated here.
"""

from __future__ import annotations

import re
from typing import Any

import kubernetes_validate

from scripts.plan.stages.base import PlanContext, StageResult, states

NOT_MANIFESTS = ("kubernetes:helm.sh/", "kubernetes:kustomize/", "kubernetes:yaml/")
BUILT_IN_GROUPS = {
    "",
    "apps",
    "batch",
    "policy",
    "autoscaling",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "node.k8s.io",
    "discovery.k8s.io",
    "certificates.k8s.io",
}
DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
DEFAULT_VERSION = "1.36"


def manifest(state: dict[str, Any]) -> dict[str, Any] | None:
    """The object as `kubectl apply` would see it, from a pulumi-kubernetes resource's inputs."""
    kind_token = state["type"]
    if not kind_token.startswith("kubernetes:") or kind_token.startswith(NOT_MANIFESTS):
        return None
    inputs = dict(state.get("inputs") or {})
    if "apiVersion" not in inputs or "kind" not in inputs:
        return None
    return inputs


def cluster_version(document: dict[str, Any]) -> str:
    for state in states(document):
        if state["type"] == "aws:eks/cluster:Cluster" and (state.get("inputs") or {}).get(
            "version"
        ):
            return str(state["inputs"]["version"])
    return DEFAULT_VERSION


def check(obj: dict[str, Any], version: str) -> list[str]:
    """Problems with one object (empty when valid)."""
    group = obj["apiVersion"].rsplit("/", 1)[0] if "/" in obj["apiVersion"] else ""
    name = (obj.get("metadata") or {}).get("name")
    if group in BUILT_IN_GROUPS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path) or "(object)"
            return [f"{path}: {exc.message}"]
        except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError):
            return [f"no schema for {obj['apiVersion']} {obj['kind']} in Kubernetes {version}"]
        return []
    problems = []
    if not isinstance(name, str) or not DNS_1123.match(name):
        problems.append(f"metadata.name {name!r} is not a DNS-1123 name")
    if not isinstance(obj.get("spec"), dict):
        problems.append("spec is missing or not an object")
    return problems


class KubernetesStage:
    """Schema checks of every rendered Kubernetes object."""

    key = "kubernetes"
    title = "Kubernetes objects"

    def run(self, context: PlanContext) -> StageResult:
        version = cluster_version(context.document)
        rows = []
        blocking = []
        for state in states(context.document):
            obj = manifest(state)
            if obj is None:
                continue
            problems = check(obj, version)
            meta = obj.get("metadata") or {}
            rows.append(
                {
                    "urn": state["urn"],
                    "apiVersion": obj["apiVersion"],
                    "kind": obj["kind"],
                    "name": meta.get("name"),
                    "namespace": meta.get("namespace"),
                    "problems": problems,
                }
            )
            blocking += [f"{obj['kind']} {meta.get('name')}: {p}" for p in problems]
        data = {"kubernetesVersion": version, "objects": rows}
        return StageResult.rendered(data, self._render, blocking)

    @staticmethod
    def _render(data: dict[str, Any], table: Any) -> list[str]:
        objects = data["objects"]
        bad = [o for o in objects if o["problems"]]
        lines = [
            f"{len(objects)} objects checked against Kubernetes {data['kubernetesVersion']}: "
            f"{len(objects) - len(bad)} valid, {len(bad)} invalid"
        ]
        if bad:
            lines.append("")
            lines += table(
                ["kind", "name", "problem"],
                [[o["kind"], str(o["name"]), p] for o in bad for p in o["problems"]],
            )
        return lines
