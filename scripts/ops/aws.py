"""AWS sessions and clients for the ops commands, and the translation of AWS errors.

Every client retries in botocore's `standard` mode with up to 10 retries, so throttling and
transient faults are retried with backoff before anything is reported. What still fails is turned
by `describe_aws_error` into one line for the user (`ops: error: ...`); the CLI exits 2 on it.

`Aws` caches one client per (service, region). Tests build an `Aws`, wrap a client in a botocore
`Stubber` and hand the object to `scripts.ops.__main__.main`; the command then uses that very
client. They may also share one boto3 session between `Aws` objects (loading a service model is
the slow part of making a client).
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
    SSOTokenLoadError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
)

DEFAULT_REGION = "us-east-1"
"""Region used when neither `--region` nor a stack names one."""

MAX_ATTEMPTS = 10
RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS})
"""Standard retry mode: exponential backoff with jitter on throttling and transient errors.
botocore reads `max_attempts` as retries after the first call (11 calls in all)."""

ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnauthorizedAccess",
        "AuthorizationError",
    }
)
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "LimitExceededException",
    }
)
BAD_CREDENTIALS_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AuthFailure",
        "InvalidToken",
    }
)
NO_SUCH_QUOTA_CODES = frozenset({"NoSuchResourceException"})


class Aws:
    """A boto3 session (profile and default region) that hands out cached, retrying clients."""

    def __init__(
        self,
        region: str = DEFAULT_REGION,
        profile: str | None = None,
        session: boto3.session.Session | None = None,
    ):
        self.region = region
        self.profile = profile
        self._session = session
        self._clients: dict[tuple[str, str], Any] = {}
        self.last_call: str | None = None
        """The last API call made, as an IAM action (`servicequotas:GetServiceQuota`)."""

    @property
    def session(self) -> boto3.session.Session:
        if self._session is None:
            self._session = boto3.session.Session(
                profile_name=self.profile, region_name=self.region
            )
        return self._session

    def client(self, service: str, region: str | None = None) -> Any:
        """A client for `service` in `region` (default: this object's region), created once."""
        key = (service, region or self.region)
        if key not in self._clients:
            client = self.session.client(service, region_name=key[1], config=RETRY_CONFIG)
            client.meta.events.register("before-parameter-build", self._record_call)
            self._clients[key] = client
        return self._clients[key]

    def _record_call(self, model: Any, **_: Any) -> None:
        prefix = model.service_model.signing_name or model.service_model.endpoint_prefix
        self.last_call = f"{prefix}:{model.name}"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def describe_aws_error(exc: BaseException, action: str | None = None) -> str:
    """One line for the user about an AWS failure (`action` is the IAM action that failed)."""
    calling = f" calling {action}" if action else ""
    if isinstance(exc, NoCredentialsError):
        return (
            "no AWS credentials found: pass --profile, set AWS_PROFILE or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or run `aws sso login`"
        )
    if isinstance(exc, PartialCredentialsError):
        return f"incomplete AWS credentials: {_one_line(str(exc))}"
    if isinstance(exc, ProfileNotFound):
        return f"{_one_line(str(exc))} (check --profile / AWS_PROFILE and ~/.aws/config)"
    if isinstance(exc, TokenRetrievalError | SSOTokenLoadError | UnauthorizedSSOTokenError):
        return (
            f"AWS credentials could not be refreshed ({_one_line(str(exc))}); run `aws sso login`"
        )
    if isinstance(exc, NoRegionError):
        return "no AWS region: pass --region or set AWS_REGION"
    if isinstance(exc, EndpointConnectionError):
        return (
            f"cannot reach the AWS endpoint {exc.kwargs.get('endpoint_url', '')}{calling} "
            "(no network, a proxy in the way, or the service is not offered in this region)"
        )
    if isinstance(exc, ConnectTimeoutError | ReadTimeoutError):
        return f"timed out talking to AWS{calling}: {_one_line(str(exc))}"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        message = _one_line(error.get("Message") or "") or code
        action = action or exc.operation_name
        if code in ACCESS_DENIED_CODES:
            return (
                f"access denied calling {action} ({code}): {message}; "
                "the caller needs that IAM permission"
            )
        if code in THROTTLING_CODES:
            return (
                f"AWS throttled {action} ({code}) even after {MAX_ATTEMPTS} retries with backoff; "
                "wait a minute and run the command again"
            )
        if code in BAD_CREDENTIALS_CODES:
            return (
                f"AWS rejected the credentials calling {action} ({code}): {message}; "
                "refresh them (`aws sso login`, new access keys)"
            )
        if code in NO_SUCH_QUOTA_CODES:
            return (
                f"service quota not found calling {action} ({code}): {message}; "
                "check the quota code and that the region offers the service"
            )
        return f"{action} failed ({code}): {message}"
    if isinstance(exc, BotoCoreError):
        return f"AWS SDK error{calling}: {_one_line(str(exc))}"
    return _one_line(str(exc))


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ClientError (`AccessDenied`, `NoSuchBucket`, `404`, ...)."""
    return str(exc.response.get("Error", {}).get("Code", ""))
