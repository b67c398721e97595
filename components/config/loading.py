"""Loading: a stack file or the engine's raw config map into a validated `StackConfig`.

`read_stack_file` reads `stacks/Pulumi.<stack>.yaml` exactly as the Pulumi CLI does (a bare key
takes the project's namespace; objects and lists reach the program as JSON strings), so the
offline plan, the ops tools and the program see the same map. `load_stack_config` validates that
map and raises `ConfigError` naming every offending key path and value (with did-you-mean hints),
before any resource is registered.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from components.config.checks import cross_checks
from components.config.errors import PROJECT_NAMESPACE, REGION_KEY, ConfigError
from components.config.models import StackConfig

_BASE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StackFileLoader(_BASE_LOADER):  # type: ignore[misc,valid-type]
    """YAML as the Pulumi CLI reads a stack file: a safe load (libyaml's where PyYAML was built
    with it, as its wheels are: several times faster), except that an unquoted date or time stays
    the text it is. The CLI's YAML library gives a config value `2026-01-01` to the program as that
    string; PyYAML would make it a `date`, which no config value can be."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in _BASE_LOADER.yaml_implicit_resolvers.items()
    }


MAX_VALUES = 100_000
"""The most values (mappings, lists and scalars, aliases expanded) a stack file may hold. The
shipped stacks hold about a thousand; a file past this is an alias bomb, which the Pulumi CLI's
YAML library refuses too ("excessive aliasing")."""


def _too_many_values(data: Any, limit: int = MAX_VALUES) -> bool:
    """Whether `data`, with every alias expanded, holds more than `limit` values (stops counting
    there, so a bomb costs no more than the limit)."""
    pending = [data]
    count = 0
    while pending:
        item = pending.pop()
        count += 1
        if count > limit:
            return True
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple | set):
            pending.extend(item)
    return False


FOREIGN_NAMESPACES = frozenset({"aws", "kubernetes", "pulumi", "random", "tls", "command"})
"""Namespaces of providers and the engine: never a misspelling of the project's."""


STACKS_DIR = Path(__file__).resolve().parents[2] / "stacks"
"""Where the stack files live (`stackConfigDir` in Pulumi.yaml)."""


def stack_file(stack: str, root: Path = STACKS_DIR) -> Path:
    """`stacks/Pulumi.<stack>.yaml`."""
    return root / f"Pulumi.{stack}.yaml"


def read_stack_file(path: Path, project: str = PROJECT_NAMESPACE) -> dict[str, str]:
    """A stack file's `config:` as the engine passes it to the program.

    As the Pulumi CLI does: a key without a namespace belongs to the project (`vpcCidr` means
    `<project>:vpcCidr`); strings pass as they are, other values as JSON. Raises ConfigError
    (with the file as the key) for a missing, unreadable, non-UTF-8 or non-mapping file, and for
    secrets, which only the CLI can decrypt.
    """
    where = str(path)
    if not path.is_file():
        shipped = sorted(
            p.name.removeprefix("Pulumi.").removesuffix(".yaml")
            for p in path.parent.glob("Pulumi.*.yaml")
        )
        hint = f" (stacks here: {', '.join(shipped)})" if shipped else ""
        raise ConfigError([(where, f"no stack config file{hint}")])
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([(where, f"not UTF-8 text (byte {exc.start})")]) from None
    except OSError as exc:
        raise ConfigError([(where, f"cannot read: {exc.strerror}")]) from None
    try:
        data = yaml.load(text, Loader=_StackFileLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError([(where, f"not valid YAML{at}")]) from None
    if _too_many_values(data):
        raise ConfigError(
            [(where, f"holds more than {MAX_VALUES:,} values once its YAML aliases are expanded")]
        )
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([(where, f"must be a YAML mapping (got {type(data).__name__})")])
    config = data.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError([(f"{where}: config", "must be a mapping of keys to values")])
    raw: dict[str, str] = {}
    for key, value in config.items():
        name = str(key) if ":" in str(key) else f"{project}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            raise ConfigError(
                [
                    (
                        name,
                        "is a secret; only the Pulumi CLI can decrypt it (give it a placeholder "
                        "in a CONFIG_FILE copy for the offline plan)",
                    )
                ]
            )
        if name in raw:
            raise ConfigError([(name, "set twice (once with and once without its namespace)")])
        try:
            raw[name] = value if isinstance(value, str) else json.dumps(value)
        except (TypeError, ValueError):
            raise ConfigError(
                [(name, f"{_yaml_kind(value)} cannot be a config value (Pulumi passes JSON)")]
            ) from None
    return raw


def _yaml_kind(value: Any) -> str:
    """What in `value` JSON cannot carry, in YAML's words."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            if any(not isinstance(k, str | int | float | bool) and k is not None for k in item):
                return "a YAML mapping with a non-scalar key"
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, bytes):
            return "a YAML !!binary value"
        elif isinstance(item, set):
            return "a YAML !!set"
        elif not isinstance(item, str | int | float | bool) and item is not None:
            return f"a YAML {type(item).__name__}"
    return "a YAML value"


def _field_aliases(model: type[BaseModel]) -> dict[str, str]:
    return {info.alias or name: name for name, info in model.model_fields.items()}


def _parse_value(raw: Any) -> Any:
    """Config values arrive as strings; objects and lists are JSON-encoded by the engine."""
    if isinstance(raw, str) and raw[:1] in ("{", "["):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def _format_loc(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _lookup(data: Any, loc: tuple[int | str, ...]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _siblings(loc: tuple[int | str, ...]) -> list[str]:
    """Known keys at the level of an unknown key, for did-you-mean hints."""
    model: Any = StackConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = _field_aliases(model)
        name = fields.get(str(part))
        if name is None:
            return []
        annotation = model.model_fields[name].annotation
        inner = _model_in(annotation)
        if inner is None:
            return []
        model = inner
    return list(_field_aliases(model))


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _aliased(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Errors on defaulted fields carry Python names; show the config's (camelCase) keys."""
    model: type[BaseModel] | None = StackConfig
    out: list[int | str] = []
    for part in loc:
        if isinstance(part, str) and model is not None and part in model.model_fields:
            info = model.model_fields[part]
            out.append(info.alias or part)
            model = _model_in(info.annotation)
        else:
            out.append(part)
            if isinstance(part, str) and model is not None and part not in _field_aliases(model):
                model = None
            elif isinstance(part, str) and model is not None:
                model = _model_in(model.model_fields[_field_aliases(model)[part]].annotation)
    return tuple(out)


def _describe(error: Any, data: Mapping[str, Any]) -> tuple[str, str]:
    raw_loc = tuple(error["loc"])
    if error["type"] == "field_problem":  # a model validator's error that names its field
        raw_loc = (*raw_loc, error["ctx"]["field"])
    loc = _aliased(raw_loc)
    # Errors inside an Annotated item validator report the list index last; keep it.
    path = _format_loc(loc)
    path = REGION_KEY if path == "region" else f"{PROJECT_NAMESPACE}:{path}"
    kind = error["type"]
    if kind == "extra_forbidden":
        hint = difflib.get_close_matches(str(loc[-1]), _siblings(loc), n=1)
        message = "unknown key" + (f" (did you mean {hint[0]!r}?)" if hint else "")
        return path, message
    if kind == "missing":
        return path, "required key is missing"
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    value = _lookup(data, loc)
    if value is not None and repr(value) not in message and str(value) not in message:
        message += f" (got {json.dumps(value) if not isinstance(value, str) else repr(value)})"
    return path, message


def load_stack_config(raw: Mapping[str, Any]) -> StackConfig:
    """Validate the engine's raw config map (`{"gpu-platform:environment": "dev", ...}`).

    Keys in the project namespace that the model does not know are errors (usually typos); keys
    of other namespaces (`aws:`, `kubernetes:`, `pulumi:`) are left to their owners, except
    `aws:region`, which the stack needs. Raises `ConfigError` listing every problem found.
    """
    aliases = _field_aliases(StackConfig)
    data: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    prefix = PROJECT_NAMESPACE + ":"
    for key in sorted(raw):
        if not key.startswith(prefix):
            namespace = key.split(":", 1)[0] if ":" in key else ""
            if namespace not in FOREIGN_NAMESPACES and difflib.get_close_matches(
                namespace, [PROJECT_NAMESPACE], n=1, cutoff=0.7
            ):
                problems.append(
                    (key, f"unknown namespace {namespace!r} (did you mean {PROJECT_NAMESPACE!r}?)")
                )
            continue
        name = key[len(prefix) :]
        if name == "region" or name not in aliases:
            hint = difflib.get_close_matches(name, [a for a in aliases if a != "region"], n=1)
            problems.append(
                (key, "unknown key" + (f" (did you mean {prefix + hint[0]!r}?)" if hint else ""))
            )
            continue
        data[name] = _parse_value(raw[key])
    if raw.get(REGION_KEY) is not None:
        data["region"] = raw[REGION_KEY]
    try:
        config = StackConfig.model_validate(data)
    except ValidationError as exc:
        problems.extend(_describe(error, data) for error in exc.errors())
        raise ConfigError(problems) from None
    problems.extend(cross_checks(config))
    if problems:
        raise ConfigError(problems)
    return config
