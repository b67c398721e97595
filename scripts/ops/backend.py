"""`backend bootstrap`: an S3 bucket for Pulumi state, set up safely, idempotently.

Creates the bucket when it is missing (default name `gpu-platform-state-<account id>-<region>`)
and makes sure it has:

- versioning (every state file change can be rolled back);
- default encryption SSE-KMS with an S3 Bucket Key (the AWS managed key `aws/s3` unless
  `--kms-key-id`);
- a public access block with all four settings on;
- a bucket policy statement denying any request not made over TLS (`aws:SecureTransport`).

Each setting is read first and written only when it differs, so a second run changes nothing and
says so. Other statements of an existing bucket policy are kept. Prints the `pulumi login` line.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from botocore.exceptions import ClientError

from scripts.ops.aws import Aws, error_code
from scripts.ops.common import OpsError, Report, table

TLS_STATEMENT_SID = "DenyInsecureTransport"
PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"


def default_bucket(account: str, region: str) -> str:
    return f"gpu-platform-state-{account}-{region}"


def login_command(bucket: str, region: str) -> str:
    """The `pulumi login` line for this bucket (quoted: the URL holds `&`)."""
    return f"pulumi login 's3://{bucket}?region={region}&awssdk=v2'"


def tls_statement(bucket: str, partition: str = "aws") -> dict[str, Any]:
    arn = f"arn:{partition}:s3:::{bucket}"
    return {
        "Sid": TLS_STATEMENT_SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def encryption_rule(kms_key_id: str | None) -> dict[str, Any]:
    default: dict[str, Any] = {"SSEAlgorithm": "aws:kms"}
    if kms_key_id:
        default["KMSMasterKeyID"] = kms_key_id
    return {"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": True}


def _ensure_bucket(s3: Any, bucket: str, region: str) -> tuple[str, str]:
    try:
        head = s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = error_code(exc)
        if code in ("403", "AccessDenied", "Forbidden"):
            raise OpsError(
                f"bucket {bucket} exists but this account cannot use it (another account owns "
                "it, or the caller lacks s3:ListBucket); pass another --bucket"
            ) from None
        if code in ("301", "PermanentRedirect"):
            raise OpsError(
                f"bucket {bucket} exists in another region; pass that --region"
            ) from None
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise
    else:
        actual = head.get("BucketRegion")
        if actual and actual != region:
            raise OpsError(f"bucket {bucket} is in {actual}, not {region}; pass --region {actual}")
        return UNCHANGED, "exists"
    kwargs: dict[str, Any] = {"Bucket": bucket, "ObjectOwnership": "BucketOwnerEnforced"}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**kwargs)
    except ClientError as exc:
        if error_code(exc) != "BucketAlreadyOwnedByYou":
            if error_code(exc) == "BucketAlreadyExists":
                raise OpsError(
                    f"bucket name {bucket} is taken by another account; pass another --bucket"
                ) from None
            raise
        return UNCHANGED, "exists"
    s3.get_waiter("bucket_exists").wait(Bucket=bucket, WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    return CREATED, f"in {region}, object ownership: bucket owner enforced"


def _ensure_versioning(s3: Any, bucket: str) -> tuple[str, str]:
    if s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled":
        return UNCHANGED, "enabled"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return UPDATED, "enabled"


def _rule_matches(rule: dict[str, Any], wanted: dict[str, Any]) -> bool:
    have = rule.get("ApplyServerSideEncryptionByDefault", {})
    want = wanted["ApplyServerSideEncryptionByDefault"]
    return (
        have.get("SSEAlgorithm") == want["SSEAlgorithm"]
        and have.get("KMSMasterKeyID") == want.get("KMSMasterKeyID")
        and bool(rule.get("BucketKeyEnabled")) is True
    )


def _ensure_encryption(s3: Any, bucket: str, kms_key_id: str | None) -> tuple[str, str]:
    wanted = encryption_rule(kms_key_id)
    detail = f"SSE-KMS ({kms_key_id or 'aws/s3 managed key'}), bucket key on"
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"][
            "Rules"
        ]
    except ClientError as exc:
        if error_code(exc) != "ServerSideEncryptionConfigurationNotFoundError":
            raise
        rules = []
    if len(rules) == 1 and _rule_matches(rules[0], wanted):
        return UNCHANGED, detail
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [wanted]})
    return UPDATED, detail


def _ensure_public_access_block(s3: Any, bucket: str) -> tuple[str, str]:
    try:
        current = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except ClientError as exc:
        if error_code(exc) != "NoSuchPublicAccessBlockConfiguration":
            raise
        current = {}
    if all(current.get(key) is True for key in PUBLIC_ACCESS_BLOCK):
        return UNCHANGED, "all four settings on"
    s3.put_public_access_block(
        Bucket=bucket, PublicAccessBlockConfiguration=dict(PUBLIC_ACCESS_BLOCK)
    )
    return UPDATED, "all four settings on"


def _ensure_tls_policy(s3: Any, bucket: str, partition: str) -> tuple[str, str]:
    wanted = tls_statement(bucket, partition)
    try:
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except ClientError as exc:
        if error_code(exc) != "NoSuchBucketPolicy":
            raise
        policy = {"Version": "2012-10-17", "Statement": []}
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    ours = [s for s in statements if s.get("Sid") == TLS_STATEMENT_SID]
    detail = "denies requests without aws:SecureTransport"
    if len(ours) == 1 and ours[0] == wanted:
        return UNCHANGED, detail
    policy["Statement"] = [s for s in statements if s.get("Sid") != TLS_STATEMENT_SID] + [wanted]
    policy.setdefault("Version", "2012-10-17")
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    return UPDATED, detail


def bootstrap(aws: Aws, bucket: str | None, kms_key_id: str | None) -> Report:
    identity = aws.client("sts").get_caller_identity()
    account = str(identity["Account"])
    partition = str(identity.get("Arn", "arn:aws:")).split(":")[1] or "aws"
    region = aws.region
    name = bucket or default_bucket(account, region)
    s3 = aws.client("s3")
    steps = [
        ("bucket", *_ensure_bucket(s3, name, region)),
        ("versioning", *_ensure_versioning(s3, name)),
        ("encryption", *_ensure_encryption(s3, name, kms_key_id)),
        ("public access block", *_ensure_public_access_block(s3, name)),
        ("TLS-only policy", *_ensure_tls_policy(s3, name, partition)),
    ]
    changed = [step for step, status, _ in steps if status != UNCHANGED]
    login = login_command(name, region)
    summary = (
        f"{len(changed)} change(s): {', '.join(changed)}"
        if changed
        else "nothing to change: the bucket was already set up"
    )
    lines = [
        f"backend: s3://{name} (account {account}, region {region})",
        "",
        *table(["step", "status", "detail"], [list(s) for s in steps]),
        "",
        summary,
        "",
        "Log the Pulumi CLI in to it with:",
        f"  {login}",
    ]
    data = {
        "bucket": name,
        "account": account,
        "region": region,
        "changed": bool(changed),
        "steps": [{"step": s, "status": st, "detail": d} for s, st, d in steps],
        "backendUrl": f"s3://{name}?region={region}&awssdk=v2",
        "login": login,
    }
    return Report(data=data, lines=lines)


def handle(args: argparse.Namespace, aws: Aws) -> Report:
    return bootstrap(aws, args.bucket, args.kms_key_id)


def register(
    subparsers: Any, common: argparse.ArgumentParser, stack: argparse.ArgumentParser
) -> None:
    _ = stack
    backend = subparsers.add_parser("backend", help="Pulumi state backend")
    sub = backend.add_subparsers(dest="backend_command", required=True, metavar="COMMAND")
    parser = sub.add_parser(
        "bootstrap",
        parents=[common],
        help="create or fix the S3 state bucket (versioned, SSE-KMS, private, TLS only)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--bucket", help="bucket name (default: gpu-platform-state-<account id>-<region>)"
    )
    parser.add_argument(
        "--kms-key-id",
        help="KMS key id, ARN or alias for default encryption (default: the aws/s3 managed key)",
    )
    parser.set_defaults(handler=handle)
