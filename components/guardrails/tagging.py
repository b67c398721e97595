"""Tags on every taggable AWS resource, applied by one stack transformation.

Which resources are taggable is read from pulumi-aws itself: a resource class that exposes a
`tags_all` output merges provider default tags, which is exactly the set that takes `tags`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi


def is_taggable(resource: pulumi.Resource) -> bool:
    """True for pulumi-aws resources that accept `tags` (their class has a `tags_all` output)."""
    cls = type(resource)
    return cls.__module__.startswith("pulumi_aws.") and isinstance(
        getattr(cls, "tags_all", None), property
    )


def merged_tags(existing: Any, required: Mapping[str, str]) -> Any:
    """Required tags under the resource's own ones (a resource may refine, e.g. `Name`)."""
    if existing is None:
        return dict(required)
    if isinstance(existing, Mapping):
        return {**required, **existing}
    return pulumi.Output.from_input(existing).apply(lambda own: {**required, **(own or {})})


def auto_tag(required: Mapping[str, str]) -> pulumi.ResourceTransformation:
    """A stack transformation that adds `required` tags to every taggable AWS resource."""
    tags = dict(required)

    def transform(
        args: pulumi.ResourceTransformationArgs,
    ) -> pulumi.ResourceTransformationResult | None:
        if not is_taggable(args.resource):
            return None
        props = dict(args.props)
        props["tags"] = merged_tags(props.get("tags"), tags)
        return pulumi.ResourceTransformationResult(props=props, opts=args.opts)

    return transform
