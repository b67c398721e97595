"""Every rule under unknown inputs (the engine's sentinel, as a real preview sends it): one unknown
property leaves only its own check undecided, the rule's other checks still report, and a
property whose presence is enough counts as present."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from policies.inputs import UNKNOWN, UNKNOWN_STRING, is_unknown, plain
from tests.policies import TAGS, check, provider_reference, provider_state, state

U = UNKNOWN_STRING


def split(policy: str, *states: dict[str, Any], tmp_path: Path, config: Any = None):
    """(decided messages, undecided properties) of `policy` over `states`."""
    found = check(policy, *states, tmp_path=tmp_path, config=config)
    decided = [v["message"] for v in found if v["enforcementLevel"] == "mandatory"]
    undecided = [
        v["message"].split("during preview: ", 1)[1]
        for v in found
        if v["enforcementLevel"] == "advisory" and v["message"].startswith("can't run policy")
    ]
    return decided, undecided


# ------------------------------------------------------------------------- the reader


def test_plain_replaces_every_sentinel_where_it_sits():
    value = plain(
        {"a": U, "b": [U, "x"], "c": {"d": U, "e": 1}, "f": "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7"}
    )
    assert value == {"a": UNKNOWN, "b": [UNKNOWN, "x"], "c": {"d": UNKNOWN, "e": 1}, "f": UNKNOWN}
    assert is_unknown(value["a"]) and not is_unknown("x")


# ------------------------------------------------------------------------- tags

VPC = "aws:ec2/vpc:Vpc"


def test_an_unknown_tag_value_is_present(tmp_path: Path):
    vpc = state(VPC, "vpc", {"tags": {**TAGS, "owner": U}})
    assert split("required-tags", vpc, tmp_path=tmp_path) == ([], [])


def test_an_unknown_tag_map_is_undecided_unless_the_provider_defaults_cover_it(tmp_path: Path):
    vpc = state(VPC, "vpc", {"tags": U})
    assert split("required-tags", vpc, tmp_path=tmp_path) == (
        [],
        ["vpc.tags can't be known during preview"],
    )
    provider = provider_state("aws", {"defaultTags": {"tags": TAGS}})
    covered = state(VPC, "vpc", {"tags": U}, provider=provider_reference(provider))
    assert split("required-tags", provider, covered, tmp_path=tmp_path) == ([], [])


def test_a_missing_tag_is_still_reported_beside_an_unknown_one(tmp_path: Path):
    tags = {k: v for k, v in TAGS.items() if k != "team"} | {"owner": U}
    (message,), undecided = split(
        "required-tags", state(VPC, "vpc", {"tags": tags}), tmp_path=tmp_path
    )
    assert message.endswith("lacks required tags: team") and undecided == []


LT = "aws:ec2/launchTemplate:LaunchTemplate"


def test_launch_template_tag_specifications_with_unknowns(tmp_path: Path):
    specs = [
        {"resourceType": "instance", "tags": {**TAGS, "owner": U}},
        {"resourceType": "volume", "tags": U},
    ]
    lt = state(LT, "lt", {"tagSpecifications": specs, "tags": TAGS})
    decided, undecided = split("launch-template-tag-specifications", lt, tmp_path=tmp_path)
    assert decided == ["launch template lt does not tag the network-interfaces it launches"]
    assert undecided == ["lt.tagSpecifications[volume].tags can't be known during preview"]


# ------------------------------------------------------------------------- cost

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
BUDGET = "aws:budgets/budget:Budget"
MONTHLY = {"budgetType": "COST", "timeUnit": "MONTHLY", "limitUnit": "USD"}


def pool(name: str, types: list[str], max_size: Any) -> dict[str, Any]:
    return state(
        NODE_GROUP,
        name,
        {
            "instanceTypes": types,
            "capacityType": "ON_DEMAND",
            "scalingConfig": {"minSize": 0, "desiredSize": 0, "maxSize": max_size},
        },
    )


def test_one_bucket_with_an_unknown_tag_does_not_stop_the_other_cost_checks(tmp_path: Path):
    bucket = state(
        "aws:s3/bucketV2:BucketV2", "data", {"tags": {**TAGS, "gpu-platform/expected-size-gib": U}}
    )
    budget = state(BUDGET, "b", {**MONTHLY, "limitAmount": "100000"})
    p5 = pool("h100", ["p5.48xlarge"], 1)
    config = {"cost-limits": {"allowedGpuInstanceTypes": ["g4dn.*"]}}
    decided, undecided = split("cost-limits", bucket, budget, p5, tmp_path=tmp_path, config=config)
    assert decided == ["pool h100: p5.48xlarge is not allowed here (allowed: g4dn.*)"]
    assert undecided and "data.tags.gpu-platform/expected-size-gib" in undecided[0]


def test_a_known_overrun_is_decided_despite_an_unknown_bucket(tmp_path: Path):
    bucket = state("aws:s3/bucketV2:BucketV2", "data", {"tags": U})
    budget = state(BUDGET, "b", {**MONTHLY, "limitAmount": "100"})
    decided, _ = split(
        "cost-limits", bucket, budget, pool("t4", ["g4dn.xlarge"], 4), tmp_path=tmp_path
    )
    assert any(m.startswith("worst-case monthly cost") for m in decided)


def test_an_unknown_pool_size_leaves_the_other_pools_judged(tmp_path: Path):
    budget = state(BUDGET, "b", {**MONTHLY, "limitAmount": "10000000"})
    config = {"cost-limits": {"maxGpusPerPool": 8}}
    decided, undecided = split(
        "cost-limits",
        budget,
        pool("a", ["g4dn.12xlarge"], U),
        pool("b", ["g4dn.12xlarge"], 4),
        tmp_path=tmp_path,
        config=config,
    )
    assert decided == ["pool b reaches 16 GPUs at max size; the cap is 8"]
    assert "a.scalingConfig.maxSize" in undecided[0]


def test_an_unknown_budget_limit_is_undecided_not_missing(tmp_path: Path):
    budget = state(BUDGET, "b", {**MONTHLY, "limitAmount": U})
    decided, undecided = split(
        "cost-limits", budget, pool("t4", ["g4dn.xlarge"], 1), tmp_path=tmp_path
    )
    assert decided == [] and "b.limitAmount" in undecided[0]


# ------------------------------------------------------------------------- eks

CLUSTER = "aws:eks/cluster:Cluster"


def test_an_unknown_key_arn_does_not_hide_audit_logs_off_and_an_open_endpoint(tmp_path: Path):
    eks = state(
        CLUSTER,
        "eks",
        {
            "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": U}},
            "enabledClusterLogTypes": ["api"],
            "vpcConfig": {"endpointPublicAccess": True, "subnetIds": [U, U]},
        },
    )
    config = {"eks-baseline": {"requirePrivateEndpoint": True}}
    decided, undecided = split("eks-baseline", eks, tmp_path=tmp_path, config=config)
    assert decided == [
        "EKS cluster eks does not send audit logs",
        "EKS cluster eks has a public API endpoint; this environment needs private",
        "EKS cluster eks exposes its API endpoint to 0.0.0.0/0; narrow publicAccessCidrs "
        "(or set allowPublicEndpointFromAnywhere)",
    ]
    assert undecided == []


def test_unknown_eks_settings_leave_only_their_checks_undecided(tmp_path: Path):
    eks = state(
        CLUSTER,
        "eks",
        {
            "encryptionConfig": {"resources": U, "provider": {"keyArn": U}},
            "enabledClusterLogTypes": ["audit"],
            "vpcConfig": {"endpointPublicAccess": U, "publicAccessCidrs": ["10.0.0.0/8"]},
        },
    )
    config = {"eks-baseline": {"requirePrivateEndpoint": True}}
    decided, (undecided,) = split("eks-baseline", eks, tmp_path=tmp_path, config=config)
    assert decided == []
    assert "eks.encryptionConfig.resources" in undecided
    assert "eks.vpcConfig.endpointPublicAccess" in undecided


# ------------------------------------------------------------------------- launch baseline


def test_an_unknown_imds_setting_does_not_hide_an_unencrypted_volume(tmp_path: Path):
    lt = state(
        LT,
        "lt",
        {
            "metadataOptions": {"httpTokens": U},
            "blockDeviceMappings": [
                {"deviceName": "/dev/xvda", "ebs": {"encrypted": "false", "kmsKeyId": U}}
            ],
        },
    )
    decided, undecided = split("launch-template-baseline", lt, tmp_path=tmp_path)
    assert decided == ["launch template lt: volume /dev/xvda is unencrypted"]
    assert undecided == ["lt.metadataOptions.httpTokens can't be known during preview"]


def test_an_asg_whose_template_id_is_unknown_is_linked_by_its_dependency(tmp_path: Path):
    lt = state(
        LT,
        "lt",
        {
            "instanceType": "m7i.large",
            "metadataOptions": {"httpTokens": "required"},
            "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": True}}],
        },
    )
    asg = state(
        "aws:autoscaling/group:Group",
        "asg",
        {"minSize": 0, "maxSize": 2, "launchTemplate": {"id": U, "version": U}},
        {"launchTemplate": [lt["urn"]]},
    )
    assert split("launch-template-baseline", lt, asg, tmp_path=tmp_path) == ([], [])


# ------------------------------------------------------------------------- storage


@pytest.mark.parametrize(
    ("type_token", "inputs", "expected"),
    [
        ("aws:fsx/lustreFileSystem:LustreFileSystem", {"kmsKeyId": U}, ([], [])),
        ("aws:ebs/volume:Volume", {"encrypted": True, "kmsKeyId": U}, ([], [])),
        (
            "aws:ebs/volume:Volume",
            {"encrypted": U},
            ([], ["data.encrypted can't be known during preview"]),
        ),
        (
            "aws:rds/instance:Instance",
            {"storageEncrypted": U},
            ([], ["data.storageEncrypted can't be known during preview"]),
        ),
    ],
)
def test_storage_encryption_with_unknowns(
    tmp_path: Path, type_token: str, inputs: Any, expected: Any
):
    assert (
        split("storage-encrypted", state(type_token, "data", inputs), tmp_path=tmp_path) == expected
    )


def test_a_log_group_with_an_unknown_key_is_keyed(tmp_path: Path):
    group = state("aws:cloudwatch/logGroup:LogGroup", "logs", {"kmsKeyId": U, "name": U})
    config = {"log-groups-encrypted": {"requireCustomerKey": True}}
    assert split("log-groups-encrypted", group, tmp_path=tmp_path, config=config) == ([], [])


BUCKET = "aws:s3/bucketV2:BucketV2"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
FLAGS = dict.fromkeys(
    ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"), True
)


def test_bucket_companions_with_unknown_bucket_ids_are_linked_by_dependency(tmp_path: Path):
    bucket = state(BUCKET, "data", {"bucket": "data-1"})
    block = state(PAB, "pab", {"bucket": U, **FLAGS}, {"bucket": [bucket["urn"]]})
    rules = [
        {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": U}}
    ]
    sse = state(SSE, "sse", {"bucket": U, "rules": rules}, {"bucket": [bucket["urn"]]})
    assert split("bucket-baseline", bucket, block, sse, tmp_path=tmp_path) == ([], [])


def test_an_unknown_algorithm_is_undecided_and_a_missing_block_still_reported(tmp_path: Path):
    bucket = state(BUCKET, "data", {"bucket": "data-1"})
    rules = [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": U}}]
    sse = state(SSE, "sse", {"bucket": U, "rules": rules}, {"bucket": [bucket["urn"]]})
    decided, undecided = split("bucket-baseline", bucket, sse, tmp_path=tmp_path)
    assert decided == ["bucket data has no public access block with all four flags"]
    assert undecided == ["data encryption rules can't be known during preview"]


# ------------------------------------------------------------------------- IAM

POLICY = "aws:iam/policy:Policy"


def test_a_wholly_unknown_document_is_undecided(tmp_path: Path):
    policy = state(POLICY, "pol", {"policy": U})
    assert split("iam-least-privilege", policy, tmp_path=tmp_path) == (
        [],
        ["pol.policy can't be known during preview"],
    )


def test_a_document_known_but_one_arn_is_judged_on_its_actions(tmp_path: Path):
    # As a mapping input, a document keeps its known parts (the engine sends nested unknowns).
    document = {
        "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": U},
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": U},
        ]
    }
    decided, undecided = split(
        "iam-least-privilege", state(POLICY, "pol", {"policy": document}), tmp_path=tmp_path
    )
    assert decided == ["IAM policy pol grants all actions with '*'"]
    assert undecided == []


def test_an_unknown_action_is_undecided_beside_a_known_violation(tmp_path: Path):
    document = {
        "Statement": [
            {"Effect": "Allow", "Action": [U, "iam:*"], "Resource": "arn:aws:iam::1:role/x"}
        ]
    }
    decided, undecided = split(
        "iam-least-privilege", state(POLICY, "pol", {"policy": document}), tmp_path=tmp_path
    )
    assert decided == ["IAM policy pol grants all actions with 'iam:*'"]
    assert undecided == ["pol.policy.Statement[0].Action can't be known during preview"]


def test_a_trust_with_an_unknown_provider_is_judged_on_its_condition(tmp_path: Path):
    def role(condition: dict[str, Any]) -> dict[str, Any]:
        statement = {
            "Effect": "Allow",
            "Principal": {"Federated": U},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": condition,
        }
        return state("aws:iam/role:Role", "role", {"assumeRolePolicy": {"Statement": [statement]}})

    pinned = role({"StringEquals": {"oidc.example.com:sub": "system:serviceaccount:a:b"}})
    assert split("iam-trust-policies", pinned, tmp_path=tmp_path) == ([], [])
    (message,), _ = split(
        "iam-trust-policies",
        role({"StringEquals": {"oidc.example.com:aud": "sts"}}),
        tmp_path=tmp_path,
    )
    assert "without pinning the token's subject" in message


def test_a_key_policy_with_unknown_role_arns_is_still_judged_on_its_wildcards(tmp_path: Path):
    policy = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": U}, "Action": "kms:Decrypt", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"},
        ]
    }
    decided, undecided = split(
        "resource-policies", state("aws:kms/key:Key", "key", {"policy": policy}), tmp_path=tmp_path
    )
    assert decided == [
        "key resource policy: Statement[1] allows any principal ('*') without a condition "
        "that pins it"
    ]
    assert undecided == []
    unknown = state("aws:s3/bucketPolicy:BucketPolicy", "bp", {"bucket": U, "policy": U})
    assert split("resource-policies", unknown, tmp_path=tmp_path) == (
        [],
        ["bp.policy can't be known during preview"],
    )


def test_an_unknown_managed_policy_arn_names_a_policy_of_this_stack(tmp_path: Path):
    attach = state(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "a", {"role": U, "policyArn": U}
    )
    assert split("iam-managed-policies", attach, tmp_path=tmp_path) == ([], [])


# ------------------------------------------------------------------------- network

INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG = "aws:ec2/securityGroup:SecurityGroup"


def test_unknown_ports_on_an_open_rule_are_undecided_and_other_rules_still_judged(tmp_path: Path):
    group = state(SG, "sg", {"vpcId": U})
    unknown_ports = state(
        INGRESS,
        "a",
        {
            "cidrIpv4": "0.0.0.0/0",
            "fromPort": U,
            "toPort": U,
            "ipProtocol": "tcp",
            "securityGroupId": U,
        },
        {"securityGroupId": [group["urn"]]},
    )
    ssh = state(
        INGRESS,
        "b",
        {
            "cidrIpv4": "0.0.0.0/0",
            "fromPort": 22,
            "toPort": 22,
            "ipProtocol": "tcp",
            "securityGroupId": U,
        },
        {"securityGroupId": [group["urn"]]},
    )
    decided, undecided = split("no-open-ingress", group, unknown_ports, ssh, tmp_path=tmp_path)
    assert decided == ["b opens ports 22-22 to the internet"]
    assert undecided == ["a.fromPort can't be known during preview"]


def test_rules_of_one_group_with_unknown_ids_are_united_by_dependency(tmp_path: Path):
    group = state(SG, "sg", {"vpcId": U})
    halves = [
        state(
            INGRESS,
            name,
            {
                "cidrIpv4": cidr,
                "fromPort": 22,
                "toPort": 22,
                "ipProtocol": "tcp",
                "securityGroupId": U,
            },
            {"securityGroupId": [group["urn"]]},
        )
        for name, cidr in (("a", "0.0.0.0/1"), ("b", "128.0.0.0/1"))
    ]
    decided, _ = split("no-open-ingress", group, *halves, tmp_path=tmp_path)
    assert decided == ["a and b together open ports 22-22 to the internet"]


def test_an_unknown_cidr_opens_nothing(tmp_path: Path):
    rule = state(INGRESS, "a", {"cidrIpv4": U, "fromPort": 22, "toPort": 22, "ipProtocol": "tcp"})
    assert split("no-open-ingress", rule, tmp_path=tmp_path) == ([], [])


def test_unknown_source_security_groups_are_present(tmp_path: Path):
    ng = state(
        NODE_GROUP, "ng", {"remoteAccess": {"ec2SshKey": "k", "sourceSecurityGroupIds": [U]}}
    )
    assert split("no-open-ingress", ng, tmp_path=tmp_path) == ([], [])


def test_a_default_group_with_an_unknown_vpc_id_locks_its_vpc(tmp_path: Path):
    vpc = state(VPC, "vpc", {"cidrBlock": "10.0.0.0/16"})
    locked = state(
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "d",
        {"vpcId": U},
        {"vpcId": [vpc["urn"]]},
    )
    assert split("default-security-group", vpc, locked, tmp_path=tmp_path) == ([], [])
    open_rules = state(
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "d",
        {"vpcId": U, "egress": U},
        {"vpcId": [vpc["urn"]]},
    )
    assert split("default-security-group", vpc, open_rules, tmp_path=tmp_path) == (
        [],
        ["d.egress can't be known during preview"],
    )


def test_a_json_string_document_with_a_sentinel_inside_is_judged_per_statement(tmp_path: Path):
    # A document the program serialised itself, with the sentinel where an ARN was unknown.
    document = json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": U}]})
    decided, _ = split(
        "iam-least-privilege", state(POLICY, "pol", {"policy": document}), tmp_path=tmp_path
    )
    assert decided == ["IAM policy pol grants all actions with 's3:*'"]


def test_a_check_that_cannot_read_its_inputs_fails_closed_and_undecided_lists_every_path():
    from types import SimpleNamespace

    from policies.inputs import Judge, Undecided, run

    reported: list[str] = []

    def broken(judge: Judge) -> None:
        judge.unknown("a")
        raise KeyError("surprise")

    args = SimpleNamespace(
        props={"x": 1},
        name="res",
        resource_type="aws:test/thing:Thing",
        urn="urn:x",
        provider=None,
        get_config=lambda: {},
    )
    with pytest.raises(Undecided) as raised:
        run(broken)(args, lambda message, urn=None: reported.append(message))  # type: ignore[arg-type]
    assert reported == [
        "aws:test/thing:Thing res could not be checked (KeyError: 'surprise'); fix its inputs"
    ]
    assert raised.value.paths == ["res.a"]
    many = Undecided([f"p{i}" for i in range(30)])
    assert many.message.endswith("p23 and 6 more can't be known during preview")
