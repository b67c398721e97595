"""Kubernetes stage: every Kubernetes object the program renders, checked against its schema.

Built-in kinds are validated against the Kubernetes OpenAPI schema of the cluster's version (the
EKS cluster's `version` input; `kubernetes-validate` ships the schemas, so this works offline), in
strict mode, so a misspelt field is an error. Custom resources (ServiceMonitor, PrometheusRule,
ScaledObject, TrainJob, ...) are checked for shape: apiVersion with a group, kind, a DNS-1123
metadata.name, and an object `spec`. Helm releases and kustomizations are upstream artifacts at
pinned versions and are not re-validated here.

Ordering on a fresh cluster: a custom resource must depend (directly or through what it depends
on) on whatever installs its CRD: a Helm release of a chart that installs the API group
(`crd_groups` in components/versions.py), a CustomResourceDefinition of that group, or a
kustomize directory. One that does not races the CRD and fails the first `pulumi up`: a blocking
finding.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import jsonschema
import kubernetes_validate
import kubernetes_validate.utils
import referencing

from components import versions
from scripts.plan.stages.base import PlanContext, StageResult, states

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
CRD = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
KUSTOMIZE = "kubernetes:kustomize/"

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


@functools.cache
def _schema(filename: str, version: str) -> Any:
    return kubernetes_validate.utils.schema_contents(filename, version)


@functools.cache
def _validator(version: str, api_version: str, kind: str) -> jsonschema.Draft202012Validator:
    """kubernetes-validate's strict schema for one kind, built once: the same files and
    resolution as `kubernetes_validate.validate(obj, version, strict=True)`, without re-reading
    and re-parsing the schema and its definitions for every object."""
    utils = kubernetes_validate.utils
    if utils.major_minor(version) > utils.latest_version():
        raise kubernetes_validate.VersionNotSupportedError(version=utils.major_minor(version))
    schema_version = [
        v for v in utils.all_versions() if utils.major_minor(v) <= utils.major_minor(version)
    ][-1]
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    folder = f"kubernetes-json-schema/v{schema_version}-local-strict"
    try:
        schema = _schema(f"{folder}/{kind.lower()}-{group_version}.json", version)
    except FileNotFoundError:
        raise kubernetes_validate.SchemaNotFoundError(
            version=utils.major_minor(version), kind=kind, api_version=api_version
        ) from None
    definitions = _schema(f"{folder}/_definitions.json", version)
    registry: referencing.Registry[Any] = referencing.Resource.from_contents(definitions) @ (
        referencing.Resource.from_contents(schema) @ referencing.Registry()
    )
    return jsonschema.Draft202012Validator(schema, registry=registry)


def check(obj: dict[str, Any], version: str) -> list[str]:
    """Problems with one object (empty when valid)."""
    for key in ("apiVersion", "kind"):
        if not isinstance(obj.get(key), str) or not obj[key]:
            return [f"{key} {obj.get(key)!r} is not a string"]
    if obj.get("metadata") is not None and not isinstance(obj["metadata"], dict):
        return [f"metadata {obj['metadata']!r} is not an object"]
    group = obj["apiVersion"].rsplit("/", 1)[0] if "/" in obj["apiVersion"] else ""
    name = (obj.get("metadata") or {}).get("name")
    if group in BUILT_IN_GROUPS:
        try:
            _validator(version, obj["apiVersion"], obj["kind"]).validate(obj)
        except jsonschema.ValidationError as exc:
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


def _group(api_version: str) -> str:
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def crd_groups_of(state: dict[str, Any]) -> set[str] | None:
    """API groups whose CRDs this step installs; None when it may install any (kustomize)."""
    inputs = state.get("inputs") or {}
    if state["type"] == HELM_RELEASE:
        chart = str(inputs.get("chart") or "").rsplit("/", 1)[-1]
        return {g for c in versions.CHARTS.values() if c.chart == chart for g in c.crd_groups}
    if state["type"] == CRD:
        return {str((inputs.get("spec") or {}).get("group") or "")}
    if state["type"].startswith(KUSTOMIZE):
        return None
    return set()


def crd_ordering_problems(document: dict[str, Any]) -> dict[str, str]:
    """URN -> problem, for each custom resource that does not depend on its CRD's installer."""
    by_urn = {s["urn"]: s for s in states(document)}
    problems: dict[str, str] = {}
    for state in by_urn.values():
        obj = manifest(state)
        if obj is None:
            continue
        group = _group(str(obj["apiVersion"]))
        if group in BUILT_IN_GROUPS or state["type"] == CRD:
            continue
        seen: set[str] = set()
        pending = list(state.get("dependencies") or [])
        found = False
        while pending and not found:
            urn = pending.pop()
            if urn in seen or urn not in by_urn:
                continue
            seen.add(urn)
            groups = crd_groups_of(by_urn[urn])
            found = groups is None or group in groups
            pending += by_urn[urn].get("dependencies") or []
        if not found:
            problems[state["urn"]] = (
                f"nothing it depends on installs the {group} CRDs (a Helm release, CRD or "
                "kustomize directory): on a fresh cluster it races the CRD"
            )
    return problems


class KubernetesStage:
    """Schema checks of every rendered Kubernetes object."""

    key = "kubernetes"
    title = "Kubernetes objects"

    def run(self, context: PlanContext) -> StageResult:
        version = cluster_version(context.document)
        ordering = crd_ordering_problems(context.document)
        rows = []
        blocking = []
        for state in states(context.document):
            obj = manifest(state)
            if obj is None:
                continue
            problems = check(obj, version)
            if state["urn"] in ordering:
                problems.append(ordering[state["urn"]])
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
