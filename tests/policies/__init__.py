"""Shared helpers for the policy pack tests: hand-built preview documents run through the same
analyzer path as the offline plan (`scripts.plan.policy_stage.analyze`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scripts.plan import policy_stage

PROJECT = "p"
STACK_NAME = "t"
STACK_URN = f"urn:pulumi:{STACK_NAME}::{PROJECT}::pulumi:pulumi:Stack::{PROJECT}-{STACK_NAME}"

TAGS = {
    "environment": "dev",
    "project": "gpu-platform",
    "owner": "ml-platform",
    "cost-center": "rnd-0000",
    "team": "ml-platform",
}
"""Every tag the pack requires by default, with values."""


def urn(type_token: str, name: str) -> str:
    return f"urn:pulumi:{STACK_NAME}::{PROJECT}::{type_token}::{name}"


def state(
    type_token: str,
    name: str,
    inputs: dict[str, Any] | None = None,
    property_dependencies: dict[str, list[str]] | None = None,
    *,
    provider: str = "",
) -> dict[str, Any]:
    """One resource's new state, shaped as in `pulumi preview --json`."""
    resource_urn = urn(type_token, name)
    return {
        "urn": resource_urn,
        "type": type_token,
        "custom": True,
        "parent": STACK_URN,
        "inputs": inputs or {},
        "dependencies": sorted({u for us in (property_dependencies or {}).values() for u in us}),
        "provider": provider,
        "propertyDependencies": property_dependencies or {},
    }


def provider_state(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """A `pulumi:providers:aws` resource (no parent, as the engine records default providers)."""
    provider = state("pulumi:providers:aws", name, inputs)
    provider["parent"] = ""
    return provider


def provider_reference(provider: dict[str, Any], provider_id: str = "0c0ffee0") -> str:
    """How a resource's `provider` field names its provider: `<provider urn>::<id>`."""
    return f"{provider['urn']}::{provider_id}"


def doc(*states: dict[str, Any]) -> dict[str, Any]:
    """A bare preview document with one create step per state (stack root first)."""
    root = {
        "urn": STACK_URN,
        "type": "pulumi:pulumi:Stack",
        "custom": False,
        "parent": "",
        "inputs": {},
        "dependencies": [],
        "provider": "",
        "propertyDependencies": {},
    }
    return {"steps": [{"op": "create", "urn": s["urn"], "newState": s} for s in (root, *states)]}


def write_config(tmp_path: Path, config: dict[str, Any], name: str = "policy-config.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(config))
    return path


def run_pack(
    document: dict[str, Any], config: dict[str, Any] | None, tmp_path: Path
) -> dict[str, Any]:
    """`analyze(document, config_path)` with `config` written to tmp_path in the CLI's format."""
    path = write_config(tmp_path, config) if config is not None else None
    return policy_stage.analyze(document, path)


def violations(result: dict[str, Any], policy: str) -> list[dict[str, Any]]:
    return [v for v in result["violations"] if v["policy"] == policy]


def check(
    policy: str,
    *states: dict[str, Any],
    tmp_path: Path,
    config: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The violations of `policy` for a document of `states` under `config`."""
    return violations(
        run_pack(doc(*states), config if config is not None else {}, tmp_path), policy
    )
