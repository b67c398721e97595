"""The ways around the baseline (issue: "the rules can be walked around"), one table per class,
each with passing and violating cases, driven through the pack's analyzer protocol."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.policies import TAGS, check, state, urn

ACCOUNT = "111122223333"
OTHER = "999988887777"


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def decided(violations: list[dict[str, Any]]) -> list[str]:
    return [v["message"] for v in violations if v["enforcementLevel"] == "mandatory"]


def run_case(policy: str, states: list[dict[str, Any]], tmp_path: Path, config: Any = None):
    return decided(check(policy, *states, tmp_path=tmp_path, config=config))


# ----------------------------------------------------------------- IAM: identity documents

POLICY = "aws:iam/policy:Policy"


@pytest.mark.parametrize(
    ("statement", "fragment"),
    [
        (allow("s3:PutObject", "arn:aws:s3:::*"), "write actions ['s3:PutObject']"),
        (allow("s3:DeleteObject", "arn:aws:s3:::*/*"), "write actions"),
        (allow("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/*"), "write actions"),
        (allow("iam:PassRole", "arn:aws:iam::*:*"), "write actions"),
        (allow("dynamodb:PutItem", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/*"), "write"),
        (allow("ec2:TerminateInstances", "arn:aws:ec2:*:*:instance/*"), "write actions"),
        (allow("s3:PutObject", "arn:*:s3:::*"), "write actions"),
        (
            {"Effect": "Allow", "Action": "s3:PutObject", "NotResource": "arn:aws:s3:::logs/*"},
            "NotResource",
        ),
        (allow("secretsmanager:GetSecretValue"), "sensitive reads"),
        (allow("secretsmanager:Get*"), "sensitive reads"),
        (allow("kms:Decrypt"), "sensitive reads ['kms:Decrypt']"),
        (allow("s3:GetObject", "arn:aws:s3:::*/*"), "sensitive reads"),
        (allow("ssm:GetParameters*"), "sensitive reads"),
        (allow("S3:GETOBJECT"), "sensitive reads"),  # IAM compares actions case-insensitively
        (allow("*:*"), "all actions"),
        (allow(["ec2:DescribeInstances", "s3:*"], "arn:aws:s3:::b"), "all actions with 's3:*'"),
        ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, "NotAction"),
    ],
)
def test_identity_policy_walkarounds_are_reported(tmp_path: Path, statement: Any, fragment: str):
    found = run_case(
        "iam-least-privilege", [state(POLICY, "pol", {"policy": doc(statement)})], tmp_path
    )
    assert any(fragment in m for m in found), found


@pytest.mark.parametrize(
    "statement",
    [
        allow("s3:GetObject", "arn:aws:s3:::datasets/*"),
        allow("s3:PutObject", "arn:aws:s3:::checkpoints/run-*"),
        allow("kms:Decrypt", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd"),
        allow("ec2:Describe*"),
        allow("s3:ListAllMyBuckets"),
        allow("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/nodes/gpu-node"),
        allow(
            "autoscaling:SetDesiredCapacity",
            "*",
            Condition={"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/c": "owned"}},
        ),
        allow(
            ["kms:Decrypt", "kms:GenerateDataKey"],
            "*",
            Condition={"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/data"}},
        ),
        {"Effect": "Deny", "Action": "*", "NotResource": "arn:aws:s3:::x"},
    ],
)
def test_scoped_identity_policies_pass(tmp_path: Path, statement: Any):
    policy = state(POLICY, "pol", {"policy": doc(statement)})
    assert run_case("iam-least-privilege", [policy], tmp_path) == []


def test_a_tag_condition_with_a_wildcard_value_does_not_scope(tmp_path: Path):
    statement = allow(
        "ec2:TerminateInstances", "*", Condition={"StringLike": {"aws:ResourceTag/team": "*"}}
    )
    policy = state(POLICY, "pol", {"policy": doc(statement)})
    assert run_case("iam-least-privilege", [policy], tmp_path) != []


def test_sso_permission_set_inline_policies_are_identity_policies(tmp_path: Path):
    inline = state(
        "aws:ssoadmin/permissionSetInlinePolicy:PermissionSetInlinePolicy",
        "ps",
        {"inlinePolicy": doc(allow("*")), "instanceArn": "arn:aws:sso:::instance/i"},
    )
    assert run_case("iam-least-privilege", [inline], tmp_path) != []


# ----------------------------------------------------------------- IAM: managed policies

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"


@pytest.mark.parametrize(
    ("type_token", "inputs"),
    [
        ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", {"role": "r", "policyArn": ADMIN}),
        ("aws:iam/userPolicyAttachment:UserPolicyAttachment", {"user": "u", "policyArn": ADMIN}),
        ("aws:iam/groupPolicyAttachment:GroupPolicyAttachment", {"group": "g", "policyArn": ADMIN}),
        ("aws:iam/policyAttachment:PolicyAttachment", {"roles": ["r"], "policyArn": ADMIN}),
        (
            "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive",
            {"roleName": "r", "policyArns": ["arn:aws:iam::aws:policy/AmazonS3FullAccess"]},
        ),
        ("aws:iam/role:Role", {"managedPolicyArns": ["arn:aws:iam::aws:policy/PowerUserAccess"]}),
        (
            "aws:ssoadmin/managedPolicyAttachment:ManagedPolicyAttachment",
            {"managedPolicyArn": "arn:aws:iam::aws:policy/IAMFullAccess"},
        ),
        (
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            {"role": "r", "policyArn": "arn:aws-us-gov:iam::aws:policy/AWSLambda_FullAccess"},
        ),
        (
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            {"role": "r", "policyArn": "arn:aws:iam::aws:policy/job-function/SystemAdministrator"},
        ),
    ],
)
def test_admin_and_full_access_managed_policies_are_reported(
    tmp_path: Path, type_token: str, inputs: dict[str, Any]
):
    (message,) = run_case("iam-managed-policies", [state(type_token, "attach", inputs)], tmp_path)
    assert message.startswith("attach attaches the AWS-managed policy ")


@pytest.mark.parametrize(
    "policy_arn",
    [
        "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
        "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy",
        f"arn:aws:iam::{ACCOUNT}:policy/AdministratorAccess",  # customer-managed: judged by doc
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",  # unknown: a policy this stack creates
    ],
)
def test_narrow_managed_policies_pass(tmp_path: Path, policy_arn: str):
    attach = state(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "a",
        {"role": "r", "policyArn": policy_arn},
    )
    assert run_case("iam-managed-policies", [attach], tmp_path) == []


def test_a_managed_policy_can_be_allowed_by_name(tmp_path: Path):
    attach = state(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "a",
        {"role": "r", "policyArn": "arn:aws:iam::aws:policy/AmazonS3FullAccess"},
    )
    config = {"iam-managed-policies": {"allowedManagedPolicies": ["AmazonS3FullAccess"]}}
    assert run_case("iam-managed-policies", [attach], tmp_path, config) == []


# ----------------------------------------------------------------- IAM: trust policies

ROLE = "aws:iam/role:Role"
OIDC = f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"
GITHUB = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"


def trust(*statements: dict[str, Any]) -> dict[str, Any]:
    return state(ROLE, "role", {"assumeRolePolicy": doc(*statements)})


def assume(principal: Any, action: str = "sts:AssumeRole", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal, "Action": action, **extra}


WEB = "sts:AssumeRoleWithWebIdentity"


@pytest.mark.parametrize(
    ("statement", "fragment"),
    [
        (assume("*"), "any principal"),
        (assume({"AWS": "*"}), "any principal"),
        (assume({"AWS": ["arn:aws:iam::1:root", "*"]}), "any principal"),
        (
            {"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::1:root"}, "Action": "sts:*"},
            "NotPrincipal",
        ),
        (assume({"Federated": OIDC}, WEB), ":sub"),
        (
            assume(
                {"Federated": GITHUB},
                WEB,
                Condition={"StringEquals": {"token.actions.githubusercontent.com:aud": "sts"}},
            ),
            ":sub",
        ),
        (
            assume(
                {"Federated": GITHUB},
                WEB,
                Condition={"StringLike": {"token.actions.githubusercontent.com:sub": "*"}},
            ),
            ":sub",
        ),
        (
            assume(
                {"Federated": GITHUB},
                WEB,
                Condition={"StringNotEquals": {"token.actions.githubusercontent.com:sub": "x"}},
            ),
            ":sub",
        ),
        (assume({"AWS": "*"}, Condition={"StringLike": {"aws:PrincipalArn": "*"}}), "any"),
    ],
)
def test_trust_policy_walkarounds_are_reported(tmp_path: Path, statement: Any, fragment: str):
    found = run_case("iam-trust-policies", [trust(statement)], tmp_path)
    assert any(fragment in m for m in found), found
    assert all(m.startswith("role role trust policy: ") for m in found)


@pytest.mark.parametrize(
    "statement",
    [
        assume({"Service": "pods.eks.amazonaws.com"}, "sts:AssumeRole"),
        assume({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}),
        assume({"AWS": "*"}, Condition={"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}),
        assume(
            {"Federated": OIDC},
            WEB,
            Condition={
                "StringEquals": {
                    "oidc.eks.us-east-1.amazonaws.com/id/ABC:sub": "system:serviceaccount:a:b",
                    "oidc.eks.us-east-1.amazonaws.com/id/ABC:aud": "sts.amazonaws.com",
                }
            },
        ),
        assume(
            {"Federated": GITHUB},
            WEB,
            Condition={"StringLike": {"token.actions.githubusercontent.com:sub": "repo:o/r:*"}},
        ),
        {"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole"},
    ],
)
def test_pinned_trust_policies_pass(tmp_path: Path, statement: Any):
    assert run_case("iam-trust-policies", [trust(statement)], tmp_path) == []


# ----------------------------------------------------------------- IAM: resource policies


def grant(principal: Any, action: str = "kms:*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal, "Action": action, "Resource": "*", **extra}


RESOURCE_POLICY_CASES = [
    ("aws:kms/key:Key", "policy"),
    ("aws:kms/keyPolicy:KeyPolicy", "policy"),
    ("aws:s3/bucketPolicy:BucketPolicy", "policy"),
    ("aws:sqs/queuePolicy:QueuePolicy", "policy"),
    ("aws:sns/topicPolicy:TopicPolicy", "policy"),
    ("aws:ecr/repositoryPolicy:RepositoryPolicy", "policy"),
    ("aws:secretsmanager/secretPolicy:SecretPolicy", "policy"),
]


@pytest.mark.parametrize(("type_token", "key"), RESOURCE_POLICY_CASES)
@pytest.mark.parametrize(
    "statement",
    [
        grant("*"),
        grant({"AWS": "*"}),
        grant({"AWS": "*"}, Condition={"StringLike": {"aws:PrincipalOrgID": "*"}}),
        {"Effect": "Allow", "NotPrincipal": {"AWS": "x"}, "Action": "s3:*", "Resource": "*"},
    ],
)
def test_resource_policies_granting_everyone_are_reported(
    tmp_path: Path, type_token: str, key: str, statement: Any
):
    res = state(type_token, "res", {key: doc(statement)})
    (message,) = run_case("resource-policies", [res], tmp_path)
    assert message.startswith("res resource policy: ")


@pytest.mark.parametrize(("type_token", "key"), RESOURCE_POLICY_CASES)
def test_resource_policies_granting_another_account_are_reported(
    tmp_path: Path, type_token: str, key: str
):
    own = grant({"AWS": f"arn:aws:iam::{ACCOUNT}:root"})
    other = grant({"AWS": f"arn:aws:iam::{OTHER}:role/x"})
    res = state(type_token, "res", {key: doc(own, other)})
    (message,) = run_case("resource-policies", [res], tmp_path)
    assert "2 accounts" in message
    config = {"resource-policies": {"trustedAccountIds": [ACCOUNT]}}
    (message,) = run_case("resource-policies", [res], tmp_path, config)
    assert message == (
        f"res resource policy: grants account {OTHER}, which is not in trustedAccountIds or the "
        "accounts this stack uses"
    )
    alone = state(type_token, "res", {key: doc(other)})
    assert run_case("resource-policies", [alone], tmp_path, config) != []


@pytest.mark.parametrize(
    "statement",
    [
        grant({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}),
        grant({"Service": "logs.us-east-1.amazonaws.com"}),
        grant({"AWS": "*"}, Condition={"StringEquals": {"kms:CallerAccount": ACCOUNT}}),
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    ],
)
def test_narrow_resource_policies_pass(tmp_path: Path, statement: Any):
    res = state("aws:kms/key:Key", "key", {"policy": doc(statement)})
    config = {"resource-policies": {"trustedAccountIds": [ACCOUNT]}}
    assert run_case("resource-policies", [res], tmp_path, config) == []


def test_a_lambda_permission_for_anyone_is_reported(tmp_path: Path):
    perm = state("aws:lambda/permission:Permission", "p", {"principal": "*", "action": "x"})
    assert run_case("resource-policies", [perm], tmp_path) != []
    scoped = state(
        "aws:lambda/permission:Permission", "p", {"principal": "*", "sourceAccount": ACCOUNT}
    )
    assert run_case("resource-policies", [scoped], tmp_path) == []


# ----------------------------------------------------------------- compute outside node groups

LT = "aws:ec2/launchTemplate:LaunchTemplate"
SAFE_METADATA = {"httpTokens": "required", "httpPutResponseHopLimit": 1}
SAFE_VOLUME = {"deviceName": "/dev/xvda", "ebs": {"encrypted": "true", "volumeSize": 100}}
ALL_TYPES = {"cost-limits": {"allowedGpuInstanceTypes": ["*"], "maxMonthlyUsd": 10_000_000}}
DEV = {
    "cost-limits": {
        "allowedGpuInstanceTypes": ["g4dn.*", "g5.*", "g6.*"],
        "maxGpusPerPool": 8,
        "maxMonthlyUsd": 10_000_000,
    }
}


def template(name: str = "lt", **inputs: Any) -> dict[str, Any]:
    return state(
        LT, name, {"metadataOptions": SAFE_METADATA, "blockDeviceMappings": [SAFE_VOLUME], **inputs}
    )


def launching(type_token: str, inputs: dict[str, Any], lt: dict[str, Any], key: str):
    return state(type_token, "compute", inputs, {key: [lt["urn"]]})


def compute_cases(instance_type: str) -> list[tuple[str, list[dict[str, Any]]]]:
    lt = template(instanceType=instance_type)
    bare_lt = template()
    return [
        (
            "instance",
            [
                state(
                    "aws:ec2/instance:Instance",
                    "compute",
                    {
                        "instanceType": instance_type,
                        "metadataOptions": SAFE_METADATA,
                        "rootBlockDevice": {"encrypted": True},
                    },
                )
            ],
        ),
        (
            "instance via template",
            [
                lt,
                launching(
                    "aws:ec2/instance:Instance",
                    {"launchTemplate": {"id": "lt-1"}},
                    lt,
                    "launchTemplate",
                ),
            ],
        ),
        (
            "asg",
            [
                lt,
                launching(
                    "aws:autoscaling/group:Group",
                    {"minSize": 0, "maxSize": 4, "launchTemplate": {"id": "lt-1"}},
                    lt,
                    "launchTemplate",
                ),
            ],
        ),
        (
            "asg mixed",
            [
                bare_lt,
                launching(
                    "aws:autoscaling/group:Group",
                    {
                        "minSize": 0,
                        "maxSize": 4,
                        "mixedInstancesPolicy": {
                            "launchTemplate": {
                                "launchTemplateSpecification": {"launchTemplateId": "lt-1"},
                                "overrides": [{"instanceType": instance_type}],
                            }
                        },
                    },
                    bare_lt,
                    "mixedInstancesPolicy",
                ),
            ],
        ),
        (
            "fleet",
            [
                bare_lt,
                launching(
                    "aws:ec2/fleet:Fleet",
                    {
                        "launchTemplateConfigs": [
                            {
                                "launchTemplateSpecification": {"launchTemplateId": "lt-1"},
                                "overrides": [{"instanceType": instance_type}],
                            }
                        ],
                        "targetCapacitySpecification": {
                            "totalTargetCapacity": 4,
                            "defaultTargetCapacityType": "on-demand",
                        },
                    },
                    bare_lt,
                    "launchTemplateConfigs",
                ),
            ],
        ),
        (
            "spot fleet",
            [
                bare_lt,
                launching(
                    "aws:ec2/spotFleetRequest:SpotFleetRequest",
                    {
                        "targetCapacity": 4,
                        "iamFleetRole": "arn:aws:iam::1:role/f",
                        "launchTemplateConfigs": [
                            {
                                "launchTemplateSpecification": {"id": "lt-1"},
                                "overrides": [{"instanceType": instance_type}],
                            }
                        ],
                    },
                    bare_lt,
                    "launchTemplateConfigs",
                ),
            ],
        ),
        (
            "capacity reservation",
            [
                state(
                    "aws:ec2/capacityReservation:CapacityReservation",
                    "compute",
                    {
                        "instanceType": instance_type,
                        "instanceCount": 4,
                        "availabilityZone": "us-east-1a",
                        "instancePlatform": "Linux/UNIX",
                    },
                )
            ],
        ),
    ]


@pytest.mark.parametrize("case", [c[0] for c in compute_cases("p5.48xlarge")])
def test_p5_outside_node_groups_is_impossible_in_dev(tmp_path: Path, case: str):
    states = dict(compute_cases("p5.48xlarge"))[case]
    found = run_case("cost-limits", states, tmp_path, DEV)
    assert any("p5.48xlarge is not allowed here" in m for m in found), found
    ok = dict(compute_cases("g4dn.xlarge"))[case]
    assert run_case("cost-limits", ok, tmp_path, DEV) == []


@pytest.mark.parametrize("case", [c[0] for c in compute_cases("p5.48xlarge")])
def test_compute_outside_node_groups_is_priced_and_counted(tmp_path: Path, case: str):
    states = dict(compute_cases("p5.48xlarge"))[case]
    tight = {
        "cost-limits": {**ALL_TYPES["cost-limits"], "maxMonthlyUsd": 1000, "maxGpusPerPool": 8}
    }
    found = run_case("cost-limits", states, tmp_path, tight)
    assert any(m.startswith("worst-case monthly cost") for m in found), found
    if case.startswith("instance"):
        assert not any("GPUs at max size" in m for m in found)  # one instance: 8 GPUs
    else:
        assert any("reaches 32 GPUs at max size; the cap is 8" in m for m in found), found


def test_an_on_demand_p5_reservation_needs_a_capacity_block_where_required(tmp_path: Path):
    states = dict(compute_cases("p5.48xlarge"))["capacity reservation"]
    config = {"cost-limits": {**ALL_TYPES["cost-limits"], "requireCapacityBlockForP5": True}}
    found = run_case("cost-limits", states, tmp_path, config)
    assert any("runs p5 on demand" in m for m in found), found


@pytest.mark.parametrize(
    ("inputs", "fragment"),
    [
        ({"instanceType": "m7i.large"}, "does not require IMDSv2"),
        (
            {"instanceType": "m7i.large", "metadataOptions": {"httpTokens": "optional"}},
            "does not require IMDSv2",
        ),
        (
            {"instanceType": "m7i.large", "metadataOptions": SAFE_METADATA},
            "volume root is unencrypted",
        ),
        (
            {
                "instanceType": "m7i.large",
                "metadataOptions": SAFE_METADATA,
                "rootBlockDevice": {"encrypted": True},
                "ebsBlockDevices": [{"deviceName": "/dev/sdf", "encrypted": False}],
            },
            "volume /dev/sdf is unencrypted",
        ),
        (
            {
                "instanceType": "m7i.large",
                "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 3},
                "rootBlockDevice": {"encrypted": True},
            },
            "hop limit 3",
        ),
        (
            {
                "instanceType": "m7i.large",
                "metadataOptions": SAFE_METADATA,
                "rootBlockDevice": {"encrypted": True},
                "associatePublicIpAddress": True,
            },
            "public IP",
        ),
        (
            {"instanceType": "m7i.large", "launchTemplate": {"name": "made-elsewhere"}},
            "launch template this stack does not define",
        ),
    ],
)
def test_instances_are_held_to_the_launch_baseline(tmp_path: Path, inputs: Any, fragment: str):
    instance = state("aws:ec2/instance:Instance", "vm", inputs)
    found = run_case("launch-template-baseline", [instance], tmp_path)
    assert any(fragment in m for m in found), found


@pytest.mark.parametrize(
    ("type_token", "inputs"),
    [
        (
            "aws:autoscaling/group:Group",
            {"minSize": 0, "maxSize": 2, "launchTemplate": {"id": "x"}},
        ),
        ("aws:autoscaling/group:Group", {"minSize": 0, "maxSize": 2, "launchConfiguration": "lc"}),
        ("aws:ec2/fleet:Fleet", {"launchTemplateConfigs": [{"launchTemplateSpecification": {}}]}),
        (
            "aws:ec2/spotFleetRequest:SpotFleetRequest",
            {"targetCapacity": 1, "launchSpecifications": [{"instanceType": "m7i.large"}]},
        ),
    ],
)
def test_groups_and_fleets_launching_from_unchecked_templates_are_reported(
    tmp_path: Path, type_token: str, inputs: Any
):
    assert run_case("launch-template-baseline", [state(type_token, "g", inputs)], tmp_path) != []


@pytest.mark.parametrize(
    "case", ["instance via template", "asg", "asg mixed", "fleet", "spot fleet"]
)
def test_compute_from_a_compliant_template_passes_and_a_weak_one_is_reported(
    tmp_path: Path, case: str
):
    states = dict(compute_cases("m7i.large"))[case]
    assert run_case("launch-template-baseline", states, tmp_path) == []
    weak = [dict(s) for s in states]
    weak[0] = {
        **weak[0],
        "inputs": {**weak[0]["inputs"], "metadataOptions": {"httpTokens": "optional"}},
    }
    found = run_case("launch-template-baseline", weak, tmp_path)
    assert found == ["launch template lt does not require IMDSv2 (metadataOptions.httpTokens)"]


# ----------------------------------------------------------------- budgets

BUDGET = "aws:budgets/budget:Budget"
MONTHLY = {"budgetType": "COST", "timeUnit": "MONTHLY", "limitUnit": "USD"}


def pool() -> dict[str, Any]:
    return state(
        "aws:eks/nodeGroup:NodeGroup",
        "ng",
        {
            "instanceTypes": ["g4dn.xlarge"],
            "capacityType": "ON_DEMAND",
            "scalingConfig": {"minSize": 0, "desiredSize": 0, "maxSize": 2},
        },
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"timeUnit": "ANNUALLY"},
        {"timeUnit": "QUARTERLY"},
        {"budgetType": "USAGE"},
        {"budgetType": "RI_UTILIZATION"},
        {"limitUnit": "GB"},
        {"autoAdjustData": {"autoAdjustType": "HISTORICAL"}},
    ],
)
def test_a_budget_that_is_no_monthly_cost_limit_limits_nothing(tmp_path: Path, overrides: Any):
    budget = state(BUDGET, "b", {**MONTHLY, "limitAmount": "5000", **overrides})
    found = run_case("cost-limits", [pool(), budget], tmp_path, {"cost-limits": {}})
    assert len(found) == 1 and found[0].startswith("no budget"), found
    good = state(BUDGET, "b", {**MONTHLY, "limitAmount": "5000"})
    assert run_case("cost-limits", [pool(), good], tmp_path, {"cost-limits": {}}) == []


def test_a_bigger_budget_cannot_raise_the_stack_ceiling(tmp_path: Path):
    budget = state(BUDGET, "b", {**MONTHLY, "limitAmount": "1000000"})
    config = {"cost-limits": {"maxMonthlyUsd": 500}}
    found = run_case("cost-limits", [pool(), budget], tmp_path, config)
    assert (
        "budget b of $1,000,000.00 is above this stack's ceiling $500.00 (maxMonthlyUsd)" in found
    )
    assert any(m.startswith("worst-case monthly cost") and "the budget $500.00" in m for m in found)


# ----------------------------------------------------------------- network

SG = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


def ingress_rule(name: str, cidr: str, port: int = 22, group: str = "sg-1") -> dict[str, Any]:
    key = "cidrIpv6" if ":" in cidr else "cidrIpv4"
    return state(
        INGRESS,
        name,
        {
            key: cidr,
            "fromPort": port,
            "toPort": port,
            "ipProtocol": "tcp",
            "securityGroupId": group,
        },
    )


@pytest.mark.parametrize(
    "states",
    [
        [ingress_rule("a", "0.0.0.0/1"), ingress_rule("b", "128.0.0.0/1")],
        [ingress_rule("a", "::/1"), ingress_rule("b", "8000::/1")],
        [ingress_rule("a", "10.0.0.1/0")],  # host bits set: AWS reads 0.0.0.0/0
        [
            state(
                SG,
                "g",
                {
                    "ingress": [
                        {
                            "protocol": "tcp",
                            "fromPort": 0,
                            "toPort": 1000,
                            "cidrBlocks": ["0.0.0.0/1"],
                        },
                        {
                            "protocol": "6",
                            "fromPort": 20,
                            "toPort": 30,
                            "cidrBlocks": ["128.0.0.0/1"],
                        },
                    ]
                },
            )
        ],
        [
            state(
                SG_RULE,
                "r",
                {
                    "type": "ingress",
                    "protocol": "-1",
                    "fromPort": 0,
                    "toPort": 0,
                    "cidrBlocks": ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"],
                    "securityGroupId": "sg-1",
                },
            )
        ],
    ],
)
def test_ranges_that_together_cover_the_internet_are_open(tmp_path: Path, states: Any):
    found = run_case("no-open-ingress", states, tmp_path)
    assert found and all(m.endswith("to the internet") for m in found), found


@pytest.mark.parametrize(
    "states",
    [
        [ingress_rule("a", "0.0.0.0/1"), ingress_rule("b", "128.0.0.0/1", group="sg-2")],
        [ingress_rule("a", "0.0.0.0/1", port=22), ingress_rule("b", "128.0.0.0/1", port=23)],
        [ingress_rule("a", "10.0.0.0/8"), ingress_rule("b", "192.168.0.0/16")],
        [ingress_rule("a", "0.0.0.0/1", port=443), ingress_rule("b", "128.0.0.0/1", port=443)],
    ],
)
def test_ranges_that_do_not_together_cover_the_internet_pass(tmp_path: Path, states: Any):
    config = {"no-open-ingress": {"allowedOpenIngressPorts": [443]}}
    assert run_case("no-open-ingress", states, tmp_path, config) == []


def test_a_node_group_with_ssh_from_anywhere_is_reported(tmp_path: Path):
    ng = state("aws:eks/nodeGroup:NodeGroup", "ng", {"remoteAccess": {"ec2SshKey": "k"}})
    (message,) = run_case("no-open-ingress", [ng], tmp_path)
    assert message.startswith("node group ng allows SSH (remoteAccess) from anywhere")
    scoped = state(
        "aws:eks/nodeGroup:NodeGroup",
        "ng",
        {"remoteAccess": {"ec2SshKey": "k", "sourceSecurityGroupIds": ["sg-1"]}},
    )
    assert run_case("no-open-ingress", [scoped], tmp_path) == []


@pytest.mark.parametrize(
    ("inputs", "fragment"),
    [
        ({"networkInterfaces": [{"associatePublicIpAddress": "true"}]}, "public IP"),
        (
            {"metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 3}},
            "hop limit",
        ),
        (
            {"metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 64}},
            "hop limit",
        ),
    ],
)
def test_launch_templates_with_public_ips_or_deep_metadata_are_reported(
    tmp_path: Path, inputs: Any, fragment: str
):
    found = run_case("launch-template-baseline", [template(**inputs)], tmp_path)
    assert any(fragment in m for m in found), found
    assert (
        run_case(
            "launch-template-baseline",
            [template(metadataOptions={"httpTokens": "required", "httpPutResponseHopLimit": 2})],
            tmp_path,
        )
        == []
    )


VPC = "aws:ec2/vpc:Vpc"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"


def vpc() -> dict[str, Any]:
    return state(VPC, "vpc", {"cidrBlock": "10.0.0.0/16", "tags": TAGS})


def test_a_default_security_group_with_rules_is_reported(tmp_path: Path):
    the_vpc = vpc()
    group = state(
        DEFAULT_SG,
        "default",
        {
            "vpcId": "vpc-1",
            "ingress": [{"protocol": "-1", "fromPort": 0, "toPort": 0, "self": True}],
        },
        {"vpcId": [the_vpc["urn"]]},
    )
    (message,) = run_case("default-security-group", [the_vpc, group], tmp_path)
    assert message == "default security group default keeps ingress rules; empty it"


def test_a_rule_on_a_vpcs_default_group_is_reported(tmp_path: Path):
    the_vpc = vpc()
    locked = state(DEFAULT_SG, "default", {"vpcId": "vpc-1"}, {"vpcId": [the_vpc["urn"]]})
    rule = state(
        INGRESS,
        "sneaky",
        {"securityGroupId": "sg-default", "referencedSecurityGroupId": "sg-x", "ipProtocol": "-1"},
        {"securityGroupId": [the_vpc["urn"]]},
    )
    (message,) = run_case("default-security-group", [the_vpc, locked, rule], tmp_path)
    assert message == "sneaky adds a rule to the default security group of vpc"


def test_a_vpc_must_lock_its_default_group_unless_switched_off(tmp_path: Path):
    the_vpc = vpc()
    (message,) = run_case("default-security-group", [the_vpc], tmp_path)
    assert message.startswith("VPC vpc leaves its default security group open")
    locked = state(DEFAULT_SG, "default", {"vpcId": "vpc-1"}, {"vpcId": [the_vpc["urn"]]})
    assert run_case("default-security-group", [the_vpc, locked], tmp_path) == []
    off = {"default-security-group": {"requireLockedDefaultSecurityGroup": False}}
    assert run_case("default-security-group", [the_vpc], tmp_path, off) == []


def test_an_eks_endpoint_open_through_a_union_of_ranges_is_reported(tmp_path: Path):
    eks = state(
        "aws:eks/cluster:Cluster",
        "eks",
        {
            "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "arn:k"}},
            "enabledClusterLogTypes": ["audit"],
            "vpcConfig": {
                "endpointPublicAccess": True,
                "publicAccessCidrs": ["0.0.0.0/1", "128.0.0.0/1"],
            },
        },
    )
    (message,) = run_case("eks-baseline", [eks], tmp_path)
    assert "exposes its API endpoint" in message


# ----------------------------------------------------------------- encryption


@pytest.mark.parametrize(
    ("type_token", "bad", "good"),
    [
        ("aws:rds/instance:Instance", {"storageEncrypted": False}, {"storageEncrypted": True}),
        ("aws:rds/instance:Instance", {}, {"storageEncrypted": True, "kmsKeyId": "arn:k"}),
        ("aws:rds/cluster:Cluster", {}, {"storageEncrypted": True}),
        ("aws:docdb/cluster:Cluster", {"storageEncrypted": "false"}, {"storageEncrypted": "true"}),
        ("aws:neptune/cluster:Cluster", {}, {"storageEncrypted": True}),
        ("aws:efs/fileSystem:FileSystem", {}, {"encrypted": True}),
        ("aws:redshift/cluster:Cluster", {"encrypted": False}, {"encrypted": True}),
        (
            "aws:elasticache/replicationGroup:ReplicationGroup",
            {},
            {"atRestEncryptionEnabled": True},
        ),
        ("aws:opensearch/domain:Domain", {}, {"encryptAtRest": {"enabled": True}}),
        ("aws:fsx/windowsFileSystem:WindowsFileSystem", {}, {"kmsKeyId": "arn:k"}),
        ("aws:fsx/ontapFileSystem:OntapFileSystem", {}, {"kmsKeyId": "arn:k"}),
        ("aws:fsx/openZfsFileSystem:OpenZfsFileSystem", {"kmsKeyId": ""}, {"kmsKeyId": "arn:k"}),
        ("aws:ebs/snapshotCopy:SnapshotCopy", {}, {"encrypted": True}),
    ],
)
def test_every_storage_service_is_encrypted(tmp_path: Path, type_token: str, bad: Any, good: Any):
    assert run_case("storage-encrypted", [state(type_token, "data", bad)], tmp_path) != []
    assert run_case("storage-encrypted", [state(type_token, "data", good)], tmp_path) == []


LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
CMK = {"log-groups-encrypted": {"requireCustomerKey": True}}


def test_log_groups_need_a_customer_key_where_the_config_asks(tmp_path: Path):
    plain_group = state(LOG_GROUP, "logs", {"retentionInDays": 90})
    assert run_case("log-groups-encrypted", [plain_group], tmp_path) == []
    (message,) = run_case("log-groups-encrypted", [plain_group], tmp_path, CMK)
    assert message == "log group logs is not encrypted with a customer KMS key (kmsKeyId)"
    keyed = state(LOG_GROUP, "logs", {"kmsKeyId": "04da6b54-80e4-46f7-96ec-b56ff0331ba9"})
    assert run_case("log-groups-encrypted", [keyed], tmp_path, CMK) == []


BUCKET = "aws:s3/bucketV2:BucketV2"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
SSE_V2 = (
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2"
)
FLAGS = dict.fromkeys(
    ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"), True
)


def sse(name: str, algorithm: str, type_token: str = SSE, bucket_urn: str = "") -> dict[str, Any]:
    rules = [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": algorithm}}]
    return state(type_token, name, {"bucket": "b", "rules": rules}, {"bucket": [bucket_urn]})


def test_a_bucket_with_two_encryption_configurations_is_reported(tmp_path: Path):
    bucket = state(BUCKET, "data", {"bucket": "b"})
    block = state(PAB, "pab", {"bucket": "b", **FLAGS}, {"bucket": [bucket["urn"]]})
    kms = sse("kms", "aws:kms", bucket_urn=bucket["urn"])
    aes = sse("aes", "AES256", SSE_V2, bucket_urn=bucket["urn"])
    found = run_case("bucket-baseline", [bucket, block, kms, aes], tmp_path)
    assert any("has 2 default-encryption configurations" in m for m in found), found
    assert "bucket data has no KMS default encryption" in found
    assert run_case("bucket-baseline", [bucket, block, kms], tmp_path) == []


def test_an_inline_and_a_separate_encryption_configuration_are_two(tmp_path: Path):
    inline = {"rule": {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}}
    bucket = state(
        "aws:s3/bucket:Bucket", "data", {"bucket": "b", "serverSideEncryptionConfiguration": inline}
    )
    block = state(PAB, "pab", {"bucket": "b", **FLAGS}, {"bucket": [bucket["urn"]]})
    assert run_case("bucket-baseline", [bucket, block], tmp_path) == []
    kms = sse("kms", "aws:kms", bucket_urn=bucket["urn"])
    found = run_case("bucket-baseline", [bucket, block, kms], tmp_path)
    assert any("has 2 default-encryption configurations" in m for m in found), found


# ----------------------------------------------------------------- tags


@pytest.mark.parametrize("blank", ["", " ", "\t\n", "   "])
def test_blank_tag_values_are_missing(tmp_path: Path, blank: str):
    vpc_state = state(VPC, "vpc", {"tags": {**TAGS, "owner": blank}})
    (message,) = run_case("required-tags", [vpc_state], tmp_path)
    assert message == "aws:ec2/vpc:Vpc vpc lacks required tags: owner"
    assert run_case("required-tags", [state(VPC, "vpc", {"tags": TAGS})], tmp_path) == []


def test_blank_launch_template_tag_values_are_missing(tmp_path: Path):
    specs = [
        {"resourceType": kind, "tags": {**TAGS, "team": " "}}
        for kind in ("instance", "volume", "network-interface")
    ]
    lt_state = state(LT, "lt", {"tagSpecifications": specs, "tags": TAGS})
    found = run_case("launch-template-tag-specifications", [lt_state], tmp_path)
    assert found == [
        f"launch template lt: {k} tags lack team"
        for k in ("instance", "volume", "network-interface")
    ]


def test_the_urn_helper_is_stable():
    assert urn(VPC, "x").endswith("::aws:ec2/vpc:Vpc::x")


# ----------------------------------------------------------------- more walk-arounds


@pytest.mark.parametrize(
    "name", ["ReadOnlyAccess", "AmazonS3ReadOnlyAccess", "SecretsManagerReadWrite"]
)
def test_read_everything_managed_policies_are_reported(tmp_path: Path, name: str):
    attach = state(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "a",
        {"role": "r", "policyArn": f"arn:aws:iam::aws:policy/{name}"},
    )
    assert run_case("iam-managed-policies", [attach], tmp_path) != []


def test_a_rule_on_the_taken_over_default_group_is_reported(tmp_path: Path):
    the_vpc = vpc()
    locked = state(DEFAULT_SG, "default", {"vpcId": "vpc-1"}, {"vpcId": [the_vpc["urn"]]})
    rule = state(
        SG_RULE,
        "r",
        {"type": "ingress", "protocol": "tcp", "fromPort": 22, "toPort": 22, "self": True},
        {"securityGroupId": [locked["urn"]]},
    )
    (message,) = run_case("default-security-group", [the_vpc, locked, rule], tmp_path)
    assert message == "r adds a rule to the default security group of default group default"


def test_an_instance_without_a_metadata_service_needs_no_tokens(tmp_path: Path):
    instance = state(
        "aws:ec2/instance:Instance",
        "vm",
        {
            "instanceType": "m7i.large",
            "metadataOptions": {"httpEndpoint": "disabled"},
            "rootBlockDevice": {"encrypted": True},
        },
    )
    assert run_case("launch-template-baseline", [instance], tmp_path) == []


def test_an_asg_is_linked_to_its_launch_template_by_name(tmp_path: Path):
    lt = template(name="weak-lt", metadataOptions={"httpTokens": "optional"})
    lt["inputs"]["name"] = "gpu-lt"
    lt["inputs"]["instanceType"] = "p5.48xlarge"
    asg = state(
        "aws:autoscaling/group:Group",
        "asg",
        {"minSize": 0, "maxSize": 1, "launchTemplate": {"name": "gpu-lt", "version": "$Latest"}},
    )
    found = run_case("launch-template-baseline", [lt, asg], tmp_path)
    assert found == ["launch template weak-lt does not require IMDSv2 (metadataOptions.httpTokens)"]
    assert any(
        "p5.48xlarge is not allowed" in m for m in run_case("cost-limits", [lt, asg], tmp_path, DEV)
    )


GARBAGE = [
    ("aws:iam/policy:Policy", {"policy": {"Statement": "garbage"}}),
    ("aws:iam/policy:Policy", {"policy": ["not", "a", "document"]}),
    ("aws:iam/role:Role", {"assumeRolePolicy": 42, "inlinePolicies": "x"}),
    ("aws:kms/key:Key", {"policy": {"Statement": [{"Principal": ["*"], "Effect": 1}]}}),
    ("aws:eks/nodeGroup:NodeGroup", {"scalingConfig": "big", "instanceTypes": "g4dn.xlarge"}),
    (
        "aws:eks/nodeGroup:NodeGroup",
        {"scalingConfig": {"maxSize": "many"}, "instanceTypes": ["g4dn.xlarge"]},
    ),
    ("aws:autoscaling/group:Group", {"maxSize": None, "mixedInstancesPolicy": "x"}),
    ("aws:ec2/launchTemplate:LaunchTemplate", {"metadataOptions": "x", "blockDeviceMappings": "y"}),
    (
        "aws:ec2/securityGroup:SecurityGroup",
        {"ingress": [{"cidrBlocks": "0.0.0.0/0", "fromPort": "a"}]},
    ),
    (
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        {"cidrIpv4": "not-a-cidr", "fromPort": 1},
    ),
    ("aws:eks/cluster:Cluster", {"vpcConfig": "x", "encryptionConfig": [1, 2]}),
    ("aws:budgets/budget:Budget", {**MONTHLY, "limitAmount": "lots"}),
    ("aws:s3/bucket:Bucket", {"tags": ["a"], "serverSideEncryptionConfiguration": "x"}),
    ("aws:ec2/vpc:Vpc", {"tags": "owner=me"}),
]


@pytest.mark.parametrize(("type_token", "inputs"), GARBAGE)
def test_malformed_inputs_never_crash_the_pack(tmp_path: Path, type_token: str, inputs: Any):
    from tests.policies import run_pack

    result = run_pack(
        {
            "steps": [
                {
                    "op": "create",
                    "urn": urn(type_token, "x"),
                    "newState": state(type_token, "x", inputs),
                }
            ]
        },
        {},
        tmp_path,
    )
    assert isinstance(result["violations"], list)


def test_a_lone_grant_to_another_account_is_caught_by_the_accounts_the_stack_uses(
    tmp_path: Path,
):
    own_key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd"
    volume = state("aws:ebs/volume:Volume", "vol", {"encrypted": True, "kmsKeyId": own_key})
    foreign = grant({"AWS": f"arn:aws:iam::{OTHER}:root"}, "s3:GetObject")
    policy = state(
        "aws:s3/bucketPolicy:BucketPolicy", "bp", {"bucket": "b", "policy": doc(foreign)}
    )
    (message,) = run_case("resource-policies", [volume, policy], tmp_path)
    assert message == (
        f"bp resource policy: grants account {OTHER}, which is not in the accounts this stack uses"
    )
    own = grant({"AWS": f"arn:aws:iam::{ACCOUNT}:role/reader"}, "s3:GetObject")
    fine = state("aws:s3/bucketPolicy:BucketPolicy", "bp", {"bucket": "b", "policy": doc(own)})
    assert run_case("resource-policies", [volume, fine], tmp_path) == []


@pytest.mark.parametrize(
    "subject", ["*", "system:serviceaccount:*", "system:serviceaccount:*:*", "repo:*"]
)
def test_a_web_identity_subject_that_names_nothing_is_not_pinned(tmp_path: Path, subject: str):
    statement = assume(
        {"Federated": OIDC},
        WEB,
        Condition={"StringLike": {"oidc.eks.us-east-1.amazonaws.com/id/ABC:sub": subject}},
    )
    assert run_case("iam-trust-policies", [trust(statement)], tmp_path) != []


def test_a_wildcard_account_principal_is_a_wildcard(tmp_path: Path):
    assert run_case("iam-trust-policies", [trust(assume({"AWS": "arn:aws:iam::*:root"}))], tmp_path)


def batch(instance_type: str, max_vcpus: int) -> dict[str, Any]:
    return state(
        "aws:batch/computeEnvironment:ComputeEnvironment",
        "batch",
        {
            "type": "MANAGED",
            "computeResources": {
                "type": "EC2",
                "instanceTypes": [instance_type],
                "maxVcpus": max_vcpus,
                "minVcpus": 0,
                "subnets": ["subnet-1"],
            },
        },
    )


def test_a_batch_compute_environment_is_priced_and_counted(tmp_path: Path):
    found = run_case("cost-limits", [batch("p5.48xlarge", 4 * 192)], tmp_path, DEV)
    assert any("p5.48xlarge is not allowed here" in m for m in found), found
    assert any("reaches 32 GPUs at max size" in m for m in found), found
    assert run_case("cost-limits", [batch("g4dn.xlarge", 8)], tmp_path, DEV) == []
