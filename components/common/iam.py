"""Pure IAM policy builders (JSON strings), so policies are plain data that tests can read."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


def managed_policy_arn(partition: str, policy_name: str) -> str:
    return f"arn:{partition}:iam::aws:policy/{policy_name}"


def document(statements: Sequence[dict[str, Any]]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, sort_keys=True)


def service_trust(service: str, *, tag_session: bool = False) -> str:
    """Trust policy letting an AWS service principal assume the role."""
    actions = ["sts:AssumeRole", "sts:TagSession"] if tag_session else "sts:AssumeRole"
    return document([{"Effect": "Allow", "Principal": {"Service": service}, "Action": actions}])


def pod_identity_trust(account_id: str | None = None) -> str:
    """Trust policy for EKS Pod Identity (the agent assumes the role and tags the session); with
    `account_id`, only on behalf of that account's clusters (`aws:SourceAccount`, EKS user guide,
    "Create IAM role with trust policy required by EKS Pod Identity": confused-deputy guard)."""
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": "pods.eks.amazonaws.com"},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
    }
    if account_id is not None:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": account_id}}
    return document([statement])


def allow(
    actions: Sequence[str], resources: Sequence[str], sid: str | None = None
) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Action": sorted(actions),
        "Resource": list(resources) if len(resources) > 1 else resources[0],
    }
    if sid:
        statement["Sid"] = sid
    return statement
