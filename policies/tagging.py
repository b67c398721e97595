"""Tagging rules: every taggable AWS resource carries the required tags; launch templates tag the
instances, volumes and network interfaces they start (managed node group tags stop at the group).

Which resources are taggable is read from pulumi-aws itself: a resource class with a `tags_all`
output accepts `tags` and merges the provider's default tags. Provider default tags count. A tag
whose value is empty or only whitespace is missing. Unknowns (preview): a tag whose value is
unknown is present (its key is known); an unknown `tags` map leaves only the tags the provider's
defaults do not cover undecided.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ResourceValidationPolicy,
)

from policies.inputs import Judge, as_list, as_mapping, is_unknown, run

DEFAULT_REQUIRED_TAGS = ["environment", "project", "owner", "cost-center", "team"]
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
TAGGED_AT_LAUNCH = ("instance", "volume", "network-interface")


@functools.cache
def is_taggable_type(type_token: str) -> bool | None:
    """True if pulumi-aws's class for `type_token` takes tags; None if pulumi-aws has no such class
    (a type from another provider version: the caller decides from the inputs)."""
    if not type_token.startswith("aws:"):
        return False
    _, module_path, class_name = type_token.split(":", 2)
    module_name = module_path.split("/")[0]
    # Python keywords get a trailing underscore (`aws:lambda/...` lives in `pulumi_aws.lambda_`).
    candidates = (
        ["pulumi_aws"]
        if module_name == "index"
        else [f"pulumi_aws.{module_name}", f"pulumi_aws.{module_name}_"]
    )
    for module in candidates:
        try:
            cls = getattr(importlib.import_module(module), class_name)
        except (ImportError, AttributeError):
            continue
        return isinstance(getattr(cls, "tags_all", None), property)
    return None


def has_value(value: Any) -> bool:
    """A tag value counts when it is unknown (preview) or a non-blank string."""
    if is_unknown(value):
        return True
    return value is not None and str(value).strip() != ""


def missing_tags(tags: Mapping[str, Any] | None, required: Sequence[str]) -> list[str]:
    present = {k for k, v in (tags or {}).items() if has_value(v)}
    return [key for key in required if key not in present]


def _provider_default_tags(judge: Judge) -> tuple[dict[str, Any], bool]:
    """The provider's default tags, and whether they are known."""
    default_tags = judge.provider_props.get("defaultTags")
    if is_unknown(default_tags):
        return {}, False
    tags = as_mapping(default_tags).get("tags")
    if is_unknown(tags):
        return {}, False
    return as_mapping(tags), True


def _required(judge: Judge) -> list[str]:
    return [str(t) for t in as_list(judge.config.get("requiredTags") or DEFAULT_REQUIRED_TAGS)]


def _check_required_tags(judge: Judge) -> None:
    taggable = is_taggable_type(judge.type)
    if taggable is None:
        taggable = "tags" in judge.props
    if not taggable:
        return
    defaults, defaults_known = _provider_default_tags(judge)
    own = judge.props.get("tags")
    required = _required(judge)
    if is_unknown(own):
        missing = missing_tags(defaults, required)
        if missing:
            judge.unknown("tags")
        return
    tags = {**defaults, **as_mapping(own)}
    missing = missing_tags(tags, required)
    if missing and not defaults_known:
        judge.unknown("provider.defaultTags")
        return
    if missing:
        judge.report(f"{judge.type} {judge.name} lacks required tags: {', '.join(missing)}", None)


def _check_launch_template(judge: Judge) -> None:
    if judge.type != LAUNCH_TEMPLATE:
        return
    required = _required(judge)
    specifications = judge.props.get("tagSpecifications")
    if is_unknown(specifications):
        judge.unknown("tagSpecifications")
        return
    specs: dict[str, Any] = {}
    unknown_kinds = False
    for index, spec in enumerate(as_list(specifications)):
        if is_unknown(spec) or is_unknown(as_mapping(spec).get("resourceType")):
            unknown_kinds = True
            judge.unknown(f"tagSpecifications[{index}]")
            continue
        spec = as_mapping(spec)
        specs.setdefault(str(spec.get("resourceType")), []).append(spec.get("tags"))
    for kind in TAGGED_AT_LAUNCH:
        if kind not in specs:
            if not unknown_kinds:
                judge.report(
                    f"launch template {judge.name} does not tag the {kind}s it launches", None
                )
            continue
        for tags in specs[kind]:
            if is_unknown(tags):
                judge.unknown(f"tagSpecifications[{kind}].tags")
                continue
            missing = missing_tags(as_mapping(tags), required)
            if missing:
                judge.report(
                    f"launch template {judge.name}: {kind} tags lack {', '.join(missing)}", None
                )


_SCHEMA = PolicyConfigSchema(
    properties={
        "requiredTags": {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "minItems": 1,
            "uniqueItems": True,
            "default": DEFAULT_REQUIRED_TAGS,
        }
    }
)

required_tags = ResourceValidationPolicy(
    name="required-tags",
    description="Every taggable AWS resource carries the required tags (provider defaults count).",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=run(_check_required_tags),
    config_schema=_SCHEMA,
)

launch_template_tag_specifications = ResourceValidationPolicy(
    name="launch-template-tag-specifications",
    description="Launch templates tag the instances, volumes and network interfaces they launch.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=run(_check_launch_template),
    config_schema=_SCHEMA,
)

POLICIES = [required_tags, launch_template_tag_specifications]
