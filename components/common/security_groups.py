"""Security-group rules the components share."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws


def allow_all_traffic(
    names: tuple[str, str],
    group: pulumi.Input[str],
    peer: pulumi.Input[str],
    descriptions: tuple[str, str],
    opts: pulumi.ResourceOptions,
) -> None:
    """All traffic, every protocol and port, from `peer` into `group` and from `group` to `peer`:
    what EFA needs between its endpoints, in both directions (the EFA user guide: the group must
    allow all inbound and outbound traffic to and from itself; without the egress rule NCCL hangs
    and an EFA-enabled file system refuses the group). `names` and `descriptions` are the ingress
    rule's, then the egress rule's."""
    aws.vpc.SecurityGroupIngressRule(
        names[0],
        security_group_id=group,
        referenced_security_group_id=peer,
        ip_protocol="-1",
        description=descriptions[0],
        opts=opts,
    )
    aws.vpc.SecurityGroupEgressRule(
        names[1],
        security_group_id=group,
        referenced_security_group_id=peer,
        ip_protocol="-1",
        description=descriptions[1],
        opts=opts,
    )
