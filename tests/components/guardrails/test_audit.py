"""The audit trail, the access logs and the logs key: what they register, the policies they carry.

Programs run under the recording mocks with preview=False, so every `apply` (the policies, the
selectors) runs and its result is what is asserted.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from components.common import kms
from components.common.protection import RETAINED_TYPES
from components.config import ConfigError
from components.guardrails.audit import (
    AuditRefs,
    AuditTrail,
    LogsKey,
    access_log_bucket_policy,
    data_event_selectors,
    logs_key_policy,
    trail_arn,
    trail_bucket_policy,
    trail_key_policy,
)
from components.resolve.audit import AUDITED_BUCKETS, AuditSpec
from scripts.plan.mocks import ACCOUNT_ID
from tests.conftest import Recorded
from tests.support import config, platform

TRAIL = "aws:cloudtrail/trail:Trail"
KEY = "aws:kms/key:Key"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
LOGGING = "aws:s3/bucketLogging:BucketLogging"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ROLE = "aws:iam/role:Role"

PROD = platform("prod").audit
assert PROD is not None and PROD.trail is not None
PROD_TRAIL = PROD.trail
DEPLOYER = config("prod").deployer.principal_arn
BUCKET_ARNS = {b: f"arn:aws:s3:::gpu-platform-{b}-0a1b2c" for b in AUDITED_BUCKETS}
LOG_KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT_ID}:key/logs"
TRAIL_ARN = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT_ID}:trail/{PROD_TRAIL.name}"
ROOT = f"arn:aws:iam::{ACCOUNT_ID}:root"


def statements(document: str) -> dict[str, dict[str, Any]]:
    return {s.get("Sid", ""): s for s in json.loads(document)["Statement"]}


def program(spec: AuditSpec):
    def body() -> None:
        refs: AuditRefs = {
            "bucket_names": {b: arn.rsplit(":", 1)[-1] for b, arn in BUCKET_ARNS.items()},
            "bucket_arns": BUCKET_ARNS,
            "log_kms_key_arn": LOG_KEY_ARN,
        }
        audit = AuditTrail("audit", spec, refs)
        pulumi.export("trailArn", audit.trail_arn)
        LogsKey("logs-key", spec)

    return body


@pytest.fixture
def prod(run_pulumi) -> Recorded:
    return run_pulumi(program(PROD))


# --------------------------------------------------------------------------- config and resolve


@pytest.mark.parametrize(
    ("audit", "key", "fragment"),
    [
        (
            {"organizationTrailArn": "arn:aws:s3:::my-trail-bucket"},
            "audit.organizationTrailArn",
            "is not a CloudTrail trail ARN",
        ),
        (
            {"organizationTrailArn": "arn:aws:cloudtrail:us-east-1:123:trail/org"},
            "audit.organizationTrailArn",
            "is not a CloudTrail trail ARN",
        ),
        ({"trail": "organization"}, "audit.organizationTrailArn", "required with trail"),
        (
            {
                "trail": "stack",
                "organizationTrailArn": "arn:aws:cloudtrail:us-east-1:111122223333:trail/org",
            },
            "audit.organizationTrailArn",
            "but trail is stack",
        ),
        ({"trail": "everywhere"}, "audit.trail", "everywhere"),
        ({"keyAdministratorArns": ["admin"]}, "audit.keyAdministratorArns", "not IAM role"),
        ({"cloudWatchLogsRetentionDays": 100}, "audit.cloudWatchLogsRetentionDays", "100 days"),
    ],
)
def test_bad_audit_config_names_the_key_and_value(audit, key, fragment):
    with pytest.raises(ConfigError) as error:
        config("prod", audit=audit)
    message = str(error.value)
    assert f"gpu-platform:{key}:" in message
    assert fragment in message


def test_defaults_follow_the_environment():
    for stack in ("dev", "staging"):
        spec = platform(stack).audit
        assert spec is not None
        assert (spec.trail, spec.access_logs, spec.log_group_kms, spec.protect) == (
            None,
            False,
            False,
            False,
        ), stack
    assert (PROD.access_logs, PROD.log_group_kms, PROD.protect) == (True, True, True)
    assert PROD_TRAIL.name == "gpu-platform-prod-audit"
    assert PROD_TRAIL.multi_region is True
    assert PROD_TRAIL.cloud_watch_logs_retention_days is None  # off by default
    assert PROD.key_administrators == (DEPLOYER,)


def test_an_organisation_trail_replaces_the_stacks_own():
    org = "arn:aws:cloudtrail:us-east-1:111122223333:trail/org-trail"
    spec = platform("prod", audit={"organizationTrailArn": org}).audit
    assert spec is not None
    assert spec.trail is None and spec.organization_trail_arn == org
    off = platform("prod", audit={"trail": "off"}).audit
    assert off is not None and off.trail is None and off.organization_trail_arn is None
    staging = platform("staging", audit={"trail": "stack", "multiRegion": False}).audit
    assert staging is not None and staging.trail is not None
    assert staging.trail.multi_region is False


# --------------------------------------------------------------------------- pure policies


def test_data_event_selectors_cover_exactly_the_three_buckets_and_keep_management_events():
    management, data = data_event_selectors(list(BUCKET_ARNS.values()))
    assert management["field_selectors"] == [{"field": "eventCategory", "equals": ["Management"]}]
    fields = {f["field"]: f for f in data["field_selectors"]}
    assert fields["eventCategory"]["equals"] == ["Data"]
    assert fields["resources.type"]["equals"] == ["AWS::S3::Object"]
    assert sorted(fields["resources.ARN"]["starts_withs"]) == sorted(
        f"{arn}/" for arn in BUCKET_ARNS.values()
    )


def test_trail_key_policy_separates_administrators_from_users():
    policy = statements(trail_key_policy(PROD, PROD_TRAIL, ACCOUNT_ID))
    admins = policy["KeyAdministration"]
    # The account root administers too, so the key can never be locked out.
    assert admins["Principal"] == {"AWS": sorted([DEPLOYER, ROOT])}
    assert not [a for a in admins["Action"] if a.startswith(("kms:Decrypt", "kms:Encrypt"))]
    assert "kms:*" not in admins["Action"] and "kms:GenerateDataKey*" not in admins["Action"]
    context = f"arn:aws:cloudtrail:*:{ACCOUNT_ID}:trail/*"
    encrypt = policy["CloudTrailEncryptsThisTrailsLogs"]
    assert encrypt["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert encrypt["Action"] == "kms:GenerateDataKey*"
    assert encrypt["Condition"] == {
        "StringEquals": {"aws:SourceArn": TRAIL_ARN},
        "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": context},
    }
    describe = policy["CloudTrailDescribesTheKey"]
    assert describe["Condition"] == {"StringEquals": {"aws:SourceArn": TRAIL_ARN}}
    readers = policy["ReadersDecryptTheLogFiles"]
    assert readers["Principal"] == {"AWS": [f"arn:aws:iam::{ACCOUNT_ID}:root"]}
    assert readers["Action"] == ["kms:Decrypt", "kms:ReEncryptFrom"]
    assert readers["Condition"]["StringEquals"] == {"kms:CallerAccount": ACCOUNT_ID}
    assert readers["Condition"]["StringLike"] == {
        "kms:EncryptionContext:aws:cloudtrail:arn": context
    }
    # Nobody holds kms:* on the key.
    assert not [s for s in policy.values() if "kms:*" in json.dumps(s["Action"])]


def test_named_log_readers_replace_the_account():
    reader = "arn:aws:iam::123456789012:role/security-audit"
    admin = "arn:aws:iam::123456789012:role/break-glass"
    spec = platform(
        "prod", audit={"logReaderArns": [reader], "keyAdministratorArns": [admin]}
    ).audit
    assert spec is not None and spec.trail is not None
    policy = statements(trail_key_policy(spec, spec.trail, ACCOUNT_ID))
    assert policy["ReadersDecryptTheLogFiles"]["Principal"] == {"AWS": [reader]}
    assert policy["KeyAdministration"]["Principal"] == {"AWS": sorted([DEPLOYER, ROOT, admin])}


def test_logs_key_policy_grants_cloudwatch_logs_of_the_region_for_this_account_only():
    policy = statements(logs_key_policy(PROD, ACCOUNT_ID))
    logs = policy["CloudWatchLogsEncryptsThisAccountsLogGroups"]
    assert logs["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    assert logs["Condition"] == {
        "ArnLike": {
            "kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:*"
        }
    }
    assert set(policy["KeyAdministration"]["Action"]) == set(kms.KEY_ADMIN_ACTIONS)


def test_trail_bucket_policy_admits_this_trail_only_and_requires_tls():
    arn = "arn:aws:s3:::trail-bucket"
    policy = statements(trail_bucket_policy(arn, "aws", "us-east-1", ACCOUNT_ID, PROD_TRAIL.name))
    for sid in ("CloudTrailAclCheck", "CloudTrailWrite"):
        assert policy[sid]["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
        assert policy[sid]["Condition"]["StringEquals"]["aws:SourceArn"] == TRAIL_ARN
    assert policy["CloudTrailAclCheck"]["Action"] == "s3:GetBucketAcl"
    assert policy["CloudTrailWrite"]["Resource"] == f"{arn}/cloudtrail/AWSLogs/{ACCOUNT_ID}/*"
    assert (
        policy["CloudTrailWrite"]["Condition"]["StringEquals"]["s3:x-amz-acl"]
        == "bucket-owner-full-control"
    )
    deny = policy["DenyInsecureTransport"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_access_log_bucket_policy_admits_s3_logging_for_the_sources_of_this_account():
    arn = "arn:aws:s3:::access-logs"
    policy = statements(access_log_bucket_policy(arn, list(BUCKET_ARNS.values()), ACCOUNT_ID))
    write = policy["S3ServerAccessLogsWrite"]
    assert write["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert write["Action"] == "s3:PutObject"
    assert write["Condition"] == {
        "ArnLike": {"aws:SourceArn": sorted(BUCKET_ARNS.values())},
        "StringEquals": {"aws:SourceAccount": ACCOUNT_ID},
    }
    assert "DenyInsecureTransport" in policy


def test_trail_arn_is_the_cloudtrail_form():
    assert trail_arn("aws", "us-east-1", ACCOUNT_ID, "t") == (
        f"arn:aws:cloudtrail:us-east-1:{ACCOUNT_ID}:trail/t"
    )


# --------------------------------------------------------------------------- the component


def test_the_trail_validates_its_files_encrypts_and_records_the_three_buckets(prod):
    trail = prod.one(TRAIL)
    inputs = trail.inputs
    assert inputs["name"] == PROD_TRAIL.name
    assert inputs["enableLogFileValidation"] is True
    assert inputs["isMultiRegionTrail"] is True
    assert inputs["includeGlobalServiceEvents"] is True
    trail_key = prod.one(KEY, "audit-trail")
    assert trail.property_dependencies["kmsKeyId"] == [trail_key.urn]
    selectors = inputs["advancedEventSelectors"]
    data = next(s for s in selectors if s["name"].startswith("S3 data events"))
    arns = next(f for f in data["fieldSelectors"] if f["field"] == "resources.ARN")
    assert sorted(arns["startsWiths"]) == sorted(f"{a}/" for a in BUCKET_ARNS.values())
    assert "cloudWatchLogsGroupArn" not in inputs  # off by default
    assert prod.outputs["trailArn"] == TRAIL_ARN  # the ARN the policies name is the trail's


def test_the_trail_waits_for_its_bucket_policy(prod):
    trail = prod.one(TRAIL)
    policy = prod.one(BUCKET_POLICY, "audit-trail")
    assert policy.urn in trail.dependencies
    bucket = prod.one(BUCKET, "audit-trail")
    assert trail.property_dependencies["s3BucketName"] == [bucket.urn]


def test_the_trail_bucket_is_kms_encrypted_with_the_trail_key(prod):
    [rule] = prod.one(SSE, "audit-trail").inputs["rules"]
    default = rule["applyServerSideEncryptionByDefault"]
    assert default["sseAlgorithm"] == "aws:kms"
    assert prod.one(KEY, "audit-trail").urn in prod.one(SSE, "audit-trail").dependencies


def test_the_key_policies_are_registered_with_their_conditions(prod):
    trail_key = statements(prod.one(KEY, "audit-trail").inputs["policy"])
    assert trail_key["CloudTrailEncryptsThisTrailsLogs"]["Condition"]["StringEquals"] == {
        "aws:SourceArn": TRAIL_ARN
    }
    logs_key = statements(prod.one(KEY, "logs-key").inputs["policy"])
    assert "CloudWatchLogsEncryptsThisAccountsLogGroups" in logs_key


def test_access_logs_go_to_an_sse_s3_bucket_from_each_data_bucket(prod):
    [rule] = prod.one(SSE, "audit-access-logs").inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    loggings = prod.of_type(LOGGING)
    assert sorted(r.inputs["bucket"] for r in loggings) == sorted(
        arn.rsplit(":", 1)[-1] for arn in BUCKET_ARNS.values()
    )
    policy = prod.one(BUCKET_POLICY, "audit-access-logs")
    target = prod.one(BUCKET, "audit-access-logs")
    for logging in loggings:
        assert logging.property_dependencies["targetBucket"] == [target.urn]
        assert policy.urn in logging.dependencies
        assert logging.inputs["targetPrefix"].startswith("s3-access/")


def test_prod_protects_and_retains_the_audit_set(prod):
    for registration in prod.registrations:
        if registration.type in RETAINED_TYPES:
            assert registration.protect and registration.retain_on_delete, registration.name
    trail = prod.one(TRAIL)
    assert trail.protect is True and trail.retain_on_delete is False
    assert all(b.inputs["forceDestroy"] is False for b in prod.of_type(BUCKET))


def test_cloudwatch_delivery_is_encrypted_and_scoped_to_the_trail(run_pulumi):
    spec = platform("prod", audit={"cloudWatchLogs": True}).audit
    assert spec is not None
    recorded = run_pulumi(program(spec))
    group = recorded.one(LOG_GROUP)
    assert group.inputs["kmsKeyId"] == LOG_KEY_ARN
    assert group.inputs["retentionInDays"] == 365
    trust = json.loads(recorded.one(ROLE, "audit-trail-logs").inputs["assumeRolePolicy"])
    [statement] = trust["Statement"]
    assert statement["Condition"] == {"StringEquals": {"aws:SourceArn": TRAIL_ARN}}
    trail = recorded.one(TRAIL)
    assert trail.inputs["cloudWatchLogsGroupArn"].endswith(":*")


def test_without_protect_the_log_buckets_go_with_the_stack(run_pulumi):
    spec = platform("staging", audit={"trail": "stack", "s3AccessLogs": True}).audit
    assert spec is not None
    recorded = run_pulumi(program(spec))
    assert not [r.name for r in recorded.registrations if r.protect or r.retain_on_delete]
    assert all(b.inputs["forceDestroy"] is True for b in recorded.of_type(BUCKET))
