"""Tagging rules (`required-tags`, `launch-template-tag-specifications`) through the analyzer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi_aws
import pytest

from policies.tagging import DEFAULT_REQUIRED_TAGS, is_taggable_type, missing_tags
from tests.policies import TAGS, check, provider_reference, provider_state, state, urn

VPC = "aws:ec2/vpc:Vpc"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"


def without(*keys: str) -> dict[str, str]:
    return {k: v for k, v in TAGS.items() if k not in keys}


def required_tags(*states: dict[str, Any], tmp_path: Path, config: Any = None):
    return check("required-tags", *states, tmp_path=tmp_path, config=config)


# ------------------------------------------------------------------------- required-tags


def test_a_taggable_resource_missing_owner_is_reported_with_its_urn(tmp_path: Path):
    (violation,) = required_tags(state(VPC, "vpc", {"tags": without("owner")}), tmp_path=tmp_path)
    assert violation["urn"] == urn(VPC, "vpc")
    assert violation["enforcementLevel"] == "mandatory"
    assert violation["message"].endswith("lacks required tags: owner")
    assert "vpc" in violation["message"]


def test_every_missing_tag_is_named_in_the_required_order(tmp_path: Path):
    (violation,) = required_tags(
        state(VPC, "vpc", {"tags": without("team", "environment")}), tmp_path=tmp_path
    )
    assert violation["message"].endswith("lacks required tags: environment, team")


def test_a_resource_without_any_tags_lacks_all_default_tags(tmp_path: Path):
    (violation,) = required_tags(state(VPC, "vpc", {"cidrBlock": "10.0.0.0/16"}), tmp_path=tmp_path)
    assert violation["message"].endswith(", ".join(DEFAULT_REQUIRED_TAGS))


def test_all_tags_present_passes(tmp_path: Path):
    assert (
        required_tags(state(VPC, "vpc", {"tags": {**TAGS, "Name": "x"}}), tmp_path=tmp_path) == []
    )


def test_an_empty_tag_value_counts_as_missing(tmp_path: Path):
    (violation,) = required_tags(
        state(VPC, "vpc", {"tags": {**TAGS, "owner": ""}}), tmp_path=tmp_path
    )
    assert violation["message"].endswith("lacks required tags: owner")


def test_a_type_without_tags_all_in_pulumi_aws_is_not_checked(tmp_path: Path):
    assert not hasattr(pulumi_aws.iam.RolePolicyAttachment, "tags_all")
    attachment = state(ATTACHMENT, "attach", {"role": "r", "policyArn": "arn:aws:iam::aws:p"})
    assert required_tags(attachment, tmp_path=tmp_path) == []


def test_a_type_pulumi_aws_lacks_is_checked_when_it_has_a_tags_input(tmp_path: Path):
    kind = "aws:ec2/gpuFutureThing:GpuFutureThing"
    assert is_taggable_type(kind) is None
    (violation,) = required_tags(
        state(kind, "future", {"tags": without("cost-center")}), tmp_path=tmp_path
    )
    assert violation["urn"] == urn(kind, "future")
    assert "cost-center" in violation["message"]
    assert required_tags(state(kind, "future", {"tags": TAGS}), tmp_path=tmp_path) == []


def test_a_type_pulumi_aws_lacks_without_a_tags_input_is_not_checked(tmp_path: Path):
    kind = "aws:ec2/gpuFutureThing:GpuFutureThing"
    assert required_tags(state(kind, "future", {"size": 1}), tmp_path=tmp_path) == []


def test_resources_of_other_providers_are_not_checked(tmp_path: Path):
    namespace = state("kubernetes:core/v1:Namespace", "ns", {"metadata": {"name": "x"}})
    assert required_tags(namespace, tmp_path=tmp_path) == []


def test_provider_default_tags_supply_the_missing_keys(tmp_path: Path):
    provider = provider_state(
        "aws-tagged",
        {"region": "us-east-1", "defaultTags": {"tags": without("environment", "project")}},
    )
    vpc = state(
        VPC,
        "vpc",
        {"tags": {"environment": "dev", "project": "gpu-platform"}},
        provider=provider_reference(provider),
    )
    assert required_tags(provider, vpc, tmp_path=tmp_path) == []


def test_provider_default_tags_count_only_for_resources_of_that_provider(tmp_path: Path):
    provider = provider_state("aws-tagged", {"defaultTags": {"tags": without("environment")}})
    vpc = state(VPC, "vpc", {"tags": {"environment": "dev"}})  # default provider, no tags
    (violation,) = required_tags(provider, vpc, tmp_path=tmp_path)
    assert violation["urn"] == vpc["urn"]
    assert violation["message"].endswith("project, owner, cost-center, team")


def test_provider_default_tags_that_fall_short_name_only_the_still_missing_keys(tmp_path: Path):
    provider = provider_state("aws-tagged", {"defaultTags": {"tags": {"owner": "ml-platform"}}})
    vpc = state(
        VPC,
        "vpc",
        {"tags": without("owner", "team")},
        provider=provider_reference(provider),
    )
    (violation,) = required_tags(provider, vpc, tmp_path=tmp_path)
    assert violation["message"].endswith("lacks required tags: team")


def test_a_resource_tag_overrides_a_default_tag(tmp_path: Path):
    provider = provider_state("aws-tagged", {"defaultTags": {"tags": TAGS}})
    vpc = state(VPC, "vpc", {"tags": {"owner": ""}}, provider=provider_reference(provider))
    (violation,) = required_tags(provider, vpc, tmp_path=tmp_path)
    assert violation["message"].endswith("lacks required tags: owner")


def test_required_tags_config_changes_what_is_required(tmp_path: Path):
    vpc = state(VPC, "vpc", {"tags": {"owner": "ml-platform"}})
    config = {"required-tags": {"requiredTags": ["owner"]}}
    assert required_tags(vpc, tmp_path=tmp_path, config=config) == []

    config = {"required-tags": {"requiredTags": ["owner", "data-classification"]}}
    (violation,) = required_tags(vpc, tmp_path=tmp_path, config=config)
    assert violation["message"].endswith("lacks required tags: data-classification")


def test_an_advisory_level_is_reported_as_advisory(tmp_path: Path):
    vpc = state(VPC, "vpc", {"tags": without("owner")})
    (violation,) = required_tags(vpc, tmp_path=tmp_path, config={"required-tags": "advisory"})
    assert violation["enforcementLevel"] == "advisory"


def test_a_disabled_policy_reports_nothing(tmp_path: Path):
    vpc = state(VPC, "vpc", {"tags": {}})
    assert required_tags(vpc, tmp_path=tmp_path, config={"required-tags": "disabled"}) == []


def test_an_untagged_lambda_function_is_reported(tmp_path: Path):
    assert hasattr(pulumi_aws.lambda_.Function, "tags_all")
    function = state("aws:lambda/function:Function", "fn", {"runtime": "python3.12"})
    (violation,) = required_tags(function, tmp_path=tmp_path)
    assert violation["urn"] == function["urn"]


# ------------------------------------------------------------------------- is_taggable_type


@pytest.mark.parametrize(
    ("token", "cls", "expected"),
    [
        ("aws:ec2/vpc:Vpc", pulumi_aws.ec2.Vpc, True),
        ("aws:ec2/subnet:Subnet", pulumi_aws.ec2.Subnet, True),
        ("aws:s3/bucket:Bucket", pulumi_aws.s3.Bucket, True),
        ("aws:eks/cluster:Cluster", pulumi_aws.eks.Cluster, True),
        ("aws:eks/addon:Addon", pulumi_aws.eks.Addon, True),
        ("aws:eks/nodeGroup:NodeGroup", pulumi_aws.eks.NodeGroup, True),
        ("aws:ec2/launchTemplate:LaunchTemplate", pulumi_aws.ec2.LaunchTemplate, True),
        ("aws:budgets/budget:Budget", pulumi_aws.budgets.Budget, True),
        (
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            pulumi_aws.iam.RolePolicyAttachment,
            False,
        ),
        ("aws:iam/rolePolicy:RolePolicy", pulumi_aws.iam.RolePolicy, False),
        ("aws:autoscaling/tag:Tag", pulumi_aws.autoscaling.Tag, False),
        (
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            pulumi_aws.s3.BucketPublicAccessBlock,
            False,
        ),
    ],
)
def test_is_taggable_type_agrees_with_pulumi_aws(token: str, cls: type, expected: bool):
    assert hasattr(cls, "tags_all") is expected  # the fact, read independently
    assert is_taggable_type(token) is expected


@pytest.mark.parametrize(
    "token",
    ["aws:ec2/noSuchThing:NoSuchThing", "aws:nosuchmodule/thing:Thing", "aws:ec2/vpc:NoSuchClass"],
)
def test_is_taggable_type_is_none_for_what_pulumi_aws_lacks(token: str):
    assert is_taggable_type(token) is None


@pytest.mark.parametrize(
    "token", ["kubernetes:core/v1:Namespace", "pulumi:providers:aws", "gpuplatform:index:Cluster"]
)
def test_is_taggable_type_is_false_outside_aws(token: str):
    assert is_taggable_type(token) is False


def test_is_taggable_type_knows_lambda_functions():
    assert is_taggable_type("aws:lambda/function:Function") is True


@pytest.mark.parametrize(
    ("tags", "required", "missing"),
    [
        (None, ["a", "b"], ["a", "b"]),
        ({}, ["a"], ["a"]),
        ({"a": "1", "b": "2"}, ["a", "b"], []),
        ({"a": "", "b": None, "c": "x"}, ["c", "b", "a"], ["b", "a"]),
        ({"extra": "x"}, [], []),
    ],
)
def test_missing_tags(tags, required, missing):
    assert missing_tags(tags, required) == missing


# -------------------------------------------------------------- launch-template-tag-specifications


def template(specs: list[dict[str, Any]] | None) -> dict[str, Any]:
    inputs: dict[str, Any] = {"tags": TAGS}
    if specs is not None:
        inputs["tagSpecifications"] = specs
    return state(LAUNCH_TEMPLATE, "lt", inputs)


def spec(kind: str, tags: dict[str, str] | None = None) -> dict[str, Any]:
    return {"resourceType": kind, "tags": TAGS if tags is None else tags}


def launch_template_tags(*states: dict[str, Any], tmp_path: Path, config: Any = None):
    return check("launch-template-tag-specifications", *states, tmp_path=tmp_path, config=config)


def test_a_launch_template_tagging_everything_it_launches_passes(tmp_path: Path):
    lt = template([spec("instance"), spec("volume"), spec("network-interface")])
    assert launch_template_tags(lt, tmp_path=tmp_path) == []


def test_a_missing_network_interface_specification_is_reported(tmp_path: Path):
    lt = template([spec("instance"), spec("volume")])
    (violation,) = launch_template_tags(lt, tmp_path=tmp_path)
    assert violation["urn"] == lt["urn"]
    assert (
        violation["message"] == "launch template lt does not tag the network-interfaces it launches"
    )


def test_a_specification_lacking_a_required_tag_is_reported(tmp_path: Path):
    lt = template([spec("instance"), spec("volume", without("owner")), spec("network-interface")])
    (violation,) = launch_template_tags(lt, tmp_path=tmp_path)
    assert violation["urn"] == lt["urn"]
    assert violation["message"] == "launch template lt: volume tags lack owner"


def test_a_launch_template_without_tag_specifications_misses_all_three(tmp_path: Path):
    found = launch_template_tags(template(None), tmp_path=tmp_path)
    assert sorted(v["message"].split()[-3] for v in found) == [
        "instances",
        "network-interfaces",
        "volumes",
    ]


def test_launch_template_specifications_follow_the_required_tags_config(tmp_path: Path):
    lt = template(
        [spec(kind, {"owner": "x"}) for kind in ("instance", "volume", "network-interface")]
    )
    config = {"launch-template-tag-specifications": {"requiredTags": ["owner"]}}
    assert launch_template_tags(lt, tmp_path=tmp_path, config=config) == []
    assert len(launch_template_tags(lt, tmp_path=tmp_path)) == 3  # default tags: all lack four


def test_other_resources_are_not_launch_templates(tmp_path: Path):
    assert launch_template_tags(state(VPC, "vpc", {"tags": TAGS}), tmp_path=tmp_path) == []
