"""Pure KMS key policy builders: key administrators apart from key users.

A key policy here never holds the account-root `kms:*` statement of AWS's default policy. It has:

- one key-administration statement (`KEY_ADMIN_ACTIONS`: the "key administrators" statement of
  AWS's default console policy, KMS developer guide, "Default key policy": Create*, Describe*,
  Enable*, List*, Put*, Update*, Revoke*, Disable*, Get*, Delete*, TagResource, UntagResource,
  ScheduleKeyDeletion, CancelKeyDeletion, RotateKeyOnDemand) for the account root (so IAM
  policies can still grant administration, a break-glass path) and the deployer. It keeps
  `kms:PutKeyPolicy` (in Put*) with them: KMS refuses a policy that would not let the caller put
  the next one (the lockout safety check), and the key is never left unmanageable. It holds no
  cryptographic operation: no administrator can encrypt or decrypt with the key;
- key-user statements (`KEY_USE_ACTIONS` or fewer) naming each principal by the ARN built from its
  known name (`role_arn`), or, for AWS services that use the key on a caller's behalf, every
  principal of the account only through that service (`kms:ViaService` and `kms:CallerAccount`,
  KMS developer guide, "kms:ViaService"). A user statement never holds an administrative action.

Every value is known before the key exists (names, the caller's account and partition, the
region), so a preview of a new stack can judge the policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from components.common import iam

KEY_ADMIN_ACTIONS: Final = (
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:RotateKeyOnDemand",
)
"""The key administrators' actions (KMS developer guide, "Default key policy", "Allows key
administrators to administer the KMS key")."""

KEY_USE_ACTIONS: Final = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey",
)
"""The key users' cryptographic actions (same page, "Allows key users to use the KMS key")."""

CRYPTO_ACTIONS: Final = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*")


def account_root(partition: str, account_id: str) -> str:
    return f"arn:{partition}:iam::{account_id}:root"


def role_arn(partition: str, account_id: str, role_name: str) -> str:
    """A role's ARN from its name (roles here have the default path `/`): known in a preview,
    where the role's `arn` output is not."""
    return f"arn:{partition}:iam::{account_id}:role/{role_name}"


def key_arns(partition: str, region: str, account_id: str) -> str:
    """Every key of the account in the region: only with an alias condition (`alias_scoped`)."""
    return f"arn:{partition}:kms:{region}:{account_id}:key/*"


def service_endpoint(service: str, region: str) -> str:
    """The `kms:ViaService` value of an AWS service in a region (`s3.us-east-1.amazonaws.com`)."""
    return f"{service}.{region}.amazonaws.com"


def administrators(principals: Sequence[str]) -> dict[str, Any]:
    """The key-administration statement."""
    return {
        "Sid": "KeyAdministration",
        "Effect": "Allow",
        "Principal": {"AWS": sorted(set(principals))},
        "Action": list(KEY_ADMIN_ACTIONS),
        "Resource": "*",
    }


def users(
    sid: str,
    principals: Sequence[str],
    actions: Sequence[str] = KEY_USE_ACTIONS,
    *,
    via: str | None = None,
    account_id: str | None = None,
    extra: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A key-user statement for these principals (`["*"]`: every principal, which needs `via` and
    `account_id`); with `via`, only through that service endpoint for callers of `account_id`."""
    if "*" in principals and (via is None or account_id is None):
        raise ValueError(
            "a key-user statement for every principal needs kms:ViaService and account"
        )
    condition: dict[str, dict[str, Any]] = {}
    if via is not None:
        condition.setdefault("StringEquals", {})["kms:ViaService"] = via
    if account_id is not None:
        condition.setdefault("StringEquals", {})["kms:CallerAccount"] = account_id
    for operator, block in (extra or {}).items():
        condition.setdefault(operator, {}).update(block)
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": "*" if list(principals) == ["*"] else {"AWS": sorted(set(principals))},
        "Action": sorted(actions),
        "Resource": "*",
    }
    if condition:
        statement["Condition"] = condition
    return statement


def key_policy(admins: Sequence[str], user_statements: Sequence[dict[str, Any]]) -> str:
    """The key policy: administration, then each user statement (JSON)."""
    return iam.document([administrators(admins), *user_statements])


def alias_scoped(
    actions: Sequence[str],
    partition: str,
    region: str,
    account_id: str,
    alias: str,
    sid: str,
    *,
    via: str | None = None,
) -> dict[str, Any]:
    """An IAM statement for the key behind `alias` (KMS developer guide, "kms:ResourceAliases"),
    known before the key exists (its ARN is not); with `via`, only through that service."""
    statement = iam.allow(actions, [key_arns(partition, region, account_id)], sid=sid)
    condition: dict[str, dict[str, Any]] = {
        "ForAnyValue:StringEquals": {"kms:ResourceAliases": alias}
    }
    if via is not None:
        condition["StringEquals"] = {"kms:ViaService": via}
    statement["Condition"] = condition
    return statement
