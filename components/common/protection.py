"""How the stateful set is protected: one rule for every component, driven by the spec's `protect`.

Two kinds of stateful resources, and an option set for each:

- `keep`: data and what guards it (KMS keys, their aliases and policies; buckets and their
  versioning, public access blocks, policies, encryption, ownership controls, lifecycles and
  access logging; log groups; the file system and its S3 links). With `protect` (prod) they are
  `protect`ed, so `pulumi destroy` and any replacement stop before touching them, and
  `retain_on_delete`, so even after `pulumi state unprotect` a destroy only forgets them: the data
  stays in the account, still encrypted, versioned, private and TLS-only.
- `guard`: running services whose loss destroys no data but stops the platform or its record (the
  EKS cluster, the audit trail). With `protect` they are `protect`ed; once unprotected, a destroy
  deletes them (a retained cluster or trail would keep running, and billing, outside any stack).

Without `protect` (dev and staging by default) both are plain children: a destroy deletes them
(buckets are force-destroyed by their components).
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

RETAINED_TYPES = (
    "aws:kms/key:Key",
    "aws:kms/alias:Alias",
    "aws:kms/keyPolicy:KeyPolicy",
    "aws:s3/bucket:Bucket",
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketPolicy:BucketPolicy",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketLogging:BucketLogging",
    "aws:cloudwatch/logGroup:LogGroup",
    "aws:fsx/lustreFileSystem:LustreFileSystem",
    "aws:fsx/dataRepositoryAssociation:DataRepositoryAssociation",
)
"""Resource types built with `keep`: protected and retained on delete where the stack protects."""
GUARDED_TYPES = (
    "aws:eks/cluster:Cluster",
    "aws:cloudtrail/trail:Trail",
)
"""Resource types built with `guard`: protected, but deleted once unprotected and destroyed."""
STATEFUL_TYPES = RETAINED_TYPES + GUARDED_TYPES


def keep(
    parent: pulumi.Resource,
    protect: bool,
    depends_on: Sequence[pulumi.Resource] | None = None,
) -> pulumi.ResourceOptions:
    """Options of data and its guards: protected and retained on delete when `protect`."""
    return pulumi.ResourceOptions(
        parent=parent,
        protect=protect,
        retain_on_delete=protect,
        depends_on=list(depends_on) if depends_on else None,
    )


def guard(
    parent: pulumi.Resource,
    protect: bool,
    depends_on: Sequence[pulumi.Resource] | None = None,
) -> pulumi.ResourceOptions:
    """Options of a running service: protected when `protect`, deleted once unprotected."""
    return pulumi.ResourceOptions(
        parent=parent, protect=protect, depends_on=list(depends_on) if depends_on else None
    )
