"""AWS credentials for a Kubernetes service account: an IAM role, its policy, and the binding.

A pod admitted before its Pod Identity association exists gets no credentials (with an IMDS hop
limit of 1 there is no fallback), so every workload that needs AWS must depend on all three
resources: `PodIdentity.ready`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.common import iam


@dataclass(frozen=True)
class PodIdentity:
    role: aws.iam.Role
    policy: aws.iam.RolePolicy
    association: aws.eks.PodIdentityAssociation

    @property
    def ready(self) -> Sequence[pulumi.Resource]:
        """What a workload using these credentials must depend on."""
        return (self.role, self.policy, self.association)


def pod_identity_trust_output(cluster_name: str, parent: pulumi.Resource) -> pulumi.Output[str]:
    """`iam.pod_identity_trust` for this cluster, from the caller's account, partition and region
    (invokes: known in a preview)."""
    invoke = pulumi.InvokeOutputOptions(parent=parent)
    return pulumi.Output.all(
        aws.get_caller_identity_output(opts=invoke).account_id,
        aws.get_partition_output(opts=invoke).partition,
        aws.get_region_output(opts=invoke).region,
    ).apply(lambda v: iam.pod_identity_trust(v[0], v[1], v[2], cluster_name))


def pod_identity(
    name: str,
    *,
    cluster_name: str,
    namespace: str,
    service_account: str,
    policy: pulumi.Input[str],
    parent: pulumi.Resource,
    description: str | None = None,
) -> PodIdentity:
    """An IAM role that only `namespace/service_account` in the cluster can assume (Pod Identity),
    with one inline policy; all three resources are named `name`."""
    child = pulumi.ResourceOptions(parent=parent)
    trust = pod_identity_trust_output(cluster_name, parent)
    role = aws.iam.Role(
        name,
        assume_role_policy=trust,
        description=description,
        opts=child,
    )
    role_policy = aws.iam.RolePolicy(name, role=role.id, policy=policy, opts=child)
    association = aws.eks.PodIdentityAssociation(
        name,
        cluster_name=cluster_name,
        namespace=namespace,
        service_account=service_account,
        role_arn=role.arn,
        opts=child,
    )
    return PodIdentity(role, role_policy, association)
