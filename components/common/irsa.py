"""AWS credentials for a Kubernetes service account through IAM Roles for Service Accounts (IRSA).

For clients whose AWS SDK predates EKS Pod Identity (it needs, for example, the C++ SDK 1.11.263 or
later; Triton builds 1.11.60): the EKS pod identity webhook mounts a projected service-account token
(audience `sts.amazonaws.com`) into pods whose service account carries the
`eks.amazonaws.com/role-arn` annotation and sets `AWS_ROLE_ARN` / `AWS_WEB_IDENTITY_TOKEN_FILE`; the
SDK's web-identity provider exchanges the token for the role's credentials. The role trusts only
that one service account of that one cluster (the `:sub` and `:aud` conditions on the cluster's
OIDC provider).

The webhook mutates pods when they are created, so a workload must depend on the role and its
policy (`Irsa.ready`) and on the annotated service account.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import pulumi
import pulumi_aws as aws

from components.common import iam

ROLE_ARN_ANNOTATION: Final = "eks.amazonaws.com/role-arn"
STS_AUDIENCE: Final = "sts.amazonaws.com"


def issuer_host_path(issuer: str) -> str:
    """The OIDC issuer without its scheme, as IAM condition keys name it
    (`oidc.eks.<region>.amazonaws.com/id/<id>`)."""
    return issuer.removeprefix("https://").rstrip("/")


def irsa_trust(provider_arn: str, issuer: str, namespace: str, service_account: str) -> str:
    """Pure: trust policy letting only `system:serviceaccount:<namespace>:<service_account>`
    assume the role with a web identity token of the cluster's OIDC provider."""
    host = issuer_host_path(issuer)
    return iam.document(
        [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{host}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                        f"{host}:aud": STS_AUDIENCE,
                    }
                },
            }
        ]
    )


@dataclass(frozen=True)
class Irsa:
    role: aws.iam.Role
    policy: aws.iam.RolePolicy

    @property
    def ready(self) -> Sequence[pulumi.Resource]:
        """What a workload using these credentials must depend on."""
        return (self.role, self.policy)

    @property
    def annotations(self) -> pulumi.Output[dict[str, str]]:
        """The service account's annotations that bind it to the role."""
        return self.role.arn.apply(lambda arn: {ROLE_ARN_ANNOTATION: arn})


def irsa_role(
    name: str,
    *,
    oidc_provider_arn: pulumi.Input[str],
    oidc_issuer: pulumi.Input[str],
    namespace: str,
    service_account: str,
    policy: pulumi.Input[str],
    parent: pulumi.Resource,
    description: str | None = None,
) -> Irsa:
    """An IAM role only `namespace/service_account` can assume through the cluster's OIDC
    provider, with one inline policy; both resources are named `name`."""
    child = pulumi.ResourceOptions(parent=parent)
    trust = pulumi.Output.all(oidc_provider_arn, oidc_issuer).apply(
        lambda values: irsa_trust(str(values[0]), str(values[1]), namespace, service_account)
    )
    role = aws.iam.Role(name, assume_role_policy=trust, description=description, opts=child)
    role_policy = aws.iam.RolePolicy(name, role=role.id, policy=policy, opts=child)
    return Irsa(role, role_policy)
