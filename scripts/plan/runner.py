"""Run the real Pulumi program under the SDK's mocks and record a preview document.

The document mirrors `pulumi preview --json`: a `steps` list of `{"op": "create", "urn", "newState":
{urn, type, custom, parent, protect, inputs, dependencies, provider, propertyDependencies}}` and a
`changeSummary`. Inputs carry the engine's property names (camelCase), exactly what the program
sent to the resource monitor. Default providers, which the engine creates on its own, get steps of
their own as they do in a real preview.

The program runs twice: once with every value known (`preview=False`, so every `apply` runs and
every input is recorded), and once as a preview of a new stack (`preview=True`, the mocks' computed
outputs unknown, so an `apply` over one is skipped and its result unknown, exactly as the engine
does). The second run's inputs are the document's `previewInputs` and the URNs it never
registered its `previewAbsent`: the policy stage judges that view for what a real
`pulumi preview` could decide (scripts/plan/policy_stage.py).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import gc
import importlib
import runpy
import sys
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pulumi
import yaml
from pulumi.output import Unknown
from pulumi.runtime import mocks as sdk_mocks
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime import rpc, settings
from pulumi.runtime.proto import provider_pb2, resource_pb2, source_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from components.config import ConfigError, read_stack_file, stack_file
from scripts.plan import background
from scripts.plan.mocks import AUTONAME_PROPERTY, KNOWN_IN_PREVIEW, PlanMocks

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "stacks" / "__main__.py"
STACK_ROOT_TYPE = "pulumi:pulumi:Stack"


COLLECTOR_THRESHOLDS = (50_000, 50, 100)
"""The cyclic collector's thresholds for a process that runs programs under mocks (CPython's
defaults are 700, 10, 10)."""


def tune_collector() -> None:
    """Set the cyclic garbage collector for a process that runs programs under mocks.

    A run of the prod program leaves about 340,000 more objects tracked by the collector
    (resources, Outputs, futures, protobuf structs) on top of the 60,000 the imports made, and
    nearly all of them live until the run ends. At CPython's default thresholds the collector
    walks them again and again for cycles it does not find. `gc.freeze()` moves what exists so
    far (the SDKs' modules and types) out of its reach for good, and the higher thresholds let it
    run less often; it still collects cycles. Measured on the prod plan: a first run in a fresh
    process 7.4 s -> 6.2 s, a later run 4.2 s -> 3.3 s, peak memory 205 -> 223 MiB.

    Call once per process, early (the plan's command line, the test session, each benchmark
    child): a frozen object is never collected, so freezing again later would keep the garbage
    of earlier runs."""
    gc.freeze()
    gc.set_threshold(*COLLECTOR_THRESHOLDS)


PROVIDER_MODULES: tuple[str, ...] = (
    "pulumi_aws",
    "pulumi_aws.autoscaling",
    "pulumi_aws.budgets",
    "pulumi_aws.cloudtrail",
    "pulumi_aws.cloudwatch",
    "pulumi_aws.ec2",
    "pulumi_aws.ec2transitgateway",
    "pulumi_aws.eks",
    "pulumi_aws.fsx",
    "pulumi_aws.iam",
    "pulumi_aws.kms",
    "pulumi_aws.s3",
    "pulumi_aws.scheduler",
    "pulumi_aws.sns",
    "pulumi_aws.vpc",
    "pulumi_kubernetes",
    "pulumi_kubernetes.apps.v1",
    "pulumi_kubernetes.core.v1",
    "pulumi_kubernetes.helm.v3",
    "pulumi_kubernetes.networking.v1",
    "pulumi_kubernetes.policy.v1",
    "pulumi_kubernetes.storage.v1",
    "pulumi_random",
)
"""The SDK modules the shipped stacks' resource classes come from (providers included); a test
keeps this list equal to what the shipped stacks register (tests/scripts/test_plan_background.py).
"""


def load_provider_modules() -> None:
    """Load every module of `PROVIDER_MODULES` now. The SDKs load these lazily, on a program's
    first use of one of their classes, and a fresh process spends most of a first run there. The
    plan calls this before it forks its worker (scripts/plan/background.py), so both processes
    share one load instead of making one each: for prod, about 3 s less CPU in all. A module a
    config needs beyond the list still loads on first use."""
    for name in PROVIDER_MODULES:
        # Any attribute of a lazy module makes it load; this one is absent, hence the default.
        getattr(importlib.import_module(name), "__loaded_by_the_plan__", None)


def sdk_class(type_token: str, custom: bool) -> tuple[str, str]:
    """The SDK module and class that register resources of `type_token` ("", "" for a component,
    or for a type no loaded module has registered)."""
    if type_token.startswith("pulumi:providers:"):
        package = type_token.removeprefix("pulumi:providers:")
        for package_info in rpc._RESOURCE_PACKAGES.get(package, []):
            found = package_info.pkg_info  # type: ignore[attr-defined]
            return str(found["fqn"]), str(found["class"])
    elif custom:
        for module_info in rpc._RESOURCE_MODULES.get(type_token.rsplit(":", 1)[0], []):
            mod_info = module_info.mod_info  # type: ignore[attr-defined]
            return str(mod_info["fqn"]), str(mod_info["classes"].get(type_token, ""))
    return "", ""


class PlanError(Exception):
    """The program could not be planned (bad config, a failing program). Message is user-facing."""


def project_name(root: Path = ROOT) -> str:
    data = yaml.safe_load((root / "Pulumi.yaml").read_text())
    return str(data["name"])


def stack_config_path(stack: str, root: Path = ROOT) -> Path:
    return stack_file(stack, root / "stacks")


def read_stack_config(path: Path) -> dict[str, str]:
    """A stack file's `config:` as the Pulumi CLI passes it to the program (bare keys in the
    project's namespace, objects and lists as JSON): `components.config.read_stack_file`, the one
    reader the program's tools share. Raises PlanError with its message."""
    try:
        return read_stack_file(path, project_name())
    except ConfigError as exc:
        raise PlanError(str(exc)) from None


UNKNOWN_SENTINEL = rpc.UNKNOWN
"""The engine's unknown value (what a preview sends for an output not yet known)."""
PREVIEW_INPUTS_KEY = "previewInputs"
PREVIEW_ABSENT_KEY = "previewAbsent"

SECRET_MASK = "[secret]"
"""What a secret value reads as in the document (as in `pulumi preview --json`)."""


def _masked(value: Any) -> Any:
    """A secret's shape with every leaf replaced by SECRET_MASK, so schema checks still see a map
    of strings where the program sent one, and the value never reaches the document."""
    if isinstance(value, Mapping):
        return {str(k): _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    return SECRET_MASK


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping) and value.get(rpc._special_sig_key) == rpc._special_secret_sig:
        return _masked(value.get("value"))
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf carries every number as a double; JSON shows 14, not 14.0
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, pulumi.Resource):
        return "<resource>"
    if isinstance(value, Unknown):
        return UNKNOWN_SENTINEL
    return str(value)


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    inputs: dict[str, Any]
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    provider: str
    protect: bool
    retain_on_delete: bool
    version: str
    id: str = ""
    """The id the mocks gave the resource (empty for components)."""
    outputs: dict[str, Any] = field(default_factory=dict)
    computed: dict[str, Any] = field(default_factory=dict)
    """Outputs the provider computes (unknown in a preview of a new stack), by dotted path."""


_PLAIN_LEAVES = (str, int, float, bool, type(None))


def _plain(value: Any) -> bool:
    """Whether `value` holds only JSON's values (no Output, future, resource or asset)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(item) for item in value)
    return isinstance(value, _PLAIN_LEAVES)


def _serialized(state: Mapping[str, Any]) -> Any:
    """`rpc.serialize_properties(state, {})`, without an event loop when `state` is plain.

    The SDK's mock monitor serializes each answer of the mocks by running an event loop
    (`_sync_await`). The serialization of plain values never waits for anything, so its coroutine
    finishes at its first step; an answer holding anything else is serialized the SDK's way."""
    if not _plain(state):
        return _sync_await(rpc.serialize_properties(state, {}))
    steps = rpc.serialize_properties(state, {})
    try:
        steps.send(None)
    except StopIteration as done:
        return done.value
    steps.close()
    raise RuntimeError("serializing a plain answer waited for something")


class _InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """The event loop's default executor for a run under mocks: a job runs at once, in the loop's
    own thread.

    The SDK sends every call to the resource monitor through `loop.run_in_executor`, to keep a
    gRPC call to the engine from blocking the loop. The mock monitor answers at once and never
    waits for the loop (RecordingMonitor serializes without one), so the round trip through a
    thread pool only adds a thread switch per resource. Together with `_serialized`, a run of
    the prod program and its preview run take 2.52 s instead of 2.77 s (median of 5, one
    process). The loop accepts only a ThreadPoolExecutor; this one starts no threads."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # the future carries it to the awaiting task
            future.set_exception(exc)
        return future


class RecordingMonitor(sdk_mocks.MockMonitor):
    """The SDK's mock monitor, also recording every registration the way the engine sees it."""

    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self._lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:
        """The SDK mock monitor's `RegisterResource`, serializing the mocks' answer without an
        event loop (`_serialized`), and recording the registration."""
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == STACK_ROOT_TYPE:
            inputs: dict[str, Any] = {}
            response = resource_pb2.RegisterResourceResponse(urn=urn)
        else:
            inputs = rpc.deserialize_properties(request.object)
            resource_id, state = self.mocks.new_resource(
                sdk_mocks.MockResourceArgs(
                    typ=request.type,
                    name=request.name,
                    inputs=inputs,
                    provider=request.provider,
                    resource_id=request.importId,
                    custom=request.custom or False,
                    transforms=sdk_mocks._resolve_callbacks(request.transforms),
                )
            )
            # As the SDK's monitor keeps them: an id the mocks left out stays None.
            kept = cast(str, resource_id)
            self.resources[urn] = sdk_mocks.MockMonitor.ResourceRegistration(urn, kept, state)
            response = resource_pb2.RegisterResourceResponse(
                urn=urn, id=kept, object=_serialized(state)
            )
        registered = self.resources.get(urn)
        registration = Registration(
            urn=urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=request.parent,
            inputs=_json_safe(inputs),
            dependencies=sorted(set(request.dependencies)),
            property_dependencies={
                key: sorted(set(deps.urns)) for key, deps in request.propertyDependencies.items()
            },
            provider=request.provider,
            protect=bool(request.protect),
            retain_on_delete=bool(getattr(request, "retainOnDelete", False)),
            version=request.version,
            id=registered.id or "" if registered else "",
            outputs=_json_safe(registered.state) if registered else {},
        )
        registration.computed = computed_outputs(registration)
        with self._lock:
            self.registrations.append(registration)
        return response

    def Invoke(self, request: Any) -> Any:
        """The SDK mock monitor's `Invoke`, serializing the answer without an event loop."""
        args = rpc.deserialize_properties(request.args)
        if request.tok == "pulumi:pulumi:getResource":
            found = self.resources.get(args["urn"])
            if found is None:
                raise Exception(f"unknown resource {args['urn']}")
            return resource_pb2.ResourceInvokeResponse(
                failures=None, **{"return": _serialized(found._asdict())}
            )
        answer = self.mocks.call(
            sdk_mocks.MockCallArgs(token=request.tok, args=args, provider=request.provider)
        )
        returned, failures = (answer, []) if isinstance(answer, dict) else answer
        return resource_pb2.ResourceInvokeResponse(
            failures=[
                provider_pb2.CheckFailure(property=prop, reason=reason)
                for prop, reason in failures or ()
            ],
            **{"return": _serialized(returned)},
        )


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        found: dict[str, Any] = {}
        for key, item in value.items():
            found.update(_leaves(item, f"{path}.{key}" if path else str(key)))
        return found
    if isinstance(value, list):
        found = {}
        for index, item in enumerate(value):
            found.update(_leaves(item, f"{path}[{index}]"))
        return found
    return {path: value}


def computed_outputs(reg: Registration) -> dict[str, Any]:
    """What the provider computes for a registered custom resource: its id and every output leaf
    that is not an input (autonamed names and echoes excluded), by dotted path."""
    if not reg.custom or reg.type.startswith("pulumi:providers:"):
        return {}
    computed: dict[str, Any] = {"id": reg.id} if reg.id else {}
    computed.update(_computed_leaves(reg.type, reg.inputs, reg.outputs))
    return computed


def _computed_leaves(
    type_token: str, inputs: Mapping[str, Any], outputs: Mapping[str, Any]
) -> dict[str, Any]:
    """The output leaves a provider computes (unknown in a preview of a new stack), by path."""
    given = _leaves(_json_safe(inputs))
    autoname = AUTONAME_PROPERTY.get(type_token)
    computed: dict[str, Any] = {}
    for path, value in _leaves(_json_safe(outputs)).items():
        top = path.split(".")[0].split("[")[0]
        if top in KNOWN_IN_PREVIEW or (top == autoname and top not in inputs):
            continue
        if path in given and given[path] == value:
            continue
        if value is None or isinstance(value, bool):
            continue
        computed[path] = value
    return computed


def _unknown_at(value: Any, paths: set[str], path: str = "") -> Any:
    """`value` with the leaves at `paths` (and every Unknown) replaced by the engine's unknown."""
    if isinstance(value, Unknown):
        return UNKNOWN_SENTINEL
    if isinstance(value, Mapping):
        return {
            k: _unknown_at(v, paths, f"{path}.{k}" if path else str(k)) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_unknown_at(v, paths, f"{path}[{i}]") for i, v in enumerate(value)]
    return UNKNOWN_SENTINEL if path in paths else value


class PreviewMocks(pulumi.runtime.Mocks):
    """The same answers as a preview of a new stack sees them: every output the provider computes
    (ids, ARNs, endpoints: what `computed_outputs` records) unknown; inputs echoed, autonamed
    names and invoke results known (the provider picks names in Check; invokes run in preview)."""

    def __init__(self, inner: pulumi.runtime.Mocks):
        self.inner = inner

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        resource_id, state = self.inner.new_resource(args)
        # Providers, components and resources read or imported by id: known in a preview (the
        # engine reads an existing resource during the preview).
        if args.typ.startswith("pulumi:providers:") or not args.custom or args.resource_id:
            return resource_id, _unknown_at(state, set())
        computed = set(_computed_leaves(args.typ, args.inputs, state))
        # An empty id during a preview is the engine's "unknown id".
        return "", _unknown_at(state, computed)

    def call(self, args: pulumi.runtime.MockCallArgs) -> Any:
        return self.inner.call(args)


@dataclass
class ProgramRun:
    stack: str
    project: str
    config: dict[str, str]
    registrations: list[Registration]
    outputs: dict[str, Any]
    preview_registrations: list[Registration] | None = None
    """The same program as a preview of a new stack registers it (None: not run)."""
    preview_in_worker: bool = False
    """Whether the preview run was a worker's job beside the first (scripts/plan/background.py)."""


def run_function(
    function: Callable[[], Any],
    *,
    stack: str,
    project: str,
    config: Mapping[str, str],
    mocks: pulumi.runtime.Mocks | None = None,
    preview: bool = False,
) -> tuple[list[Registration], dict[str, Any]]:
    """Run `function` as a Pulumi program under recording mocks (`preview=False`, so every `apply`
    runs; `preview=True`: as a preview of a new stack, `PreviewMocks`). Returns the registrations
    and the stack outputs. Resets the SDK's global state first, so it can run many times in one
    process (tests, benchmarks)."""
    region = config.get("aws:region", "us-east-1")
    answers = mocks or PlanMocks(region=region)
    monitor = RecordingMonitor(PreviewMocks(answers) if preview else answers)
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()
    settings.set_root_resource(None)  # type: ignore[arg-type]
    pulumi.runtime.set_all_config(dict(config))
    pulumi.runtime.set_mocks(
        monitor.mocks, project=project, stack=stack, preview=preview, monitor=monitor
    )
    root = settings.get_root_resource()
    _ensure_event_loop().set_default_executor(_InlineExecutor())  # type: ignore[no-untyped-call]
    with _without_stack_traces():
        _sync_await(run_pulumi_func(function))
    outputs: dict[str, Any] = {}
    if root is not None:
        for key, value in getattr(root, "outputs", {}).items():
            outputs[key] = _resolved(value)
    return list(monitor.registrations), outputs


@contextlib.contextmanager
def _without_stack_traces() -> Iterator[None]:
    """The SDK walks the Python stack of every resource it registers to send the engine the
    resource's source position (`RegisterResourceRequest.stackTrace`); the mock monitor drops it,
    so the plan skips the walk (a tenth of a run of the prod program) and registers the same
    resources with the same inputs."""
    found = getattr(sdk_resource, "_get_stack_trace", None)
    if found is None:
        yield
        return
    sdk_resource._get_stack_trace = source_pb2.StackTrace  # an empty stack trace
    try:
        yield
    finally:
        sdk_resource._get_stack_trace = found


def run_program(
    stack: str,
    raw_config: Mapping[str, str],
    *,
    project: str | None = None,
    worker: background.Worker | None = None,
) -> ProgramRun:
    """Run `stacks/__main__.py` under mocks with `raw_config`; return what it registered.

    With a `worker` (scripts/plan/background.py) the preview run is its job while this process
    does the first run; the result is the same either way. Raises PlanError with the program's
    own message when it fails (an invalid config among them), the first run's failure first.
    """
    project = project or project_name()
    if worker is not None:
        worker.submit(preview_registrations, stack, dict(raw_config), project)
    registrations, outputs = _run_program_once(stack, raw_config, project, preview=False)
    previewed: list[Registration] | None = None
    if worker is not None:
        try:
            previewed = worker.result()
        except background.ChildFailed as exc:
            raise PlanError(str(exc)) from None
        except background.ChildLost as exc:
            print(f"plan: {exc}; running the preview run here", file=sys.stderr, flush=True)
    from_worker = previewed is not None
    if previewed is None:
        previewed = preview_registrations(stack, raw_config, project)
    return ProgramRun(
        stack=stack,
        project=project,
        config=dict(raw_config),
        registrations=registrations,
        outputs=outputs,
        preview_registrations=previewed,
        preview_in_worker=from_worker,
    )


def preview_registrations(
    stack: str, raw_config: Mapping[str, str], project: str
) -> list[Registration]:
    """What the program registers as a preview of a new stack (PlanError when it fails)."""
    return _run_program_once(stack, raw_config, project, preview=True)[0]


def _run_program_once(
    stack: str, raw_config: Mapping[str, str], project: str, *, preview: bool
) -> tuple[list[Registration], dict[str, Any]]:
    when = " as a preview of a new stack" if preview else ""
    try:
        return run_function(
            lambda: runpy.run_path(str(PROGRAM), run_name="__main__"),
            stack=stack,
            project=project,
            config=raw_config,
            preview=preview,
        )
    except pulumi.RunError as exc:
        raise PlanError(str(exc)) from None
    except Exception as exc:
        frames = [
            f
            for f in traceback.extract_tb(exc.__traceback__)
            if "/site-packages/" not in f.filename
        ]
        frames = frames or traceback.extract_tb(exc.__traceback__)  # an SDK-side failure
        where = "".join(traceback.format_list(frames[-3:]))
        raise PlanError(f"the program failed{when}: {type(exc).__name__}: {exc}\n{where}") from None


def _resolved(value: Any) -> Any:
    try:
        return _json_safe(_sync_await(pulumi.Output.from_input(value).future()))
    except Exception:
        return None


# --------------------------------------------------------------------------- the document


def _default_provider_urn(stack: str, project: str, package: str, version: str) -> str:
    name = f"default_{version.replace('.', '_')}" if version else "default"
    return f"urn:pulumi:{stack}::{project}::pulumi:providers:{package}::{name}"


def preview_document(run: ProgramRun) -> dict[str, Any]:
    """The recorded run as a `pulumi preview --json` document, steps in dependency order.

    Raises PlanError when two resources share a URN (the engine refuses such a program)."""
    counts: dict[str, int] = {}
    for reg in run.registrations:
        counts[reg.urn] = counts.get(reg.urn, 0) + 1
    duplicates = sorted(urn for urn, n in counts.items() if n > 1)
    if duplicates:
        raise PlanError(
            "the program registers the same resource twice (duplicate URN): "
            + ", ".join(duplicates)
        )
    steps: list[dict[str, Any]] = []
    providers: dict[str, dict[str, Any]] = {}
    states: list[dict[str, Any]] = []
    for reg in run.registrations:
        provider = reg.provider
        package = reg.type.split(":", 1)[0]
        if reg.custom and not provider and not reg.type.startswith("pulumi:providers:"):
            urn = _default_provider_urn(run.stack, run.project, package, reg.version)
            pid = str(uuid.uuid5(uuid.NAMESPACE_URL, urn))
            provider = f"{urn}::{pid}"
            if urn not in providers:
                inputs: dict[str, Any] = {"version": reg.version} if reg.version else {}
                if package == "aws" and "aws:region" in run.config:
                    inputs["region"] = run.config["aws:region"]
                providers[urn] = {
                    "urn": urn,
                    "type": f"pulumi:providers:{package}",
                    "custom": True,
                    "parent": "",
                    "protect": False,
                    "inputs": inputs,
                    "dependencies": [],
                    "provider": "",
                    "propertyDependencies": {},
                }
        state: dict[str, Any] = {
            "urn": reg.urn,
            "type": reg.type,
            "custom": reg.custom,
            "parent": reg.parent,
            "protect": reg.protect,
            "inputs": reg.inputs,
            "dependencies": reg.dependencies,
            "provider": provider,
            "propertyDependencies": reg.property_dependencies,
        }
        if reg.retain_on_delete:
            state["retainOnDelete"] = True
        if reg.type == STACK_ROOT_TYPE:
            state["outputs"] = run.outputs
        states.append(state)
    ordered = _dependency_order(list(providers.values()) + states)
    steps = [{"op": "create", "urn": s["urn"], "newState": s} for s in ordered]
    return {
        "steps": steps,
        "changeSummary": {"create": len(steps)},
        "stack": run.stack,
        "project": run.project,
        "computedOutputs": {reg.urn: reg.computed for reg in run.registrations if reg.computed},
        **_preview_view(run),
    }


def _preview_view(run: ProgramRun) -> dict[str, Any]:
    """The preview run's inputs of every resource it registered, and the URNs it never registered
    (created inside an `apply` over an unknown value): see the module docstring."""
    if run.preview_registrations is None:
        return {}
    seen = {reg.urn: reg for reg in run.preview_registrations}
    inputs = {reg.urn: seen[reg.urn].inputs for reg in run.registrations if reg.urn in seen}
    absent = sorted(reg.urn for reg in run.registrations if reg.urn not in seen)
    return {PREVIEW_INPUTS_KEY: inputs, PREVIEW_ABSENT_KEY: absent}


def _dependency_order(states: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parents, providers and dependencies before dependents; ties broken by URN (stable output)."""
    by_urn = {s["urn"]: s for s in states}

    def needs(state: dict[str, Any]) -> set[str]:
        wanted = set(state["dependencies"]) | {state["parent"]}
        if state["provider"]:
            wanted.add(state["provider"].rsplit("::", 1)[0])
        return {u for u in wanted if u in by_urn and u != state["urn"]}

    pending = {s["urn"]: needs(s) for s in states}
    done: list[dict[str, Any]] = []
    placed: set[str] = set()
    while pending:
        ready = sorted(u for u, deps in pending.items() if deps <= placed)
        if not ready:  # a cycle cannot come from the engine; keep whatever is left in URN order
            ready = sorted(pending)
        for urn in ready:
            done.append(by_urn[urn])
            placed.add(urn)
            del pending[urn]
    return done
