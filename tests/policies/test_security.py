"""Security baseline rules through the analyzer, and the pure IAM helpers table-driven."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from policies.security import is_read_action, policy_problems
from tests.policies import check, state

CLUSTER = "aws:eks/cluster:Cluster"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
BUCKET = "aws:s3/bucket:Bucket"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
KEY_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd"


def found(policy: str, *states: dict[str, Any], tmp_path: Path, config: Any = None):
    return check(policy, *states, tmp_path=tmp_path, config=config)


def messages(violations: list[dict[str, Any]]) -> list[str]:
    return [v["message"] for v in violations]


# ------------------------------------------------------------------------- eks-baseline


def cluster(**overrides: Any) -> dict[str, Any]:
    inputs: dict[str, Any] = {
        "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": KEY_ARN}},
        "enabledClusterLogTypes": ["api", "audit", "authenticator"],
        "vpcConfig": {"endpointPublicAccess": False, "endpointPrivateAccess": True},
    }
    inputs.update(overrides)
    return state(CLUSTER, "eks", {k: v for k, v in inputs.items() if v is not None})


PRIVATE = {"eks-baseline": {"requirePrivateEndpoint": True}}


def test_a_compliant_cluster_passes_even_where_a_private_endpoint_is_required(tmp_path: Path):
    assert found("eks-baseline", cluster(), tmp_path=tmp_path, config=PRIVATE) == []


@pytest.mark.parametrize(
    "encryption",
    [
        None,
        {"resources": ["secrets"]},  # no key
        {"resources": [], "provider": {"keyArn": KEY_ARN}},  # not Secrets
        {"resources": ["secrets"], "provider": {"keyArn": ""}},
    ],
)
def test_secrets_not_encrypted_with_a_kms_key_is_reported(tmp_path: Path, encryption: Any):
    eks = cluster(encryptionConfig=encryption)
    (violation,) = found("eks-baseline", eks, tmp_path=tmp_path)
    assert violation["urn"] == eks["urn"]
    assert violation["message"] == "EKS cluster eks does not encrypt Secrets with a KMS key"


@pytest.mark.parametrize("logs", [None, [], ["api", "authenticator"]])
def test_a_cluster_without_audit_logs_is_reported(tmp_path: Path, logs: Any):
    eks = cluster(enabledClusterLogTypes=logs)
    (violation,) = found("eks-baseline", eks, tmp_path=tmp_path)
    assert violation["urn"] == eks["urn"]
    assert violation["message"] == "EKS cluster eks does not send audit logs"


@pytest.mark.parametrize(
    "vpc_config",
    [
        {"endpointPublicAccess": True},
        {"subnetIds": ["subnet-1"]},  # EKS's default is a public endpoint
        None,
    ],
)
def test_a_public_endpoint_is_reported_where_private_is_required(tmp_path: Path, vpc_config):
    eks = cluster(vpcConfig=vpc_config)
    found_ = found("eks-baseline", eks, tmp_path=tmp_path, config=PRIVATE)
    public = [v for v in found_ if "has a public API endpoint" in v["message"]]
    assert len(public) == 1 and public[0]["urn"] == eks["urn"]


def test_a_public_endpoint_is_fine_where_private_is_not_required(tmp_path: Path):
    eks = cluster(vpcConfig={"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]})
    assert found("eks-baseline", eks, tmp_path=tmp_path) == []
    config = {"eks-baseline": {"requirePrivateEndpoint": False}}
    assert found("eks-baseline", eks, tmp_path=tmp_path, config=config) == []


def test_a_bare_cluster_fails_every_check(tmp_path: Path):
    eks = state(CLUSTER, "eks", {"name": "bare"})
    # No encryption, no audit logs, a public endpoint, open to 0.0.0.0/0 by EKS's default.
    assert len(found("eks-baseline", eks, tmp_path=tmp_path, config=PRIVATE)) == 4


@pytest.mark.parametrize("cidrs", [None, ["0.0.0.0/0"], ["10.0.0.0/8", "0.0.0.0/0"]])
def test_a_public_endpoint_open_to_anywhere_is_reported_unless_allowed(tmp_path: Path, cidrs):
    vpc = {"endpointPublicAccess": True, **({"publicAccessCidrs": cidrs} if cidrs else {})}
    eks = cluster(vpcConfig=vpc)
    (violation,) = found("eks-baseline", eks, tmp_path=tmp_path)
    assert "0.0.0.0/0" in violation["message"]
    allowed = {"eks-baseline": {"allowPublicEndpointFromAnywhere": True}}
    assert found("eks-baseline", eks, tmp_path=tmp_path, config=allowed) == []


# ------------------------------------------------------------------------- launch-template-baseline


def launch_template(http_tokens: str | None = "required", devices: list[Any] | None = None):
    inputs: dict[str, Any] = {
        "blockDeviceMappings": devices
        if devices is not None
        else [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true", "volumeSize": 200}}]
    }
    if http_tokens is not None:
        inputs["metadataOptions"] = {"httpTokens": http_tokens, "httpEndpoint": "enabled"}
    return state(LAUNCH_TEMPLATE, "lt", inputs)


def test_a_compliant_launch_template_passes(tmp_path: Path):
    assert found("launch-template-baseline", launch_template(), tmp_path=tmp_path) == []


@pytest.mark.parametrize("http_tokens", ["optional", None])
def test_imdsv1_is_reported(tmp_path: Path, http_tokens: str | None):
    lt = launch_template(http_tokens)
    (violation,) = found("launch-template-baseline", lt, tmp_path=tmp_path)
    assert violation["urn"] == lt["urn"]
    assert "does not require IMDSv2" in violation["message"]


@pytest.mark.parametrize("ebs", [{"encrypted": "false"}, {"volumeSize": 100}, {"encrypted": False}])
def test_an_unencrypted_block_device_is_reported_by_device_name(tmp_path: Path, ebs):
    lt = launch_template(devices=[{"deviceName": "/dev/xvdb", "ebs": ebs}])
    (violation,) = found("launch-template-baseline", lt, tmp_path=tmp_path)
    assert violation["urn"] == lt["urn"]
    assert violation["message"] == "launch template lt: volume /dev/xvdb is unencrypted"


def test_encrypted_and_non_ebs_devices_pass(tmp_path: Path):
    devices = [
        {"deviceName": "/dev/xvda", "ebs": {"encrypted": True}},
        {"deviceName": "/dev/xvdb", "ebs": {"encrypted": "TRUE"}},
        {"deviceName": "/dev/sdb", "virtualName": "ephemeral0"},
    ]
    lt = launch_template(devices=devices)
    assert found("launch-template-baseline", lt, tmp_path=tmp_path) == []


# ------------------------------------------------------------------------- storage-encrypted


@pytest.mark.parametrize("encrypted", [False, None])
def test_an_unencrypted_ebs_volume_is_reported(tmp_path: Path, encrypted: Any):
    inputs = {"size": 100} if encrypted is None else {"size": 100, "encrypted": encrypted}
    volume = state("aws:ebs/volume:Volume", "data", inputs)
    (violation,) = found("storage-encrypted", volume, tmp_path=tmp_path)
    assert violation["urn"] == volume["urn"]
    assert violation["message"] == "EBS volume data is not encrypted"


def test_an_encrypted_ebs_volume_passes(tmp_path: Path):
    volume = state("aws:ebs/volume:Volume", "data", {"size": 100, "encrypted": True})
    assert found("storage-encrypted", volume, tmp_path=tmp_path) == []


def test_fsx_without_a_customer_kms_key_is_reported(tmp_path: Path):
    fs = state("aws:fsx/lustreFileSystem:LustreFileSystem", "scratch", {"storageCapacity": 1200})
    (violation,) = found("storage-encrypted", fs, tmp_path=tmp_path)
    assert violation["urn"] == fs["urn"]
    assert violation["message"] == "FSx file system scratch does not use a customer KMS key"


def test_fsx_with_a_customer_kms_key_passes(tmp_path: Path):
    fs = state(
        "aws:fsx/lustreFileSystem:LustreFileSystem",
        "scratch",
        {"storageCapacity": 1200, "kmsKeyId": KEY_ARN},
    )
    assert found("storage-encrypted", fs, tmp_path=tmp_path) == []


# ------------------------------------------------------------------------- bucket-baseline

FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def bucket(name: str = "data", kind: str = BUCKET) -> dict[str, Any]:
    return state(kind, name, {"bucketPrefix": name})


def public_access_block(target: dict[str, Any], **flags: bool) -> dict[str, Any]:
    inputs: dict[str, Any] = {"bucket": "bucket-id", **dict.fromkeys(FLAGS, True), **flags}
    name = f"{target['urn'].rsplit('::', 1)[-1]}-pab"
    return state(PUBLIC_ACCESS_BLOCK, name, inputs, {"bucket": [target["urn"]]})


def encryption(target: dict[str, Any], algorithm: str = "aws:kms") -> dict[str, Any]:
    rule = {"applyServerSideEncryptionByDefault": {"sseAlgorithm": algorithm}}
    if algorithm.startswith("aws:kms"):
        rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"] = KEY_ARN
    name = f"{target['urn'].rsplit('::', 1)[-1]}-sse"
    return state(SSE, name, {"bucket": "bucket-id", "rules": [rule]}, {"bucket": [target["urn"]]})


@pytest.mark.parametrize("kind", [BUCKET, "aws:s3/bucketV2:BucketV2"])
@pytest.mark.parametrize("algorithm", ["aws:kms", "aws:kms:dsse"])
def test_a_bucket_with_its_public_access_block_and_kms_encryption_passes(
    tmp_path: Path, kind: str, algorithm: str
):
    b = bucket(kind=kind)
    states = (b, public_access_block(b), encryption(b, algorithm))
    assert found("bucket-baseline", *states, tmp_path=tmp_path) == []


@pytest.mark.parametrize("kind", [BUCKET, "aws:s3/bucketV2:BucketV2"])
def test_a_bare_bucket_lacks_both_and_each_finding_names_the_bucket(tmp_path: Path, kind: str):
    b = bucket(kind=kind)
    violations = found("bucket-baseline", b, tmp_path=tmp_path)
    assert [v["urn"] for v in violations] == [b["urn"], b["urn"]]
    assert sorted(messages(violations)) == [
        "bucket data has no KMS default encryption",
        "bucket data has no public access block with all four flags",
    ]


@pytest.mark.parametrize("flag", FLAGS)
def test_a_public_access_block_with_one_flag_off_is_reported(tmp_path: Path, flag: str):
    b = bucket()
    states = (b, public_access_block(b, **{flag: False}), encryption(b))
    (violation,) = found("bucket-baseline", *states, tmp_path=tmp_path)
    assert violation["urn"] == b["urn"]
    assert "public access block" in violation["message"]


def test_sse_s3_encryption_is_not_kms(tmp_path: Path):
    b = bucket()
    states = (b, public_access_block(b), encryption(b, "AES256"))
    (violation,) = found("bucket-baseline", *states, tmp_path=tmp_path)
    assert violation["urn"] == b["urn"]
    assert violation["message"] == "bucket data has no KMS default encryption"


def access_logging(source: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    name = f"{source['urn'].rsplit('::', 1)[-1]}-logging"
    return state(
        "aws:s3/bucketLogging:BucketLogging",
        name,
        {"bucket": "source-id", "targetBucket": "target-id", "targetPrefix": "s3-access/"},
        {"bucket": [source["urn"]], "targetBucket": [target["urn"]]},
    )


def test_sse_s3_is_accepted_on_a_server_access_log_destination_only(tmp_path: Path):
    # S3 delivers server access logs only to SSE-S3 destination buckets.
    source, logs = bucket("data"), bucket("access-logs")
    states = (
        source,
        logs,
        public_access_block(source),
        public_access_block(logs),
        encryption(source),
        encryption(logs, "AES256"),
        access_logging(source, logs),
    )
    assert found("bucket-baseline", *states, tmp_path=tmp_path) == []


def test_the_source_of_access_logs_still_needs_kms(tmp_path: Path):
    source, logs = bucket("data"), bucket("access-logs")
    states = (
        source,
        logs,
        public_access_block(source),
        public_access_block(logs),
        encryption(source, "AES256"),
        encryption(logs, "AES256"),
        access_logging(source, logs),
    )
    (violation,) = found("bucket-baseline", *states, tmp_path=tmp_path)
    assert violation["urn"] == source["urn"]
    assert violation["message"] == "bucket data has no KMS default encryption"


def test_controls_count_only_for_the_bucket_they_reference(tmp_path: Path):
    guarded, bare = bucket("guarded"), bucket("bare")
    states = (guarded, bare, public_access_block(guarded), encryption(guarded))
    violations = found("bucket-baseline", *states, tmp_path=tmp_path)
    assert {v["urn"] for v in violations} == {bare["urn"]}
    assert len(violations) == 2


# ------------------------------------------------------------------------- iam-least-privilege


def iam_document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: Any, resource: Any = "*") -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def iam_policy(document: str, kind: str = "aws:iam/policy:Policy") -> dict[str, Any]:
    return state(kind, "pol", {"policy": document})


@pytest.mark.parametrize(
    ("action", "fragment"),
    [
        ("*", "grants all actions with '*'"),
        ("s3:*", "grants all actions with 's3:*'"),
        ("s3:PutObject", "grants write actions ['s3:PutObject'] on Resource '*'"),
        (["ec2:DescribeInstances", "iam:PassRole"], "grants write actions ['iam:PassRole']"),
    ],
)
@pytest.mark.parametrize(
    "kind",
    [
        "aws:iam/policy:Policy",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/userPolicy:UserPolicy",
        "aws:iam/groupPolicy:GroupPolicy",
    ],
)
def test_broad_grants_are_reported(tmp_path: Path, kind: str, action: Any, fragment: str):
    policy = iam_policy(iam_document(allow(action)), kind)
    violations = found("iam-least-privilege", policy, tmp_path=tmp_path)
    assert violations and all(v["urn"] == policy["urn"] for v in violations)
    assert any(fragment in m for m in messages(violations)), messages(violations)
    assert all(m.startswith("IAM policy pol ") for m in messages(violations))


def test_read_actions_on_any_resource_and_a_deny_pass(tmp_path: Path):
    document = iam_document(
        allow(["ec2:DescribeInstances", "autoscaling:DescribeAutoScalingGroups", "s3:ListBucket"]),
        allow("s3:PutObject", ["arn:aws:s3:::bucket/*"]),
        {"Effect": "Deny", "Action": "s3:*", "Resource": "*"},
    )
    assert found("iam-least-privilege", iam_policy(document), tmp_path=tmp_path) == []


def test_a_role_inline_policy_is_checked(tmp_path: Path):
    role = state(
        "aws:iam/role:Role",
        "node",
        {
            "assumeRolePolicy": iam_document(
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "ec2.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ),
            "inlinePolicies": [
                {"name": "ok", "policy": iam_document(allow("ec2:DescribeInstances"))},
                {"name": "bad", "policy": iam_document(allow("iam:*"))},
            ],
        },
    )
    violations = found("iam-least-privilege", role, tmp_path=tmp_path)
    assert {v["urn"] for v in violations} == {role["urn"]}
    assert messages(violations) == [
        "IAM policy node grants all actions with 'iam:*'",
        "IAM policy node grants write actions ['iam:*'] on Resource '*'",
    ]


def test_an_unreadable_policy_document_is_reported(tmp_path: Path):
    policy = iam_policy("{not json")
    (violation,) = found("iam-least-privilege", policy, tmp_path=tmp_path)
    assert violation["urn"] == policy["urn"]
    assert violation["message"] == "pol: the policy document cannot be read"


def test_wildcards_of_read_actions_on_any_resource_pass(tmp_path: Path):
    document = iam_document(allow(["ec2:Describe*", "s3:List*", "eks:List*"]))
    assert found("iam-least-privilege", iam_policy(document), tmp_path=tmp_path) == []


def test_an_allow_with_not_action_on_any_resource_is_reported(tmp_path: Path):
    document = iam_document({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    assert found("iam-least-privilege", iam_policy(document), tmp_path=tmp_path) != []


@pytest.mark.parametrize(
    ("action", "read"),
    [
        ("ec2:DescribeInstances", True),
        ("s3:GetObject", True),
        ("s3:ListBucket", True),
        ("s3:HeadObject", True),
        ("dynamodb:Query", True),
        ("dynamodb:Scan", True),
        ("cloudtrail:LookupEvents", True),
        ("logs:View", True),
        ("es:Search", True),
        ("s3:PutObject", False),
        ("iam:PassRole", False),
        ("ec2:RunInstances", False),
        ("s3:DeleteObject", False),
        ("*", False),
        ("s3:*", False),
        ("s3:Get*", True),  # a wildcard over read verbs still only reads
        ("GetObject", False),  # no service prefix: not a valid action
    ],
)
def test_is_read_action(action: str, read: bool):
    assert is_read_action(action) is read


@pytest.mark.parametrize(
    ("document", "problems"),
    [
        (
            {"Statement": [allow("*")]},
            ["grants all actions with '*'", "grants write actions ['*'] on Resource '*'"],
        ),
        ({"Statement": [allow("s3:*", "arn:aws:s3:::b/*")]}, ["grants all actions with 's3:*'"]),
        (
            {"Statement": allow("s3:PutObject")},
            ["grants write actions ['s3:PutObject'] on Resource '*'"],
        ),
        (
            {"Statement": [allow(["s3:GetObject", "s3:PutObject"], ["arn:aws:s3:::b", "*"])]},
            [
                "grants write actions ['s3:PutObject'] on Resource '*'",
                "grants sensitive reads ['s3:GetObject'] on Resource '*'",
            ],
        ),
        ({"Statement": [allow("s3:PutObject", "arn:aws:s3:::b/*")]}, []),
        ({"Statement": [allow(["ec2:DescribeInstances", "s3:ListBucket"])]}, []),
        (
            {"Statement": [allow(["ec2:DescribeInstances", "s3:GetObject"])]},
            ["grants sensitive reads ['s3:GetObject'] on Resource '*'"],
        ),
        ({"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}, []),
        ({"Statement": []}, []),
        ({}, []),
        (
            json.dumps({"Statement": [allow("kms:*")]}),
            ["grants all actions with 'kms:*'", "grants write actions ['kms:*'] on Resource '*'"],
        ),
    ],
)
def test_policy_problems(document: Any, problems: list[str]):
    assert policy_problems(document) == problems


# ------------------------------------------------------------------------- no-open-ingress


def ingress(
    name: str = "rule", cidr: str = "0.0.0.0/0", port: int = 22, protocol: str = "tcp", **extra: Any
) -> dict[str, Any]:
    key = "cidrIpv6" if ":" in cidr else "cidrIpv4"
    inputs = {key: cidr, "fromPort": port, "toPort": port, "ipProtocol": protocol, **extra}
    return state(INGRESS_RULE, name, inputs)


OPEN_443 = {"no-open-ingress": {"allowedOpenIngressPorts": [443]}}


def test_ssh_open_to_the_internet_is_reported_with_the_port(tmp_path: Path):
    rule = ingress()
    (violation,) = found("no-open-ingress", rule, tmp_path=tmp_path)
    assert violation["urn"] == rule["urn"]
    assert violation["message"].startswith("rule opens ports 22")
    assert violation["message"].endswith("to the internet")


def test_ipv6_any_is_open_too(tmp_path: Path):
    assert len(found("no-open-ingress", ingress(cidr="::/0"), tmp_path=tmp_path)) == 1


def test_an_allowed_port_passes(tmp_path: Path):
    assert found("no-open-ingress", ingress(port=443), tmp_path=tmp_path, config=OPEN_443) == []


def test_an_allowed_port_is_not_allowed_without_the_config(tmp_path: Path):
    assert len(found("no-open-ingress", ingress(port=443), tmp_path=tmp_path)) == 1


def test_a_range_covering_an_allowed_port_is_reported(tmp_path: Path):
    rule = ingress(fromPort=80, toPort=443)
    (violation,) = found("no-open-ingress", rule, tmp_path=tmp_path, config=OPEN_443)
    assert "80" in violation["message"] and "443" in violation["message"]


def test_all_protocols_without_ports_are_reported(tmp_path: Path):
    rule = state(INGRESS_RULE, "all", {"cidrIpv4": "0.0.0.0/0", "ipProtocol": "-1"})
    assert len(found("no-open-ingress", rule, tmp_path=tmp_path, config=OPEN_443)) == 1


@pytest.mark.parametrize("cidr", ["10.0.0.0/8", "192.168.1.0/24", "fd00::/8"])
def test_a_private_cidr_passes(tmp_path: Path, cidr: str):
    assert found("no-open-ingress", ingress(cidr=cidr), tmp_path=tmp_path) == []


SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
OPEN_SSH = {"fromPort": 22, "toPort": 22, "protocol": "tcp", "cidrBlocks": ["0.0.0.0/0"]}


def test_a_security_group_rule_of_type_ingress_is_checked(tmp_path: Path):
    ingress_rule = state(SG_RULE, "in", {**OPEN_SSH, "type": "ingress"})
    (violation,) = found("no-open-ingress", ingress_rule, tmp_path=tmp_path)
    assert violation["urn"] == ingress_rule["urn"]
    assert "22" in violation["message"]


def test_an_egress_security_group_rule_is_not_ingress(tmp_path: Path):
    egress_rule = state(SG_RULE, "out", {**OPEN_SSH, "type": "egress"})
    assert found("no-open-ingress", egress_rule, tmp_path=tmp_path) == []


def test_inline_security_group_ingress_is_checked(tmp_path: Path):
    group = state(
        "aws:ec2/securityGroup:SecurityGroup",
        "sg",
        {
            "ingress": [
                {"fromPort": 443, "toPort": 443, "protocol": "tcp", "cidrBlocks": ["0.0.0.0/0"]},
                {"fromPort": 3389, "toPort": 3389, "protocol": "tcp", "ipv6CidrBlocks": ["::/0"]},
                {"fromPort": 22, "toPort": 22, "protocol": "tcp", "cidrBlocks": ["10.0.0.0/8"]},
            ]
        },
    )
    (violation,) = found("no-open-ingress", group, tmp_path=tmp_path, config=OPEN_443)
    assert violation["urn"] == group["urn"]
    assert "3389" in violation["message"]


def test_all_protocols_with_an_allowed_port_range_is_still_open(tmp_path: Path):
    rule = ingress(port=443, protocol="-1")
    assert len(found("no-open-ingress", rule, tmp_path=tmp_path, config=OPEN_443)) == 1


def test_the_ports_are_printed_as_whole_numbers(tmp_path: Path):
    (violation,) = found("no-open-ingress", ingress(), tmp_path=tmp_path)
    assert violation["message"] == "rule opens ports 22-22 to the internet"
