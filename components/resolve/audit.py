"""Resolve the audit trail: which trail records the stack, S3 access logs, customer-key log groups.

Every environment-dependent default of `audit` lives here:

| key | dev | staging | prod |
|---|---|---|---|
| `audit.trail` | off | off | stack |
| `audit.s3AccessLogs` | off | off | on |
| `audit.logGroupKms` | off | off | on |

Staging stays off by default: it holds no production data, and CloudTrail bills S3 data events
per event ($0.10 per 100,000), which a training run's reads make plentiful. Turn any of them on
per stack.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.config import AuditTrail, Environment, StackConfig
from components.resolve.storage import BUCKETS

AUDITED_BUCKETS = BUCKETS
"""The data buckets whose S3 data events the trail records and whose server access logs are kept:
datasets, checkpoints and models."""
ACCESS_LOG_PREFIX = "s3-access/"
"""Key prefix of the server access logs in the log bucket (one folder per source bucket below)."""
TRAIL_LOG_PREFIX = "cloudtrail"
"""S3 key prefix of the trail's log files (CloudTrail adds `/AWSLogs/<account>/...`)."""


@dataclass(frozen=True)
class TrailSpec:
    """A CloudTrail trail of this stack's own."""

    name: str
    """Trail name (`<cluster>-audit`): fixed, so the trail's ARN is known before it exists and
    the key and bucket policies can name it in `aws:SourceArn`."""
    multi_region: bool
    cloud_watch_logs_retention_days: int | None
    """Set: the trail also delivers to a CloudWatch Logs group with this retention."""
    log_retention_days: int
    """Current and noncurrent log files expire after this many days."""
    expected_log_size_gib: float


@dataclass(frozen=True)
class AuditSpec:
    """The audit trail, S3 server access logs and the logs key of one stack."""

    region: str
    partition: str
    cluster_name: str
    trail: TrailSpec | None
    """None: no trail of the stack's own (off, or an organisation trail)."""
    organization_trail_arn: str | None
    """The organisation trail that records this account (exported; nothing is created)."""
    access_logs: bool
    """Server access logs of the audited buckets into a log bucket of the stack's (SSE-S3)."""
    log_group_kms: bool
    """Every log group of the stack is encrypted with the stack's logs key."""
    key_administrators: tuple[str, ...]
    """Principals that administer the audit keys (the deployer first); they never use them."""
    log_readers: tuple[str, ...]
    """Principals that may decrypt the trail's log files; empty: the account's principals whose
    IAM policies allow it."""
    log_retention_days: int
    expected_log_size_gib: float
    protect: bool
    """Protect and retain the keys, log buckets and their guards, and the trail (prod)."""

    @property
    def trail_arn_suffix(self) -> str | None:
        """`trail/<name>` of the stack's trail (the ARN is `arn:<part>:cloudtrail:<region>:
        <account>:trail/<name>`)."""
        return f"trail/{self.trail.name}" if self.trail else None


def resolve_audit(config: StackConfig, cluster_name: str, partition: str) -> AuditSpec:
    """Pure: the audit section with every default of the stack's environment applied (the model
    has already refused an organisation ARN that is not a trail's, or one without its mode)."""
    audit = config.audit
    prod = config.environment is Environment.PROD
    mode = audit.trail
    if mode is None:
        if audit.organization_trail_arn is not None:
            mode = AuditTrail.ORGANIZATION
        else:
            mode = AuditTrail.STACK if prod else AuditTrail.OFF
    trail = None
    if mode is AuditTrail.STACK:
        trail = TrailSpec(
            name=f"{cluster_name}-audit",
            multi_region=audit.multi_region,
            cloud_watch_logs_retention_days=(
                audit.cloud_watch_logs_retention_days if audit.cloud_watch_logs else None
            ),
            log_retention_days=audit.log_retention_days,
            expected_log_size_gib=audit.expected_log_size_gib,
        )
    return AuditSpec(
        region=config.region,
        partition=partition,
        cluster_name=cluster_name,
        trail=trail,
        organization_trail_arn=(
            audit.organization_trail_arn if mode is AuditTrail.ORGANIZATION else None
        ),
        access_logs=prod if audit.s3_access_logs is None else audit.s3_access_logs,
        log_group_kms=prod if audit.log_group_kms is None else audit.log_group_kms,
        key_administrators=tuple(
            dict.fromkeys([config.deployer.principal_arn, *audit.key_administrator_arns])
        ),
        log_readers=tuple(audit.log_reader_arns),
        log_retention_days=audit.log_retention_days,
        expected_log_size_gib=audit.expected_log_size_gib,
        protect=config.protect,
    )


__all__ = ["AUDITED_BUCKETS", "AuditSpec", "TrailSpec", "resolve_audit"]
