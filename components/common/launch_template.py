"""Pure pieces every node launch template shares: IMDSv2, an encrypted gp3 root, tags that reach
instances, volumes and network interfaces (managed node group tags stop at the node group)."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi_aws as aws

from components.catalog.conventions import TAGGED_AT_LAUNCH

IMDS_HOP_LIMIT = 1
"""1 keeps pods off the node's instance metadata (they use Pod Identity); host-network add-ons
still reach it."""


def metadata_options() -> aws.ec2.LaunchTemplateMetadataOptionsArgsDict:
    return {
        "http_endpoint": "enabled",
        "http_tokens": "required",
        "http_put_response_hop_limit": IMDS_HOP_LIMIT,
        "instance_metadata_tags": "disabled",
    }


def root_volume(
    size_gib: int, device_name: str = "/dev/xvda"
) -> aws.ec2.LaunchTemplateBlockDeviceMappingArgsDict:
    """Encrypted gp3 root volume.

    AL2023's root device is /dev/xvda; Bottlerocket's data volume is /dev/xvdb.
    """
    return {
        "device_name": device_name,
        "ebs": {
            "volume_size": size_gib,
            "volume_type": "gp3",
            "iops": 3000,
            "throughput": 125,
            "encrypted": "true",
            "delete_on_termination": "true",
        },
    }


def tag_specifications(
    tags: Mapping[str, str], name: str
) -> list[aws.ec2.LaunchTemplateTagSpecificationArgsDict]:
    merged = {**tags, "Name": name}
    return [{"resource_type": kind, "tags": dict(merged)} for kind in TAGGED_AT_LAUNCH]
