"""TieredStorage under recording mocks: buckets, lifecycle, FSx for Lustre and its S3 links,
the scheduled release, the free-capacity alarm and event logging, Kubernetes volumes, protection,
and the training role's access.

Specs are shipped stacks' configs resolved as the program does: prod with a 2400 GiB / 250 MB/s
hot tier and its own training namespace (protected, again with `protectStateful: false`, and again
with every release, alarm and working-set setting changed), and dev as shipped (warm tier only).
Refs are plain strings in place of the network's and the cluster's outputs.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest

from components import versions
from components.catalog.conventions import (
    EXPECTED_SIZE_TAG,
    FSX_CLAIM,
    TRAINING_SERVICE_ACCOUNT,
    WORKING_SET_TAG,
)
from components.common.protection import RETAINED_TYPES
from components.resolve.storage import BUCKETS, StorageSpec
from components.storage import StorageRefs, TieredStorage
from scripts.plan.mocks import ACCOUNT_ID
from tests.conftest import Recorded
from tests.support import config, platform, shipped_plan

COMPONENT = "gpuplatform:index:TieredStorage"
BUCKET = "aws:s3/bucket:Bucket"
KEY = "aws:kms/key:Key"
LUSTRE = "aws:fsx/lustreFileSystem:LustreFileSystem"
DRA = "aws:fsx/dataRepositoryAssociation:DataRepositoryAssociation"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
PV = "kubernetes:core/v1:PersistentVolume"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
SCHEDULE = "aws:scheduler/schedule:Schedule"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
GIB = 1024**3
NAME = "st"
NAMESPACE = "ml-train"
CLIENT_SG = "sg-0c11e47000000001"
VPC = "vpc-0123456789abcdef0"
HOT_STORAGE: dict[str, Any] = {
    "fsx": {
        "enabled": True,
        "storageCapacityGib": 2400,
        "perUnitStorageThroughput": 250,
        "efaEnabled": False,
    },
    "datasets": {"expectedSizeGib": 3000},
    "checkpoints": {"expectedSizeGib": 1500},
    "trainingNamespace": NAMESPACE,
}
HOT = platform("prod", storage=HOT_STORAGE).storage
HOT_UNPROTECTED = platform("prod", storage=HOT_STORAGE, protectStateful=False).storage
assert HOT.fsx is not None
HOT_FSX = HOT.fsx
WARM_ONLY = platform("dev").storage
EMAILS = ["oncall@example.com", "storage@example.com"]
TUNED = platform(
    "prod",
    storage={
        **HOT_STORAGE,
        "fsx": {
            **HOT_STORAGE["fsx"],
            "releaseAfterDays": 7,
            "releaseSchedule": "cron(0 3 * * ? *)",
            "freeCapacityAlarmFraction": 0.25,
            "alarmEmails": EMAILS,
            "workingSetGib": 2000,
        },
    },
).storage
"""The hot tier with every release, alarm and working-set setting away from its default."""
MODELS_READ = "modelsReadPolicy"
READER = "model-reader"
"""A role that reads models with the storage key (the inference service's, in the stack)."""


def subnets(stack: str) -> dict[str, str]:
    """A private subnet id per AZ of the stack."""
    azs = config(stack).availability_zones
    return {az: f"subnet-0a1b2c3d4e5f6000{i}" for i, az in enumerate(azs)}


def program(stack: str, spec: StorageSpec):
    def body() -> None:
        provider = k8s.Provider("k8s", kubeconfig="{}")
        refs = StorageRefs(
            vpc_id=VPC,
            subnet_ids_by_az=subnets(stack),
            client_security_group_ids=[CLIENT_SG],
            provider=provider,
        )
        storage = TieredStorage(NAME, spec, refs)
        reader = aws.iam.Role(READER, assume_role_policy="{}")
        storage.grant_key_use([reader])
        pulumi.export(MODELS_READ, storage.models_read_policy)

    return body


@pytest.fixture
def protected(run_pulumi) -> Recorded:
    return run_pulumi(program("prod", HOT))


@pytest.fixture
def unprotected(run_pulumi) -> Recorded:
    return run_pulumi(program("prod", HOT_UNPROTECTED))


@pytest.fixture
def warm_only(run_pulumi) -> Recorded:
    return run_pulumi(program("dev", WARM_ONLY))


@pytest.fixture
def tuned(run_pulumi) -> Recorded:
    return run_pulumi(program("prod", TUNED))


def per_bucket(recorded: Recorded, type_token: str) -> dict[str, Any]:
    """The resource of this type for each bucket (named `<component>-<bucket>`), checked to
    point at that bucket."""
    result = {}
    for name in BUCKETS:
        resource = recorded.one(type_token, f"{NAME}-{name}")
        bucket = recorded.one(BUCKET, f"{NAME}-{name}")
        assert resource.inputs["bucket"] == bucket.id
        result[name] = resource
    return result


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


# --------------------------------------------------------------------------- the specs


def test_the_specs_differ_where_the_tests_need_them_to():
    assert HOT.fsx is not None and HOT_UNPROTECTED.fsx is not None
    assert (HOT.fsx.capacity_gib, HOT.fsx.throughput_per_tib) == (2400, 250)
    assert HOT.namespace == NAMESPACE
    assert HOT.protect is True and HOT_UNPROTECTED.protect is False
    assert HOT_UNPROTECTED.fsx == HOT.fsx
    assert WARM_ONLY.fsx is None and WARM_ONLY.protect is False
    # The hot tier lives in the EFA training pool's AZ.
    [efa_pool] = [p for p in platform("prod").pools if p.efa]
    assert HOT.fsx.az == efa_pool.azs[0]


# --------------------------------------------------------------------------- structure


@pytest.mark.parametrize("variant", ["protected", "warm_only"])
def test_every_child_is_parented_to_the_component_and_named_from_it(variant, request):
    recorded: Recorded = request.getfixturevalue(variant)
    component = recorded.one(COMPONENT)
    assert component.name == NAME
    others = [
        r
        for r in recorded.registrations
        if r.type not in (COMPONENT, "pulumi:pulumi:Stack", "pulumi:providers:kubernetes")
        and r.name != READER  # the test program's own role
    ]
    assert others
    assert recorded.children(component.urn) == others
    assert all(r.name.startswith(f"{NAME}-") for r in others), [r.name for r in others]
    # Kubernetes objects go through the given provider, never a default one.
    for r in others:
        if r.type.startswith("kubernetes:"):
            assert "pulumi:providers:kubernetes::k8s" in r.provider


# --------------------------------------------------------------------------- warm tier


def test_three_buckets_each_versioned_encrypted_private_and_tls_only(protected):
    buckets = {b.name: b for b in protected.of_type(BUCKET)}
    assert set(buckets) == {f"{NAME}-{n}" for n in BUCKETS}
    key = protected.one(KEY)
    assert key.inputs["enableKeyRotation"] is True

    for name, versioning in per_bucket(
        protected, "aws:s3/bucketVersioning:BucketVersioning"
    ).items():
        assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled", name

    sse_type = (
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    for sse in per_bucket(protected, sse_type).values():
        [rule] = sse.inputs["rules"]
        assert rule["applyServerSideEncryptionByDefault"] == {
            "sseAlgorithm": "aws:kms",
            "kmsMasterKeyId": key.outputs["arn"],
        }
        assert rule["bucketKeyEnabled"] is True

    pab_type = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
    for block in per_bucket(protected, pab_type).values():
        flags = (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
        assert all(block.inputs[flag] is True for flag in flags)

    ownership_type = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
    for ownership in per_bucket(protected, ownership_type).values():
        assert ownership.inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}

    for name, policy in per_bucket(protected, "aws:s3/bucketPolicy:BucketPolicy").items():
        arn = protected.one(BUCKET, f"{NAME}-{name}").outputs["arn"]
        [deny] = json.loads(policy.inputs["policy"])["Statement"]
        assert deny["Effect"] == "Deny"
        assert deny["Condition"]["Bool"]["aws:SecureTransport"] == "false"
        assert sorted(as_list(deny["Resource"])) == sorted([arn, f"{arn}/*"])


def test_buckets_carry_their_expected_size_for_the_cost_checks(warm_only):
    sizes = {b.name: b.expected_size_gib for b in WARM_ONLY.buckets}
    assert len(set(sizes.values())) == len(sizes)  # dev configures a different size for each
    for name in BUCKETS:
        bucket = warm_only.one(BUCKET, f"{NAME}-{name}")
        assert float(bucket.inputs["tags"][EXPECTED_SIZE_TAG]) == sizes[name]


def test_lifecycle_waits_for_versioning_and_checkpoints_archive_noncurrent(protected):
    lifecycle_type = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
    lifecycles = per_bucket(protected, lifecycle_type)
    for name, lifecycle in lifecycles.items():
        versioning = protected.one("aws:s3/bucketVersioning:BucketVersioning", f"{NAME}-{name}")
        assert versioning.urn in lifecycle.dependencies, name
        [rule] = lifecycle.inputs["rules"]
        assert rule["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}
        assert rule["id"] == HOT.bucket(name).lifecycle_rules[0]["id"]
    [rule] = lifecycles["checkpoints"].inputs["rules"]
    assert rule["noncurrentVersionTransitions"] == [
        {"noncurrentDays": 30, "storageClass": "GLACIER_IR"}
    ]


# --------------------------------------------------------------------------- protection


def test_prod_protects_and_retains_buckets_key_and_file_system(protected):
    stateful = [*protected.of_type(BUCKET), protected.one(KEY), protected.one(LUSTRE)]
    assert len(stateful) == 5
    # ... and everything that guards or links them: a retained bucket keeps its versioning,
    # public access block, TLS-only policy, encryption, ownership and lifecycle.
    stateful += [r for r in protected.registrations if r.type in RETAINED_TYPES]
    for resource in stateful:
        assert resource.protect is True, resource.name
        assert resource.retain_on_delete is True, resource.name
    assert {(r.type, r.name) for r in protected.registrations if r.protect} == {
        (r.type, r.name) for r in stateful
    }
    guards = {r.type for r in stateful} - {BUCKET, KEY, LUSTRE}
    assert {t.split(":")[-1] for t in guards} >= {
        "BucketVersioning",
        "BucketPublicAccessBlock",
        "BucketPolicy",
        "BucketServerSideEncryptionConfiguration",
        "BucketOwnershipControls",
        "BucketLifecycleConfiguration",
        "KeyPolicy",
        "LogGroup",
        "DataRepositoryAssociation",
    }
    assert all(b.inputs["forceDestroy"] is False for b in protected.of_type(BUCKET))


def test_without_protect_nothing_is_protected_and_teardown_is_clean(unprotected):
    assert not [r.name for r in unprotected.registrations if r.protect or r.retain_on_delete]
    assert all(b.inputs["forceDestroy"] is True for b in unprotected.of_type(BUCKET))


@pytest.mark.parametrize("variant", ["protected", "unprotected"])
def test_the_linked_file_system_asks_for_no_backup_aws_cannot_take(variant, request):
    # FSx for Lustre backs up no file system linked to S3: neither daily nor a final one.
    recorded: Recorded = request.getfixturevalue(variant)
    fs = recorded.one(LUSTRE)
    assert fs.inputs["automaticBackupRetentionDays"] == 0
    assert fs.inputs["skipFinalBackup"] is True
    assert "copyTagsToBackups" not in fs.inputs
    assert recorded.of_type(DRA)  # ... because it is linked


# --------------------------------------------------------------------------- hot tier


def test_lustre_file_system_shape(protected):
    assert HOT.fsx is not None
    fs = protected.one(LUSTRE)
    group = protected.one(SECURITY_GROUP, f"{NAME}-fsx")
    assert fs.inputs["deploymentType"] == "PERSISTENT_2"
    assert fs.inputs["storageCapacity"] == HOT.fsx.capacity_gib == 2400
    assert fs.inputs["perUnitStorageThroughput"] == HOT.fsx.throughput_per_tib == 250
    assert fs.inputs["dataCompressionType"] == "LZ4"
    assert fs.inputs["kmsKeyId"] == protected.one(KEY).outputs["arn"]
    assert as_list(fs.inputs["subnetIds"]) == [subnets("prod")[HOT.fsx.az]]
    assert fs.inputs["securityGroupIds"] == [group.id]
    assert group.inputs["vpcId"] == VPC


def test_lustre_ports_open_from_clients_and_from_the_group_itself(protected):
    group = protected.one(SECURITY_GROUP, f"{NAME}-fsx")
    rules = [r for r in protected.of_type(INGRESS) if r.inputs["securityGroupId"] == group.id]
    assert all(r.inputs["ipProtocol"] == "tcp" for r in rules)
    opened = {
        (r.inputs["referencedSecurityGroupId"], r.inputs["fromPort"], r.inputs["toPort"])
        for r in rules
    }
    assert opened == {
        (CLIENT_SG, 988, 988),
        (CLIENT_SG, 1018, 1023),
        (group.id, 988, 988),
        (group.id, 1018, 1023),
    }
    # No CIDR-wide ingress on the file system.
    assert not any(r.inputs.get("cidrIpv4") for r in rules)


def test_data_repository_associations_link_datasets_and_checkpoints(protected):
    fs = protected.one(LUSTRE)
    links = {r.inputs["fileSystemPath"]: r for r in protected.of_type(DRA)}
    assert set(links) == {"/datasets", "/checkpoints"}
    for path, link in links.items():
        bucket = protected.one(BUCKET, f"{NAME}-{path.strip('/')}")
        assert link.inputs["fileSystemId"] == fs.id
        assert link.inputs["dataRepositoryPath"] == f"s3://{bucket.outputs['bucket']}/"
        s3 = link.inputs["s3"]
        # The file system follows every change in S3, deletions included ...
        assert sorted(s3["autoImportPolicy"]["events"]) == ["CHANGED", "DELETED", "NEW"], path
        # ... but a delete on FSx (a rotated checkpoint) never deletes the durable copy.
        assert sorted(s3["autoExportPolicy"]["events"]) == ["CHANGED", "NEW"], path


def test_the_file_system_carries_its_working_set_for_the_plan(protected, tuned):
    # Default: what the linked buckets are expected to hold (the models bucket is not linked).
    expected = sum(HOT.bucket(b).expected_size_gib for b in ("datasets", "checkpoints"))
    assert expected == 4500 > HOT_FSX.capacity_gib
    assert float(protected.one(LUSTRE).inputs["tags"][WORKING_SET_TAG]) == expected
    assert float(tuned.one(LUSTRE).inputs["tags"][WORKING_SET_TAG]) == 2000


def test_data_repository_events_are_logged_at_warn_error_to_an_fsx_log_group(protected):
    fs = protected.one(LUSTRE)
    group = protected.one(LOG_GROUP, f"{NAME}-fsx-logs")
    assert fs.inputs["logConfiguration"] == {
        "level": "WARN_ERROR",
        "destination": group.outputs["arn"],
    }
    # FSx writes only to log groups under /aws/fsx; the name is the stack's cluster's.
    assert group.inputs["name"] == f"/aws/fsx/{HOT.cluster_name}"
    assert group.inputs["retentionInDays"] == HOT_FSX.log_retention_days > 0


# --------------------------------------------------------------------------- release and alarm


def release_input(recorded: Recorded) -> dict[str, Any]:
    return json.loads(recorded.one(SCHEDULE).inputs["target"]["input"])


def test_release_schedule_calls_create_data_repository_task_on_the_linked_file_system(protected):
    fs = protected.one(LUSTRE)
    schedule = protected.one(SCHEDULE, f"{NAME}-fsx-release")
    target = schedule.inputs["target"]
    assert target["arn"] == "arn:aws:scheduler:::aws-sdk:fsx:createDataRepositoryTask"
    assert schedule.inputs["scheduleExpression"] == "rate(1 day)"
    assert schedule.inputs["flexibleTimeWindow"] == {"mode": "OFF"}
    assert release_input(protected) == {
        "Type": "RELEASE_DATA_FROM_FILESYSTEM",
        "FileSystemId": fs.id,
        "Paths": ["/"],  # every exported file: only the linked directories export
        "ReleaseConfiguration": {"DurationSinceLastAccess": {"Unit": "DAYS", "Value": 30}},
        "Report": {"Enabled": False},
    }
    # Runs as the release role, and only once the links and the permission exist.
    role = protected.one(ROLE, f"{NAME}-fsx-release")
    assert target["roleArn"] == role.outputs["arn"]
    permission = protected.one(ROLE_POLICY, f"{NAME}-fsx-release")
    for needed in [*protected.of_type(DRA), permission]:
        assert needed.urn in schedule.dependencies, needed.name


def test_release_days_and_schedule_come_from_the_config(tuned):
    schedule = tuned.one(SCHEDULE)
    assert schedule.inputs["scheduleExpression"] == "cron(0 3 * * ? *)"
    duration = release_input(tuned)["ReleaseConfiguration"]["DurationSinceLastAccess"]
    assert duration == {"Unit": "DAYS", "Value": 7}


def test_release_role_is_the_schedulers_of_this_account_and_creates_tasks_on_this_fs(protected):
    fs = protected.one(LUSTRE)
    role = protected.one(ROLE, f"{NAME}-fsx-release")
    [trust] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}
    permission = protected.one(ROLE_POLICY, f"{NAME}-fsx-release")
    assert permission.inputs["role"] == role.id
    [statement] = json.loads(permission.inputs["policy"])["Statement"]
    assert statement["Effect"] == "Allow"
    assert as_list(statement["Action"]) == ["fsx:CreateDataRepositoryTask"]
    # Scoped by the file system's hot-tier tag, so the document is known before the file system.
    assert as_list(statement["Resource"]) == [f"arn:aws:fsx:us-east-1:{ACCOUNT_ID}:file-system/*"]
    tag, value = next(iter(statement["Condition"]["StringEquals"].items()))
    assert tag == "aws:ResourceTag/gpu-platform/hot-tier"
    assert fs.inputs["tags"]["gpu-platform/hot-tier"] == value


def test_free_capacity_alarm_watches_the_file_system_and_notifies_the_topic(protected):
    fs = protected.one(LUSTRE)
    alarm = protected.one(ALARM, f"{NAME}-fsx-free-capacity")
    topic = protected.one(TOPIC, f"{NAME}-fsx-alarms")
    assert alarm.inputs["namespace"] == "AWS/FSx"
    assert alarm.inputs["metricName"] == "FreeDataStorageCapacity"
    assert alarm.inputs["dimensions"] == {"FileSystemId": fs.id}
    assert alarm.inputs["statistic"] == "Sum"  # bytes free over the whole file system
    assert alarm.inputs["comparisonOperator"] == "LessThanThreshold"
    # Default: 10% of the 2400 GiB file system, in bytes.
    assert alarm.inputs["threshold"] == pytest.approx(0.1 * 2400 * GIB, abs=1)
    assert alarm.inputs["alarmActions"] == [topic.outputs["arn"]]
    assert alarm.inputs["okActions"] == [topic.outputs["arn"]]
    assert protected.of_type(SUBSCRIPTION) == []  # no emails configured


def test_alarm_threshold_and_subscriptions_come_from_the_config(tuned):
    alarm = tuned.one(ALARM)
    assert alarm.inputs["threshold"] == pytest.approx(0.25 * 2400 * GIB, abs=1)
    topic = tuned.one(TOPIC)
    subscriptions = tuned.of_type(SUBSCRIPTION)
    assert sorted(s.inputs["endpoint"] for s in subscriptions) == sorted(EMAILS)
    for subscription in subscriptions:
        assert subscription.inputs["protocol"] == "email"
        assert subscription.inputs["topic"] == topic.outputs["arn"]


def test_static_volume_and_claim_mount_the_file_system(protected):
    fs = protected.one(LUSTRE)
    volume = protected.one(PV)
    spec = volume.inputs["spec"]
    csi = spec["csi"]
    assert csi["driver"] == "fsx.csi.aws.com"
    assert csi["volumeHandle"] == fs.id
    assert csi["volumeAttributes"] == {
        "dnsname": fs.outputs["dnsName"],
        "mountname": fs.outputs["mountName"],
    }
    assert spec["accessModes"] == ["ReadWriteMany"]
    assert spec["persistentVolumeReclaimPolicy"] == "Retain"
    assert spec["storageClassName"] == ""
    assert spec["capacity"] == {"storage": "2400Gi"}

    claim = protected.one(PVC)
    assert claim.inputs["metadata"]["namespace"] == NAMESPACE
    assert claim.inputs["metadata"]["name"] == FSX_CLAIM
    assert claim.inputs["spec"]["volumeName"] == volume.inputs["metadata"]["name"]
    assert claim.inputs["spec"]["storageClassName"] == ""
    assert claim.inputs["spec"]["accessModes"] == ["ReadWriteMany"]
    assert volume.urn in claim.dependencies
    namespace = protected.one("kubernetes:core/v1:Namespace")
    assert namespace.inputs["metadata"]["name"] == NAMESPACE


def test_fsx_csi_driver_addon_is_pinned_and_precedes_the_volume(protected):
    addon = protected.one("aws:eks/addon:Addon")
    assert addon.inputs["addonName"] == "aws-fsx-csi-driver"
    kubernetes_version = config("prod").kubernetes_version
    pinned = versions.EKS_ADDONS[kubernetes_version].fsx_csi_driver
    assert addon.inputs.get("addonVersion") == pinned == HOT_FSX.csi_driver_version
    assert addon.inputs["clusterName"] == HOT.cluster_name == platform("prod").cluster.name
    assert addon.urn in protected.one(PV).dependencies


@pytest.mark.parametrize("variant", ["protected", "warm_only"])
def test_default_storage_class_is_encrypted_gp3(variant, request):
    recorded: Recorded = request.getfixturevalue(variant)
    storage_class = recorded.one("kubernetes:storage.k8s.io/v1:StorageClass")
    annotations = storage_class.inputs["metadata"]["annotations"]
    assert annotations["storageclass.kubernetes.io/is-default-class"] == "true"
    assert storage_class.inputs["provisioner"] == "ebs.csi.aws.com"
    assert storage_class.inputs["parameters"]["type"] == "gp3"
    assert storage_class.inputs["parameters"]["encrypted"] == "true"


def test_without_fsx_only_the_warm_tier_is_created(warm_only):
    hot_only = (LUSTRE, DRA, PV, PVC, SECURITY_GROUP, INGRESS, "aws:eks/addon:Addon")
    for absent in (*hot_only, SCHEDULE, ALARM, TOPIC, SUBSCRIPTION, LOG_GROUP):
        assert warm_only.of_type(absent) == [], absent
    assert len(warm_only.of_type(BUCKET)) == 3
    assert len(warm_only.of_type("aws:s3/bucketPolicy:BucketPolicy")) == 3


# --------------------------------------------------------------------------- access


def test_training_role_reads_datasets_writes_checkpoints_and_never_touches_models(protected):
    arns = {n: protected.one(BUCKET, f"{NAME}-{n}").outputs["arn"] for n in BUCKETS}
    role = protected.one("aws:iam/role:Role", f"{NAME}-training")
    policy = protected.one("aws:iam/rolePolicy:RolePolicy", f"{NAME}-training")
    assert policy.inputs["role"] == role.id
    found = json.loads(policy.inputs["policy"])["Statement"]

    def resources_for(action: str) -> set[str]:
        return {r for s in found if action in as_list(s["Action"]) for r in as_list(s["Resource"])}

    assert f"{arns['datasets']}/*" in resources_for("s3:GetObject")
    assert f"{arns['checkpoints']}/*" in resources_for("s3:GetObject")
    assert resources_for("s3:PutObject") == {f"{arns['checkpoints']}/*"}
    assert arns["models"] not in json.dumps(found)
    assert "s3:*" not in json.dumps(found)

    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "pods.eks.amazonaws.com"}

    association = protected.one(
        "aws:eks/podIdentityAssociation:PodIdentityAssociation", f"{NAME}-training"
    )
    account = protected.one("kubernetes:core/v1:ServiceAccount")
    assert association.inputs["namespace"] == NAMESPACE
    assert account.inputs["metadata"]["namespace"] == NAMESPACE
    assert account.inputs["metadata"]["name"] == TRAINING_SERVICE_ACCOUNT
    assert association.inputs["serviceAccount"] == account.inputs["metadata"]["name"]
    assert association.inputs["roleArn"] == role.outputs["arn"]
    assert association.inputs["clusterName"] == HOT.cluster_name


def test_models_read_policy_reads_models_only(protected):
    arns = {n: protected.one(BUCKET, f"{NAME}-{n}").outputs["arn"] for n in BUCKETS}
    key_arn = protected.one(KEY).outputs["arn"]
    text = protected.outputs[MODELS_READ]
    assert isinstance(text, str)
    assert arns["models"] in text  # built from the bucket's name: the same ARN
    assert key_arn not in text  # unknown before the key exists: named by its alias instead
    alias = protected.one("aws:kms/alias:Alias", f"{NAME}-key")
    assert alias.inputs["targetKeyId"] == protected.one(KEY).outputs["keyId"]
    assert f'"kms:ResourceAliases": "{alias.inputs["name"]}"' in text
    assert arns["datasets"] not in text and arns["checkpoints"] not in text
    actions = {a for s in json.loads(text)["Statement"] for a in as_list(s["Action"])}
    assert {"s3:GetObject", "s3:ListBucket", "kms:Decrypt"} <= actions
    assert "s3:PutObject" not in actions and "kms:GenerateDataKey" not in actions
    # A document handed to the inference service, not a managed policy of its own.
    assert protected.of_type("aws:iam/policy:Policy") == []


def test_lustre_traffic_flows_both_ways_between_servers_and_clients(protected):
    recorded = protected
    fsx_group = next(r for r in recorded.of_type(SECURITY_GROUP) if r.name.endswith("-fsx"))
    egress = recorded.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    to_clients = {
        (r.inputs["fromPort"], r.inputs["referencedSecurityGroupId"])
        for r in egress
        if r.inputs["securityGroupId"] == fsx_group.id
    }
    assert {(988, CLIENT_SG), (1018, CLIENT_SG), (988, fsx_group.id)} <= to_clients
    ingress = recorded.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    into_clients = {
        r.inputs["fromPort"]
        for r in ingress
        if r.inputs["securityGroupId"] == CLIENT_SG
        and r.inputs["referencedSecurityGroupId"] == fsx_group.id
    }
    assert into_clients == {988, 1018}


def test_the_key_policy_names_its_users_once_they_exist_and_not_the_file_system(protected):
    policy = protected.one("aws:kms/keyPolicy:KeyPolicy", f"{NAME}-key-fsx")
    assert policy.inputs["keyId"] == protected.one(KEY).outputs["keyId"]
    training = protected.one(ROLE, f"{NAME}-training")
    reader = protected.one(ROLE, READER)
    # KMS checks a key policy's principals: the policy waits for every role it names.
    assert {training.urn, reader.urn} <= set(policy.dependencies)
    by_sid = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    assert by_sid["TrainingThroughS3"]["Principal"] == {"AWS": [training.outputs["arn"]]}
    assert by_sid["ModelReadersThroughS3"]["Principal"] == {"AWS": [reader.outputs["arn"]]}
    assert {"KeyAdministration", "FsxEncryptsFileSystem", "FsxLinksReadAndWriteBuckets"} <= set(
        by_sid
    )
    # Known before the file system exists: its id appears nowhere.
    assert protected.one(LUSTRE).id not in policy.inputs["policy"]
    assert "kms:*" not in policy.inputs["policy"]


def test_the_key_policy_is_registered_once(run_pulumi):
    def twice() -> None:
        provider = k8s.Provider("k8s", kubeconfig="{}")
        refs = StorageRefs(
            vpc_id=VPC,
            subnet_ids_by_az=subnets("dev"),
            client_security_group_ids=[CLIENT_SG],
            provider=provider,
        )
        storage = TieredStorage(NAME, WARM_ONLY, refs)
        storage.grant_key_use()
        storage.grant_key_use()

    with pytest.raises(Exception, match="already registered"):
        run_pulumi(twice)


# --------------------------------------------------------------------------- the shipped prod plan


@pytest.mark.slow
def test_prod_plan_releases_alarms_and_never_backs_up_or_exports_deletes():
    document, _ = shipped_plan("prod")
    by_type: dict[str, list[dict[str, Any]]] = {}
    for step in document["steps"]:
        state = step["newState"]
        by_type.setdefault(state["type"], []).append(state)
    [fs] = by_type[LUSTRE]
    assert fs["inputs"]["automaticBackupRetentionDays"] == 0
    assert fs["inputs"]["logConfiguration"]["level"] == "WARN_ERROR"
    shipped = platform("prod").storage.fsx
    assert shipped is not None
    # The plan compares the capacity with the working set (30,000 GiB against 9,600 in prod).
    assert float(fs["inputs"]["tags"][WORKING_SET_TAG]) == shipped.working_set_gib
    assert fs["inputs"]["storageCapacity"] == shipped.capacity_gib
    links = by_type[DRA]
    assert len(links) == 2
    assert all("DELETED" not in x["inputs"]["s3"]["autoExportPolicy"]["events"] for x in links)
    [schedule] = by_type[SCHEDULE]
    assert (
        json.loads(schedule["inputs"]["target"]["input"])["Type"] == "RELEASE_DATA_FROM_FILESYSTEM"
    )
    [alarm] = by_type[ALARM]
    assert alarm["inputs"]["metricName"] == "FreeDataStorageCapacity"
    assert document["policies"]["violations"] == []


# --------------------------------------------------------------------------- EFA-enabled hot tier

EFA_SG = "sg-0efa0000000000001"
EFA_HOT = platform(
    "prod", storage={**HOT_STORAGE, "fsx": {"enabled": True, "perUnitStorageThroughput": 250}}
).storage
"""Prod's EFA training pool makes the file system EFA-enabled by default."""


@pytest.fixture
def efa_hot(run_pulumi) -> Recorded:
    def body() -> None:
        provider = k8s.Provider("k8s", kubeconfig="{}")
        refs = StorageRefs(
            vpc_id=VPC,
            subnet_ids_by_az=subnets("prod"),
            client_security_group_ids=[CLIENT_SG],
            provider=provider,
            efa_security_group_ids=[EFA_SG],
        )
        TieredStorage(NAME, EFA_HOT, refs)

    return run_pulumi(body)


def test_efa_file_system_shape(efa_hot):
    assert EFA_HOT.fsx is not None and EFA_HOT.fsx.efa
    fs = efa_hot.one(LUSTRE)
    assert fs.inputs["deploymentType"] == "PERSISTENT_2"
    assert fs.inputs["efaEnabled"] is True
    assert fs.inputs["metadataConfiguration"] == {"mode": "AUTOMATIC"}
    # Default 250 MB/s/TiB: EFA capacity in 19200 GiB increments, 1200 rounds up to one.
    assert fs.inputs["storageCapacity"] == EFA_HOT.fsx.capacity_gib == 19200


def test_efa_security_group_allows_all_traffic_with_itself_and_the_efa_nodes(efa_hot):
    group = efa_hot.one(SECURITY_GROUP, f"{NAME}-fsx")
    egress = INGRESS.replace("Ingress", "Egress")
    everything = {
        (kind, r.inputs["securityGroupId"], r.inputs["referencedSecurityGroupId"])
        for kind, token in (("in", INGRESS), ("out", egress))
        for r in efa_hot.of_type(token)
        if r.inputs["ipProtocol"] == "-1"
    }
    assert everything == {
        ("in", group.id, group.id),
        ("out", group.id, group.id),
        ("in", group.id, EFA_SG),
        ("out", group.id, EFA_SG),
        ("in", EFA_SG, group.id),
        ("out", EFA_SG, group.id),
    }
    rules = efa_hot.of_type(INGRESS) + efa_hot.of_type(egress)
    assert not any(r.inputs.get("cidrIpv4") for r in rules)


def test_a_tcp_only_file_system_has_no_efa_settings(protected):
    fs = protected.one(LUSTRE)
    assert not fs.inputs.get("efaEnabled")
    assert "metadataConfiguration" not in fs.inputs
