"""Security baseline: what no environment may deploy.

- EKS: Secrets envelope-encrypted with KMS; audit logs on; no public endpoint where the policy
  config says `requirePrivateEndpoint` (prod); a public endpoint never open to 0.0.0.0/0 unless
  `allowPublicEndpointFromAnywhere`.
- Nodes: launch templates require IMDSv2 and encrypt their EBS volumes.
- Data: EBS volumes encrypted; FSx for Lustre with a customer KMS key; every S3 bucket has KMS
  default encryption and a public access block with all four flags on.
- IAM: no Allow of `*` or `service:*` actions; no write action on `Resource: "*"`.
- Network: no ingress from 0.0.0.0/0 or ::/0 except on ports listed in `allowedOpenIngressPorts`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

READ_PREFIXES = ("Describe", "Get", "List", "Head", "Search", "Lookup", "Query", "Scan", "View")
OPEN_CIDRS = ("0.0.0.0/0", "::/0")

# ------------------------------------------------------------------------------------ EKS


def _eks(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != "aws:eks/cluster:Cluster":
        return
    config = args.get_config() or {}
    props = args.props
    encryption = props.get("encryptionConfig") or {}
    provider = encryption.get("provider") or {}
    if "secrets" not in (encryption.get("resources") or []) or not provider.get("keyArn"):
        report(f"EKS cluster {args.name} does not encrypt Secrets with a KMS key", None)
    if "audit" not in (props.get("enabledClusterLogTypes") or []):
        report(f"EKS cluster {args.name} does not send audit logs", None)
    vpc = props.get("vpcConfig") or {}
    public = vpc.get("endpointPublicAccess")
    if config.get("requirePrivateEndpoint") and public is not False:
        report(
            f"EKS cluster {args.name} has a public API endpoint; this environment needs private",
            None,
        )
    cidrs = [str(c) for c in _as_list(vpc.get("publicAccessCidrs"))] or ["0.0.0.0/0"]
    anywhere = public is not False and "0.0.0.0/0" in cidrs
    if anywhere and not config.get("allowPublicEndpointFromAnywhere"):
        report(
            f"EKS cluster {args.name} exposes its API endpoint to 0.0.0.0/0; narrow "
            "publicAccessCidrs (or set allowPublicEndpointFromAnywhere)",
            None,
        )


# ------------------------------------------------------------------------------------ nodes


def _launch_templates(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != "aws:ec2/launchTemplate:LaunchTemplate":
        return
    metadata = args.props.get("metadataOptions") or {}
    if metadata.get("httpTokens") != "required":
        report(
            f"launch template {args.name} does not require IMDSv2 (metadataOptions.httpTokens)",
            None,
        )
    for mapping in args.props.get("blockDeviceMappings") or []:
        ebs = mapping.get("ebs") or {}
        if ebs and str(ebs.get("encrypted")).lower() != "true":
            volume = mapping.get("deviceName")
            report(f"launch template {args.name}: volume {volume} is unencrypted", None)


# ------------------------------------------------------------------------------------ data


def _volumes(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == "aws:ebs/volume:Volume" and args.props.get("encrypted") is not True:
        report(f"EBS volume {args.name} is not encrypted", None)
    if args.resource_type == "aws:fsx/lustreFileSystem:LustreFileSystem" and not args.props.get(
        "kmsKeyId"
    ):
        report(f"FSx file system {args.name} does not use a customer KMS key", None)


def _buckets(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = list(args.resources)
    buckets = [
        r
        for r in resources
        if r.resource_type in ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
    ]

    def targeting(type_token: str, bucket_urn: str) -> list[Any]:
        return [
            r
            for r in resources
            if r.resource_type == type_token
            and any(dep.urn == bucket_urn for dep in r.property_dependencies.get("bucket", []))
        ]

    for bucket in buckets:
        blocks = targeting("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", bucket.urn)
        flags = (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
        if not any(all(b.props.get(f) is True for f in flags) for b in blocks):
            report(
                f"bucket {bucket.name} has no public access block with all four flags", bucket.urn
            )
        encryption = targeting(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            bucket.urn,
        )
        kms = any(
            (rule.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm")
            in ("aws:kms", "aws:kms:dsse")
            for e in encryption
            for rule in e.props.get("rules") or []
        )
        if not kms:
            report(f"bucket {bucket.name} has no KMS default encryption", bucket.urn)


# ------------------------------------------------------------------------------------ IAM


def is_read_action(action: str) -> bool:
    """`ec2:DescribeInstances` and `s3:Get*` read; anything else may write."""
    _, _, verb = action.partition(":")
    return verb.startswith(READ_PREFIXES)


def _as_list(value: Any) -> list[Any]:
    """A JSON value as a list; the analyzer hands sequences over as proxies, not lists."""
    if value is None:
        return []
    if isinstance(value, str | bytes | Mapping):
        return [value]
    try:
        return list(value)
    except TypeError:
        return [value]


def policy_problems(document: str | Mapping[str, Any]) -> list[str]:
    """Pure: what is wrong with an IAM policy document (Allow statements only)."""
    doc = json.loads(document) if isinstance(document, str) else document
    problems = []
    for statement in _as_list(doc.get("Statement")):
        if statement.get("Effect") != "Allow":
            continue
        if statement.get("NotAction") is not None:
            excluded = [str(a) for a in _as_list(statement.get("NotAction"))]
            problems.append(f"grants every action except {excluded} (NotAction)")
            continue
        actions = [str(a) for a in _as_list(statement.get("Action"))]
        resources = [str(r) for r in _as_list(statement.get("Resource"))]
        for action in actions:
            if action == "*" or action.endswith(":*"):
                problems.append(f"grants all actions with {action!r}")
        if "*" in resources:
            writes = [a for a in actions if not is_read_action(a)]
            if writes:
                problems.append(f"grants write actions {writes} on Resource '*'")
    return problems


_IAM_DOCUMENTS = {
    "aws:iam/policy:Policy": "policy",
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/userPolicy:UserPolicy": "policy",
    "aws:iam/groupPolicy:GroupPolicy": "policy",
}


def _iam(args: ResourceValidationArgs, report: ReportViolation) -> None:
    documents: list[Any] = []
    if args.resource_type in _IAM_DOCUMENTS:
        documents.append(args.props.get(_IAM_DOCUMENTS[args.resource_type]))
    if args.resource_type == "aws:iam/role:Role":
        documents += [p.get("policy") for p in args.props.get("inlinePolicies") or []]
    for document in documents:
        if not document:
            continue
        try:
            problems = policy_problems(document)
        except (json.JSONDecodeError, AttributeError, TypeError):
            report(f"{args.name}: the policy document cannot be read", None)
            continue
        for problem in problems:
            report(f"IAM policy {args.name} {problem}", None)


# ------------------------------------------------------------------------------------ network


def _open_ingress(
    cidrs: Iterable[str], from_port: Any, to_port: Any, allowed: list[int], protocol: Any
) -> bool:
    if not any(c in OPEN_CIDRS for c in cidrs):
        return False
    if str(protocol) in ("-1", "all"):
        return True  # every protocol and port: no port allowance covers it
    try:
        low, high = int(from_port), int(to_port)
    except (TypeError, ValueError):
        return True
    return not (low == high and low in allowed)


def _security_groups(args: ResourceValidationArgs, report: ReportViolation) -> None:
    allowed = list((args.get_config() or {}).get("allowedOpenIngressPorts") or [])
    props = args.props
    kind = args.resource_type
    rules: list[tuple[list[str], Any, Any, Any]] = []
    if kind == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
        cidrs = [c for c in (props.get("cidrIpv4"), props.get("cidrIpv6")) if c]
        rules.append((cidrs, props.get("fromPort"), props.get("toPort"), props.get("ipProtocol")))
    elif kind == "aws:ec2/securityGroupRule:SecurityGroupRule" and props.get("type") == "ingress":
        cidrs = [*_as_list(props.get("cidrBlocks")), *_as_list(props.get("ipv6CidrBlocks"))]
        rules.append((cidrs, props.get("fromPort"), props.get("toPort"), props.get("protocol")))
    elif kind == "aws:ec2/securityGroup:SecurityGroup":
        for rule in _as_list(props.get("ingress")):
            cidrs = [*_as_list(rule.get("cidrBlocks")), *_as_list(rule.get("ipv6CidrBlocks"))]
            rules.append((cidrs, rule.get("fromPort"), rule.get("toPort"), rule.get("protocol")))
    for cidrs, low, high, protocol in rules:
        if _open_ingress(cidrs, low, high, [int(p) for p in allowed], protocol):
            ports = (
                "all ports"
                if str(protocol) in ("-1", "all")
                else f"ports {_port(low)}-{_port(high)}"
            )
            report(f"{args.name} opens {ports} to the internet", None)


def _port(value: Any) -> str:
    try:
        return str(int(value))
    except (TypeError, ValueError):
        return str(value)


# ------------------------------------------------------------------------------------ policies

eks_baseline = ResourceValidationPolicy(
    name="eks-baseline",
    description="EKS: Secrets encrypted with KMS, audit logs on, private endpoint where required.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_eks,
    config_schema=PolicyConfigSchema(
        properties={
            "requirePrivateEndpoint": {"type": "boolean", "default": False},
            "allowPublicEndpointFromAnywhere": {"type": "boolean", "default": False},
        }
    ),
)
node_baseline = ResourceValidationPolicy(
    name="launch-template-baseline",
    description="Launch templates require IMDSv2 and encrypt their volumes.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_launch_templates,
)
storage_encryption = ResourceValidationPolicy(
    name="storage-encrypted",
    description="EBS volumes encrypted; FSx for Lustre under a customer KMS key.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_volumes,
)
bucket_baseline = StackValidationPolicy(
    name="bucket-baseline",
    description="Every bucket blocks public access (all four flags) and encrypts with KMS.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_buckets,
)
iam_least_privilege = ResourceValidationPolicy(
    name="iam-least-privilege",
    description="No Allow of '*' or 'service:*' actions; no write action on Resource '*'.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_iam,
)
no_open_ingress = ResourceValidationPolicy(
    name="no-open-ingress",
    description="No ingress from 0.0.0.0/0 or ::/0 except on allowed ports.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_security_groups,
    config_schema=PolicyConfigSchema(
        properties={
            "allowedOpenIngressPorts": {
                "type": "array",
                "items": {"type": "integer", "minimum": 0, "maximum": 65535},
                "default": [],
            }
        }
    ),
)

POLICIES = [
    eks_baseline,
    node_baseline,
    storage_encryption,
    bucket_baseline,
    iam_least_privilege,
    no_open_ingress,
]
