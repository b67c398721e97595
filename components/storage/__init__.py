"""Tiered storage: FSx for Lustre (hot), S3 (warm), lifecycle to Glacier (cold), NVMe (scratch).

- Warm: three auto-named buckets, `datasets`, `checkpoints` and `models` (the Triton model
  repository). Each is versioned, encrypted with SSE-KMS under the stack's storage key (bucket keys
  on), fully public-access-blocked, ACLs off (BucketOwnerEnforced), TLS-only by bucket policy, and
  aborts incomplete multipart uploads after 7 days.
- Cold: each bucket's lifecycle moves current objects through the configured storage classes
  (never GLACIER or DEEP_ARCHIVE on a bucket FSx imports: the config refuses them); noncurrent
  checkpoint versions move to Glacier Instant Retrieval after 30 days and expire after the
  configured days (at least the recovery window).
- Hot: FSx for Lustre PERSISTENT_2 in the training pool's subnet (one AZ, next to the GPUs), LZ4
  compression, the storage KMS key, no automatic backups (FSx takes none of a file system linked
  to S3: the versioned buckets are the durable copy). Data repository associations link
  `/datasets` and `/checkpoints` to their buckets, importing new, changed and deleted objects and
  exporting new and changed files only, so a delete on FSx never deletes in S3 (PERSISTENT_2
  links to S3 only this way). A static PersistentVolume and a claim in the training namespace
  mount it (a dynamic StorageClass cannot create the links).
- Hot at GPU speed: where the training pool uses EFA the file system is EFA-enabled
  (`efa_enabled`, GPUDirect Storage from P5-class clients) with a metadata configuration
  (`metadata_configuration` {mode AUTOMATIC, or USER_PROVISIONED with iops}), and its security
  group exchanges all traffic with itself and with the EFA nodes' security groups, by id, in both
  directions on both sides (FSx Lustre user guide, "EFA-enabled security groups": CIDR rules are
  not enough). Its capacity comes in the tier's EFA increment and is derived from the per-node
  throughput target (components/resolve/storage.py); EFA is fixed at creation, so turning it on
  or changing the increment replaces the file system.
- Keeping the hot tier from filling: an EventBridge Scheduler schedule calls FSx
  `CreateDataRepositoryTask` (universal target) with `RELEASE_DATA_FROM_FILESYSTEM` for files not
  accessed for the configured days, under a role only the scheduler of this account assumes and
  that may create tasks on this file system only; a CloudWatch alarm on `FreeDataStorageCapacity`
  notifies an SNS topic (email subscriptions from config); data repository events are logged at
  WARN_ERROR to a `/aws/fsx/...` log group. The file system carries its configured working set in
  a tag, for the plan.
- Scratch: GPU nodes stripe their instance-store NVMe into RAID0 for containerd and kubelet, so a
  pod's `emptyDir` volumes (and image layers) live on local NVMe; an encrypted gp3 StorageClass is
  the cluster default for persistent block volumes.
- Access: a training Pod Identity role reads datasets and reads/writes checkpoints; a models-read
  policy document is handed to the inference service, which inlines it into its own role. No
  `s3:*`, no writes on `Resource: "*"`. Buckets are named by the ARN built from their autonamed
  names and the key by its alias (`kms:ResourceAliases`), so a preview knows every document.
- The storage key's policy (`storage_key_policy`, registered by `grant_key_use` once the last
  reader exists) separates its administrators (account root, deployer) from its users, each by
  role ARN and through S3 only: training, model readers, the deployer's seeded objects, and with
  the hot tier FSx and its S3 service-linked roles (components/common/kms.py).

In prod (`protect`), the key and its policy, the buckets and every guard of theirs (versioning,
public access block, policy, encryption, ownership, lifecycle), the file system, its links and its
log group are protected and retained on delete (components/common/protection.py); elsewhere
buckets are force-destroyed with the stack. The file system always skips its final
backup on delete: AWS cannot take one of a linked file system.

pulumi-aws argument names are those of the installed SDK (pulumi_aws 7.x:
`scheduler/schedule.py`, `fsx/lustre_file_system.py` `log_configuration`,
`cloudwatch/metric_alarm.py`); FSx request fields are the FSx API's (`CreateDataRepositoryTask`,
`ReleaseConfiguration`, `DurationSinceLastAccess`, `CompletionReport`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.catalog.conventions import (
    DEFAULT_STORAGE_CLASS,
    FSX_CLAIM,
    TRAINING_SERVICE_ACCOUNT,
    WORKING_SET_TAG,
)
from components.cluster import Cluster
from components.common import iam, kms
from components.common.buckets import private_bucket
from components.common.identity import pod_identity
from components.common.protection import keep
from components.common.security_groups import allow_all_traffic
from components.compute import GpuNodeGroup
from components.network import Network
from components.resolve.storage import FsxSpec, ReleaseSpec, StorageSpec

LUSTRE_PORTS = ((988, 988), (1018, 1023))
LUSTRE_VERSION = "2.15"
RELEASE_TASK_TYPE = "RELEASE_DATA_FROM_FILESYSTEM"
FREE_CAPACITY_METRIC = ("AWS/FSx", "FreeDataStorageCapacity")
"""Namespace and metric (FSx Lustre user guide, "FSx for Lustre metrics and dimensions"): bytes
free, the Sum statistic over the file system, dimension FileSystemId."""
ALARM_PERIOD_SECONDS = 300
ALARM_EVALUATION_PERIODS = 3


def release_target_arn(partition: str) -> str:
    """Pure: EventBridge Scheduler's universal target for FSx `CreateDataRepositoryTask`
    (Scheduler user guide, "Using universal targets": `arn:aws:scheduler:::aws-sdk:<service>:
    <apiAction>`)."""
    return f"arn:{partition}:scheduler:::aws-sdk:fsx:createDataRepositoryTask"


def release_task_input(file_system_id: str, release: ReleaseSpec) -> str:
    """Pure: the CreateDataRepositoryTask request the schedule sends (FSx API: Type, FileSystemId,
    Paths, ReleaseConfiguration.DurationSinceLastAccess {Unit: DAYS, Value}, Report, required,
    here disabled)."""
    return json.dumps(
        {
            "Type": RELEASE_TASK_TYPE,
            "FileSystemId": file_system_id,
            "Paths": list(release.paths),
            "ReleaseConfiguration": {
                "DurationSinceLastAccess": {"Unit": "DAYS", "Value": release.after_days}
            },
            "Report": {"Enabled": False},
        },
        sort_keys=True,
    )


def scheduler_trust(account_id: str) -> str:
    """Pure: only EventBridge Scheduler, on behalf of this account, assumes the role (Scheduler
    user guide, "Set up the execution role": `aws:SourceAccount` against confused deputies)."""
    return iam.document(
        [
            {
                "Effect": "Allow",
                "Principal": {"Service": "scheduler.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        ]
    )


HOT_TIER_TAG = "gpu-platform/hot-tier"
"""File system tag naming the cluster whose hot tier it is: the release role is scoped by it, so
its policy is known before the file system exists (a preview can judge it)."""


def release_policy(part: str, region: str, account_id: str, cluster_name: str) -> str:
    """Pure: create data repository tasks on this stack's hot tier (its tag), nothing else."""
    statement = iam.allow(
        ["fsx:CreateDataRepositoryTask"],
        [f"arn:{part}:fsx:{region}:{account_id}:file-system/*"],
        sid="ReleaseHotTier",
    )
    statement["Condition"] = {"StringEquals": {f"aws:ResourceTag/{HOT_TIER_TAG}": cluster_name}}
    return iam.document([statement])


class StorageRefs(TypedDict):
    """Handles of what the network and the cluster created, for the storage tiers."""

    vpc_id: pulumi.Input[str]
    subnet_ids_by_az: Mapping[str, pulumi.Input[str]]
    """Private subnet per AZ (the file system goes into its spec's AZ)."""
    client_security_group_ids: Sequence[pulumi.Input[str]]
    """Security groups of the nodes that mount the file system (the cluster security group)."""
    provider: k8s.Provider
    efa_security_group_ids: NotRequired[Sequence[pulumi.Input[str]]]
    """EFA security groups of the training pools' nodes (`GpuNodeGroup.efa_security_group_id`):
    an EFA-enabled file system exchanges all traffic with them."""
    log_kms_key_arn: NotRequired[pulumi.Input[str] | None]
    """The stack's logs key (`LogsKey.key_arn`), for the file system's log group; None or absent:
    AWS-managed encryption."""


def storage_refs(
    cluster: Cluster,
    network: Network,
    pools: Sequence[GpuNodeGroup] = (),
    log_kms_key_arn: pulumi.Input[str] | None = None,
) -> StorageRefs:
    """What the storage tiers take from the cluster, the network and the GPU pools (the EFA
    pools' security groups, which an EFA-enabled file system admits)."""
    efa_security_group_ids = [
        p.efa_security_group_id for p in pools if p.efa_security_group_id is not None
    ]
    return {
        "vpc_id": network.vpc_id,
        "subnet_ids_by_az": network.private_subnet_ids_by_az,
        "client_security_group_ids": [cluster.cluster_security_group_id],
        "provider": cluster.provider,
        "efa_security_group_ids": list(efa_security_group_ids),
        "log_kms_key_arn": log_kms_key_arn,
    }


def metadata_configuration(
    fsx: FsxSpec,
) -> aws.fsx.LustreFileSystemMetadataConfigurationArgsDict | None:
    """Pure: pulumi_aws 7.x `LustreFileSystemMetadataConfigurationArgs` (mode, iops; FSx API
    CreateFileSystemLustreMetadataConfiguration), which an EFA-enabled file system requires."""
    if fsx.metadata_mode is None:
        return None
    config: aws.fsx.LustreFileSystemMetadataConfigurationArgsDict = {"mode": fsx.metadata_mode}
    if fsx.metadata_iops is not None:
        config["iops"] = fsx.metadata_iops
    return config


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


def s3_arn(partition: str, bucket: str) -> str:
    """A bucket's ARN from its (autonamed, known in a preview) name."""
    return f"arn:{partition}:s3:::{bucket}"


STORAGE_KEY_READ = ("kms:Decrypt", "kms:DescribeKey")
STORAGE_KEY_WRITE = ("kms:GenerateDataKey",)
FSX_S3_ROLE_PATH = "aws-service-role/s3.data-source.lustre.fsx.amazonaws.com/"
"""Path of the service-linked roles FSx reaches linked buckets with, one per file system
(`AWSServiceRoleForFSxS3Access_<file system id>`, FSx Lustre user guide, "Using service-linked
roles for Amazon FSx")."""
FSX_KEY_ACTIONS = (
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey*",
    "kms:ReEncrypt*",
)
"""What FSx does with a customer key on the creator's behalf: it creates a grant on the key when
the file system is created and encrypts and decrypts through it (FSx Lustre user guide,
"Encrypting data at rest", "How Amazon FSx for Lustre uses AWS KMS"). Granted to principals of
the account through FSx only (`kms:ViaService` fsx, `kms:CallerAccount`), as AWS's managed
`aws/fsx` key does."""


def storage_key_alias(cluster_name: str) -> str:
    return f"alias/{cluster_name}-storage"


def access_policy(
    part: str,
    region: str,
    account_id: str,
    alias: str,
    read: Sequence[str],
    write: Sequence[str],
) -> str:
    """Pure: read these buckets, read and write those (by name), use the storage key (by its
    alias, through S3 only); nothing else."""
    statements: list[dict[str, Any]] = []
    readable = [s3_arn(part, b) for b in [*read, *write]]
    writable = [s3_arn(part, b) for b in write]
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
    if writable:
        statements.append(
            iam.allow(
                ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
                [f"{arn}/*" for arn in writable],
                sid="WriteObjects",
            )
        )
    key_actions = [*STORAGE_KEY_READ, *(STORAGE_KEY_WRITE if write else ())]
    statements.append(
        kms.alias_scoped(
            key_actions,
            part,
            region,
            account_id,
            alias,
            sid="UseStorageKey",
            via=kms.service_endpoint("s3", region),
        )
    )
    return iam.document(statements)


def storage_key_policy(
    part: str,
    region: str,
    account_id: str,
    deployer_arn: str,
    *,
    training_role: str,
    model_readers: Sequence[str] = (),
    data_writers: Sequence[str] = (),
    data_users: Sequence[str] = (),
    fsx: bool = False,
) -> str:
    """Pure: the storage key's policy. The account root and the deployer administer it; the users,
    each only through S3 (or FSx) for callers of this account:

    - the training role (by name): reads datasets, writes checkpoints;
    - model readers (role names, the inference services): read only;
    - data writers (role names, the S3 mounts' driver): read and write objects;
    - the deployer writes the objects the stack seeds (GenerateDataKey only, never Decrypt), when
      there are model readers;
    - data users (`storage.dataUserArns`, by ARN): read and write objects;
    - with the hot tier: FSx itself (any principal of the account, through FSx: it creates the
      file system's grant) and FSx's S3 service-linked roles of this account, whose names hold the
      file system id (`aws:PrincipalArn` pattern, so the policy is known before the file system).
    """
    s3 = kms.service_endpoint("s3", region)
    statements = [
        kms.users(
            "TrainingThroughS3",
            [kms.role_arn(part, account_id, training_role)],
            [*STORAGE_KEY_READ, *STORAGE_KEY_WRITE],
            via=s3,
            account_id=account_id,
        )
    ]
    if model_readers:
        statements.append(
            kms.users(
                "ModelReadersThroughS3",
                [kms.role_arn(part, account_id, r) for r in model_readers],
                STORAGE_KEY_READ,
                via=s3,
                account_id=account_id,
            )
        )
        statements.append(
            kms.users(
                "DeployerSeedsThroughS3",
                [deployer_arn],
                STORAGE_KEY_WRITE,
                via=s3,
                account_id=account_id,
            )
        )
    if data_writers:
        statements.append(
            kms.users(
                "DataWritersThroughS3",
                [kms.role_arn(part, account_id, r) for r in data_writers],
                [*STORAGE_KEY_READ, *STORAGE_KEY_WRITE],
                via=s3,
                account_id=account_id,
            )
        )
    if data_users:
        statements.append(
            kms.users(
                "DataUsersThroughS3",
                list(data_users),
                [*STORAGE_KEY_READ, *STORAGE_KEY_WRITE],
                via=s3,
                account_id=account_id,
            )
        )
    if fsx:
        statements.append(
            kms.users(
                "FsxEncryptsFileSystem",
                ["*"],
                FSX_KEY_ACTIONS,
                via=kms.service_endpoint("fsx", region),
                account_id=account_id,
            )
        )
        statements.append(
            kms.users(
                "FsxLinksReadAndWriteBuckets",
                ["*"],
                [
                    "kms:Decrypt",
                    "kms:DescribeKey",
                    "kms:Encrypt",
                    "kms:GenerateDataKey*",
                    "kms:ReEncrypt*",
                ],
                via=s3,
                account_id=account_id,
                extra={
                    "ArnLike": {
                        "aws:PrincipalArn": (
                            f"arn:{part}:iam::{account_id}:role/{FSX_S3_ROLE_PATH}"
                            "AWSServiceRoleForFSxS3Access_*"
                        )
                    }
                },
            )
        )
    return kms.key_policy([kms.account_root(part, account_id), deployer_arn], statements)


class TieredStorage(pulumi.ComponentResource):
    """Buckets, lifecycle, FSx for Lustre with S3 links, storage classes and access roles."""

    bucket_names: dict[str, pulumi.Output[str]]
    bucket_arns: dict[str, pulumi.Output[str]]
    models_read_policy: pulumi.Output[str]
    """IAM policy document (JSON) that reads the models bucket and decrypts with the storage key:
    what an inference service's role gets inline."""
    file_system_id: pulumi.Output[str] | None
    alarm_topic_arn: pulumi.Output[str] | None
    """SNS topic the hot tier's alarms notify (None without the hot tier)."""

    def __init__(
        self,
        name: str,
        spec: StorageSpec,
        refs: StorageRefs,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("gpuplatform:index:TieredStorage", name, {}, opts)
        self.spec = spec
        protect = spec.protect
        kept = keep(self, protect)

        key = aws.kms.Key(
            f"{name}-key",
            description="Storage tiers: S3 buckets and FSx for Lustre",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            opts=kept,
        )
        self.kms_key_arn = key.arn
        self._key = key
        self.key_alias = storage_key_alias(spec.cluster_name)
        aws.kms.Alias(
            f"{name}-key",
            name=self.key_alias,
            target_key_id=key.key_id,
            opts=kept,
        )
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        self._account_id = account.account_id
        part, region = spec.partition, spec.region

        buckets: dict[str, aws.s3.Bucket] = {}
        for bucket_spec in spec.buckets:
            bucket_name, size = bucket_spec.name, bucket_spec.expected_size_gib
            bucket = private_bucket(
                f"{name}-{bucket_name}",
                owner=self,
                protect=protect,
                expected_size_gib=size,
                encryption={
                    "apply_server_side_encryption_by_default": {
                        "sse_algorithm": "aws:kms",
                        "kms_master_key_id": key.arn,
                    },
                    "bucket_key_enabled": True,
                },
                lifecycle_rules=bucket_spec.lifecycle_rules,
            ).bucket
            buckets[bucket_name] = bucket
            aws.s3.BucketPolicy(
                f"{name}-{bucket_name}",
                bucket=bucket.id,
                policy=bucket.bucket.apply(lambda b: tls_only_policy(s3_arn(part, b))),
                opts=kept,
            )

        self.bucket_names = {n: b.bucket for n, b in buckets.items()}
        # ARNs from the autonamed names (known in a preview; `Bucket.arn` is not).
        self.bucket_arns = {
            n: b.bucket.apply(lambda v: s3_arn(part, v)) for n, b in buckets.items()
        }

        names = pulumi.Output.all(
            account.account_id,
            buckets["datasets"].bucket,
            buckets["checkpoints"].bucket,
            buckets["models"].bucket,
        )
        alias = self.key_alias
        self.training_identity = pod_identity(
            f"{name}-training",
            cluster_name=spec.cluster_name,
            namespace=spec.namespace,
            service_account=TRAINING_SERVICE_ACCOUNT,
            policy=names.apply(
                lambda v: access_policy(part, region, v[0], alias, read=[v[1]], write=[v[2]])
            ),
            parent=self,
        )
        self.training_role_arn = self.training_identity.role.arn
        self.models_read_policy = names.apply(
            lambda v: access_policy(part, region, v[0], alias, read=[v[3]], write=[])
        )

        provider = refs["provider"]
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=provider)
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
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[namespace]),
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

        self._name = name
        self.key_policy: aws.kms.KeyPolicy | None = None
        self.file_system_id = None
        self.file_system: aws.fsx.LustreFileSystem | None = None
        """The hot tier (None when off): team namespaces mount it (components/tenancy.py)."""
        self.alarm_topic_arn = None
        if spec.fsx is not None:
            self._hot_tier(name, spec, spec.fsx, refs, key, buckets, namespace)

        self.register_outputs(
            {
                "bucket_names": self.bucket_names,
                "training_role_arn": self.training_role_arn,
                "file_system_id": self.file_system_id,
                "alarm_topic_arn": self.alarm_topic_arn,
            }
        )

    def grant_key_use(
        self,
        model_readers: Sequence[aws.iam.Role] = (),
        data_writers: Sequence[aws.iam.Role] = (),
    ) -> aws.kms.KeyPolicy:
        """The storage key's policy (`storage_key_policy`), once every role that reads with the key
        exists: the training role, these model readers (the inference services' roles, created
        after the storage tiers), these data writers (roles that read and write objects through
        S3, such as the S3 mounts' driver) and, with the hot tier, FSx. Call it once, after the
        last reader.

        The resource keeps the name it had when it only held the FSx grant (`<name>-key-fsx`):
        a rename would delete the old one, and deleting a key policy resets the key to AWS's
        default policy."""
        if self.key_policy is not None:
            raise ValueError("the storage key policy is already registered")
        spec = self.spec
        names = pulumi.Output.all(
            self._account_id,
            self.training_identity.role.name,
            *[r.name for r in model_readers],
            *[r.name for r in data_writers],
        )
        readers = len(model_readers)
        self.key_policy = aws.kms.KeyPolicy(
            f"{self._name}-key-fsx",
            key_id=self._key.key_id,
            policy=names.apply(
                lambda v: storage_key_policy(
                    spec.partition,
                    spec.region,
                    str(v[0]),
                    spec.deployer_arn,
                    training_role=str(v[1]),
                    model_readers=[str(r) for r in v[2 : 2 + readers]],
                    data_writers=[str(r) for r in v[2 + readers :]],
                    data_users=spec.data_user_arns,
                    fsx=spec.fsx is not None,
                )
            ),
            opts=keep(self, spec.protect),
        )
        return self.key_policy

    def _efa_rules(self, name: str, group: aws.ec2.SecurityGroup, refs: StorageRefs) -> None:
        """An EFA-enabled file system's security group: all traffic to and from itself and the EFA
        nodes' security groups, by id (FSx Lustre user guide, "EFA-enabled security groups";
        CIDR rules are not enough), and the same on the nodes' side."""
        child = pulumi.ResourceOptions(parent=self)
        efa_groups = list(refs.get("efa_security_group_ids") or [])
        if not efa_groups:
            raise ValueError("an EFA-enabled file system needs the EFA pools' security groups")
        between = "EFA: all traffic between the file servers"
        allow_all_traffic(
            (f"{name}-fsx-self-all-in", f"{name}-fsx-self-all-out"),
            group.id,
            group.id,
            (between, between),
            child,
        )
        for i, node_group in enumerate(efa_groups):
            allow_all_traffic(
                (f"{name}-fsx-efa{i}-all-in", f"{name}-fsx-efa{i}-all-out"),
                group.id,
                node_group,
                ("EFA: all traffic from the EFA nodes", "EFA: all traffic to the EFA nodes"),
                child,
            )
            allow_all_traffic(
                (f"{name}-efa{i}-from-fsx", f"{name}-efa{i}-to-fsx"),
                node_group,
                group.id,
                (
                    "EFA: all traffic from the FSx file servers",
                    "EFA: all traffic to the FSx file servers",
                ),
                child,
            )

    def _hot_tier(
        self,
        name: str,
        spec: StorageSpec,
        fsx: FsxSpec,
        refs: StorageRefs,
        key: aws.kms.Key,
        buckets: dict[str, aws.s3.Bucket],
        namespace: k8s.core.v1.Namespace,
    ) -> None:
        child = pulumi.ResourceOptions(parent=self)
        protect = spec.protect
        group = aws.ec2.SecurityGroup(
            f"{name}-fsx",
            vpc_id=refs["vpc_id"],
            description="FSx for Lustre: LNET from the cluster's nodes and between file servers",
            opts=child,
        )
        sources: list[tuple[str, pulumi.Input[str]]] = [("self", group.id)]
        sources += [(f"client{i}", sg) for i, sg in enumerate(refs["client_security_group_ids"])]
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

        if fsx.efa:
            self._efa_rules(name, group, refs)

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-fsx-logs",
            # FSx logs only to groups named /aws/fsx/...: named after the cluster (unique in
            # the region) rather than auto-named.
            name=f"/aws/fsx/{spec.cluster_name}",
            retention_in_days=fsx.log_retention_days,
            kms_key_id=refs.get("log_kms_key_arn"),
            opts=keep(self, protect),
        )
        file_system = aws.fsx.LustreFileSystem(
            f"{name}-lustre",
            deployment_type="PERSISTENT_2",
            storage_type="SSD",
            storage_capacity=fsx.capacity_gib,
            per_unit_storage_throughput=fsx.throughput_per_tib,
            file_system_type_version=LUSTRE_VERSION,
            data_compression_type="LZ4",
            kms_key_id=key.arn,
            subnet_ids=refs["subnet_ids_by_az"][fsx.az],  # one subnet: the servers live in its AZ
            security_group_ids=[group.id],
            # Linked to S3: AWS takes no backups, automatic or final.
            automatic_backup_retention_days=0,
            skip_final_backup=True,
            # pulumi_aws LustreFileSystemLogConfigurationArgs(level, destination): a log group
            # whose name begins with /aws/fsx.
            log_configuration={"level": fsx.log_level, "destination": log_group.arn},
            # EFA-enabled (pulumi_aws 7.x `efa_enabled`): PERSISTENT_2 with a metadata
            # configuration and the EFA security group rules above; fixed at creation, so a change
            # of it or of the EFA capacity increment replaces the file system.
            efa_enabled=True if fsx.efa else None,
            metadata_configuration=metadata_configuration(fsx),
            tags={
                WORKING_SET_TAG: f"{fsx.working_set_gib:g}",
                HOT_TIER_TAG: spec.cluster_name,
            },
            opts=keep(self, protect),
        )
        self.file_system_id = file_system.id
        self.file_system = file_system
        links = []
        for link_spec in fsx.links:
            bucket_name = link_spec.bucket
            link = aws.fsx.DataRepositoryAssociation(
                f"{name}-link-{bucket_name}",
                file_system_id=file_system.id,
                file_system_path=link_spec.file_system_path,
                data_repository_path=buckets[bucket_name].bucket.apply(lambda b: f"s3://{b}/"),
                batch_import_meta_data_on_create=True,
                s3={
                    "auto_import_policy": {"events": list(link_spec.import_events)},
                    "auto_export_policy": {"events": list(link_spec.export_events)},
                },
                opts=keep(self, protect),
            )
            links.append(link)

        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        self._release_schedule(name, spec, fsx, file_system, links, account.account_id)
        self._free_capacity_alarm(name, fsx, file_system)

        addon = aws.eks.Addon(
            f"{name}-fsx-csi",
            cluster_name=spec.cluster_name,
            addon_name="aws-fsx-csi-driver",
            addon_version=fsx.csi_driver_version,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            opts=child,
        )
        volume = k8s.core.v1.PersistentVolume(
            f"{name}-fsx-pv",
            metadata={"name": f"{FSX_CLAIM}-{spec.namespace}"},
            spec={
                "capacity": {"storage": f"{fsx.capacity_gib}Gi"},
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
            opts=pulumi.ResourceOptions(parent=self, provider=refs["provider"], depends_on=[addon]),
        )
        k8s.core.v1.PersistentVolumeClaim(
            f"{name}-fsx-pvc",
            metadata={"name": FSX_CLAIM, "namespace": spec.namespace},
            spec={
                "access_modes": ["ReadWriteMany"],
                "storage_class_name": "",
                "volume_name": volume.metadata.name,
                "resources": {"requests": {"storage": f"{fsx.capacity_gib}Gi"}},
            },
            opts=pulumi.ResourceOptions(
                parent=self, provider=refs["provider"], depends_on=[namespace, volume]
            ),
        )

    def _release_schedule(
        self,
        name: str,
        spec: StorageSpec,
        fsx: FsxSpec,
        file_system: aws.fsx.LustreFileSystem,
        links: Sequence[aws.fsx.DataRepositoryAssociation],
        account_id: pulumi.Output[str],
    ) -> None:
        """The schedule that releases files nobody read for `release.after_days` days.

        pulumi_aws 7.x `scheduler.Schedule(schedule_expression, flexible_time_window{mode},
        target{arn, role_arn, input, retry_policy{maximum_retry_attempts}})`."""
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-fsx-release",
            description="EventBridge Scheduler: release cold files from the FSx hot tier",
            assume_role_policy=account_id.apply(scheduler_trust),
            opts=child,
        )
        permission = aws.iam.RolePolicy(
            f"{name}-fsx-release",
            role=role.id,
            policy=account_id.apply(
                lambda account: release_policy(
                    spec.partition, spec.region, account, spec.cluster_name
                )
            ),
            opts=child,
        )
        release = fsx.release
        aws.scheduler.Schedule(
            f"{name}-fsx-release",
            description=(
                f"Release FSx files not accessed for {release.after_days} days "
                "(their data stays in S3)"
            ),
            schedule_expression=release.schedule,
            flexible_time_window={"mode": "OFF"},
            target={
                "arn": release_target_arn(spec.partition),
                "role_arn": role.arn,
                "input": file_system.id.apply(lambda fs_id: release_task_input(fs_id, release)),
                "retry_policy": {"maximum_retry_attempts": 3},
            },
            # CreateDataRepositoryTask fails on a file system without links.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*links, permission]),
        )

    def _free_capacity_alarm(
        self, name: str, fsx: FsxSpec, file_system: aws.fsx.LustreFileSystem
    ) -> None:
        """An SNS topic and the alarm that tells it the hot tier is filling up.

        pulumi_aws 7.x `cloudwatch.MetricAlarm(namespace, metric_name, dimensions, statistic,
        period, evaluation_periods, threshold, comparison_operator, treat_missing_data,
        alarm_actions, ok_actions)`, `sns.TopicSubscription(topic, protocol, endpoint)`."""
        child = pulumi.ResourceOptions(parent=self)
        topic = aws.sns.Topic(f"{name}-fsx-alarms", opts=child)
        self.alarm_topic_arn = topic.arn
        for index, email in enumerate(fsx.alarm_emails):
            aws.sns.TopicSubscription(
                f"{name}-fsx-alarms-{index}",
                topic=topic.arn,
                protocol="email",
                endpoint=email,
                opts=child,
            )
        namespace, metric = FREE_CAPACITY_METRIC
        threshold_gib = fsx.free_capacity_alarm_bytes / 1024**3
        aws.cloudwatch.MetricAlarm(
            f"{name}-fsx-free-capacity",
            alarm_description=(
                f"FSx hot tier below {threshold_gib:g} GiB free of {fsx.capacity_gib} GiB: "
                "release more (storage.fsx.releaseAfterDays) or grow the file system"
            ),
            namespace=namespace,
            metric_name=metric,
            dimensions={"FileSystemId": file_system.id},
            statistic="Sum",
            period=ALARM_PERIOD_SECONDS,
            evaluation_periods=ALARM_EVALUATION_PERIODS,
            threshold=float(fsx.free_capacity_alarm_bytes),
            comparison_operator="LessThanThreshold",
            treat_missing_data="missing",
            alarm_actions=[topic.arn],
            ok_actions=[topic.arn],
            opts=child,
        )
