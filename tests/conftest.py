"""Shared fixtures: run code as a Pulumi program under recording mocks; query what it registered."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.plan.runner import Registration, run_function

ROOT = Path(__file__).resolve().parents[1]
STACKS = sorted(
    p.name.removeprefix("Pulumi.").removesuffix(".yaml")
    for p in (ROOT / "stacks").glob("Pulumi.*.yaml")
)


@dataclass
class Recorded:
    """What a program registered, with the queries tests need."""

    registrations: list[Registration]
    outputs: dict[str, Any]

    def of_type(self, type_token: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_token]

    def one(self, type_token: str, name: str | None = None) -> Registration:
        found = [r for r in self.of_type(type_token) if name is None or r.name == name]
        assert len(found) == 1, (
            f"expected one {type_token} {name or ''}, got {[r.name for r in found]}"
        )
        return found[0]

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.registrations if r.urn == urn)

    def children(self, parent_urn: str) -> list[Registration]:
        return [r for r in self.registrations if r.parent == parent_urn]


@pytest.fixture
def run_pulumi() -> Iterator[Callable[..., Recorded]]:
    """`run_pulumi(fn, config={...})` runs `fn` as a program (preview=False) and records it."""

    def run(
        function: Callable[[], Any], config: dict[str, str] | None = None, stack: str = "test"
    ) -> Recorded:
        registrations, outputs = run_function(
            function,
            stack=stack,
            project="gpu-platform",
            config=config or {"aws:region": "us-east-1"},
        )
        return Recorded(registrations, outputs)

    yield run


def stack_raw_config(stack: str) -> dict[str, str]:
    """A shipped stack's config as the engine passes it."""
    data = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
