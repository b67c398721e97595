"""The replace rules (scripts/plan/replace_rules.json) against their sources.

Every custom resource type the shipped stacks register has an entry; every entry names where it
was read (a provider file, at a commit for the AWS provider); and every property an entry names
is an input property of that type in the installed pulumi-aws / pulumi-kubernetes SDK, nested
paths included (`launchTemplate.id` is an input of the node group's launch template block). The
SDKs do not carry ForceNew, so the property *names* are what can be checked offline; which of
them force a new resource is the provider source named in the entry.
"""

from __future__ import annotations

import importlib
import json
import re
from functools import cache
from typing import Any

import pytest
from pulumi._types import input_type_py_to_pulumi_names

from scripts.plan.__main__ import plan
from scripts.plan.diff import RULES_PATH, load_rules
from tests.conftest import STACKS

RULES = json.loads(RULES_PATH.read_text())
TYPES: dict[str, dict[str, Any]] = RULES["types"]
CUSTOM_RESOURCE_GROUPS = {
    "keda.sh",
    "kueue.x-k8s.io",
    "monitoring.coreos.com",
    "trainer.kubeflow.org",
}
"""CRD kinds: pulumi-kubernetes has no typed args for them (only metadata is replaced)."""


@pytest.fixture(scope="module")
def used_types() -> dict[str, set[str]]:
    """Custom resource types of every shipped stack's plan, with the stacks using each."""
    found: dict[str, set[str]] = {}
    for stack in STACKS:
        document, _ = plan(stack)
        for step in document["steps"]:
            state = step["newState"]
            if state.get("custom"):
                found.setdefault(state["type"], set()).add(stack)
    return found


def test_every_custom_type_the_stacks_use_has_replace_rules(used_types: dict[str, set[str]]):
    missing = sorted(t for t in used_types if load_rules().for_type(t) is None)
    assert not missing, f"types without replace rules in {RULES_PATH.name}: {missing}"


def test_every_aws_entry_names_the_provider_file_and_commit_it_was_read_at():
    pattern = re.compile(
        r"hashicorp/terraform-provider-aws internal/service/\S+\.go @ [0-9a-f]{40}"
    )
    for kind, entry in TYPES.items():
        if kind.startswith("aws:"):
            assert pattern.search(entry["source"]), (kind, entry["source"])
        else:
            assert entry["source"], kind


def _sdk_args(kind: str) -> type | None:
    """The SDK's input-args class for a type token (`aws:ec2/vpc:Vpc` -> pulumi_aws.ec2.VpcArgs,
    `kubernetes:apps/v1:Deployment` -> pulumi_kubernetes.apps.v1.DeploymentInitArgs)."""
    package, module, name = kind.split(":")
    if package == "aws":
        mod = importlib.import_module(f"pulumi_aws.{module.split('/')[0]}")
    elif package == "kubernetes":
        group, version = module.split("/")
        group = {
            "core": "core",
            "storage.k8s.io": "storage",
            "helm.sh": "helm",
            "networking.k8s.io": "networking",
        }.get(group, group)
        mod = importlib.import_module(f"pulumi_kubernetes.{group}.{version}")
    elif package == "random":
        mod = importlib.import_module("pulumi_random")
    else:
        return None
    for candidate in (f"{name}InitArgs", f"{name}Args"):
        if hasattr(mod, candidate):
            return getattr(mod, candidate)  # type: ignore[no-any-return]
    raise AssertionError(f"no args class for {kind} in {mod.__name__}")


@cache
def _names(args: type) -> dict[str, str]:
    """Engine (camelCase) property name -> Python attribute name."""
    return {v: k for k, v in input_type_py_to_pulumi_names(args).items()}


def _nested_args(args: type, python_name: str) -> type | None:
    """The args class of a nested block, from the property's annotation."""
    prop = getattr(args, python_name, None)
    annotation = str(getattr(getattr(prop, "fget", None), "__annotations__", {}).get("return", ""))
    found = re.findall(r"ForwardRef\('([\w.]+Args)'\)", annotation) or re.findall(
        r"\b([\w.]+Args)\b", annotation
    )
    if not found:
        return None
    target: Any = importlib.import_module(args.__module__)
    for part in found[0].split("."):  # `_meta.v1.ObjectMetaArgs` resolves through the module
        target = getattr(target, part, None)
    return target if isinstance(target, type) else None


def _check_path(args: type, path: str) -> str | None:
    """None when every part of `path` is an input property; else what is missing."""
    current: type | None = args
    for part in path.split("."):
        if current is None:
            return f"{path}: no nested type to look `{part}` up in"
        names = _names(current)
        if part not in names:
            return f"{path}: `{part}` is not an input of {current.__name__}"
        current = _nested_args(current, names[part])
    return None


def _paths(entry: dict[str, Any]) -> list[str]:
    return [
        *entry.get("replaceOn", []),
        *entry.get("immutable", []),
        *entry.get("replaceWhenRemoved", []),
        *entry.get("replaceWhenDecreased", []),
        *entry.get("replaceWhenSwitched", []),
        *entry.get("updateWhenDependencyUpdated", []),
        *entry.get("replaceUnless", {}),
        *(other for cond in entry.get("replaceUnless", {}).values() for other in cond),
    ]


@pytest.mark.parametrize("kind", sorted(TYPES), ids=lambda k: k.split(":")[-1])
def test_every_property_named_is_an_input_of_the_type_in_the_installed_sdk(kind: str):
    if kind.startswith("pulumi:providers:"):
        assert TYPES[kind]["replaceOn"] == []
        return
    group = kind.split(":")[1].split("/")[0]
    if group in CUSTOM_RESOURCE_GROUPS:
        # Custom resources: no typed args; immutable fields are the CRD's, under spec.
        assert all(p.startswith("spec.") for p in _paths(TYPES[kind])), kind
        return
    args = _sdk_args(kind)
    assert args is not None, kind
    problems = [p for p in (_check_path(args, path) for path in _paths(TYPES[kind])) if p]
    assert not problems, f"{kind}: {problems}"


def test_kubernetes_common_rules_name_metadata_inputs():
    args = _sdk_args("kubernetes:core/v1:ConfigMap")
    assert args is not None
    for path in RULES["kubernetesCommon"]["replaceOn"]:
        assert _check_path(args, path) is None, path


def test_the_cross_check_catches_a_misspelt_property():
    args = _sdk_args("aws:ec2/vpc:Vpc")
    assert args is not None
    assert _check_path(args, "cidrBlock") is None
    assert _check_path(args, "cidr_block") is not None
    node_group = _sdk_args("aws:eks/nodeGroup:NodeGroup")
    assert node_group is not None
    assert _check_path(node_group, "launchTemplate.id") is None
    assert _check_path(node_group, "launchTemplate.idd") is not None
