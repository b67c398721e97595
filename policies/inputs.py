"""Reading analyzer inputs one property at a time, with unknowns.

In a `pulumi preview`, inputs that depend on resources not yet created reach the analyzer as the
engine's unknown sentinels, and pulumi-policy's proxies raise `UnknownValueError` as soon as a rule
reads one: the whole validation then becomes one advisory "can't run during preview" and none of
its other checks run. The rules here never read the proxies directly. `plain()` copies the inputs
into plain dicts and lists, replacing every unknown (at its nested position) with `UNKNOWN`; a rule
then judges each property on its own:
- a property whose value decides the check is judged from that value;
- a property whose presence is enough (a KMS key ARN, source security groups) counts as present
  when it is unknown: the key is there, only its value is not;
- a property whose value is needed and unknown is recorded with `Judge.unknown(path)`.

`run()` (resource rules) and `run_stack()` (stack rules) wrap a rule: every decided violation is
reported as usual, and if anything was left undecided the wrapper raises `Undecided` at the end, an
`UnknownValueError` that pulumi-policy turns into its advisory "can't run ... during preview"
diagnostic naming every undecided property. So one unknown never hides the other findings.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import UnknownValueError, _DictProxy, _ListProxy

UNKNOWN_SENTINELS = frozenset(
    {
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",  # string (the engine sends this one for all kinds)
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",  # boolean
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",  # number
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",  # array
        "030794c1-ac77-496b-92df-f27374a8bd58",  # asset
        "e48ece36-62e2-4504-bad9-02848725956a",  # archive
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",  # object
    }
)
UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
"""The sentinel the engine puts in analyzer inputs for every value not known during preview."""


class _Unknown:
    """The one value standing for "not known until the resource exists"."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown>"

    def __str__(self) -> str:
        return "<unknown>"

    def __bool__(self) -> bool:
        return True  # an unknown value is present


UNKNOWN: Any = _Unknown()


def is_unknown(value: Any) -> bool:
    return value is UNKNOWN or (isinstance(value, str) and value in UNKNOWN_SENTINELS)


def plain(value: Any) -> Any:
    """A plain copy of analyzer inputs (proxies or JSON data): dicts, lists and scalars, with every
    unknown replaced by `UNKNOWN` where it sits. Never raises on odd input."""
    # The exact types analyzer inputs are made of first (this runs for every resource and rule);
    # anything else takes the general path below, with the same result.
    kind = type(value)
    if kind is str:
        return UNKNOWN if value in UNKNOWN_SENTINELS else value
    if kind is _DictProxy or kind is _ListProxy:
        return plain(value["__target"])
    if kind is dict:
        return {str(k): plain(v) for k, v in value.items()}
    if kind is list:
        return [plain(v) for v in value]
    if value is UNKNOWN or value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return UNKNOWN if value in UNKNOWN_SENTINELS else value
    if isinstance(value, _DictProxy | _ListProxy):
        # pulumi-policy's proxies hand out their raw target (sentinels in place) under this key,
        # as its own serializer reads them; the generic path below covers any other mapping.
        return plain(value["__target"])
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        try:
            keys = list(value.keys())
        except Exception:
            return UNKNOWN
        for key in keys:
            try:
                item = value[key]
            except UnknownValueError:
                item = UNKNOWN
            except Exception:
                continue
            result[str(key)] = plain(item)
        return result
    if isinstance(value, list | tuple) or _is_sequence(value):
        items: list[Any] = []
        try:
            length = len(value)
        except Exception:
            return UNKNOWN
        for index in range(length):
            try:
                item = value[index]
            except UnknownValueError:
                item = UNKNOWN
            except Exception:
                continue
            items.append(plain(item))
        return items
    return str(value)


def _is_sequence(value: Any) -> bool:
    return hasattr(value, "__len__") and hasattr(value, "__getitem__")


def as_list(value: Any) -> list[Any]:
    """A value as a list (None -> [], a scalar or mapping -> [it]); UNKNOWN stays [UNKNOWN]."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, tuple):
        return list(value)
    return [value]


def as_mapping(value: Any) -> dict[str, Any]:
    """A mapping value, or {} for anything else (an unknown object is handled by the caller)."""
    return value if isinstance(value, dict) else {}


def truth(value: Any) -> bool | None:
    """A boolean input as the provider reads it (True, "true"); None when unknown."""
    if is_unknown(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return False


def number(value: Any) -> float | None:
    """A numeric input (numbers or numeric strings); None when unknown or not a number."""
    if is_unknown(value) or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def json_value(value: Any) -> Any:
    """A JSON document input: a string is parsed, a mapping used as it is. UNKNOWN when the
    document is unknown; raises ValueError when it is not a JSON object."""
    if is_unknown(value):
        return UNKNOWN
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON ({exc.msg})") from None
        return plain(parsed)
    if isinstance(value, dict):
        return value
    raise ValueError("not a JSON object")


class Undecided(UnknownValueError):
    """Raised after a rule has reported every decided violation, when some checks could not be
    decided; pulumi-policy reports it as the rule's advisory "can't run during preview"."""

    def __init__(self, paths: Iterable[str]):
        unique = list(dict.fromkeys(paths))
        super().__init__(UNKNOWN_STRING, unique[:1])
        shown = ", ".join(unique[:24]) + (
            f" and {len(unique) - 24} more" if len(unique) > 24 else ""
        )
        self.paths = unique
        self.message = f"{shown} can't be known during preview"


@dataclass
class Judge:
    """What a rule reads (plain inputs) and what it could not decide."""

    name: str
    type: str
    props: dict[str, Any]
    config: dict[str, Any]
    report: ReportViolation
    provider_props: dict[str, Any] = field(default_factory=dict)
    undecided: list[str] = field(default_factory=list)

    def unknown(self, path: str) -> None:
        self.undecided.append(f"{self.name}.{path}" if self.name else path)


ResourceCheck = Callable[[Judge], None]


def run(check: ResourceCheck) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    """A pulumi-policy resource validation from a `check(judge)` over plain inputs."""

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        provider = getattr(args, "provider", None)
        props = plain(args.props)
        judge = Judge(
            name=args.name,
            type=args.resource_type,
            props=props if isinstance(props, dict) else {},
            config=plain(args.get_config() or {}) or {},
            report=report,
            provider_props=plain(provider.props) if provider is not None else {},
        )
        if props is UNKNOWN:
            judge.unknown("(inputs)")
        else:
            _guarded(lambda: check(judge), report, f"{args.resource_type} {args.name}", args.urn)
        if judge.undecided:
            raise Undecided(judge.undecided)

    return validate


@dataclass
class StackResource:
    """One resource of the stack as the stack rules read it (plain inputs)."""

    type: str
    urn: str
    name: str
    props: dict[str, Any]
    property_dependencies: dict[str, list[str]]
    parent: str
    provider_props: dict[str, Any]

    def depends_on(self, key: str, urn: str) -> bool:
        return urn in self.property_dependencies.get(key, [])


@dataclass
class StackJudge:
    resources: list[StackResource]
    config: dict[str, Any]
    report: ReportViolation
    undecided: list[str] = field(default_factory=list)

    def unknown(self, path: str) -> None:
        self.undecided.append(path)

    def by_urn(self) -> dict[str, StackResource]:
        return {r.urn: r for r in self.resources}

    def of_type(self, *types: str) -> list[StackResource]:
        return [r for r in self.resources if r.type in types]


StackCheck = Callable[[StackJudge], None]


def stack_resources(args: StackValidationArgs) -> list[StackResource]:
    resources = []
    for r in args.resources:
        props = plain(r.props)
        provider = getattr(r, "provider", None)
        parent = getattr(r, "parent", None)
        resources.append(
            StackResource(
                type=r.resource_type,
                urn=r.urn,
                name=r.name,
                props=props if isinstance(props, dict) else {},
                property_dependencies={
                    key: [dep.urn for dep in deps] for key, deps in r.property_dependencies.items()
                },
                parent=parent.urn if parent is not None else "",
                provider_props=plain(provider.props) if provider is not None else {},
            )
        )
    return resources


def run_stack(check: StackCheck) -> Callable[[StackValidationArgs, ReportViolation], None]:
    """A pulumi-policy stack validation from a `check(judge)` over plain inputs."""

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        judge = StackJudge(
            resources=stack_resources(args),
            config=plain(args.get_config() or {}) or {},
            report=report,
        )
        _guarded(lambda: check(judge), report, "the stack", None)
        if judge.undecided:
            raise Undecided(judge.undecided)

    return validate


def _guarded(body: Callable[[], None], report: ReportViolation, what: str, urn: Any) -> None:
    """Run a check; input it cannot read fails closed as a violation, never as a traceback."""
    try:
        body()
    except UnknownValueError:
        raise
    except Exception as exc:  # a rule must never crash the analyzer on odd input
        report(f"{what} could not be checked ({type(exc).__name__}: {exc}); fix its inputs", None)
