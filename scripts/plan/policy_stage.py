"""Policy stage: run the CrossGuard pack over the preview document through the analyzer protocol.

This drives the pack's own analyzer servicer (the object `PolicyPack` serves over gRPC) with the
protobuf requests the Pulumi CLI sends: `GetAnalyzerInfo`, then `Configure` with the per-stack
policy config (`policies/config/<stack>.json`, in the CLI's `--policy-pack-config` format, with
JSON-schema defaults filled in and values validated as the CLI does), then `Analyze` for every
resource and `AnalyzeStack` once. Enforcement levels, config and defaults therefore behave as
under `pulumi preview --policy-pack policies --policy-pack-config policies/config/<stack>.json`.

Preview semantics. The offline plan's mocks know every value, a real `pulumi preview` of a new
stack does not: ids, ARNs and other outputs the provider computes are unknown, and so is every
input built from them (an `apply` over an ARN is wholly unknown; a list of subnet ids is a list of
unknowns; a mapping keeps its known keys), while autonamed physical names and invoke results are
known. The plan runs the program a second time as such a preview (scripts/plan/runner.py:
`preview=True`, every computed output unknown), so the view is exact by provenance: an ARN the
program builds from a bucket's autonamed name is known, the same ARN read from the bucket's `arn`
output is not. `preview_semantics()` takes that view from the document (`previewInputs`, every
resource as the preview run registered it; `previewAbsent`, what it never registered); a step the
preview run does not know (a document edited after the plan) is approximated as below. The pack
runs a second time on that view, and the stage reports per mandatory rule whether it reached a
verdict there; a mandatory rule that cannot (its advisory "can't run ...
during preview"), and a violation seen only under preview semantics, are blocking findings: a real
preview would not enforce that rule, or would fail where the offline plan passes. A real preview
document has its unknowns already; it is evaluated as it is. A document with only the mocks'
record of what they computed (`computedOutputs`, no preview run) is approximated by matching
values: every input containing a computed string becomes unknown (a value built from known parts
that equals a computed output is then unknown too).

Known gaps: `policies/preview-gaps.json` lists, per stack and rule, the undecided properties that
are acknowledged until the program builds them from known values (for example an IAM document
built with `apply` from an ARN). An acknowledged gap is shown, not blocking; any other undecided
property blocks; an acknowledgement that no longer matches is shown as stale, so the list only
shrinks.

Every stack needs its policy config: a stack without `policies/config/<stack>.json` fails the plan
(exit 2), since the pack's defaults lack the per-environment rules (private endpoint, GPU types,
spot share, budget ceiling). To run a stack on the pack's defaults on purpose, opt in explicitly
with a file that holds just `{}`; the report then shows that config file, so the choice is visible
in review.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import jsonschema
from google.protobuf import json_format, struct_pb2
from pulumi.runtime import proto
from pulumi_policy import policy as policy_module
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.policy import _PolicyAnalyzerServicer
from pulumi_policy.proxy import unknown_checking_proxy

from policies import pack
from policies.inputs import UNKNOWN_STRING
from scripts.plan import background
from scripts.plan.runner import ROOT, PlanError
from scripts.plan.stages import PlanContext, StageResult, states

CONFIG_DIR = ROOT / "policies" / "config"
PREVIEW_GAPS = ROOT / "policies" / "preview-gaps.json"
LEVELS = {
    "advisory": proto.EnforcementLevel.ADVISORY,
    "mandatory": proto.EnforcementLevel.MANDATORY,
    "disabled": proto.EnforcementLevel.DISABLED,
    "remediate": proto.EnforcementLevel.REMEDIATE,
}
LEVEL_NAMES = {value: name for name, value in LEVELS.items()}
COMPUTED_KEY = "computedOutputs"
"""The offline plan's record of what the mocks computed, by URN (see scripts/plan/runner.py)."""
PREVIEW_INPUTS_KEY = "previewInputs"
"""Inputs of every resource as the preview run registered them, by URN (scripts/plan/runner.py)."""
PREVIEW_ABSENT_KEY = "previewAbsent"
"""URNs the preview run never registered (created in an `apply` over an unknown value)."""
MIN_SUBSTRING = 8
"""Computed strings at least this long are matched inside any input; shorter values only where an
input equals them and depends on their resource."""
UNDECIDED_PREFIX = "can't run policy"
UNDECIDED_SUFFIX = " can't be known during preview"


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
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise PlanError(f"cannot read policy config {path}: {exc}") from None
        if not isinstance(raw, dict):
            raise PlanError(f"{path}: a policy config is a JSON object (got {type(raw).__name__})")
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
            full_schema = {
                "type": "object",
                "properties": schema_properties,
                "required": schema.get("required") or [],
                "additionalProperties": False,
            }
            validator = jsonschema.validators.validator_for(full_schema)(full_schema)
            error = jsonschema.exceptions.best_match(validator.iter_errors(properties))
            if error is not None:
                where = ".".join(str(p) for p in error.absolute_path) or "(config)"
                raise PlanError(f"{path}: {name}.{where}: {error.message}") from None
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


def preview_semantics(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of the document as a real preview of a new stack would send it to the analyzer:
    the preview run's inputs, or else every input that contains a value the mocks computed
    unknown (see the module docstring)."""
    preview_inputs = document.get(PREVIEW_INPUTS_KEY)
    if isinstance(preview_inputs, dict):
        absent = set(document.get(PREVIEW_ABSENT_KEY) or [])
        # Only what the preview run never registered (the default providers, which the engine
        # adds) is approximated by value; the rest takes the preview run's inputs as they are.
        result = _matching_computed(document, skip=set(preview_inputs))
        result["steps"] = [
            step
            for step in result.get("steps", [])
            if (step.get("newState") or {}).get("urn") not in absent
        ]
        for state in states(result):
            if state["urn"] in preview_inputs:
                state["inputs"] = copy.deepcopy(preview_inputs[state["urn"]])
        return result
    return _matching_computed(document)


def _step_copy(step: Any, skip: Collection[str]) -> Any:
    """A deep copy of a step; a state in `skip` gets empty inputs (its caller replaces them)."""
    state = step.get("newState") if isinstance(step, dict) else None
    if not isinstance(state, dict) or state.get("urn") not in skip:
        return copy.deepcopy(step)
    copied = {k: copy.deepcopy(v) for k, v in step.items() if k != "newState"}
    copied["newState"] = {k: copy.deepcopy(v) for k, v in state.items() if k != "inputs"}
    copied["newState"]["inputs"] = {}
    return copied


def _matching_computed(document: dict[str, Any], skip: Collection[str] = ()) -> dict[str, Any]:
    """The approximation by value: every input containing a computed value is unknown (the
    states in `skip` get empty inputs: the caller replaces them)."""
    left_out = (PREVIEW_INPUTS_KEY, PREVIEW_ABSENT_KEY, COMPUTED_KEY, "steps")
    result = copy.deepcopy({k: v for k, v in document.items() if k not in left_out})
    result["steps"] = [_step_copy(step, skip) for step in document.get("steps", [])]
    computed = document.get(COMPUTED_KEY)
    if not isinstance(computed, dict) or not computed:
        return result
    long_values: set[str] = set()
    short_values: dict[str, set[str]] = {}
    for urn, outputs in computed.items():
        if not isinstance(outputs, dict):
            continue
        for value in outputs.values():
            text = str(value)
            if isinstance(value, str) and len(text) >= MIN_SUBSTRING:
                long_values.add(text)
                bare = text.split("://", 1)[-1]  # an issuer URL is also used without its scheme
                if len(bare) >= MIN_SUBSTRING:
                    long_values.add(bare)
            else:
                short_values.setdefault(str(urn), set()).add(text)
    pattern = (
        re.compile("|".join(re.escape(v) for v in sorted(long_values, key=len, reverse=True)))
        if long_values
        else None
    )

    def unknown_where_computed(value: Any, short: set[str]) -> Any:
        if isinstance(value, dict):
            return {k: unknown_where_computed(v, short) for k, v in value.items()}
        if isinstance(value, list):
            return [unknown_where_computed(v, short) for v in value]
        if value is None or isinstance(value, bool):
            return value
        text = str(value)
        if isinstance(value, str) and pattern is not None and pattern.search(text):
            return UNKNOWN_STRING
        if text in short:
            return UNKNOWN_STRING
        return value

    for state in states(result):
        inputs = state.get("inputs")
        if not isinstance(inputs, dict):
            continue
        dependencies = state.get("propertyDependencies") or {}
        for key in list(inputs):
            short = set().union(*(short_values.get(u, set()) for u in dependencies.get(key, [])))
            inputs[key] = unknown_where_computed(inputs[key], short)
    result.pop(COMPUTED_KEY, None)
    return result


def undecided_paths(message: str) -> list[str]:
    """The properties an advisory "can't run ... during preview" names."""
    text = message.split("during preview: ", 1)[-1]
    text = text.removesuffix(UNDECIDED_SUFFIX)
    return [part.strip() for part in text.split(", ") if part.strip()]


def preview_verdicts(
    full: dict[str, Any],
    preview: dict[str, Any],
    semantic: bool,
    acknowledged: dict[str, list[str]] | None = None,
) -> list[dict[str, Any]]:
    """Per policy: did it reach a verdict under preview semantics, and if not, on which
    properties (acknowledged in preview-gaps.json or not).

    `semantic` is False when the document is a real preview (it is its own preview view)."""
    acknowledged = acknowledged or {}
    seen = {(v["policy"], v["urn"], v["message"]) for v in full["violations"]}
    verdicts = []
    for policy in preview["policies"]:
        name = policy["name"]
        mine = [v for v in preview["violations"] if v["policy"] == name]
        undecided = [
            path
            for v in mine
            if v["message"].startswith(UNDECIDED_PREFIX)
            for path in undecided_paths(v["message"])
        ]
        decided = [v for v in mine if not v["message"].startswith(UNDECIDED_PREFIX)]
        only_in_preview = [
            v["message"]
            for v in decided
            if semantic and (v["policy"], v["urn"], v["message"]) not in seen
        ]
        if decided and any(v["enforcementLevel"] == policy["enforcementLevel"] for v in decided):
            verdict = "fail"
        elif undecided:
            verdict = "none"
        else:
            verdict = "pass"
        known_gaps = [str(p) for p in acknowledged.get(name, [])]
        verdicts.append(
            {
                "name": name,
                "enforcementLevel": policy["enforcementLevel"],
                "verdict": verdict,
                "undecided": undecided,
                "acknowledged": [p for p in undecided if p in known_gaps],
                "unacknowledged": [p for p in undecided if p not in known_gaps],
                "staleAcknowledgements": [p for p in known_gaps if p not in undecided],
                "onlyInPreview": only_in_preview,
            }
        )
    return verdicts


def read_gaps(path: Path | None, stack: str) -> dict[str, list[str]]:
    """The stack's acknowledged preview gaps: {policy: [property, ...]}."""
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PlanError(f"cannot read {_shown(path)}: {exc}") from None
    entry = data.get(stack) if isinstance(data, dict) else None
    if entry is None:
        return {}
    if not isinstance(entry, dict) or not all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(p, str) for p in v)
        for k, v in entry.items()
    ):
        raise PlanError(f"{_shown(path)}: {stack} must map policy names to lists of properties")
    return entry


class _MemoisedJsonFormat:
    """`json_format` as pulumi-policy's analyzer sees it while the stage drives it: the same module,
    with `MessageToDict` of a `Struct` memoised by the message's wire bytes.

    The servicer converts a resource's properties again for every policy (and its provider's for
    every policy and resource); each conversion of the same bytes gives the same dict, which the
    servicer only reads (`deserialize_properties` builds fresh containers for every policy), so
    one conversion serves them all. The key is the non-deterministic serialisation, which lists
    map entries in the message's own order, so a hit also has the same key order. Only active
    around `Analyze` and `AnalyzeStack` (not `Configure`, whose config dicts the servicer keeps)."""

    def __init__(self) -> None:
        self.memo: dict[bytes, dict[str, Any]] = {}

    def MessageToDict(self, message: Any, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs or not isinstance(message, struct_pb2.Struct):
            return json_format.MessageToDict(message, *args, **kwargs)
        key = message.SerializeToString()
        found = self.memo.get(key)
        if found is None:
            found = self.memo[key] = json_format.MessageToDict(message)
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(json_format, name)


class _Memoised:
    """One of pulumi-policy's pure conversions (`deserialize_properties`, `unknown_checking_proxy`)
    answered once per input object: the servicer applies them, for every policy, to what the
    memoised `MessageToDict` returned (the same object for the same bytes), and only reads what
    they return. The memo holds each input, so an id is never reused while the session lives."""

    def __init__(self, function: Any):
        self.function = function
        self.memo: dict[tuple[int, tuple[Any, ...]], tuple[Any, Any]] = {}

    def __call__(self, value: Any, *args: Any) -> Any:
        key = (id(value), args)
        found = self.memo.get(key)
        if found is None or found[0] is not value:
            found = self.memo[key] = (value, self.function(value, *args))
        return found[1]


class AnalyzerSession:
    """The pack's analyzer configured once for a stage run: both passes (mock and preview
    semantics) go through the same servicer, as one `pulumi preview` talks to one analyzer.

    An `Analyze` request byte for byte equal to one already answered (most resources read the same
    in both passes) gets the same answer again: the pack's rules are functions of the request and
    the configuration alone."""

    def __init__(self, config_path: Path | None):
        self.config_path = config_path
        self.analyzer = servicer()
        self.configured = policy_config(self.analyzer, config_path)
        self.analyzer.Configure(proto.ConfigureAnalyzerRequest(policyConfig=self.configured), None)
        self.info = self.analyzer.GetAnalyzerInfo(None, None)
        self.conversions = _MemoisedJsonFormat()
        self.patched = {
            "json_format": self.conversions,
            "deserialize_properties": _Memoised(deserialize_properties),
            "unknown_checking_proxy": _Memoised(unknown_checking_proxy),
        }
        self.answers: dict[bytes, list[Any]] = {}

    def analyze(self, request: Any) -> list[Any]:
        """The diagnostics of `Analyze(request)`, each attributed to the request's resource."""
        key = request.SerializeToString()
        if key not in self.answers:
            with self._conversions():
                response = self.analyzer.Analyze(request, None)
            diagnostics = list(response.diagnostics)
            for diagnostic in diagnostics:
                if not diagnostic.urn:  # the engine attributes resource findings to the resource
                    diagnostic.urn = request.urn
            self.answers[key] = diagnostics
        return self.answers[key]

    def analyze_stack(self, request: Any) -> list[Any]:
        with self._conversions():
            return list(self.analyzer.AnalyzeStack(request, None).diagnostics)

    @contextlib.contextmanager
    def _conversions(self) -> Iterator[None]:
        namespace = policy_module.__dict__
        saved = {name: namespace[name] for name in self.patched}
        namespace.update(self.patched)
        try:
            yield
        finally:
            namespace.update(saved)


def analyze(
    document: dict[str, Any], config_path: Path | None, session: AnalyzerSession | None = None
) -> dict[str, Any]:
    """Run the pack over the document; return its results as plain data. `session`: an analyzer
    already configured with `config_path` (one is made when None)."""
    if session is None or session.config_path != config_path:
        session = AnalyzerSession(config_path)
    configured = session.configured
    all_states = [s for s in states(document) if s["type"] != "pulumi:pulumi:Stack"]
    by_urn = {s["urn"]: s for s in all_states}
    diagnostics: list[Any] = []
    resources = []
    for state in all_states:
        options = proto.AnalyzerResourceOptions(
            protect=bool(state.get("protect")), parent=state.get("parent") or ""
        )
        inputs = state.get("inputs")
        common = {
            "type": state["type"],
            "properties": _struct(inputs if isinstance(inputs, dict) else {}),
            "urn": state["urn"],
            "name": state["urn"].rsplit("::", 1)[-1],
            "options": options,
        }
        provider = _provider(state, by_urn)
        if provider is not None:
            common["provider"] = provider
        diagnostics.extend(session.analyze(proto.AnalyzeRequest(**common)))
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
    diagnostics.extend(session.analyze_stack(proto.AnalyzeStackRequest(resources=resources)))

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
    info = session.info
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


def analyze_preview(document: dict[str, Any], config_path: Path | None) -> dict[str, Any]:
    """The pack's results on the document as a real preview of a new stack would send it."""
    return analyze(preview_semantics(document), config_path)


def _verdict_text(verdict: dict[str, Any] | None) -> str:
    if verdict is None:
        return "-"
    text = {"pass": "reached (pass)", "fail": "reached (fail)", "none": "NONE"}[verdict["verdict"]]
    if verdict["verdict"] == "none" and not verdict["unacknowledged"]:
        text = f"none: {len(verdict['acknowledged'])} acknowledged gap(s)"
    if verdict["staleAcknowledgements"]:
        text += f", {len(verdict['staleAcknowledgements'])} stale acknowledgement(s)"
    if verdict["onlyInPreview"]:
        text += f", {len(verdict['onlyInPreview'])} only in preview"
    return text


class PolicyStage:
    """The CrossGuard pack's verdict on the document (mandatory violations block the plan)."""

    key = "policies"
    title = "Policies"

    def __init__(self, config_dir: Path = CONFIG_DIR, gaps: Path | None = PREVIEW_GAPS):
        self.config_dir = config_dir
        self.gaps = gaps

    def run(self, context: PlanContext) -> StageResult:
        path = self.config_path(context.stack)
        semantic = bool(
            context.document.get(COMPUTED_KEY) or PREVIEW_INPUTS_KEY in context.document
        )
        worker = context.worker if semantic else None
        if worker is not None and not worker.running:
            worker = None  # lost during the program's runs: the pass is run here
        if worker is not None:  # the preview view's pass beside this one
            worker.submit(analyze_preview, context.document, path)
        session = AnalyzerSession(path)
        data = analyze(context.document, path, session)
        preview: dict[str, Any] | None = None if semantic else data
        if worker is not None:
            try:
                preview = worker.result()
            except background.ChildFailed as exc:
                raise PlanError(f"the pack failed on the preview view: {exc}") from None
            except background.ChildLost:
                preview = None  # the worker is gone: the pass is run here
        if preview is None:
            preview = analyze(preview_semantics(context.document), path, session)
        data["preview"] = preview_verdicts(
            data, preview, semantic, read_gaps(self.gaps, context.stack)
        )
        blocking = [
            f"{v['policy']}: {v['message']}"
            for v in data["violations"]
            if v["enforcementLevel"] == "mandatory"
            and not v["message"].startswith(UNDECIDED_PREFIX)
        ]
        for verdict in data["preview"]:
            if verdict["enforcementLevel"] != "mandatory":
                continue
            if verdict["verdict"] == "none" and verdict["unacknowledged"]:
                blocking.append(
                    f"{verdict['name']}: no verdict under preview semantics: "
                    + ", ".join(verdict["unacknowledged"])
                    + " can't be known during preview"
                )
            blocking += [
                f"{verdict['name']}: only under preview semantics: {message}"
                for message in verdict["onlyInPreview"]
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
        verdicts = {v["name"]: v for v in data.get("preview") or []}
        lines += table(
            ["policy", "level", "violations", "verdict in a preview"],
            [
                [
                    p["name"],
                    p["enforcementLevel"],
                    str(p["violations"]),
                    _verdict_text(verdicts.get(p["name"])),
                ]
                for p in data["policies"]
            ],
        )
        gaps = [
            v for v in data.get("preview") or [] if v["undecided"] or v["staleAcknowledgements"]
        ]
        if gaps:
            lines += ["", "Under preview semantics (a real preview of a new stack):"]
            for v in gaps:
                if v["unacknowledged"]:
                    lines.append(f"- {v['name']}: NO VERDICT on {', '.join(v['unacknowledged'])}")
                if v["acknowledged"]:
                    lines.append(
                        f"- {v['name']}: acknowledged gap (policies/preview-gaps.json) on "
                        + ", ".join(v["acknowledged"])
                    )
                if v["staleAcknowledgements"]:
                    lines.append(
                        f"- {v['name']}: stale acknowledgement, now decided: "
                        + ", ".join(v["staleAcknowledgements"])
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
