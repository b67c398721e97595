"""Tiered storage: FSx for Lustre (hot), S3 (warm), lifecycle to Glacier (cold), NVMe (scratch).

- Warm: three auto-named buckets, `datasets`, `checkpoints` and `models` (the Triton model
  repository). Each is versioned, encrypted with SSE-KMS under the stack's storage key (bucket keys
  on), fully public-access-blocked, ACLs off (BucketOwnerEnforced), TLS-only by bucket policy, and
  aborts incomplete multipart uploads after 7 days.
- Cold: each bucket's lifecycle moves current objects through the configured storage classes;
  noncurrent checkpoint versions move to Glacier Instant Retrieval after 30 days and expire after
  the configured days.
- Hot: FSx for Lustre PERSISTENT_2 in the training pool's subnet (one AZ, next to the GPUs), LZ4
  compression, the storage KMS key, daily backups where configured. Data repository associations
  link `/datasets` and `/checkpoints` to their buckets with automatic import and export of new,
  changed and deleted objects (PERSISTENT_2 links to S3 only this way). A static PersistentVolume
  and a claim in the training namespace mount it (a dynamic StorageClass cannot create the links).
- Scratch: GPU nodes stripe their instance-store NVMe into RAID0 for containerd and kubelet, so a
  pod's `emptyDir` volumes (and image layers) live on local NVMe; an encrypted gp3 StorageClass is
  the cluster default for persistent block volumes.
- Access: a training Pod Identity role reads datasets and reads/writes checkpoints; a models-read
  policy is exported for inference. No `s3:*`, no writes on `Resource: "*"`.

In prod (`protect`), buckets, the file system and the key are protected and retained on delete;
elsewhere buckets are force-destroyed with the stack and the file system skips its final backup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import iam, versions
from components.config import BucketConfig, StorageConfig
from components.helm import pod_identity_role

BUCKETS = ("datasets", "checkpoints", "models")
FSX_LINKS = {"/datasets": "datasets", "/checkpoints": "checkpoints"}
"""File-system path -> bucket linked by a data repository association."""
LUSTRE_PORTS = ((988, 988), (1018, 1023))
LUSTRE_VERSION = "2.15"
MULTIPART_ABORT_DAYS = 7
NONCURRENT_CHECKPOINT_TRANSITION_DAYS = 30
DEFAULT_STORAGE_CLASS = "gp3-encrypted"
FSX_STORAGE_NAME = "fsx-lustre"
TRAINING_SERVICE_ACCOUNT = "training-runner"
EXPECTED_SIZE_TAG = "gpu-platform/expected-size-gib"
"""Bucket tag carrying the configured expected size, so cost checks can price a preview alone."""


class TieredStorageArgs(TypedDict):
    config: StorageConfig
    region: str
    cluster_name: str
    """Physical cluster name (Pod Identity associations, add-on)."""
    kubernetes_version: str
    vpc_id: pulumi.Input[str]
    fsx_subnet_id: pulumi.Input[str]
    """Private subnet of the training pool's AZ."""
    client_security_group_ids: Sequence[pulumi.Input[str]]
    """Security groups of the nodes that mount the file system (the cluster security group)."""
    provider: k8s.Provider
    protect: bool


@dataclass(frozen=True)
class ResolvedStorage:
    lifecycle_rules: dict[str, list[dict[str, Any]]]
    fsx: bool
    fsx_capacity_gib: int
    fsx_throughput_per_tib: int
    fsx_backup_days: int
    namespace: str


def lifecycle_rules(name: str, bucket: BucketConfig) -> list[dict[str, Any]]:
    """Pure: the bucket's lifecycle rules (pulumi-aws argument names)."""
    rule: dict[str, Any] = {
        "id": f"{name}-tiering",
        "status": "Enabled",
        "filter": {"prefix": ""},
        "abort_incomplete_multipart_upload": {"days_after_initiation": MULTIPART_ABORT_DAYS},
    }
    if bucket.transitions:
        rule["transitions"] = [
            {"days": t.days, "storage_class": t.storage_class.value} for t in bucket.transitions
        ]
    if name == "checkpoints":
        rule["noncurrent_version_transitions"] = [
            {
                "noncurrent_days": NONCURRENT_CHECKPOINT_TRANSITION_DAYS,
                "storage_class": "GLACIER_IR",
            }
        ]
    if bucket.noncurrent_expiration_days:
        rule["noncurrent_version_expiration"] = {
            "noncurrent_days": bucket.noncurrent_expiration_days
        }
        transitions = rule.get("noncurrent_version_transitions", [])
        rule["noncurrent_version_transitions"] = [
            t for t in transitions if t["noncurrent_days"] < bucket.noncurrent_expiration_days
        ] or None
        if rule["noncurrent_version_transitions"] is None:
            del rule["noncurrent_version_transitions"]
    return [rule]


def tls_only_policy(bucket_arn: str) -> str:
    """Pure: deny every request to the bucket and its objects that does not use TLS."""
    return iam.document(
        [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ]
    )


def access_policy(read: Sequence[str], write: Sequence[str], key_arn: str) -> str:
    """Pure: read these buckets, read and write those, use the storage key; nothing else."""
    statements: list[dict[str, Any]] = []
    readable = [*read, *write]
    if readable:
        statements.append(
            iam.allow(["s3:ListBucket", "s3:GetBucketLocation"], readable, sid="ListBuckets")
        )
        statements.append(
            iam.allow(
                ["s3:GetObject", "s3:GetObjectVersion"],
                [f"{arn}/*" for arn in readable],
                sid="ReadObjects",
            )
        )
    if write:
        statements.append(
            iam.allow(
                ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
                [f"{arn}/*" for arn in write],
                sid="WriteObjects",
            )
        )
    key_actions = ["kms:Decrypt", "kms:DescribeKey"]
    if write:
        key_actions.append("kms:GenerateDataKey")
    statements.append(iam.allow(key_actions, [key_arn], sid="UseStorageKey"))
    return iam.document(statements)


def storage_key_policy(region: str, account_id: str, file_system_id: str) -> str:
    """Pure: the storage key's policy: the account administers it (the default key policy), and
    the file system's S3 service-linked role may use it through S3 only."""
    part = iam.partition(region)
    fsx_role = (
        f"arn:{part}:iam::{account_id}:role/aws-service-role/"
        f"s3.data-source.lustre.fsx.amazonaws.com/AWSServiceRoleForFSxS3Access_{file_system_id}"
    )
    return iam.document(
        [
            {
                "Sid": "AccountAdministers",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{part}:iam::{account_id}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "FsxLinksReadAndWriteBuckets",
                "Effect": "Allow",
                "Principal": {"AWS": fsx_role},
                "Action": [
                    "kms:Decrypt",
                    "kms:DescribeKey",
                    "kms:Encrypt",
                    "kms:GenerateDataKey*",
                    "kms:ReEncrypt*",
                ],
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
            },
        ]
    )


def resolve(args: TieredStorageArgs) -> ResolvedStorage:
    """Pure: lifecycle rules per bucket and the file system's shape (validated by the config)."""
    config = args["config"]
    return ResolvedStorage(
        lifecycle_rules={name: lifecycle_rules(name, getattr(config, name)) for name in BUCKETS},
        fsx=config.fsx.enabled,
        fsx_capacity_gib=config.fsx.storage_capacity_gib,
        fsx_throughput_per_tib=config.fsx.per_unit_storage_throughput,
        fsx_backup_days=config.fsx.automatic_backup_retention_days,
        namespace=config.training_namespace,
    )


class TieredStorage(pulumi.ComponentResource):
    """Buckets, lifecycle, FSx for Lustre with S3 links, storage classes and access roles."""

    bucket_names: dict[str, pulumi.Output[str]]
    bucket_arns: dict[str, pulumi.Output[str]]
    models_read_policy_arn: pulumi.Output[str]
    file_system_id: pulumi.Output[str] | None

    def __init__(
        self, name: str, args: TieredStorageArgs, opts: pulumi.ResourceOptions | None = None
    ):
        spec = resolve(args)
        super().__init__("gpuplatform:index:TieredStorage", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        protect = args["protect"]
        keep = pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect)

        key = aws.kms.Key(
            f"{name}-key",
            description="Storage tiers: S3 buckets and FSx for Lustre",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            opts=keep,
        )
        self.kms_key_arn = key.arn

        buckets: dict[str, aws.s3.Bucket] = {}
        for bucket_name in BUCKETS:
            size = getattr(args["config"], bucket_name).expected_size_gib
            bucket = aws.s3.Bucket(
                f"{name}-{bucket_name}",
                force_destroy=not protect,
                tags={EXPECTED_SIZE_TAG: f"{size:g}"},
                opts=keep,
            )
            buckets[bucket_name] = bucket
            aws.s3.BucketOwnershipControls(
                f"{name}-{bucket_name}",
                bucket=bucket.id,
                rule={"object_ownership": "BucketOwnerEnforced"},
                opts=child,
            )
            aws.s3.BucketPublicAccessBlock(
                f"{name}-{bucket_name}",
                bucket=bucket.id,
                block_public_acls=True,
                block_public_policy=True,
                ignore_public_acls=True,
                restrict_public_buckets=True,
                opts=child,
            )
            versioning = aws.s3.BucketVersioning(
                f"{name}-{bucket_name}",
                bucket=bucket.id,
                versioning_configuration={"status": "Enabled"},
                opts=child,
            )
            aws.s3.BucketServerSideEncryptionConfiguration(
                f"{name}-{bucket_name}",
                bucket=bucket.id,
                rules=[
                    {
                        "apply_server_side_encryption_by_default": {
                            "sse_algorithm": "aws:kms",
                            "kms_master_key_id": key.arn,
                        },
                        "bucket_key_enabled": True,
                    }
                ],
                opts=child,
            )
            aws.s3.BucketPolicy(
                f"{name}-{bucket_name}",
                bucket=bucket.id,
                policy=bucket.arn.apply(tls_only_policy),
                opts=child,
            )
            aws.s3.BucketLifecycleConfiguration(
                f"{name}-{bucket_name}",
                bucket=bucket.id,
                rules=spec.lifecycle_rules[bucket_name],  # type: ignore[arg-type]
                opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
            )

        self.bucket_names = {n: b.bucket for n, b in buckets.items()}
        self.bucket_arns = {n: b.arn for n, b in buckets.items()}

        arns = pulumi.Output.all(
            buckets["datasets"].arn, buckets["checkpoints"].arn, buckets["models"].arn, key.arn
        )
        training = pod_identity_role(
            f"{name}-training",
            cluster_name=args["cluster_name"],
            namespace=spec.namespace,
            service_account=TRAINING_SERVICE_ACCOUNT,
            policy=arns.apply(lambda a: access_policy(read=[a[0]], write=[a[1]], key_arn=a[3])),
            parent=self,
        )
        self.training_role_arn = training.arn
        models_read = aws.iam.Policy(
            f"{name}-models-read",
            description="Read the model repository bucket",
            policy=arns.apply(lambda a: access_policy(read=[a[2]], write=[], key_arn=a[3])),
            opts=child,
        )
        self.models_read_policy_arn = models_read.arn

        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args["provider"])
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={
                "name": spec.namespace,
                "labels": {
                    "pod-security.kubernetes.io/enforce": "baseline",
                    "pod-security.kubernetes.io/warn": "restricted",
                },
            },
            opts=k8s_opts,
        )
        k8s.core.v1.ServiceAccount(
            f"{name}-training-sa",
            metadata={"name": TRAINING_SERVICE_ACCOUNT, "namespace": spec.namespace},
            opts=pulumi.ResourceOptions(
                parent=self, provider=args["provider"], depends_on=[namespace]
            ),
        )
        self.default_storage_class = k8s.storage.v1.StorageClass(
            f"{name}-gp3",
            metadata={
                "name": DEFAULT_STORAGE_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            provisioner="ebs.csi.aws.com",
            parameters={"type": "gp3", "encrypted": "true"},
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            reclaim_policy="Delete",
            opts=k8s_opts,
        )

        self.file_system_id = None
        if spec.fsx:
            self._hot_tier(name, args, spec, key, buckets, namespace)

        self.register_outputs(
            {
                "bucket_names": self.bucket_names,
                "training_role_arn": self.training_role_arn,
                "models_read_policy_arn": self.models_read_policy_arn,
            }
        )

    def _hot_tier(
        self,
        name: str,
        args: TieredStorageArgs,
        spec: ResolvedStorage,
        key: aws.kms.Key,
        buckets: dict[str, aws.s3.Bucket],
        namespace: k8s.core.v1.Namespace,
    ) -> None:
        child = pulumi.ResourceOptions(parent=self)
        protect = args["protect"]
        group = aws.ec2.SecurityGroup(
            f"{name}-fsx",
            vpc_id=args["vpc_id"],
            description="FSx for Lustre: LNET from the cluster's nodes and between file servers",
            opts=child,
        )
        sources: list[tuple[str, pulumi.Input[str]]] = [("self", group.id)]
        sources += [(f"client{i}", sg) for i, sg in enumerate(args["client_security_group_ids"])]
        for label, source in sources:
            for low, high in LUSTRE_PORTS:
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-fsx-{label}-{low}",
                    security_group_id=group.id,
                    referenced_security_group_id=source,
                    ip_protocol="tcp",
                    from_port=low,
                    to_port=high,
                    description=f"Lustre {low}-{high} from {label}",
                    opts=child,
                )
        # Lustre servers also open connections to clients: both directions, both groups.
        for label, target in sources:
            for low, high in LUSTRE_PORTS:
                aws.vpc.SecurityGroupEgressRule(
                    f"{name}-fsx-{label}-out-{low}",
                    security_group_id=group.id,
                    referenced_security_group_id=target,
                    ip_protocol="tcp",
                    from_port=low,
                    to_port=high,
                    description=f"Lustre {low}-{high} to {label}",
                    opts=child,
                )
                if label != "self":
                    aws.vpc.SecurityGroupIngressRule(
                        f"{name}-fsx-{label}-from-fsx-{low}",
                        security_group_id=target,
                        referenced_security_group_id=group.id,
                        ip_protocol="tcp",
                        from_port=low,
                        to_port=high,
                        description=f"Lustre {low}-{high} from the FSx file servers",
                        opts=child,
                    )

        file_system = aws.fsx.LustreFileSystem(
            f"{name}-lustre",
            deployment_type="PERSISTENT_2",
            storage_type="SSD",
            storage_capacity=spec.fsx_capacity_gib,
            per_unit_storage_throughput=spec.fsx_throughput_per_tib,
            file_system_type_version=LUSTRE_VERSION,
            data_compression_type="LZ4",
            kms_key_id=key.arn,
            subnet_ids=args["fsx_subnet_id"],  # one subnet: the file servers live in its AZ
            security_group_ids=[group.id],
            automatic_backup_retention_days=spec.fsx_backup_days,
            copy_tags_to_backups=True,
            skip_final_backup=not protect,
            opts=pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect),
        )
        self.file_system_id = file_system.id
        events = ["NEW", "CHANGED", "DELETED"]
        links = []
        for path, bucket_name in FSX_LINKS.items():
            link = aws.fsx.DataRepositoryAssociation(
                f"{name}-link-{bucket_name}",
                file_system_id=file_system.id,
                file_system_path=path,
                data_repository_path=buckets[bucket_name].bucket.apply(lambda b: f"s3://{b}/"),
                batch_import_meta_data_on_create=True,
                s3={
                    "auto_import_policy": {"events": events},
                    "auto_export_policy": {"events": events},
                },
                opts=child,
            )
            links.append(link)

        # The buckets are SSE-KMS: FSx reaches them through its S3 service-linked role (created
        # with the first link), which the storage key's policy must name.
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        aws.kms.KeyPolicy(
            f"{name}-key-fsx",
            key_id=key.key_id,
            policy=pulumi.Output.all(account.account_id, file_system.id).apply(
                lambda v: storage_key_policy(args["region"], v[0], v[1])
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=links),
        )

        addon = aws.eks.Addon(
            f"{name}-fsx-csi",
            cluster_name=args["cluster_name"],
            addon_name="aws-fsx-csi-driver",
            addon_version=versions.EKS_ADDONS[args["kubernetes_version"]].fsx_csi_driver,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            opts=child,
        )
        volume = k8s.core.v1.PersistentVolume(
            f"{name}-fsx-pv",
            metadata={"name": f"{FSX_STORAGE_NAME}-{spec.namespace}"},
            spec={
                "capacity": {"storage": f"{spec.fsx_capacity_gib}Gi"},
                "volume_mode": "Filesystem",
                "access_modes": ["ReadWriteMany"],
                "persistent_volume_reclaim_policy": "Retain",
                "storage_class_name": "",
                "mount_options": ["flock"],
                "csi": {
                    "driver": "fsx.csi.aws.com",
                    "volume_handle": file_system.id,
                    "volume_attributes": {
                        "dnsname": file_system.dns_name,
                        "mountname": file_system.mount_name,
                    },
                },
            },
            opts=pulumi.ResourceOptions(parent=self, provider=args["provider"], depends_on=[addon]),
        )
        k8s.core.v1.PersistentVolumeClaim(
            f"{name}-fsx-pvc",
            metadata={"name": FSX_STORAGE_NAME, "namespace": spec.namespace},
            spec={
                "access_modes": ["ReadWriteMany"],
                "storage_class_name": "",
                "volume_name": volume.metadata.name,
                "resources": {"requests": {"storage": f"{spec.fsx_capacity_gib}Gi"}},
            },
            opts=pulumi.ResourceOptions(
                parent=self, provider=args["provider"], depends_on=[namespace, volume]
            ),
        )
