"""Policy stage: run the CrossGuard pack over the preview document through the analyzer protocol.

This drives the pack's own analyzer servicer (the object `PolicyPack` serves over gRPC) with the
protobuf requests the Pulumi CLI sends: `GetAnalyzerInfo`, then `Configure` with the per-stack
policy config (`policies/config/<stack>.json`, in the CLI's `--policy-pack-config` format, with
JSON-schema defaults filled in and values validated as the CLI does), then `Analyze` for every
resource and `AnalyzeStack` once. Enforcement levels, config and defaults therefore behave as
under `pulumi preview --policy-pack policies --policy-pack-config policies/config/<stack>.json`.

Every stack needs its policy config: a stack without `policies/config/<stack>.json` fails the plan
(exit 2), since the pack's defaults lack the per-environment rules (private endpoint, GPU types,
spot share, budget ceiling). To run a stack on the pack's defaults on purpose, opt in explicitly
with a file that holds just `{}`; the report then shows that config file, so the choice is visible
in review.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
from google.protobuf import json_format, struct_pb2
from pulumi.runtime import proto
from pulumi_policy.policy import _PolicyAnalyzerServicer

from policies import pack
from scripts.plan.runner import ROOT, PlanError
from scripts.plan.stages import PlanContext, StageResult, states

CONFIG_DIR = ROOT / "policies" / "config"
LEVELS = {
    "advisory": proto.EnforcementLevel.ADVISORY,
    "mandatory": proto.EnforcementLevel.MANDATORY,
    "disabled": proto.EnforcementLevel.DISABLED,
    "remediate": proto.EnforcementLevel.REMEDIATE,
}
LEVEL_NAMES = {value: name for name, value in LEVELS.items()}


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(value, struct_pb2.Struct())


def servicer() -> _PolicyAnalyzerServicer:
    """The pack's analyzer, exactly as `PolicyPack(...)` in policies/__main__.py builds it."""
    return _PolicyAnalyzerServicer(
        pack.PACK_NAME, pack.PACK_VERSION, pack.policies(), pack.ENFORCEMENT_LEVEL, None
    )


def policy_config(
    analyzer: _PolicyAnalyzerServicer, path: Path | None
) -> dict[str, proto.PolicyConfig]:
    """The CLI's reading of a `--policy-pack-config` file: levels and properties per policy,
    schema defaults filled in, values validated against each policy's schema."""
    info = analyzer.GetAnalyzerInfo(None, None)
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise PlanError(f"cannot read policy config {path}: {exc}") from None
    known = {p.name: p for p in info.policies}
    unknown = sorted(set(raw) - set(known) - {"all"})
    if unknown:
        raise PlanError(f"{path}: unknown policies {unknown} (the pack has {sorted(known)})")
    default_level = raw.get("all")
    if default_level is not None and not isinstance(default_level, str):
        raise PlanError(f"{path}: all must be an enforcement level (got {default_level!r})")
    result: dict[str, proto.PolicyConfig] = {}
    for name, policy in known.items():
        # As the CLI: `all` sets every level first; a policy's own entry refines it.
        level = default_level if default_level is not None else LEVEL_NAMES[policy.enforcementLevel]
        entry = raw.get(name)
        properties: dict[str, Any] = {}
        if isinstance(entry, str):
            level = entry
        elif isinstance(entry, dict):
            properties = {k: v for k, v in entry.items() if k != "enforcementLevel"}
            level = entry.get("enforcementLevel", level)
        elif entry is not None:
            raise PlanError(f"{path}: {name} must be a string or an object (got {entry!r})")
        if level not in LEVELS:
            raise PlanError(f"{path}: {name}: unknown enforcement level {level!r}")
        schema = json_format.MessageToDict(policy.configSchema)
        schema_properties = schema.get("properties") or {}
        for key, prop_schema in schema_properties.items():
            if key not in properties and "default" in prop_schema:
                properties[key] = prop_schema["default"]
        if schema_properties:
            try:
                jsonschema.validate(
                    properties,
                    {
                        "type": "object",
                        "properties": schema_properties,
                        "required": schema.get("required") or [],
                        "additionalProperties": False,
                    },
                )
            except jsonschema.ValidationError as exc:
                where = ".".join(str(p) for p in exc.absolute_path) or "(config)"
                raise PlanError(f"{path}: {name}.{where}: {exc.message}") from None
        elif properties:
            raise PlanError(f"{path}: {name} takes no configuration (got {sorted(properties)})")
        result[name] = proto.PolicyConfig(
            enforcementLevel=LEVELS[level], properties=_struct(properties)
        )
    return result


def _provider(state: dict[str, Any], by_urn: dict[str, dict[str, Any]]) -> Any:
    reference = state.get("provider") or ""
    provider = by_urn.get(reference.rsplit("::", 1)[0]) if reference else None
    if provider is None:
        return None
    return proto.AnalyzerProviderResource(
        type=provider["type"],
        properties=_struct(provider.get("inputs") or {}),
        urn=provider["urn"],
        name=provider["urn"].rsplit("::", 1)[-1],
    )


def _shown(path: Path | None) -> str | None:
    if path is None:
        return None
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def analyze(document: dict[str, Any], config_path: Path | None) -> dict[str, Any]:
    """Run the pack over the document; return its results as plain data."""
    analyzer = servicer()
    analyzer.Configure(
        proto.ConfigureAnalyzerRequest(policyConfig=policy_config(analyzer, config_path)), None
    )
    all_states = [s for s in states(document) if s["type"] != "pulumi:pulumi:Stack"]
    by_urn = {s["urn"]: s for s in all_states}
    diagnostics: list[Any] = []
    resources = []
    for state in all_states:
        options = proto.AnalyzerResourceOptions(
            protect=bool(state.get("protect")), parent=state.get("parent") or ""
        )
        common = {
            "type": state["type"],
            "properties": _struct(state.get("inputs") or {}),
            "urn": state["urn"],
            "name": state["urn"].rsplit("::", 1)[-1],
            "options": options,
        }
        provider = _provider(state, by_urn)
        if provider is not None:
            common["provider"] = provider
        response = analyzer.Analyze(proto.AnalyzeRequest(**common), None)
        for diagnostic in response.diagnostics:
            if not diagnostic.urn:  # the engine attributes resource findings to the resource
                diagnostic.urn = state["urn"]
            diagnostics.append(diagnostic)
        resources.append(
            proto.AnalyzerResource(
                **common,
                parent=state.get("parent") or "",
                dependencies=state.get("dependencies") or [],
                propertyDependencies={
                    key: proto.AnalyzerPropertyDependencies(urns=urns)
                    for key, urns in (state.get("propertyDependencies") or {}).items()
                },
            )
        )
    response = analyzer.AnalyzeStack(proto.AnalyzeStackRequest(resources=resources), None)
    diagnostics.extend(response.diagnostics)

    violations = [
        {
            "policy": d.policyName,
            "enforcementLevel": LEVEL_NAMES.get(d.enforcementLevel, str(d.enforcementLevel)),
            "urn": d.urn,
            "message": d.message.removeprefix(d.description).strip() or d.description,
        }
        for d in diagnostics
    ]
    violations.sort(key=lambda v: (v["enforcementLevel"] != "mandatory", v["policy"], v["urn"]))
    info = analyzer.GetAnalyzerInfo(None, None)
    configured = policy_config(analyzer, config_path)
    return {
        "pack": pack.PACK_NAME,
        "version": pack.PACK_VERSION,
        "config": _shown(config_path),
        "policies": [
            {
                "name": p.name,
                "enforcementLevel": LEVEL_NAMES[configured[p.name].enforcementLevel],
                "violations": sum(1 for v in violations if v["policy"] == p.name),
            }
            for p in info.policies
        ],
        "violations": violations,
    }


class PolicyStage:
    """The CrossGuard pack's verdict on the document (mandatory violations block the plan)."""

    key = "policies"
    title = "Policies"

    def __init__(self, config_dir: Path = CONFIG_DIR):
        self.config_dir = config_dir

    def run(self, context: PlanContext) -> StageResult:
        path = self.config_path(context.stack)
        data = analyze(context.document, path)
        blocking = [
            f"{v['policy']}: {v['message']}"
            for v in data["violations"]
            if v["enforcementLevel"] == "mandatory"
        ]
        return StageResult.rendered(data, self._render, blocking)

    def config_path(self, stack: str) -> Path:
        """The stack's policy config; PlanError when it has none (see the module docstring)."""
        path = self.config_dir / f"{stack}.json"
        if not path.is_file():
            shown = _shown(path)
            raise PlanError(
                f"stack {stack!r} has no policy config {shown}: without it the pack runs on its "
                "defaults and loses this environment's rules (private endpoint, GPU types, spot "
                f"share, budget ceiling). Copy the closest of {_shown(self.config_dir)}/*.json, or "
                f"opt in to the pack's defaults explicitly with a {shown} that holds just {{}}"
            )
        return path

    @staticmethod
    def _render(data: dict[str, Any], table: Any) -> list[str]:
        lines = [
            f"pack {data['pack']} {data['version']}, config {data['config'] or '(defaults)'}: "
            f"{len(data['policies'])} policies, {len(data['violations'])} violations",
            "",
        ]
        lines += table(
            ["policy", "level", "violations"],
            [[p["name"], p["enforcementLevel"], str(p["violations"])] for p in data["policies"]],
        )
        if data["violations"]:
            lines.append("")
            lines += table(
                ["level", "policy", "resource", "message"],
                [
                    [
                        v["enforcementLevel"],
                        v["policy"],
                        (v["urn"] or "(stack)").rsplit("::", 1)[-1],
                        v["message"],
                    ]
                    for v in data["violations"]
                ],
            )
        return lines
