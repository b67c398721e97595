"""The shape of a document that enters the plan from outside: a preview document (`--preview-json`,
`--base`, a real `pulumi preview --json` among them) or a stack export (`--base`).

The stages read steps and resource states field by field. Each document is checked once, where it
is read, so a malformed one is a single `plan: error: ...` line naming the place
(`steps[3].newState.propertyDependencies`) and what belongs there, never a traceback from deep in a
stage. A field that is absent or null is fine wherever the stages have a default for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

_TEXT = ("parent", "provider", "id")
_FLAGS = ("custom", "protect", "retainOnDelete", "delete", "external")
_OBJECTS = ("inputs", "outputs")


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _urn_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not value.startswith("urn:pulumi:"):
        return f"must be a URN (urn:pulumi:...) (got {_shown(value)})"
    return None


def state_problems(state: Any, where: str) -> Iterator[str]:
    """What is wrong with one resource state (a step's newState or oldState, or an export's
    resource), each as `<where>.<field>: <what belongs there>`."""
    if not isinstance(state, dict):
        yield f"{where}: must be an object (got {_shown(state)})"
        return
    problem = _urn_problem(state.get("urn"))
    if problem:
        yield f"{where}.urn: {problem}"
    kind = state.get("type")
    if not isinstance(kind, str) or not kind:
        yield f"{where}.type: must be a resource type token (got {_shown(kind)})"
    for key in _TEXT:
        if state.get(key) is not None and not isinstance(state[key], str):
            yield f"{where}.{key}: must be a string (got {_shown(state[key])})"
    for key in _FLAGS:
        if state.get(key) is not None and not isinstance(state[key], bool):
            yield f"{where}.{key}: must be true or false (got {_shown(state[key])})"
    for key in _OBJECTS:
        if state.get(key) is not None and not isinstance(state[key], dict):
            yield f"{where}.{key}: must be an object (got {_shown(state[key])})"
    dependencies = state.get("dependencies")
    if dependencies is not None and (
        not isinstance(dependencies, list) or any(_urn_problem(u) for u in dependencies)
    ):
        yield f"{where}.dependencies: must be a list of URNs (got {_shown(dependencies)})"
    by_property = state.get("propertyDependencies")
    if by_property is not None and (
        not isinstance(by_property, dict)
        or any(
            not isinstance(urns, list) or any(_urn_problem(u) for u in urns)
            for urns in by_property.values()
        )
    ):
        yield (
            f"{where}.propertyDependencies: must be an object of URN lists "
            f"(got {_shown(by_property)})"
        )


def step_problems(step: Any, where: str) -> Iterator[str]:
    """What is wrong with one step of a preview document."""
    if not isinstance(step, dict):
        yield f"{where}: must be an object (got {_shown(step)})"
        return
    if step.get("op") is not None and not isinstance(step["op"], str):
        yield f"{where}.op: must be a string (got {_shown(step['op'])})"
    if step.get("urn") is not None:
        problem = _urn_problem(step["urn"])
        if problem:
            yield f"{where}.urn: {problem}"
    if step.get("newState") is None and step.get("oldState") is None:
        yield f"{where}: has neither newState nor oldState"
    for key in ("newState", "oldState"):
        if step.get(key) is not None:
            yield from state_problems(step[key], f"{where}.{key}")
    for key in ("diffReasons", "replaceReasons"):
        value = step.get(key)
        if value is not None and (
            not isinstance(value, list) or not all(isinstance(v, str) for v in value)
        ):
            yield f"{where}.{key}: must be a list of property names (got {_shown(value)})"


def preview_document_problem(document: dict[str, Any]) -> str | None:
    """The first thing wrong with a preview document's steps and the plan's own preview keys
    (`previewInputs`, `previewAbsent`, `computedOutputs`), or None."""
    steps = document.get("steps", [])
    if not isinstance(steps, list):
        return f"steps: must be a list (got {_shown(steps)})"
    for index, step in enumerate(steps):
        for problem in step_problems(step, f"steps[{index}]"):
            return problem
    for key in ("previewInputs", "computedOutputs"):
        value = document.get(key)
        if value is not None and (
            not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values())
        ):
            return f"{key}: must be an object of objects by URN (got {_shown(value)})"
    absent = document.get("previewAbsent")
    if absent is not None and (
        not isinstance(absent, list) or any(_urn_problem(u) for u in absent)
    ):
        return f"previewAbsent: must be a list of URNs (got {_shown(absent)})"
    return None


def export_problem(deployment: dict[str, Any]) -> str | None:
    """The first thing wrong with a stack export's `deployment.resources`, or None."""
    resources = deployment.get("resources") or []
    if not isinstance(resources, list):
        return f"deployment.resources: must be a list (got {_shown(resources)})"
    for index, resource in enumerate(resources):
        for problem in state_problems(resource, f"deployment.resources[{index}]"):
            return problem
    return None
