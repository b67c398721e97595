"""Tagging rules: every taggable AWS resource carries the required tags; launch templates tag the
instances, volumes and network interfaces they start (managed node group tags stop at the group).

Which resources are taggable is read from pulumi-aws itself: a resource class with a `tags_all`
output accepts `tags` and merges the provider's default tags. Provider default tags count.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

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


def missing_tags(tags: Mapping[str, Any] | None, required: Sequence[str]) -> list[str]:
    present = {k for k, v in (tags or {}).items() if v not in (None, "")}
    return [key for key in required if key not in present]


def _provider_default_tags(args: ResourceValidationArgs) -> Mapping[str, Any]:
    provider = args.provider
    if provider is None:
        return {}
    default_tags = provider.props.get("defaultTags") or {}
    return default_tags.get("tags") or {}


def _required(args: ResourceValidationArgs) -> list[str]:
    config = args.get_config() or {}
    return list(config.get("requiredTags") or DEFAULT_REQUIRED_TAGS)


def _validate_required_tags(args: ResourceValidationArgs, report: ReportViolation) -> None:
    taggable = is_taggable_type(args.resource_type)
    if taggable is None:
        taggable = "tags" in args.props
    if not taggable:
        return
    tags = {**_provider_default_tags(args), **(args.props.get("tags") or {})}
    missing = missing_tags(tags, _required(args))
    if missing:
        report(f"{args.resource_type} {args.name} lacks required tags: {', '.join(missing)}", None)


def _validate_launch_template(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != LAUNCH_TEMPLATE:
        return
    required = _required(args)
    specs = {
        spec.get("resourceType"): spec.get("tags") or {}
        for spec in args.props.get("tagSpecifications") or []
    }
    for kind in TAGGED_AT_LAUNCH:
        if kind not in specs:
            report(f"launch template {args.name} does not tag the {kind}s it launches", None)
            continue
        missing = missing_tags(specs[kind], required)
        if missing:
            report(f"launch template {args.name}: {kind} tags lack {', '.join(missing)}", None)


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
    validate=_validate_required_tags,
    config_schema=_SCHEMA,
)

launch_template_tag_specifications = ResourceValidationPolicy(
    name="launch-template-tag-specifications",
    description="Launch templates tag the instances, volumes and network interfaces they launch.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_validate_launch_template,
    config_schema=_SCHEMA,
)

POLICIES = [required_tags, launch_template_tag_specifications]
