"""Helpers shared by the `scripts.ops` tests (no tests here).

- `isolate_aws_env`: no real AWS configuration reaches the tests (files, profiles, instance
  metadata); optionally fake static credentials.
- `stub_operation`: answer ONE operation of a client (e.g. one moto does not implement) while
  every other operation still goes to moto; records the parameters sent.
- `make_aws`: an `Aws` on a boto3 session shared by the tests (service models load once);
- `run_ops`: run the CLI's `main()` and capture exit code, stdout and stderr.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from scripts.ops.__main__ import main
from scripts.ops.aws import Aws

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


def isolate_aws_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, credentials: bool = True
) -> None:
    """Clear every AWS_* variable, point the config files at empty files, no IMDS."""
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    empty = tmp_path / "aws-empty"
    empty.write_text("")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    if credentials:
        for key, value in FAKE_CREDENTIALS.items():
            monkeypatch.setenv(key, value)


@functools.cache
def _shared_session() -> boto3.session.Session:
    return boto3.session.Session(region_name="us-east-1")


def make_aws(region: str = "us-east-1") -> Aws:
    """A fresh `Aws` (fresh clients, so Stubbers start clean) on the shared session."""
    return Aws(region=region, session=_shared_session())


@dataclass
class StubbedOperation:
    """The parameters each call of a stubbed operation was made with."""

    calls: list[dict[str, Any]] = field(default_factory=list)


def stub_operation(
    client: Any,
    operation: str,
    response: dict[str, Any] | None = None,
    error_code: str | None = None,
    status: int = 400,
) -> StubbedOperation:
    """Answer `operation` (e.g. "DescribeCapacityReservations") on `client` with `response`, or
    with an AWS error `error_code`; other operations are untouched (moto keeps serving them)."""
    record = StubbedOperation()
    service_id = client.meta.service_model.service_id.hyphenize()

    def capture(params: dict[str, Any], **_: Any) -> None:
        record.calls.append(dict(params))

    def answer(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        if error_code is not None:
            parsed = {
                "Error": {"Code": error_code, "Message": f"stubbed {error_code}"},
                "ResponseMetadata": {"HTTPStatusCode": status},
            }
            return AWSResponse(None, status, {}, None), parsed
        parsed = {**(response or {}), "ResponseMetadata": {"HTTPStatusCode": 200}}
        return AWSResponse(None, 200, {}, None), parsed

    client.meta.events.register(f"before-parameter-build.{service_id}.{operation}", capture)
    client.meta.events.register(f"before-call.{service_id}.{operation}", answer)
    return record


@dataclass
class Run:
    code: int
    out: str
    err: str


def run_ops(capsys: pytest.CaptureFixture[str], argv: list[str], aws: Aws | None = None) -> Run:
    code = main(argv, aws=aws)
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)
