"""Security baseline: what no environment may deploy.

- `eks-baseline`: Secrets envelope-encrypted with KMS; audit logs on; no public endpoint where the
  policy config says `requirePrivateEndpoint` (prod); a public endpoint never open to the whole
  internet (any `publicAccessCidrs` that together cover it) unless
  `allowPublicEndpointFromAnywhere`.
- `launch-template-baseline`: everything that launches EC2 instances requires IMDSv2, keeps the
  metadata hop limit at 2 or below, gives no public IP and encrypts its EBS volumes: launch
  templates, launch configurations, instances and spot instance requests (their own settings, or
  those of the stack's launch template they launch from), Auto Scaling groups, EC2 fleets and spot
  fleets (which must launch from a launch template or configuration the stack defines, so that it
  can be checked).
- `storage-encrypted`: EBS volumes and snapshot copies, RDS instances and clusters, DocumentDB and
  Neptune clusters, EFS, Redshift, ElastiCache, OpenSearch encrypted at rest; every FSx file
  system (Lustre, Windows, ONTAP, OpenZFS) under a customer KMS key.
- `bucket-baseline`: every bucket has a public access block with all four flags on, and exactly
  one default-encryption configuration, all of whose rules are KMS (or SSE-S3 on a bucket the
  stack's server access logging delivers to: S3 delivers access logs to SSE-S3 buckets only).
- `log-groups-encrypted`: CloudWatch log groups under a customer KMS key where the policy config
  sets `requireCustomerKey` (prod).
- IAM rules live in policies/iam.py, network rules in policies/network.py.

Every rule judges each property on its own (policies/inputs.py): an unknown key ARN still means a
key is set; an unknown flag leaves only its own check undecided.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from policies.iam import is_read_action, policy_problems
from policies.inputs import (
    UNKNOWN,
    Judge,
    StackJudge,
    StackResource,
    as_list,
    as_mapping,
    is_unknown,
    number,
    run,
    run_stack,
    truth,
)
from policies.network import covers_everything
from policies.pricing import referenced_names

__all__ = ["POLICIES", "is_read_action", "policy_problems"]

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
LAUNCH_CONFIGURATION = "aws:ec2/launchConfiguration:LaunchConfiguration"
INSTANCE = "aws:ec2/instance:Instance"
SPOT_INSTANCE = "aws:ec2/spotInstanceRequest:SpotInstanceRequest"
AUTOSCALING_GROUP = "aws:autoscaling/group:Group"
FLEET = "aws:ec2/fleet:Fleet"
SPOT_FLEET = "aws:ec2/spotFleetRequest:SpotFleetRequest"
BUCKET_TYPES = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ENCRYPTION_TYPES = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")
MAX_HOP_LIMIT = 2

# ------------------------------------------------------------------------------------ EKS


def _present(value: Any) -> bool:
    return is_unknown(value) or (value is not None and str(value).strip() != "")


def _check_eks(judge: Judge) -> None:
    if judge.type != "aws:eks/cluster:Cluster":
        return
    props = judge.props
    name = judge.name
    encryption = props.get("encryptionConfig")
    if is_unknown(encryption):
        judge.unknown("encryptionConfig")
    else:
        encryption = as_mapping(encryption)
        resources = encryption.get("resources")
        provider = encryption.get("provider")
        key = UNKNOWN if is_unknown(provider) else as_mapping(provider).get("keyArn")
        listed = [str(r) for r in as_list(resources) if not is_unknown(r)]
        partly_unknown = is_unknown(resources) or any(is_unknown(r) for r in as_list(resources))
        if "secrets" not in listed and partly_unknown:
            judge.unknown("encryptionConfig.resources")
        elif "secrets" not in listed or not _present(key):
            judge.report(f"EKS cluster {name} does not encrypt Secrets with a KMS key", None)
    logs = props.get("enabledClusterLogTypes")
    known_logs = [str(t) for t in as_list(logs) if not is_unknown(t)]
    if "audit" not in known_logs:
        if is_unknown(logs) or any(is_unknown(t) for t in as_list(logs)):
            judge.unknown("enabledClusterLogTypes")
        else:
            judge.report(f"EKS cluster {name} does not send audit logs", None)
    vpc = props.get("vpcConfig")
    if is_unknown(vpc):
        judge.unknown("vpcConfig")
        return
    vpc = as_mapping(vpc)
    public = vpc.get("endpointPublicAccess")
    public_on = truth(public) if public is not None else True  # EKS's default is public
    if judge.config.get("requirePrivateEndpoint"):
        if public_on is None:
            judge.unknown("vpcConfig.endpointPublicAccess")
        elif public_on:
            judge.report(
                f"EKS cluster {name} has a public API endpoint; this environment needs private",
                None,
            )
    if public_on is False or judge.config.get("allowPublicEndpointFromAnywhere"):
        return
    cidrs = vpc.get("publicAccessCidrs")
    if is_unknown(cidrs):
        judge.unknown("vpcConfig.publicAccessCidrs")
        return
    ranges = as_list(cidrs) or ["0.0.0.0/0"]  # EKS's default
    if covers_everything(ranges):
        if public_on is None:
            judge.unknown("vpcConfig.endpointPublicAccess")
            return
        judge.report(
            f"EKS cluster {name} exposes its API endpoint to 0.0.0.0/0; narrow "
            "publicAccessCidrs (or set allowPublicEndpointFromAnywhere)",
            None,
        )


# ------------------------------------------------------------------------------------ compute


class _Settings:
    """The launch settings of one resource, read where that resource type keeps them."""

    def __init__(self, res: StackResource):
        self.res = res
        props = res.props
        self.kind = res.type
        self.metadata = props.get("metadataOptions")
        self.public_ip: list[tuple[str, Any]] = []
        self.volumes: list[tuple[str, Any]] = []
        if res.type == LAUNCH_TEMPLATE:
            for index, nic in enumerate(as_list(props.get("networkInterfaces"))):
                self.public_ip.append(
                    (
                        f"networkInterfaces[{index}].associatePublicIpAddress",
                        UNKNOWN
                        if is_unknown(nic)
                        else as_mapping(nic).get("associatePublicIpAddress"),
                    )
                )
            for index, mapping in enumerate(as_list(props.get("blockDeviceMappings"))):
                if is_unknown(mapping):
                    self.volumes.append((f"blockDeviceMappings[{index}]", UNKNOWN))
                    continue
                mapping = as_mapping(mapping)
                ebs = mapping.get("ebs")
                if is_unknown(ebs):
                    self.volumes.append((f"blockDeviceMappings[{index}].ebs", UNKNOWN))
                elif isinstance(ebs, dict) and ebs:
                    self.volumes.append((str(mapping.get("deviceName")), ebs.get("encrypted")))
        else:
            self.public_ip.append(
                ("associatePublicIpAddress", props.get("associatePublicIpAddress"))
            )
            for index, nic in enumerate(as_list(props.get("networkInterfaces"))):
                if isinstance(nic, dict) and "associatePublicIpAddress" in nic:
                    self.public_ip.append(
                        (
                            f"networkInterfaces[{index}].associatePublicIpAddress",
                            nic.get("associatePublicIpAddress"),
                        )
                    )
            root = props.get("rootBlockDevice")
            if root is not None:
                self.volumes.append(
                    ("root", UNKNOWN if is_unknown(root) else as_mapping(root).get("encrypted"))
                )
            for index, ebs in enumerate(as_list(props.get("ebsBlockDevices"))):
                if is_unknown(ebs):
                    self.volumes.append((f"ebsBlockDevices[{index}]", UNKNOWN))
                    continue
                ebs = as_mapping(ebs)
                self.volumes.append((str(ebs.get("deviceName")), ebs.get("encrypted")))


def _label(res: StackResource) -> str:
    return {
        LAUNCH_TEMPLATE: "launch template",
        LAUNCH_CONFIGURATION: "launch configuration",
        INSTANCE: "instance",
        SPOT_INSTANCE: "spot instance request",
    }.get(res.type, res.type)


def _check_own(judge: StackJudge, settings: _Settings, template: _Settings | None) -> None:
    """IMDSv2, hop limit, public IPs and volume encryption of one launching resource; what it
    leaves unset is inherited from `template` (the stack's launch template it launches from)."""
    res = settings.res
    label = f"{_label(res)} {res.name}"
    metadata = settings.metadata
    if metadata is None and template is not None:
        pass  # inherited: the launch template is judged on its own
    elif is_unknown(metadata):
        judge.unknown(f"{res.name}.metadataOptions")
    elif str(as_mapping(metadata).get("httpEndpoint") or "").lower() == "disabled":
        pass  # no instance metadata service at all
    else:
        metadata = as_mapping(metadata)
        tokens = metadata.get("httpTokens")
        if is_unknown(tokens):
            judge.unknown(f"{res.name}.metadataOptions.httpTokens")
        elif str(tokens).strip().lower() != "required":
            judge.report(f"{label} does not require IMDSv2 (metadataOptions.httpTokens)", res.urn)
        hop = metadata.get("httpPutResponseHopLimit")
        if is_unknown(hop):
            judge.unknown(f"{res.name}.metadataOptions.httpPutResponseHopLimit")
        elif hop is not None and (number(hop) is None or (number(hop) or 0) > MAX_HOP_LIMIT):
            judge.report(
                f"{label} lets containers reach instance metadata (hop limit {hop}; at most "
                f"{MAX_HOP_LIMIT})",
                res.urn,
            )
    for path, value in settings.public_ip:
        if is_unknown(value):
            judge.unknown(f"{res.name}.{path}")
        elif truth(value):
            judge.report(f"{label} gives its instances a public IP ({path})", res.urn)
    volumes = settings.volumes
    root_given = any(p == "root" for p, _ in volumes)
    if (
        res.type in (INSTANCE, SPOT_INSTANCE)
        and not root_given
        and not (template and template.volumes)
    ):
        volumes = [*volumes, ("root", None)]
    for device, encrypted in volumes:
        if is_unknown(encrypted):
            judge.unknown(f"{res.name}.{device}.encrypted")
        elif truth(encrypted) is not True:
            judge.report(f"{label}: volume {device} is unencrypted", res.urn)


def _templates_of(
    res: StackResource, keys: tuple[str, ...], by_urn: dict[str, StackResource]
) -> list[StackResource]:
    """The stack's launch templates/configurations `res` launches from: by dependency, or by a
    name that matches one the stack defines."""
    found = []
    for key in keys:
        for urn in res.property_dependencies.get(key, []):
            dep = by_urn.get(urn)
            if dep is not None and dep.type in (LAUNCH_TEMPLATE, LAUNCH_CONFIGURATION):
                found.append(dep)
    if not found:
        names = set(referenced_names({k: res.props.get(k) for k in keys}))
        found = [
            r
            for r in by_urn.values()
            if r.type in (LAUNCH_TEMPLATE, LAUNCH_CONFIGURATION)
            and isinstance(r.props.get("name"), str)
            and r.props["name"] in names
        ]
    return found


def _references_template(props: dict[str, Any], *keys: str) -> bool:
    return any(props.get(k) not in (None, "", {}, []) for k in keys)


def _check_launch(judge: StackJudge) -> None:
    by_urn = judge.by_urn()
    for res in judge.resources:
        if res.type in (LAUNCH_TEMPLATE, LAUNCH_CONFIGURATION):
            _check_own(judge, _Settings(res), None)
        elif res.type in (INSTANCE, SPOT_INSTANCE):
            templates = _templates_of(res, ("launchTemplate",), by_urn)
            if _references_template(res.props, "launchTemplate") and not templates:
                judge.report(
                    f"{_label(res)} {res.name} launches from a launch template this stack does "
                    "not define; its baseline cannot be checked",
                    res.urn,
                )
                continue
            _check_own(judge, _Settings(res), _Settings(templates[0]) if templates else None)
        elif res.type in (AUTOSCALING_GROUP, FLEET, SPOT_FLEET):
            keys = {
                AUTOSCALING_GROUP: (
                    "launchTemplate",
                    "mixedInstancesPolicy",
                    "launchConfiguration",
                ),
                FLEET: ("launchTemplateConfigs", "launchTemplateConfig"),
                SPOT_FLEET: ("launchTemplateConfigs",),
            }[res.type]
            if res.type == SPOT_FLEET and as_list(res.props.get("launchSpecifications")):
                judge.report(
                    f"spot fleet {res.name} uses launchSpecifications, which cannot require "
                    "IMDSv2; launch from a launch template",
                    res.urn,
                )
                continue
            if not _templates_of(res, keys, by_urn):
                judge.report(
                    f"{res.type.rsplit(':', 1)[-1]} {res.name} launches from no launch template "
                    "this stack defines; its IMDSv2 and volume encryption cannot be checked",
                    res.urn,
                )


# ------------------------------------------------------------------------------------ data

ENCRYPTED_FLAG = {
    "aws:ebs/volume:Volume": "encrypted",
    "aws:ebs/snapshotCopy:SnapshotCopy": "encrypted",
    "aws:rds/instance:Instance": "storageEncrypted",
    "aws:rds/cluster:Cluster": "storageEncrypted",
    "aws:rds/globalCluster:GlobalCluster": "storageEncrypted",
    "aws:docdb/cluster:Cluster": "storageEncrypted",
    "aws:neptune/cluster:Cluster": "storageEncrypted",
    "aws:efs/fileSystem:FileSystem": "encrypted",
    "aws:redshift/cluster:Cluster": "encrypted",
    "aws:elasticache/replicationGroup:ReplicationGroup": "atRestEncryptionEnabled",
    "aws:opensearch/domain:Domain": "encryptAtRest.enabled",
    "aws:elasticsearch/domain:Domain": "encryptAtRest.enabled",
}
FSX_TYPES = (
    "aws:fsx/lustreFileSystem:LustreFileSystem",
    "aws:fsx/windowsFileSystem:WindowsFileSystem",
    "aws:fsx/ontapFileSystem:OntapFileSystem",
    "aws:fsx/openZfsFileSystem:OpenZfsFileSystem",
)


def _at(props: dict[str, Any], path: str) -> Any:
    value: Any = props
    for part in path.split("."):
        if is_unknown(value):
            return value
        value = as_mapping(value).get(part)
    return value


def _check_storage(judge: Judge) -> None:
    flag = ENCRYPTED_FLAG.get(judge.type)
    if flag is not None:
        value = _at(judge.props, flag)
        if is_unknown(value):
            judge.unknown(flag)
        elif truth(value) is not True:
            kind = judge.type.split(":")[1].replace("/", " ")
            if judge.type == "aws:ebs/volume:Volume":
                kind = "EBS volume"
            judge.report(f"{kind} {judge.name} is not encrypted", None)
    if judge.type in FSX_TYPES and not _present(judge.props.get("kmsKeyId")):
        judge.report(f"FSx file system {judge.name} does not use a customer KMS key", None)


def _check_log_groups(judge: Judge) -> None:
    if judge.type != "aws:cloudwatch/logGroup:LogGroup":
        return
    if not judge.config.get("requireCustomerKey"):
        return
    if not _present(judge.props.get("kmsKeyId")):
        judge.report(
            f"log group {judge.name} is not encrypted with a customer KMS key (kmsKeyId)", None
        )


LOGGING_TYPES = ("aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2")
ACCESS_LOG_ALGORITHMS = ("AES256",)
"""Default encryption a server access log destination may use instead of KMS: S3 server access
logging delivers only to destination buckets encrypted with SSE-S3 (S3 user guide, "Enabling
Amazon S3 server access logging")."""


def _targets(res: StackResource, bucket: StackResource, key: str = "bucket") -> bool:
    if res.depends_on(key, bucket.urn):
        return True
    value = res.props.get(key)
    name = bucket.props.get("bucket")
    return isinstance(value, str) and isinstance(name, str) and value == name


def _check_buckets(judge: StackJudge) -> None:
    buckets = judge.of_type(*BUCKET_TYPES)
    blocks = judge.of_type(PUBLIC_ACCESS_BLOCK)
    configs = judge.of_type(*ENCRYPTION_TYPES)
    loggings = judge.of_type(*LOGGING_TYPES)
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    for bucket in buckets:
        # A server access log destination of the stack may use SSE-S3, which is all S3 delivers
        # server access logs to; every other bucket needs KMS.
        log_target = any(_targets(log, bucket, "targetBucket") for log in loggings)
        allowed = KMS_ALGORITHMS + (ACCESS_LOG_ALGORITHMS if log_target else ())
        mine = [b for b in blocks if _targets(b, bucket)]
        states = [[truth(b.props.get(f)) for f in flags] for b in mine]
        if not any(all(s is True for s in state) for state in states):
            if any(all(s is not False for s in state) for state in states):
                judge.unknown(f"{bucket.name} public access block flags")
            else:
                judge.report(
                    f"bucket {bucket.name} has no public access block with all four flags",
                    bucket.urn,
                )
        sources: list[tuple[str, Any]] = [
            (c.name, c.props.get("rules")) for c in configs if _targets(c, bucket)
        ]
        inline = bucket.props.get("serverSideEncryptionConfiguration")
        if inline not in (None, {}, []):
            rule = UNKNOWN if is_unknown(inline) else as_mapping(inline).get("rule")
            sources.append((f"{bucket.name} (inline)", [rule]))
        if len(sources) > 1:
            judge.report(
                f"bucket {bucket.name} has {len(sources)} default-encryption configurations "
                f"({', '.join(n for n, _ in sources)}); the last applied wins: keep one",
                bucket.urn,
            )
        verdicts = [_kms_rules(rules, allowed) for _, rules in sources]
        if not sources or False in verdicts:
            judge.report(f"bucket {bucket.name} has no KMS default encryption", bucket.urn)
        elif None in verdicts:
            judge.unknown(f"{bucket.name} encryption rules")


def _kms_rules(rules: Any, allowed: tuple[str, ...] = KMS_ALGORITHMS) -> bool | None:
    """True when every rule encrypts with KMS (or another `allowed` algorithm); None when that is
    not known."""
    if is_unknown(rules):
        return None
    listed = as_list(rules)
    if not listed:
        return False
    verdict: bool | None = True
    for rule in listed:
        if is_unknown(rule):
            verdict = None
            continue
        default = as_mapping(rule).get("applyServerSideEncryptionByDefault")
        algorithm = UNKNOWN if is_unknown(default) else as_mapping(default).get("sseAlgorithm")
        if is_unknown(algorithm):
            verdict = None
        elif str(algorithm) not in allowed:
            return False
    return verdict


# ------------------------------------------------------------------------------------ policies

eks_baseline = ResourceValidationPolicy(
    name="eks-baseline",
    description="EKS: Secrets encrypted with KMS, audit logs on, private endpoint where required.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=run(_check_eks),
    config_schema=PolicyConfigSchema(
        properties={
            "requirePrivateEndpoint": {"type": "boolean", "default": False},
            "allowPublicEndpointFromAnywhere": {"type": "boolean", "default": False},
        }
    ),
)
node_baseline = StackValidationPolicy(
    name="launch-template-baseline",
    description="Whatever launches instances requires IMDSv2 (hop limit <= 2), gives no public "
    "IP and encrypts its volumes.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=run_stack(_check_launch),
)
storage_encryption = ResourceValidationPolicy(
    name="storage-encrypted",
    description="Block, file and database storage encrypted at rest; FSx under a customer key.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=run(_check_storage),
)
bucket_baseline = StackValidationPolicy(
    name="bucket-baseline",
    description="Every bucket blocks public access (all four flags) and encrypts with KMS.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=run_stack(_check_buckets),
)
log_groups_encrypted = ResourceValidationPolicy(
    name="log-groups-encrypted",
    description="Log groups use a customer KMS key where the stack's config requires it.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=run(_check_log_groups),
    config_schema=PolicyConfigSchema(
        properties={"requireCustomerKey": {"type": "boolean", "default": False}}
    ),
)

POLICIES = [eks_baseline, node_baseline, storage_encryption, bucket_baseline, log_groups_encrypted]
