"""Building blocks for tests: shipped stack configs with overrides, resolved into specs.

Tests never build component arguments by hand: they take a shipped stack's config, change the
keys under test, and resolve it exactly as the program does (`resolve_platform`).
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

from components.config import (
    PROJECT_NAMESPACE,
    StackConfig,
    load_stack_config,
    read_stack_file,
    stack_file,
)
from components.resolve import PlatformSpec, resolve_platform

ROOT = Path(__file__).resolve().parents[1]
STACKS = sorted(
    p.name.removeprefix("Pulumi.").removesuffix(".yaml")
    for p in (ROOT / "stacks").glob("Pulumi.*.yaml")
)


def raw_config(stack: str = "dev", **overrides: Any) -> dict[str, str]:
    """A shipped stack's config as the engine passes it, with `gpu-platform:<key>` overrides
    (keys in camelCase as in the stack file; a value of None removes the key)."""
    raw = read_stack_file(stack_file(stack))
    for key, value in overrides.items():
        name = key if ":" in key else f"{PROJECT_NAMESPACE}:{key}"
        if value is None:
            raw.pop(name, None)
        else:
            raw[name] = value if isinstance(value, str) else json.dumps(value)
    return raw


def config(stack: str = "dev", **overrides: Any) -> StackConfig:
    return load_stack_config(raw_config(stack, **overrides))


def platform(stack: str = "dev", **overrides: Any) -> PlatformSpec:
    """The resolved platform of a shipped stack with overrides (project `gpu-platform`)."""
    return resolve_platform(config(stack, **overrides), PROJECT_NAMESPACE, stack)


@functools.cache
def _planned(stack: str) -> tuple[dict[str, Any], dict[str, Any]]:
    from scripts.plan.__main__ import plan

    return plan(stack)


def shipped_plan(stack: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The offline plan of a shipped stack (document, stage results), computed once per test
    session; the document is a copy, so a test may change it."""
    document, results = _planned(stack)
    return copy.deepcopy(document), results
