"""The private bucket every component builds the same way."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.catalog.conventions import EXPECTED_SIZE_TAG
from components.common.protection import keep


@dataclass
class PrivateBucket:
    bucket: aws.s3.Bucket
    guards: list[pulumi.Resource]
    """Ownership controls, public access block, versioning and encryption, in that order: what a
    writer to the bucket (or a policy that admits one) waits for."""


def private_bucket(
    name: str,
    *,
    owner: pulumi.Resource,
    protect: bool,
    expected_size_gib: float,
    encryption: dict[str, Any],
    lifecycle_rules: Sequence[dict[str, Any]],
) -> PrivateBucket:
    """A bucket that is private (owner-enforced, every public access blocked), versioned and
    encrypted with `encryption` (one server-side encryption rule), with its lifecycle; each part
    is named `name` and kept with `protect` (components/common/protection.py). Its policy (every
    one adds the TLS-only deny) is the caller's. Tagged with its expected size, which the plan
    prices."""
    opts = keep(owner, protect)
    bucket = aws.s3.Bucket(
        name,
        force_destroy=not protect,
        tags={EXPECTED_SIZE_TAG: f"{expected_size_gib:g}"},
        opts=opts,
    )
    ownership = aws.s3.BucketOwnershipControls(
        name, bucket=bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=opts
    )
    block = aws.s3.BucketPublicAccessBlock(
        name,
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=opts,
    )
    versioning = aws.s3.BucketVersioning(
        name, bucket=bucket.id, versioning_configuration={"status": "Enabled"}, opts=opts
    )
    sse = aws.s3.BucketServerSideEncryptionConfiguration(
        name,
        bucket=bucket.id,
        rules=[encryption],  # type: ignore[list-item]
        opts=opts,
    )
    aws.s3.BucketLifecycleConfiguration(
        name,
        bucket=bucket.id,
        rules=list(lifecycle_rules),  # type: ignore[arg-type]
        opts=keep(owner, protect, depends_on=[versioning]),
    )
    return PrivateBucket(bucket, [ownership, block, versioning, sse])
