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


def cluster_arn(partition: str, region: str, account_id: str, cluster_name: str) -> str:
    """An EKS cluster's ARN (`arn:<partition>:eks:<region>:<account>:cluster/<name>`, EKS API
    Cluster.arn), built from its name: known in a preview, where the cluster's `arn` is not."""
    return f"arn:{partition}:eks:{region}:{account_id}:cluster/{cluster_name}"


def pod_identity_association_arns(
    partition: str, region: str, account_id: str, cluster_name: str
) -> str:
    """The ARNs of a cluster's Pod Identity associations
    (`arn:<partition>:eks:<region>:<account>:podidentityassociation/<cluster>/<id>`, EKS API
    PodIdentityAssociation.associationArn), as an `ArnLike` pattern."""
    return f"arn:{partition}:eks:{region}:{account_id}:podidentityassociation/{cluster_name}/*"


def pod_identity_trust(account_id: str, partition: str, region: str, cluster_name: str) -> str:
    """Trust policy for EKS Pod Identity (the agent assumes the role and tags the session), on
    behalf of one cluster only: `aws:SourceAccount` (EKS user guide, "Create IAM role with trust
    policy required by EKS Pod Identity": confused-deputy guard), `aws:SourceArn` matching the
    cluster's associations (EKS Auth calls STS with the association as its source, so the
    source ARN is `.../podidentityassociation/<cluster>/<id>`, never the cluster ARN itself), and
    the session tag `eks-cluster-arn` Pod Identity adds to every request (same page, "Setting
    conditions": `eks-cluster-arn`, `eks-cluster-name`, `kubernetes-namespace`, ...) equal to the
    cluster's ARN. Every value is built from names, so a preview knows the document."""
    return document(
        [
            {
                "Effect": "Allow",
                "Principal": {"Service": "pods.eks.amazonaws.com"},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
                "Condition": {
                    "StringEquals": {
                        "aws:SourceAccount": account_id,
                        "aws:RequestTag/eks-cluster-arn": cluster_arn(
                            partition, region, account_id, cluster_name
                        ),
                    },
                    "ArnLike": {
                        "aws:SourceArn": pod_identity_association_arns(
                            partition, region, account_id, cluster_name
                        )
                    },
                },
            }
        ]
    )


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
