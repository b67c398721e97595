"""`ops backend bootstrap` under moto (S3 and STS): a safe state bucket, idempotently."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws

from scripts.ops.aws import Aws
from tests.scripts.test_ops_support import isolate_aws_env, make_aws, run_ops

ACCOUNT = "123456789012"  # moto's default account
BUCKET = f"gpu-platform-state-{ACCOUNT}-us-east-1"


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_aws_env(monkeypatch, tmp_path)


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mock_aws():
        yield make_aws()


def test_bootstrap_creates_a_versioned_encrypted_private_tls_only_bucket(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_ops(capsys, ["backend", "bootstrap"], aws)

    assert run.code == 0, run.err
    s3 = aws.client("s3")
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert len(rules) == 1
    assert rules[0]["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms"}
    assert rules[0]["BucketKeyEnabled"] is True
    block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    policy = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Principal"] == "*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert set(statement["Resource"]) == {
        f"arn:aws:s3:::{BUCKET}",
        f"arn:aws:s3:::{BUCKET}/*",
    }
    assert f"pulumi login 's3://{BUCKET}?region=us-east-1&awssdk=v2'" in run.out
    assert "5 change(s)" in run.out


def test_a_second_run_changes_nothing_and_says_so(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_ops(capsys, ["backend", "bootstrap"], aws).code == 0

    run = run_ops(capsys, ["backend", "bootstrap"], aws)
    again = run_ops(capsys, ["backend", "bootstrap", "--json"], aws)

    assert run.code == 0
    assert "nothing to change: the bucket was already set up" in run.out
    assert f"pulumi login 's3://{BUCKET}?region=us-east-1&awssdk=v2'" in run.out
    document = json.loads(again.out)
    assert document["changed"] is False
    assert {step["status"] for step in document["steps"]} == {"unchanged"}
    assert document["backendUrl"] == f"s3://{BUCKET}?region=us-east-1&awssdk=v2"


def test_an_existing_bucket_is_fixed_and_its_other_policy_statements_kept(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="team-state")
    s3.put_bucket_versioning(Bucket="team-state", VersioningConfiguration={"Status": "Enabled"})
    other = {
        "Sid": "AllowAuditRead",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::team-state/*",
    }
    s3.put_bucket_policy(
        Bucket="team-state", Policy=json.dumps({"Version": "2012-10-17", "Statement": [other]})
    )

    run = run_ops(capsys, ["backend", "bootstrap", "--bucket", "team-state", "--json"], aws)

    document = json.loads(run.out)
    statuses = {step["step"]: step["status"] for step in document["steps"]}
    assert statuses["bucket"] == "unchanged"
    assert statuses["versioning"] == "unchanged"
    assert statuses["TLS-only policy"] == "updated"
    sids = [
        s["Sid"]
        for s in json.loads(s3.get_bucket_policy(Bucket="team-state")["Policy"])["Statement"]
    ]
    assert sids == ["AllowAuditRead", "DenyInsecureTransport"]


def test_other_region_and_customer_key(capsys: pytest.CaptureFixture[str]) -> None:
    key = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    with mock_aws():
        aws = make_aws(region="eu-west-1")
        run = run_ops(capsys, ["backend", "bootstrap", "--kms-key-id", key], aws)
        bucket = f"gpu-platform-state-{ACCOUNT}-eu-west-1"
        s3 = aws.client("s3")
        assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == "eu-west-1"
        rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"][
            "Rules"
        ][0]
    assert run.code == 0, run.err
    assert rule["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": key,
    }
    assert f"pulumi login 's3://{bucket}?region=eu-west-1&awssdk=v2'" in run.out
