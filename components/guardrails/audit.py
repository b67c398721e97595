"""Audit: who did what to the platform's account and data.

- `LogsKey`: the customer KMS key every log group of the stack is encrypted with (`audit.
  logGroupKms`, prod). Built before the network, so it exists before the first log group. Its
  policy lets CloudWatch Logs of this region use it for this account's log groups only
  (`logs.<region>.amazonaws.com` with `kms:EncryptionContext:aws:logs:arn`, CloudWatch Logs user
  guide, "Encrypt log data in CloudWatch Logs using AWS KMS").
- `AuditTrail`: a CloudTrail trail of the stack's own (`audit.trail: stack`, prod) with log file
  validation, multi-region by default, encrypted with a key of its own, into a dedicated log bucket
  (versioned, private, BucketOwnerEnforced, SSE-KMS, TLS-only, the CloudTrail bucket policy with
  `aws:SourceArn`), recording management events and the S3 data events of the datasets,
  checkpoints and models buckets; optionally delivered to CloudWatch Logs. And S3 server access
  logs of the same buckets (`audit.s3AccessLogs`, prod) into a log bucket encrypted with SSE-S3:
  server access logging does not deliver to a bucket whose default encryption is SSE-KMS (S3 user
  guide, "Enabling Amazon S3 server access logging": default encryption of the destination bucket
  must be SSE-S3).

Every key policy separates administrators (the account root, so the key can never be locked out,
the deployer and `audit.keyAdministratorArns`: manage, never use; components/common/kms.py) from
users (the service principal, under its documented conditions; readers of the trail's log files).
There is no account-root `kms:*` statement: IAM policies alone cannot grant use of these keys.

pulumi-aws argument names are those of the installed SDK (pulumi_aws 7.x: `cloudtrail/trail.py`
`advanced_event_selectors[].field_selectors[]{field, equals, starts_withs}`, `kms_key_id`,
`enable_log_file_validation`, `is_multi_region_trail`, `cloud_watch_logs_group_arn`;
`s3/bucket_logging.py` `BucketLogging(bucket, target_bucket, target_prefix)`, which replaces the
deprecated BucketLoggingV2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import pulumi
import pulumi_aws as aws

from components.common import iam, kms
from components.common.buckets import private_bucket
from components.common.protection import guard, keep
from components.resolve.audit import (
    ACCESS_LOG_PREFIX,
    AUDITED_BUCKETS,
    TRAIL_LOG_PREFIX,
    AuditSpec,
    TrailSpec,
)

LOGS_KEY_ACTIONS = (
    "kms:Decrypt*",
    "kms:Describe*",
    "kms:Encrypt*",
    "kms:GenerateDataKey*",
    "kms:ReEncrypt*",
)
"""What CloudWatch Logs may do with the logs key (CloudWatch Logs user guide, "Step 2: Set
permissions on the KMS key")."""


def bucket_arn(partition: str, bucket: str) -> str:
    """A bucket's ARN from its name (known in a preview; `Bucket.arn` is not)."""
    return f"arn:{partition}:s3:::{bucket}"


def trail_arn(partition: str, region: str, account_id: str, trail_name: str) -> str:
    """Pure: the ARN of a trail (CloudTrail API: `arn:<part>:cloudtrail:<region>:<account>:
    trail/<name>`)."""
    return f"arn:{partition}:cloudtrail:{region}:{account_id}:trail/{trail_name}"


def logs_key_policy(spec: AuditSpec, account_id: str) -> str:
    """Pure: administrators manage the logs key; CloudWatch Logs of the stack's region uses it for
    this account's log groups only."""
    part, region = spec.partition, spec.region
    return iam.document(
        [
            kms.administrators([kms.account_root(part, account_id), *spec.key_administrators]),
            {
                "Sid": "CloudWatchLogsEncryptsThisAccountsLogGroups",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                "Action": list(LOGS_KEY_ACTIONS),
                "Resource": "*",
                "Condition": {
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": (
                            f"arn:{part}:logs:{region}:{account_id}:log-group:*"
                        )
                    }
                },
            },
        ]
    )


def trail_key_policy(spec: AuditSpec, trail: TrailSpec, account_id: str) -> str:
    """Pure: the trail key's policy (CloudTrail user guide, "Configure AWS KMS key policies for
    CloudTrail"): administrators manage it; CloudTrail encrypts with it for this trail only
    (`aws:SourceArn`) and log files of this account's trails only
    (`kms:EncryptionContext:aws:cloudtrail:arn`); readers decrypt those log files."""
    part = spec.partition
    arn = trail_arn(part, spec.region, account_id, trail.name)
    context = {
        "kms:EncryptionContext:aws:cloudtrail:arn": f"arn:{part}:cloudtrail:*:{account_id}:trail/*"
    }
    readers = list(spec.log_readers) or [f"arn:{part}:iam::{account_id}:root"]
    return iam.document(
        [
            kms.administrators([kms.account_root(part, account_id), *spec.key_administrators]),
            {
                "Sid": "CloudTrailEncryptsThisTrailsLogs",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "kms:GenerateDataKey*",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceArn": arn}, "StringLike": context},
            },
            {
                "Sid": "CloudTrailDescribesTheKey",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "kms:DescribeKey",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceArn": arn}},
            },
            {
                "Sid": "ReadersDecryptTheLogFiles",
                "Effect": "Allow",
                "Principal": {"AWS": readers},
                "Action": ["kms:Decrypt", "kms:ReEncryptFrom"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"kms:CallerAccount": account_id},
                    "StringLike": context,
                },
            },
        ]
    )


def _deny_insecure_transport(bucket_arn: str) -> dict[str, Any]:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def trail_bucket_policy(
    bucket_arn: str, partition: str, region: str, account_id: str, trail_name: str
) -> str:
    """Pure: CloudTrail checks the ACL and writes under `<prefix>/AWSLogs/<account>/` for this
    trail only (`aws:SourceArn`; CloudTrail user guide, "Amazon S3 bucket policy for
    CloudTrail"); nothing reaches the bucket without TLS."""
    arn = trail_arn(partition, region, account_id, trail_name)
    return iam.document(
        [
            {
                "Sid": "CloudTrailAclCheck",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:GetBucketAcl",
                "Resource": bucket_arn,
                "Condition": {"StringEquals": {"aws:SourceArn": arn}},
            },
            {
                "Sid": "CloudTrailWrite",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/{TRAIL_LOG_PREFIX}/AWSLogs/{account_id}/*",
                "Condition": {
                    "StringEquals": {
                        "aws:SourceArn": arn,
                        "s3:x-amz-acl": "bucket-owner-full-control",
                    }
                },
            },
            _deny_insecure_transport(bucket_arn),
        ]
    )


def access_log_bucket_policy(
    bucket_arn: str, source_bucket_arns: Sequence[str], account_id: str
) -> str:
    """Pure: S3 server access logging writes under `s3-access/` for these source buckets of this
    account only (`aws:SourceArn`, `aws:SourceAccount`; S3 user guide, "Grant permissions to the
    logging service principal by using a bucket policy"); nothing reaches it without TLS."""
    return iam.document(
        [
            {
                "Sid": "S3ServerAccessLogsWrite",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/{ACCESS_LOG_PREFIX}*",
                "Condition": {
                    "ArnLike": {"aws:SourceArn": sorted(source_bucket_arns)},
                    "StringEquals": {"aws:SourceAccount": account_id},
                },
            },
            _deny_insecure_transport(bucket_arn),
        ]
    )


def data_event_selectors(bucket_arns: Sequence[str]) -> list[dict[str, Any]]:
    """Pure: advanced event selectors (pulumi_aws 7.x `TrailAdvancedEventSelectorArgs`): every
    management event, and the S3 object-level data events of these buckets only
    (`resources.ARN` StartsWith `<bucket ARN>/`; CloudTrail user guide, "Logging data events":
    with advanced selectors, management events need a selector of their own)."""
    return [
        {
            "name": "Management events",
            "field_selectors": [{"field": "eventCategory", "equals": ["Management"]}],
        },
        {
            "name": "S3 data events of the platform's buckets",
            "field_selectors": [
                {"field": "eventCategory", "equals": ["Data"]},
                {"field": "resources.type", "equals": ["AWS::S3::Object"]},
                {"field": "resources.ARN", "starts_withs": [f"{arn}/" for arn in bucket_arns]},
            ],
        },
    ]


def lifecycle_rules(days: int) -> list[dict[str, Any]]:
    """Pure: log files (current and noncurrent versions) expire after `days`."""
    return [
        {
            "id": "expire-logs",
            "status": "Enabled",
            "filter": {"prefix": ""},
            "expiration": {"days": days},
            "noncurrent_version_expiration": {"noncurrent_days": days},
            "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
        }
    ]


def cloudtrail_logs_trust(trail_arn_value: str) -> str:
    """Pure: only CloudTrail, on behalf of this trail, assumes the delivery role."""
    return iam.document(
        [
            {
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceArn": trail_arn_value}},
            }
        ]
    )


class LogsKey(pulumi.ComponentResource):
    """The customer KMS key of the stack's log groups."""

    key_arn: pulumi.Output[str]

    def __init__(self, name: str, spec: AuditSpec, opts: pulumi.ResourceOptions | None = None):
        super().__init__("gpuplatform:index:LogsKey", name, {}, opts)
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        key = aws.kms.Key(
            name,
            description=f"CloudWatch Logs of {spec.cluster_name}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=account.account_id.apply(lambda account_id: logs_key_policy(spec, account_id)),
            opts=keep(self, spec.protect),
        )
        aws.kms.Alias(
            name,
            name=f"alias/{spec.cluster_name}-logs",
            target_key_id=key.key_id,
            opts=keep(self, spec.protect),
        )
        self.key_arn = key.arn
        self.register_outputs({"key_arn": self.key_arn})


class AuditRefs(TypedDict):
    """Handles of what the storage tiers and the logs key created, for the audit trail."""

    bucket_names: Mapping[str, pulumi.Input[str]]
    """Logical name -> bucket name of the audited buckets (datasets, checkpoints, models)."""
    bucket_arns: Mapping[str, pulumi.Input[str]]
    log_kms_key_arn: pulumi.Input[str] | None
    """The logs key (`LogsKey.key_arn`), for the trail's log group; None: AWS-managed."""


class AuditTrail(pulumi.ComponentResource):
    """The stack's CloudTrail trail (with S3 data events) and the buckets' server access logs."""

    trail_arn: pulumi.Output[str] | None
    trail_bucket_name: pulumi.Output[str] | None
    access_log_bucket_name: pulumi.Output[str] | None

    def __init__(
        self,
        name: str,
        spec: AuditSpec,
        refs: AuditRefs,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("gpuplatform:index:AuditTrail", name, {}, opts)
        self.spec = spec
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        self.account_id = account.account_id
        self.trail_arn = None
        self.trail_bucket_name = None
        self.access_log_bucket_name = None
        if spec.access_logs:
            self._access_logs(name, refs)
        if spec.trail is not None:
            self._trail(name, spec.trail, refs)
        self.register_outputs(
            {
                "trail_arn": self.trail_arn,
                "trail_bucket_name": self.trail_bucket_name,
                "access_log_bucket_name": self.access_log_bucket_name,
            }
        )

    def _log_bucket(
        self, name: str, encryption: dict[str, Any]
    ) -> tuple[aws.s3.Bucket, list[pulumi.Resource]]:
        """A private, versioned log bucket with its encryption and lifecycle (its policy, which
        adds the TLS-only deny, is the caller's); returns the bucket and the guards its writer
        waits for: ownership controls, public access block, versioning, encryption."""
        spec = self.spec
        made = private_bucket(
            name,
            owner=self,
            protect=spec.protect,
            expected_size_gib=spec.expected_log_size_gib,
            encryption=encryption,
            lifecycle_rules=lifecycle_rules(spec.log_retention_days),
        )
        return made.bucket, made.guards

    def _access_logs(self, name: str, refs: AuditRefs) -> None:
        spec = self.spec
        bucket, guards = self._log_bucket(
            f"{name}-access-logs",
            # Server access logging delivers only to SSE-S3 destination buckets.
            {"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}},
        )
        sources = [refs["bucket_arns"][b] for b in AUDITED_BUCKETS]
        policy = aws.s3.BucketPolicy(
            f"{name}-access-logs",
            bucket=bucket.id,
            policy=pulumi.Output.all(bucket.bucket, self.account_id, *sources).apply(
                lambda v: access_log_bucket_policy(bucket_arn(spec.partition, v[0]), v[2:], v[1])
            ),
            opts=keep(self, spec.protect, depends_on=[guards[1]]),
        )
        for bucket_name in AUDITED_BUCKETS:
            aws.s3.BucketLogging(
                f"{name}-access-logs-{bucket_name}",
                bucket=refs["bucket_names"][bucket_name],
                target_bucket=bucket.id,
                target_prefix=f"{ACCESS_LOG_PREFIX}{bucket_name}/",
                opts=keep(self, spec.protect, depends_on=[policy, *guards]),
            )
        self.access_log_bucket_name = bucket.bucket

    def _trail(self, name: str, trail: TrailSpec, refs: AuditRefs) -> None:
        spec = self.spec
        protect = spec.protect
        part, region = spec.partition, spec.region
        key = aws.kms.Key(
            f"{name}-trail",
            description=f"CloudTrail log files of {spec.cluster_name}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=self.account_id.apply(lambda a: trail_key_policy(spec, trail, a)),
            opts=keep(self, protect),
        )
        aws.kms.Alias(
            f"{name}-trail",
            name=f"alias/{spec.cluster_name}-audit-trail",
            target_key_id=key.key_id,
            opts=keep(self, protect),
        )
        bucket, guards = self._log_bucket(
            f"{name}-trail",
            {
                "apply_server_side_encryption_by_default": {
                    "sse_algorithm": "aws:kms",
                    "kms_master_key_id": key.arn,
                },
                # No S3 Bucket Key: with one, creating the trail also needs kms:Decrypt for the
                # deployer (CloudTrail user guide, KMS key policies), who administers the key
                # but never uses it.
                "bucket_key_enabled": False,
            },
        )
        policy = aws.s3.BucketPolicy(
            f"{name}-trail",
            bucket=bucket.id,
            policy=pulumi.Output.all(bucket.bucket, self.account_id).apply(
                lambda v: trail_bucket_policy(
                    bucket_arn(part, v[0]), part, region, v[1], trail.name
                )
            ),
            opts=keep(self, protect, depends_on=[guards[1]]),
        )
        arn = self.account_id.apply(lambda a: trail_arn(part, region, a, trail.name))
        extra: dict[str, Any] = {}
        after: list[pulumi.Resource] = [policy, *guards]
        if trail.cloud_watch_logs_retention_days is not None:
            log_group = aws.cloudwatch.LogGroup(
                f"{name}-trail",
                retention_in_days=trail.cloud_watch_logs_retention_days,
                kms_key_id=refs["log_kms_key_arn"],
                opts=keep(self, protect),
            )
            role = aws.iam.Role(
                f"{name}-trail-logs",
                description="CloudTrail: deliver the stack's trail to CloudWatch Logs",
                assume_role_policy=arn.apply(cloudtrail_logs_trust),
                opts=pulumi.ResourceOptions(parent=self),
            )
            delivery = aws.iam.RolePolicy(
                f"{name}-trail-logs",
                role=role.id,
                policy=log_group.arn.apply(
                    lambda group: iam.document(
                        [
                            iam.allow(
                                ["logs:CreateLogStream", "logs:PutLogEvents"],
                                [f"{group}:log-stream:*"],
                            )
                        ]
                    )
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            extra["cloud_watch_logs_group_arn"] = log_group.arn.apply(lambda g: f"{g}:*")
            extra["cloud_watch_logs_role_arn"] = role.arn
            after.append(delivery)
        audited = [refs["bucket_arns"][b] for b in AUDITED_BUCKETS]
        created = aws.cloudtrail.Trail(
            f"{name}-trail",
            name=trail.name,
            s3_bucket_name=bucket.id,
            s3_key_prefix=TRAIL_LOG_PREFIX,
            kms_key_id=key.arn,
            enable_log_file_validation=True,
            is_multi_region_trail=trail.multi_region,
            include_global_service_events=True,
            advanced_event_selectors=pulumi.Output.all(*audited).apply(
                data_event_selectors  # type: ignore[arg-type]
            ),
            # CloudTrail checks the bucket policy (and the key policy) when it creates the trail.
            opts=guard(self, protect, depends_on=after),
            **extra,
        )
        self.trail_arn = created.arn
        self.trail_bucket_name = bucket.bucket
