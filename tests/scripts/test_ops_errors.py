"""AWS failures become ONE `ops: error: ...` line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

from scripts.ops import cost
from scripts.ops.aws import MAX_ATTEMPTS, Aws, describe_aws_error
from tests.scripts.test_ops_support import Run, isolate_aws_env, make_aws, run_ops


def assert_one_error_line(run: Run, *needles: str) -> None:
    assert run.code == 2
    assert run.out == ""
    lines = run.err.splitlines()
    assert len(lines) == 1, run.err
    assert lines[0].startswith("ops: error: ")
    assert "Traceback" not in run.err
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.parametrize(
    "argv", [["backend", "bootstrap"], ["preflight", "prod"], ["cost", "report", "dev"]]
)
def test_no_credentials(
    argv: list[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    isolate_aws_env(monkeypatch, tmp_path, credentials=False)

    run = run_ops(capsys, argv)  # a real session: no injected clients

    assert_one_error_line(run, "no AWS credentials found", "--profile")


def test_unknown_profile(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    isolate_aws_env(monkeypatch, tmp_path, credentials=False)

    run = run_ops(capsys, ["backend", "bootstrap", "--profile", "nope"])

    assert_one_error_line(run, "nope", "profile")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Aws:
    isolate_aws_env(monkeypatch, tmp_path)
    return make_aws()


def test_access_denied(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    stubber = Stubber(aws.client("sts"))
    stubber.add_client_error(
        "get_caller_identity",
        service_error_code="AccessDenied",
        service_message="User: arn:aws:iam::123456789012:user/ci is not authorized\nto perform",
        http_status_code=403,
    )
    stubber.activate()

    run = run_ops(capsys, ["backend", "bootstrap"], aws)

    assert_one_error_line(
        run, "access denied calling sts:GetCallerIdentity", "not authorized to perform"
    )


def test_unauthorized_operation(
    aws: Aws, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Mid-month, so the report asks for month-to-date costs (on the 1st it rightly skips them).
    monkeypatch.setattr(cost, "today", lambda: date(2026, 3, 15))
    stubber = Stubber(aws.client("ce", region="us-east-1"))
    stubber.add_client_error("get_cost_and_usage", "UnauthorizedOperation", http_status_code=403)
    stubber.activate()

    run = run_ops(capsys, ["cost", "report", "prod"], aws)

    assert_one_error_line(run, "access denied calling ce:GetCostAndUsage")


@pytest.mark.parametrize("code", ["Throttling", "ThrottlingException", "RequestLimitExceeded"])
def test_throttling(aws: Aws, capsys: pytest.CaptureFixture[str], code: str) -> None:
    stubber = Stubber(aws.client("service-quotas"))
    stubber.add_client_error("get_service_quota", code, http_status_code=400)
    stubber.activate()

    run = run_ops(capsys, ["preflight", "prod"], aws)

    assert_one_error_line(
        run, "throttled servicequotas:GetServiceQuota", code, f"{MAX_ATTEMPTS} retries"
    )


def test_missing_service_quota(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    stubber = Stubber(aws.client("service-quotas"))
    stubber.add_client_error("get_service_quota", "NoSuchResourceException")
    stubber.add_client_error("get_aws_default_service_quota", "NoSuchResourceException")
    stubber.activate()

    run = run_ops(capsys, ["preflight", "prod"], aws)

    assert_one_error_line(run, "service quota not found", "GetAWSDefaultServiceQuota")


def test_endpoint_unreachable(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    client = aws.client("sts")

    def offline(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://sts.us-east-1.amazonaws.com/")

    client.meta.events.register("before-call.sts.GetCallerIdentity", offline)

    run = run_ops(capsys, ["backend", "bootstrap"], aws)

    assert_one_error_line(run, "cannot reach the AWS endpoint https://sts.us-east-1.amazonaws.com/")


def test_invalid_stack_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    isolate_aws_env(monkeypatch, tmp_path)
    bad = tmp_path / "Pulumi.dev.yaml"
    bad.write_text("config:\n  aws:region: us-east-1\n  gpu-platform:environment: dev\n")

    assert_one_error_line(run_ops(capsys, ["preflight", "nosuchstack"]), "no stack config file")
    assert_one_error_line(
        run_ops(capsys, ["preflight", "dev", "--config-file", str(bad)]),
        "invalid stack config",
        "monthlyBudgetUsd",
    )


def test_clients_retry_in_standard_mode(aws: Aws) -> None:
    for service in ("ec2", "s3", "service-quotas"):
        retries = aws.client(service).meta.config.retries
        # botocore counts max_attempts as retries: 10 retries, 11 calls in all.
        assert retries == {"mode": "standard", "total_max_attempts": MAX_ATTEMPTS + 1}
    assert aws.client("pricing", region="us-east-1").meta.region_name == "us-east-1"


def test_translator_never_returns_several_lines() -> None:
    message = describe_aws_error(RuntimeError("first\nsecond"))
    assert message == "first second"
