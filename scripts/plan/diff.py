"""Plans against a base: the op a real `pulumi preview` would give each resource.

The base is what is deployed, or what was planned before: an earlier preview document (the offline
plan's, or a real `pulumi preview --json`) or a real stack's `pulumi stack export`
(`deployment.resources[]`). Each step of the new document gets `op` (`same`, `create`, `update`,
`replace`), `oldState`, `diffReasons` and `replaceReasons` (top-level property names, as
`pulumi preview --json` shows them); resources of the base that the program no longer registers
get `delete` steps; `changeSummary` counts the ops.

Which changed properties replace a resource comes from `replace_rules.json` (one entry per
resource type, with the provider source it was read from). A custom resource whose type has no
entry is an error, never a silent update.

What the comparison models from the engine:
- A property fed by another resource's output (`propertyDependencies`) is unknown while that
  resource is created or replaced: the property counts as changed, and, when it forces a new
  resource, the dependent is replaced too (a new VPC replaces its subnets).
- Against a stack export, a property fed by a resource that stays is taken as unchanged when it
  depends on the same resources as before: the mocks' ids and ARNs cannot equal the live ones,
  and the engine would read the live outputs. (A literal change inside such a property, such as
  a new action in a policy document that names a bucket, is therefore not seen against an export;
  against a plan document it is, since both sides come from the same mocks.)
- A few outputs are recomputed by every update of their resource (a launch template's
  `latestVersion`); properties the rules mark as fed by one change when that resource updates
  (a node group then rolls to the new template version).
- Names the provider generated (listed in the old inputs' `__defaults`) are kept by the engine
  when the program does not set them: their absence in the new inputs is no change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from scripts.plan.runner import PlanError
from scripts.plan.shape import export_problem, preview_document_problem

RULES_PATH = Path(__file__).with_name("replace_rules.json")
REPLACE_OPS = {"replace", "create-replacement", "delete-replaced"}
"""Ops a real preview uses for a replacement (`--json` shows `replace`; the engine's step list
may show the pair)."""
DELETE_OPS = {"delete", "discard"}


@dataclass(frozen=True)
class Base:
    """The resources of the base, by URN, and what kind of file they came from."""

    kind: str
    """`plan` (a preview document) or `export` (a `pulumi stack export`)."""
    path: str
    resources: dict[str, dict[str, Any]]
    stack: str | None = None


@dataclass(frozen=True)
class TypeRules:
    replace_on: tuple[str, ...]
    """Property paths (`cidrBlock`, `launchTemplate.id`) whose change forces a new resource."""
    immutable: tuple[str, ...] = ()
    """Paths the API server refuses to change in place (the update fails; delete and recreate)."""
    replace_when_removed: tuple[str, ...] = ()
    """Top-level properties whose removal forces a new resource (EKS `encryptionConfig`)."""
    replace_when_decreased: tuple[str, ...] = ()
    """Numeric top-level properties whose decrease forces a new resource (FSx capacity)."""
    replace_unless: tuple[tuple[str, str, str], ...] = ()
    """(property, other property, value): a change of `property` forces a new resource unless
    the new `other property` has that value (a VPC endpoint's private DNS outside Interface)."""
    replace_when_switched: tuple[str, ...] = ()
    """Mutually exclusive properties: moving from one to another forces a new resource (a
    security group rule's source kind)."""
    update_when_dependency_updated: tuple[str, ...] = ()
    """Properties fed by an output the provider recomputes on every update of the resource it
    comes from (a node group's `launchTemplate.version` is the template's `latestVersion`)."""
    source: str = ""


@dataclass(frozen=True)
class Rules:
    types: dict[str, TypeRules]
    kubernetes_common: tuple[str, ...]
    """Paths that replace every Kubernetes object (metadata.name, metadata.namespace)."""
    meta: dict[str, Any] = field(default_factory=dict)

    def for_type(self, kind: str) -> TypeRules | None:
        """The type's rules; Kubernetes objects (not Helm releases) add the metadata rules the
        provider applies to every kind. None when the table has no entry for the type."""
        rules = self.types.get(kind)
        if rules is None:
            return None
        if kind.startswith("kubernetes:") and not kind.startswith("kubernetes:helm.sh/"):
            return TypeRules(
                replace_on=tuple(dict.fromkeys(self.kubernetes_common + rules.replace_on)),
                immutable=rules.immutable,
                replace_when_removed=rules.replace_when_removed,
                replace_when_decreased=rules.replace_when_decreased,
                replace_unless=rules.replace_unless,
                replace_when_switched=rules.replace_when_switched,
                update_when_dependency_updated=rules.update_when_dependency_updated,
                source=rules.source,
            )
        return rules


@cache
def load_rules(path: Path = RULES_PATH) -> Rules:
    data = json.loads(path.read_text())
    types = {
        kind: TypeRules(
            replace_on=tuple(entry.get("replaceOn", [])),
            immutable=tuple(entry.get("immutable", [])),
            replace_when_removed=tuple(entry.get("replaceWhenRemoved", [])),
            replace_when_decreased=tuple(entry.get("replaceWhenDecreased", [])),
            replace_unless=tuple(
                (prop, other, str(value))
                for prop, condition in (entry.get("replaceUnless") or {}).items()
                for other, value in condition.items()
            ),
            replace_when_switched=tuple(entry.get("replaceWhenSwitched", [])),
            update_when_dependency_updated=tuple(entry.get("updateWhenDependencyUpdated", [])),
            source=str(entry.get("source", "")),
        )
        for kind, entry in data["types"].items()
    }
    return Rules(
        types=types,
        kubernetes_common=tuple(data["kubernetesCommon"]["replaceOn"]),
        meta={"sources": data.get("sources", {})},
    )


# --------------------------------------------------------------------------- reading a base


def _state_from_export(resource: dict[str, Any]) -> dict[str, Any]:
    return {
        "urn": resource["urn"],
        "type": resource["type"],
        "custom": bool(resource.get("custom", False)),
        "parent": resource.get("parent", ""),
        "protect": bool(resource.get("protect", False)),
        "inputs": resource.get("inputs") or {},
        "outputs": resource.get("outputs") or {},
        "dependencies": resource.get("dependencies") or [],
        "provider": resource.get("provider", ""),
        "propertyDependencies": resource.get("propertyDependencies") or {},
        **({"id": resource["id"]} if resource.get("id") else {}),
    }


def base_from_data(data: Any, path: str = "<base>") -> Base:
    """Read a preview document or a stack export (already parsed). Raises PlanError."""
    if not isinstance(data, dict):
        raise PlanError(f"base {path} is not a JSON object")
    resources: dict[str, dict[str, Any]] = {}
    if isinstance(data.get("deployment"), dict):
        problem = export_problem(data["deployment"])
        if problem:
            raise PlanError(f"base {path}: {problem}")
        for resource in data["deployment"].get("resources") or []:
            if resource.get("delete"):
                continue  # the old copy of a replaced resource, pending deletion: not owned
            resources[resource["urn"]] = _state_from_export(resource)
        kind = "export"
    elif isinstance(data.get("steps"), list):
        problem = preview_document_problem(data)
        if problem:
            raise PlanError(f"base {path}: {problem}")
        for index, step in enumerate(data["steps"]):
            if step.get("op") in DELETE_OPS or step.get("op") == "delete-replaced":
                continue
            state = step.get("newState")
            if not isinstance(state, dict):
                raise PlanError(f"base {path}: steps[{index}] ({step.get('op')}) has no newState")
            resources[state["urn"]] = state
        kind = "plan"
    else:
        raise PlanError(
            f"base {path} is neither a preview document (`steps`) nor a stack export "
            "(`deployment.resources`)"
        )
    stacks = {_urn_stack(urn) for urn in resources}
    return Base(kind=kind, path=path, resources=resources, stack=next(iter(stacks), None))


def read_base(path: Path) -> Base:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PlanError(f"cannot read base {path}: {exc}") from None
    return base_from_data(data, str(path))


def _urn_stack(urn: str) -> str:
    """`urn:pulumi:dev::project::type::name` -> `dev`."""
    return urn.removeprefix("urn:pulumi:").split("::", 1)[0]


# --------------------------------------------------------------------------- comparing


_MISSING = object()


def _norm(value: Any) -> Any:
    """Values as the engine compares them: no `__` keys, None equal to absent, 14.0 equal to 14."""
    if isinstance(value, dict):
        return {
            k: _norm(v)
            for k, v in sorted(value.items())
            if not k.startswith("__") and v is not None
        }
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _get(value: Any, path: list[str]) -> Any:
    for part in path:
        if isinstance(value, list):  # a block the provider models as a list: look inside each
            value = [_get(item, [part]) for item in value]
            continue
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _known_urn(value: str) -> str:
    """A provider reference `urn::id` -> `urn`."""
    return value.rsplit("::", 1)[0] if value.count("::") > 3 else value


class TypeNotCovered(PlanError):
    pass


def _property_changes(
    old: dict[str, Any],
    new: dict[str, Any],
    ops: dict[str, str],
    base_kind: str,
    urn: str = "",
) -> tuple[list[str], set[str], set[str]]:
    """Changed top-level input keys, the keys whose new value is unknown (a dependency is
    created or replaced), and the keys whose values cannot be compared (fed by a resource that
    stays, against an export: the live value and the mocks' stand-in differ by construction)."""
    old_inputs = old.get("inputs") or {}
    new_inputs = new.get("inputs") or {}
    defaults = set(old_inputs.get("__defaults") or [])
    new_deps = new.get("propertyDependencies") or {}
    old_deps = old.get("propertyDependencies") or {}
    changed: list[str] = []
    unknown: set[str] = set()
    opaque: set[str] = set()
    for key in sorted((set(old_inputs) | set(new_inputs)) - {"__defaults"}):
        if key.startswith("__"):
            continue
        deps = [d for d in new_deps.get(key) or [] if d != urn]
        if any(ops.get(d) in ("create", "replace") for d in deps):
            unknown.add(key)
            changed.append(key)
            continue
        if key not in new_inputs and key in defaults:
            continue  # a name the provider generated: the engine keeps it
        if deps and base_kind == "export":
            opaque.add(key)
            if sorted(set(deps)) != sorted(set(old_deps.get(key) or [])) and key in old_deps:
                changed.append(key)
            continue
        if _norm(old_inputs.get(key)) != _norm(new_inputs.get(key)):
            changed.append(key)
    return changed, unknown, opaque


def _path_changed(
    old: dict[str, Any],
    new: dict[str, Any],
    path: str,
    unknown: set[str],
    opaque: frozenset[str] | set[str] = frozenset(),
) -> bool:
    parts = path.split(".")
    if parts[0] in unknown:
        return True
    if parts[0] in opaque:
        # Only the whole property is known to change (its dependencies changed); a nested
        # part of it keeps its live value.
        return len(parts) == 1
    before = _get(old.get("inputs") or {}, parts)
    after = _get(new.get("inputs") or {}, parts)
    if before is _MISSING and after is _MISSING:
        return False
    return bool(
        _norm(None if before is _MISSING else before) != _norm(None if after is _MISSING else after)
    )


@dataclass
class StepDiff:
    op: str
    diff_reasons: list[str] = field(default_factory=list)
    replace_reasons: list[str] = field(default_factory=list)
    immutable: list[str] = field(default_factory=list)


def diff_state(
    old: dict[str, Any],
    new: dict[str, Any],
    ops: dict[str, str],
    rules: Rules,
    base_kind: str,
) -> StepDiff:
    """The op for one resource present in the base and in the new document."""
    kind = new["type"]
    if old.get("type") != kind:
        # The engine never diffs two types under one URN (the type is part of it); a hand-made
        # base could: a new type is a new resource.
        return StepDiff(op="replace", diff_reasons=["type"], replace_reasons=["type"])
    changed, unknown, opaque = _property_changes(old, new, ops, base_kind, new["urn"])
    custom = bool(new.get("custom"))
    if not custom or kind == "pulumi:pulumi:Stack":
        # Components and the stack root have no provider: the engine never replaces them.
        return StepDiff(op="update" if changed else "same", diff_reasons=changed)
    type_rules = rules.for_type(kind)
    if type_rules is None:
        raise TypeNotCovered(
            f"no replace rules for resource type {kind} ({new['urn']}): add it to "
            f"{RULES_PATH.name} with its provider source"
        )
    new_deps = new.get("propertyDependencies") or {}
    for key in type_rules.update_when_dependency_updated:
        if key not in changed and any(ops.get(d) == "update" for d in new_deps.get(key) or []):
            changed.append(key)
    if not changed:
        return StepDiff(op="same")
    replace_reasons: list[str] = []
    for path in type_rules.replace_on:
        top = path.split(".")[0]
        if (
            top in changed
            and top not in replace_reasons
            and _path_changed(old, new, path, unknown, opaque)
        ):
            replace_reasons.append(top)
    old_inputs, new_inputs = old.get("inputs") or {}, new.get("inputs") or {}
    for key in type_rules.replace_when_removed:
        if key in changed and old_inputs.get(key) and not new_inputs.get(key):
            replace_reasons.append(key)
    for key in type_rules.replace_when_decreased:
        before, after = old_inputs.get(key), new_inputs.get(key)
        if (
            key in changed
            and isinstance(before, int | float)
            and isinstance(after, int | float)
            and after < before
        ):
            replace_reasons.append(key)
    for key, other, value in type_rules.replace_unless:
        if key in changed and str(new_inputs.get(other)) != value:
            replace_reasons.append(key)
    if type_rules.replace_when_switched:
        group = type_rules.replace_when_switched
        before = {k for k in group if old_inputs.get(k) not in (None, "")}
        after = {k for k in group if new_inputs.get(k) not in (None, "")}
        if before != after:
            replace_reasons += sorted(before ^ after)
    immutable = [
        path
        for path in type_rules.immutable
        if path.split(".")[0] in changed and _path_changed(old, new, path, unknown, opaque)
    ]
    return StepDiff(
        op="replace" if replace_reasons else "update",
        diff_reasons=changed,
        replace_reasons=sorted(set(replace_reasons)),
        immutable=immutable,
    )


def _dependency_order(urns: list[str], states: dict[str, dict[str, Any]]) -> list[str]:
    """URNs with every dependency (dependencies, property dependencies, parent) first."""
    order: list[str] = []
    seen: set[str] = set()

    def deps(urn: str) -> set[str]:
        state = states[urn]
        found = set(state.get("dependencies") or [])
        for values in (state.get("propertyDependencies") or {}).values():
            found |= set(values or [])
        return {d for d in found if d in states and d != urn}

    def visit(urn: str, path: frozenset[str]) -> None:
        if urn in seen or urn in path:
            return
        for dep in sorted(deps(urn)):
            visit(dep, path | {urn})
        seen.add(urn)
        order.append(urn)

    for urn in urns:
        visit(urn, frozenset())
    return order


def apply_base(document: dict[str, Any], base: Base, rules: Rules | None = None) -> None:
    """Give every step of `document` its op against `base`; add delete steps; count the ops.

    Raises PlanError when a custom resource's type has no replace rules."""
    rules = rules or load_rules()
    steps = [s for s in document.get("steps", []) if isinstance(s.get("newState"), dict)]
    states = {s["newState"]["urn"]: s["newState"] for s in steps}
    ops: dict[str, str] = {}
    diffs: dict[str, StepDiff] = {}
    for urn in _dependency_order(list(states), states):
        new = states[urn]
        old = base.resources.get(urn)
        if old is None:
            diffs[urn] = StepDiff(op="create")
        else:
            diffs[urn] = diff_state(old, new, ops, rules, base.kind)
        ops[urn] = diffs[urn].op
    for step in steps:
        urn = step["newState"]["urn"]
        result = diffs[urn]
        step["op"] = result.op
        step.pop("oldState", None)
        step.pop("diffReasons", None)
        step.pop("replaceReasons", None)
        if urn in base.resources:
            step["oldState"] = base.resources[urn]
        if result.op in ("update", "replace"):
            step["diffReasons"] = result.diff_reasons
        if result.op == "replace":
            step["replaceReasons"] = result.replace_reasons
        if result.immutable:
            step["immutableChanges"] = result.immutable
    deleted = [urn for urn in base.resources if urn not in states]
    # Dependents go first when deleting, as the engine does.
    gone = set(deleted)
    ordered = [u for u in _dependency_order(deleted, base.resources) if u in gone]
    for urn in reversed(ordered):
        document["steps"].append({"op": "delete", "urn": urn, "oldState": base.resources[urn]})
    document["changeSummary"] = change_summary(document)
    document["base"] = {"path": base.path, "kind": base.kind, "resources": len(base.resources)}


def change_summary(document: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for step in document.get("steps", []):
        op = str(step.get("op", ""))
        counts[op] = counts.get(op, 0) + 1
    return dict(sorted(counts.items()))


def base_document(document: dict[str, Any]) -> dict[str, Any]:
    """The base as a preview document of its own (every old state as a step), for pricing."""
    return {
        "steps": [
            {"op": "same", "urn": s["oldState"]["urn"], "newState": s["oldState"]}
            for s in document.get("steps", [])
            if isinstance(s.get("oldState"), dict) and s.get("op") not in ("create-replacement",)
        ]
    }
