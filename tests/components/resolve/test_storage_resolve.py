"""Pure storage logic: the storage resolve (lifecycle rules, the hot tier's shape and AZ), bucket
and access policies, and the storage section of the stack config (every bad input a ConfigError
naming its key path). Configs are shipped stacks' with overrides, resolved as the program does."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from components.config import (
    BucketConfig,
    ConfigError,
    GpuPool,
    StorageClass,
    Transition,
)
from components.resolve.pools import training_az
from components.resolve.storage import (
    BUCKETS,
    EFA_CAPACITY_INCREMENT_GIB,
    MULTIPART_ABORT_DAYS,
    NONCURRENT_CHECKPOINT_TRANSITION_DAYS,
    aggregate_gbps,
    capacity_for,
    fsx_links,
    lifecycle_rules,
    training_pools,
)
from components.storage import (
    access_policy,
    release_policy,
    release_target_arn,
    release_task_input,
    scheduler_trust,
    storage_key_policy,
    tls_only_policy,
)
from tests.support import STACKS, config, platform, raw_config

BUCKET_NAMES = ("datasets-abc", "checkpoints-def", "models-ghi")
BUCKET_ARNS = tuple(f"arn:aws:s3:::{b}" for b in BUCKET_NAMES)
ACCOUNT = "123456789012"
ALIAS = "alias/gpu-platform-dev-storage"
KEY_ARNS = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/*"
DEPLOYER = "arn:aws:iam::123456789012:role/deploy"


def access(read: list[str], write: list[str]) -> str:
    return access_policy("aws", "us-east-1", ACCOUNT, ALIAS, read=read, write=write)


def key_statement_is_alias_scoped(statement: dict[str, Any]) -> None:
    """The storage key, named by its alias (its ARN is unknown before it exists), through S3."""
    assert as_list(statement["Resource"]) == [KEY_ARNS]
    assert statement["Condition"] == {
        "ForAnyValue:StringEquals": {"kms:ResourceAliases": ALIAS},
        "StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"},
    }


WRITE_ACTIONS = {"s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}
POOL_STACK = "prod"
"""Three AZs and the hot tier on."""
AZS = config(POOL_STACK).availability_zones
ADDONS = {**json.loads(raw_config(POOL_STACK)["gpu-platform:addons"]), "triton": False}
"""The stack's add-ons without Triton, which needs an inference pool the tests may not have."""


def bucket(*transitions: tuple[int, StorageClass], expire: int | None = None) -> BucketConfig:
    return BucketConfig(
        transitions=[Transition(days=d, storage_class=c) for d, c in transitions],
        noncurrent_expiration_days=expire,
    )


def only_rule(name: str, bucket_config: BucketConfig) -> dict[str, Any]:
    rules = lifecycle_rules(name, bucket_config)
    assert len(rules) == 1
    return rules[0]


def statements(policy: str) -> list[dict[str, Any]]:
    return list(json.loads(policy)["Statement"])


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


# --------------------------------------------------------------------------- lifecycle_rules


@pytest.mark.parametrize("name", ["datasets", "checkpoints", "models"])
@pytest.mark.parametrize(
    "bucket_config",
    [bucket(), bucket((30, StorageClass.STANDARD_IA)), bucket(expire=10)],
    ids=["default", "transition", "expire"],
)
def test_every_bucket_aborts_incomplete_multipart_uploads(name, bucket_config):
    rule = only_rule(name, bucket_config)
    assert rule["status"] == "Enabled"
    assert rule["filter"] == {"prefix": ""}  # the whole bucket
    assert rule["abort_incomplete_multipart_upload"] == {
        "days_after_initiation": MULTIPART_ABORT_DAYS
    }
    assert MULTIPART_ABORT_DAYS == 7


def test_transitions_keep_config_order_and_storage_classes():
    bucket_config = bucket(
        (30, StorageClass.STANDARD_IA),
        (90, StorageClass.GLACIER_IR),
        (180, StorageClass.GLACIER),
        (365, StorageClass.DEEP_ARCHIVE),
    )
    rule = only_rule("datasets", bucket_config)
    assert rule["transitions"] == [
        {"days": 30, "storage_class": "STANDARD_IA"},
        {"days": 90, "storage_class": "GLACIER_IR"},
        {"days": 180, "storage_class": "GLACIER"},
        {"days": 365, "storage_class": "DEEP_ARCHIVE"},
    ]
    # Plain strings (what the provider takes), not the enum.
    assert all(type(t["storage_class"]) is str for t in rule["transitions"])


@pytest.mark.parametrize("name", ["datasets", "checkpoints", "models"])
def test_no_transitions_key_when_none_configured(name):
    assert "transitions" not in only_rule(name, bucket())


def test_checkpoints_move_noncurrent_versions_to_glacier_ir_and_expire_them():
    rule = only_rule("checkpoints", bucket(expire=400))
    assert rule["noncurrent_version_transitions"] == [
        {"noncurrent_days": NONCURRENT_CHECKPOINT_TRANSITION_DAYS, "storage_class": "GLACIER_IR"}
    ]
    assert rule["noncurrent_version_expiration"] == {"noncurrent_days": 400}


def test_checkpoints_without_expiration_keep_noncurrent_versions_in_glacier_ir():
    rule = only_rule("checkpoints", bucket())
    assert rule["noncurrent_version_transitions"][0]["storage_class"] == "GLACIER_IR"
    assert "noncurrent_version_expiration" not in rule


@pytest.mark.parametrize("name", ["datasets", "models"])
def test_other_buckets_get_no_noncurrent_transition(name):
    assert "noncurrent_version_transitions" not in only_rule(name, bucket())
    rule = only_rule(name, bucket(expire=90))
    assert "noncurrent_version_transitions" not in rule
    assert rule["noncurrent_version_expiration"] == {"noncurrent_days": 90}


@pytest.mark.parametrize("expire", [1, 7, 29, NONCURRENT_CHECKPOINT_TRANSITION_DAYS])
def test_noncurrent_expiration_not_after_the_transition_drops_the_transition(expire):
    # S3 rejects a noncurrent transition that is not strictly before the noncurrent expiration.
    rule = only_rule("checkpoints", bucket(expire=expire))
    assert "noncurrent_version_transitions" not in rule
    assert rule["noncurrent_version_expiration"] == {"noncurrent_days": expire}


def test_noncurrent_expiration_one_day_after_the_transition_keeps_it():
    rule = only_rule("checkpoints", bucket(expire=NONCURRENT_CHECKPOINT_TRANSITION_DAYS + 1))
    assert len(rule["noncurrent_version_transitions"]) == 1


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(["datasets", "checkpoints", "models"]),
    days=st.lists(st.integers(min_value=0, max_value=3000), max_size=5, unique=True),
    classes=st.lists(st.sampled_from(list(StorageClass)), min_size=5, max_size=5),
    expire=st.none() | st.integers(min_value=1, max_value=3000),
)
def test_lifecycle_rules_are_consistent_for_any_valid_bucket(name, days, classes, expire):
    ordered = sorted(days)
    pairs = list(zip(ordered, classes, strict=False))
    try:
        bucket_config = bucket(*pairs, expire=expire)
    except ValidationError:
        assume(False)  # the model refuses lifecycles S3 would refuse; the property is for the rest
        return
    rule = only_rule(name, bucket_config)
    assert [t["days"] for t in rule.get("transitions", [])] == ordered
    for transition in rule.get("noncurrent_version_transitions", []):
        assert expire is None or transition["noncurrent_days"] < expire
    if "noncurrent_version_transitions" in rule:
        assert rule["noncurrent_version_transitions"]  # never an empty list
    assert ("noncurrent_version_expiration" in rule) is (expire is not None)


# --------------------------------------------------------------------------- tls_only_policy


def test_tls_only_policy_denies_every_insecure_request_to_bucket_and_objects():
    arn = BUCKET_ARNS[0]
    document = json.loads(tls_only_policy(arn))
    assert document["Version"] == "2012-10-17"
    [statement] = document["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Principal"] == "*"
    assert statement["Action"] == "s3:*"
    assert sorted(statement["Resource"]) == sorted([arn, f"{arn}/*"])
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


# --------------------------------------------------------------------------- access_policy


def test_training_shape_reads_datasets_writes_checkpoints_and_uses_the_key():
    datasets, checkpoints, models = BUCKET_ARNS
    found = statements(access(read=[BUCKET_NAMES[0]], write=[BUCKET_NAMES[1]]))
    by_sid = {s["Sid"]: s for s in found}
    assert set(by_sid) == {"ListBuckets", "ReadObjects", "WriteObjects", "UseStorageKey"}
    assert sorted(as_list(by_sid["ListBuckets"]["Resource"])) == sorted([datasets, checkpoints])
    assert as_list(by_sid["WriteObjects"]["Resource"]) == [f"{checkpoints}/*"]
    assert set(by_sid["WriteObjects"]["Action"]) == WRITE_ACTIONS
    key_statement_is_alias_scoped(by_sid["UseStorageKey"])
    assert "kms:GenerateDataKey" in by_sid["UseStorageKey"]["Action"]
    assert models not in json.dumps(found)


def test_read_only_policy_has_no_writes_and_no_data_key():
    found = statements(access(read=[BUCKET_NAMES[2]], write=[]))
    actions = {a for s in found for a in as_list(s["Action"])}
    assert not actions & WRITE_ACTIONS
    assert "kms:GenerateDataKey" not in actions
    assert {"kms:Decrypt", "s3:GetObject", "s3:ListBucket"} <= actions


name_sets = st.sets(st.sampled_from(BUCKET_NAMES))


@settings(max_examples=100, deadline=None)
@given(read_names=name_sets, write_names=name_sets)
def test_access_policy_grants_least_privilege(read_names, write_names):
    found = statements(access(read=sorted(read_names), write=sorted(write_names)))
    read = {f"arn:aws:s3:::{b}" for b in read_names}
    write = {f"arn:aws:s3:::{b}" for b in write_names}
    assert all(s["Effect"] == "Allow" for s in found)
    for statement in found:
        actions = as_list(statement["Action"])
        resources = as_list(statement["Resource"])
        assert "s3:*" not in actions and "*" not in actions
        assert not any(a.endswith(":*") for a in actions)
        assert "*" not in resources
        if any(a.startswith("kms:") for a in actions):
            key_statement_is_alias_scoped(statement)
            continue
        if set(actions) & WRITE_ACTIONS:
            # Writes only on the write buckets' objects, never a bucket ARN or a read bucket.
            assert set(resources) == {f"{arn}/*" for arn in write}
    all_actions = {a for s in found for a in as_list(s["Action"])}
    assert ("kms:GenerateDataKey" in all_actions) is bool(write)
    put_resources = {
        r for s in found if "s3:PutObject" in as_list(s["Action"]) for r in as_list(s["Resource"])
    }
    for arn in read - write:
        assert f"{arn}/*" not in put_resources
        assert arn not in put_resources
    # Everything granted is readable; nothing beyond the named buckets.
    s3_resources = {
        r for s in found for r in as_list(s["Resource"]) if r.startswith("arn:aws:s3:::")
    }
    assert {r.removesuffix("/*") for r in s3_resources} == read | write


# --------------------------------------------------------------------------- resolve_storage


@pytest.mark.parametrize("stack", STACKS)
def test_each_bucket_spec_is_its_configured_lifecycle(stack):
    stack_config = config(stack)
    spec = platform(stack).storage
    assert [b.name for b in spec.buckets] == list(BUCKETS)
    for name in BUCKETS:
        bucket_config = getattr(stack_config.storage, name)
        assert spec.bucket(name).lifecycle_rules == lifecycle_rules(name, bucket_config)
        assert spec.bucket(name).expected_size_gib == bucket_config.expected_size_gib
    assert spec.namespace == stack_config.storage.training_namespace
    assert spec.protect is stack_config.protect
    assert spec.region == stack_config.region


@pytest.mark.parametrize("stack", STACKS)
def test_the_hot_tier_is_resolved_only_when_enabled(stack):
    stack_config = config(stack)
    spec = platform(stack)
    fsx = stack_config.storage.fsx
    if not fsx.enabled:
        assert spec.storage.fsx is None
        return
    assert spec.storage.fsx is not None
    served = training_pools(spec.pools)
    assert spec.storage.fsx.efa is any(p.efa for p in served)
    assert spec.storage.fsx.capacity_gib == capacity_for(
        fsx.storage_capacity_gib,
        fsx.per_unit_storage_throughput,
        spec.storage.fsx.efa,
        fsx.target_gbps_per_training_node,
        sum(p.max_size for p in served),
    )
    assert spec.storage.fsx.throughput_per_tib == fsx.per_unit_storage_throughput
    assert spec.storage.fsx.csi_driver_version == spec.cluster.addons.fsx_csi_driver
    assert spec.storage.fsx.release.after_days == fsx.release_after_days
    assert spec.storage.fsx.release.schedule == fsx.release_schedule
    assert spec.storage.fsx.alarm_emails == tuple(fsx.alarm_emails)
    assert spec.storage.fsx.log_level == "WARN_ERROR"
    assert spec.storage.fsx.az == training_az(
        stack_config.gpu_pools, stack_config.availability_zones
    )


def test_the_shipped_stacks_cover_both_hot_tier_cases():
    assert {config(stack).storage.fsx.enabled for stack in STACKS} == {True, False}


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stacks_keep_the_durable_copy_recoverable(stack):
    storage = config(stack).storage
    assert storage.fsx.automatic_backup_retention_days == 0
    for name in BUCKETS:
        expire = getattr(storage, name).noncurrent_expiration_days
        assert expire is None or expire >= storage.recovery_window_days, name
    if storage.fsx.enabled:
        for name in ("datasets", "checkpoints"):
            classes = {t.storage_class for t in getattr(storage, name).transitions}
            assert not classes & {StorageClass.GLACIER, StorageClass.DEEP_ARCHIVE}, name


# --------------------------------------------------------------------------- the hot tier's spec


def hot(**fsx: Any) -> Any:
    """The resolved hot tier of prod with these `storage.fsx` keys (TCP-only and no throughput
    target unless they say otherwise: the capacity is the configured one)."""
    storage = json.loads(raw_config(POOL_STACK)["gpu-platform:storage"])
    base = {**storage["fsx"], "efaEnabled": False}
    base.pop("targetGbpsPerTrainingNode", None)
    storage["fsx"] = {**base, **fsx}
    spec = platform(POOL_STACK, storage=storage).storage.fsx
    assert spec is not None
    return spec


def test_links_import_every_s3_change_and_export_no_deletes():
    links = {link.file_system_path: link for link in fsx_links()}
    assert {p: link.bucket for p, link in links.items()} == {
        "/datasets": "datasets",
        "/checkpoints": "checkpoints",
    }
    for link in links.values():
        assert set(link.import_events) == {"NEW", "CHANGED", "DELETED"}
        assert set(link.export_events) == {"NEW", "CHANGED"}
    assert hot().links == fsx_links()


def test_release_defaults_every_day_for_exported_files_unread_30_days():
    release = hot().release
    assert (release.after_days, release.schedule) == (30, "rate(1 day)")
    # CreateDataRepositoryTask Paths: `/` releases every exported file (only links export).
    assert release.paths == ("/",)


@pytest.mark.parametrize(
    ("capacity", "fraction", "expected_gib"),
    [(9600, None, 960), (1200, 0.2, 240), (2400, 0.05, 120)],
)
def test_free_capacity_alarm_is_the_configured_fraction_of_capacity_in_bytes(
    capacity, fraction, expected_gib
):
    extra = {} if fraction is None else {"freeCapacityAlarmFraction": fraction}
    spec = hot(storageCapacityGib=capacity, **extra)
    assert spec.free_capacity_alarm_bytes == pytest.approx(expected_gib * 1024**3, abs=1)


def test_working_set_defaults_to_the_linked_buckets_and_can_be_set():
    stack_config = config(POOL_STACK)
    linked = (
        stack_config.storage.datasets.expected_size_gib
        + stack_config.storage.checkpoints.expected_size_gib
    )
    assert stack_config.storage.models.expected_size_gib > 0  # ... and is not counted
    assert hot().working_set_gib == linked
    assert hot(workingSetGib=5000).working_set_gib == 5000


def test_release_task_input_is_a_create_data_repository_task_request():
    release = hot(releaseAfterDays=12).release
    request = json.loads(release_task_input("fs-0123456789abcdef0", release))
    assert request == {
        "Type": "RELEASE_DATA_FROM_FILESYSTEM",
        "FileSystemId": "fs-0123456789abcdef0",
        "Paths": ["/"],
        "ReleaseConfiguration": {"DurationSinceLastAccess": {"Unit": "DAYS", "Value": 12}},
        "Report": {"Enabled": False},
    }


@pytest.mark.parametrize("partition", ["aws", "aws-cn", "aws-us-gov"])
def test_release_target_is_the_universal_target_in_the_stacks_partition(partition):
    assert release_target_arn(partition) == (
        f"arn:{partition}:scheduler:::aws-sdk:fsx:createDataRepositoryTask"
    )


def test_scheduler_trust_and_release_policy_are_least_privilege():
    [trust] = statements(scheduler_trust("111122223333"))
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "111122223333"}}
    [grant] = statements(release_policy("aws", "us-east-1", "111122223333", "gpu-platform-prod"))
    assert as_list(grant["Action"]) == ["fsx:CreateDataRepositoryTask"]
    assert as_list(grant["Resource"]) == ["arn:aws:fsx:us-east-1:111122223333:file-system/*"]
    assert grant["Condition"] == {
        "StringEquals": {"aws:ResourceTag/gpu-platform/hot-tier": "gpu-platform-prod"}
    }


# --------------------------------------------------------------------------- training_az


def efa_pool(az: str | None = None, name: str = "efa") -> dict[str, Any]:
    return {
        "name": name,
        "purpose": "batch",
        "instanceTypes": ["p5.48xlarge"],
        "efa": True,
        "maxSize": 2,
        **({"availabilityZones": [az]} if az else {}),
    }


def training_pool(az: str | None = None, name: str = "train") -> dict[str, Any]:
    return {
        "name": name,
        "purpose": "training",
        "instanceTypes": ["g5.xlarge"],
        "maxSize": 2,
        **({"availabilityZones": [az]} if az else {}),
    }


def inference_pool() -> dict[str, Any]:
    return {
        "name": "infer",
        "purpose": "inference",
        "instanceTypes": ["g4dn.xlarge"],
        "maxSize": 2,
        "availabilityZones": [AZS[1]],
    }


def hot_tier_az(*pools: dict[str, Any], **overrides: Any) -> str:
    """training_az of the configured pools, checked to be where the resolved hot tier lives."""
    stack_config = config(POOL_STACK, gpuPools=list(pools), addons=ADDONS, **overrides)
    gpu_pools: list[GpuPool] = stack_config.gpu_pools
    az = training_az(gpu_pools, stack_config.availability_zones)
    fsx = platform(POOL_STACK, gpuPools=list(pools), addons=ADDONS, **overrides).storage.fsx
    assert fsx is not None
    assert fsx.az == az
    return az


def test_training_az_prefers_the_efa_pool_over_an_earlier_training_pool():
    pools = [inference_pool(), training_pool(AZS[1]), efa_pool(AZS[2])]
    assert hot_tier_az(*pools) == AZS[2]


def test_training_az_efa_pool_without_azs_uses_the_stacks_first():
    pools = [training_pool(AZS[2]), efa_pool()]
    assert hot_tier_az(*pools) == AZS[0]


def test_training_az_falls_back_to_the_first_training_pool():
    pools = [inference_pool(), training_pool(AZS[2]), training_pool(AZS[1], "t2")]
    assert hot_tier_az(*pools) == AZS[2]


@pytest.mark.parametrize("pools", [[], [inference_pool()]], ids=["no-pools", "inference-only"])
def test_training_az_defaults_to_the_first_stack_az(pools):
    azs = AZS[1:]
    # Other AZs than the shipped stack's: its pinned subnets go, the fixed address plan applies.
    assert hot_tier_az(*pools, availabilityZones=azs, subnets=None) == azs[0]


# --------------------------------------------------------------------------- config


def problems(storage: dict[str, Any]) -> dict[str, str]:
    """The problems of dev's config with this `gpu-platform:storage`."""
    with pytest.raises(ConfigError) as caught:
        config("dev", storage=storage)
    return dict(caught.value.problems)


def test_a_valid_storage_section_loads():
    stack_config = config(
        "dev",
        storage={
            "fsx": {
                "enabled": True,
                "storageCapacityGib": 4800,
                "perUnitStorageThroughput": 125,
            },
            "checkpoints": {
                "transitions": [
                    {"days": 30, "storageClass": "STANDARD_IA"},
                    {"days": 90, "storageClass": "GLACIER_IR"},
                ],
                "noncurrentExpirationDays": 60,
            },
            "models": {"transitions": [{"days": 90, "storageClass": "DEEP_ARCHIVE"}]},
            "checkpointSizeGib": 250.5,
            "trainingNamespace": "ml-train",
            "recoveryWindowDays": 60,
        },
    )
    storage = stack_config.storage
    assert storage.fsx.storage_capacity_gib == 4800
    assert storage.fsx.per_unit_storage_throughput == 125
    assert storage.checkpoints.transitions[1].storage_class is StorageClass.GLACIER_IR
    # FSx does not import the models bucket: any class goes.
    assert storage.models.transitions[0].storage_class is StorageClass.DEEP_ARCHIVE
    assert storage.checkpoint_size_gib == 250.5
    assert storage.training_namespace == "ml-train"
    assert storage.recovery_window_days == 60
    # Documented defaults of the hot tier's care.
    fsx = storage.fsx
    assert (fsx.release_after_days, fsx.release_schedule) == (30, "rate(1 day)")
    assert fsx.free_capacity_alarm_fraction == 0.1
    assert (fsx.alarm_emails, fsx.working_set_gib) == ([], None)
    assert fsx.automatic_backup_retention_days == 0
    assert config("dev", storage={}).storage.recovery_window_days == 30


@pytest.mark.parametrize("enabled", [True, False])
def test_backups_of_the_linked_file_system_are_refused(enabled):
    found = problems({"fsx": {"enabled": enabled, "automaticBackupRetentionDays": 7}})
    message = found["gpu-platform:storage.fsx.automaticBackupRetentionDays"]
    assert "7 days" in message and "linked to S3" in message


@pytest.mark.parametrize("bucket_name", ["datasets", "checkpoints"])
@pytest.mark.parametrize("storage_class", ["GLACIER", "DEEP_ARCHIVE"])
def test_archival_class_on_a_bucket_fsx_imports_is_refused(bucket_name, storage_class):
    transitions = [
        {"days": 30, "storageClass": "STANDARD_IA"},
        {"days": 365, "storageClass": storage_class},
    ]
    found = problems({"fsx": {"enabled": True}, bucket_name: {"transitions": transitions}})
    message = found[f"gpu-platform:storage.{bucket_name}.transitions[1].storageClass"]
    assert storage_class in message and "GLACIER_IR" in message


@pytest.mark.parametrize("storage_class", ["GLACIER", "DEEP_ARCHIVE"])
def test_archival_classes_are_fine_without_the_hot_tier_or_on_models(storage_class):
    transition = [{"days": 90, "storageClass": storage_class}]
    without_fsx = config("dev", storage={"checkpoints": {"transitions": transition}})
    assert without_fsx.storage.checkpoints.transitions[0].storage_class.value == storage_class
    models = config(
        "dev", storage={"fsx": {"enabled": True}, "models": {"transitions": transition}}
    )
    assert models.storage.models.transitions[0].storage_class.value == storage_class


@pytest.mark.parametrize(("window", "expire"), [(30, 14), (90, 89), (7, 6)])
def test_noncurrent_expiration_inside_the_recovery_window_is_refused(window, expire):
    found = problems(
        {"recoveryWindowDays": window, "checkpoints": {"noncurrentExpirationDays": expire}}
    )
    message = found["gpu-platform:storage.checkpoints.noncurrentExpirationDays"]
    assert f"{expire} days" in message and f"{window}-day" in message


def test_noncurrent_expiration_equal_to_the_recovery_window_loads():
    storage = config(
        "dev", storage={"recoveryWindowDays": 45, "datasets": {"noncurrentExpirationDays": 45}}
    ).storage
    assert storage.datasets.noncurrent_expiration_days == 45


@pytest.mark.parametrize(
    "schedule", ["rate(1 day)", "rate(12 hours)", "rate(2 days)", "cron(0 3 * * ? *)"]
)
def test_recurring_release_schedules_load(schedule):
    stack_config = config("dev", storage={"fsx": {"releaseSchedule": schedule}})
    assert stack_config.storage.fsx.release_schedule == schedule


@pytest.mark.parametrize(
    "schedule",
    ["at(2030-01-01T00:00:00)", "rate(1 days)", "rate(0 days)", "daily", "cron(0 3 * *)"],
)
def test_a_release_schedule_that_does_not_recur_is_refused(schedule):
    found = problems({"fsx": {"releaseSchedule": schedule}})
    assert "recurring" in found["gpu-platform:storage.fsx.releaseSchedule"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("releaseAfterDays", 0),
        ("freeCapacityAlarmFraction", 0),
        ("freeCapacityAlarmFraction", 1),
        ("workingSetGib", 0),
        ("alarmEmails", ["not-an-address"]),
    ],
)
def test_bad_release_and_alarm_settings_are_refused(key, value):
    found = problems({"fsx": {key: value}})
    assert f"gpu-platform:storage.fsx.{key}" in found


def test_capacity_that_is_not_a_persistent2_size():
    found = problems({"fsx": {"storageCapacityGib": 1000}})
    message = found["gpu-platform:storage.fsx.storageCapacityGib"]
    assert "1200" in message and "2400" in message


@pytest.mark.parametrize("capacity", [1200, 2400, 4800, 9600])
def test_persistent2_sizes_are_accepted(capacity):
    stack_config = config("dev", storage={"fsx": {"storageCapacityGib": capacity}})
    assert stack_config.storage.fsx.storage_capacity_gib == capacity


def test_throughput_that_does_not_exist():
    found = problems({"fsx": {"perUnitStorageThroughput": 300}})
    message = found["gpu-platform:storage.fsx.perUnitStorageThroughput"]
    assert all(tier in message for tier in ("125", "250", "500", "1000"))
    assert "300" in message


def test_transitions_out_of_order():
    found = problems(
        {
            "checkpoints": {
                "transitions": [
                    {"days": 90, "storageClass": "STANDARD_IA"},
                    {"days": 30, "storageClass": "GLACIER"},
                ]
            }
        }
    )
    message = found["gpu-platform:storage.checkpoints.transitions"]
    assert "30" in message and "90" in message


def test_unknown_storage_class():
    found = problems({"datasets": {"transitions": [{"days": 90, "storageClass": "GLACIER_DEEP"}]}})
    assert "GLACIER_DEEP" in found["gpu-platform:storage.datasets.transitions[0].storageClass"]


def test_negative_checkpoint_size():
    found = problems({"checkpointSizeGib": -5})
    assert "-5" in found["gpu-platform:storage.checkpointSizeGib"]


@pytest.mark.parametrize("namespace", ["Training", "ml_train", "-train", "a" * 64, ""])
def test_bad_training_namespace(namespace):
    found = problems({"trainingNamespace": namespace})
    assert "gpu-platform:storage.trainingNamespace" in found


def test_unknown_storage_key_is_named():
    found = problems({"checkpoint": {}})
    assert "gpu-platform:storage.checkpoint" in found


def test_standard_ia_transition_before_day_30_is_rejected():
    found = problems({"datasets": {"transitions": [{"days": 1, "storageClass": "STANDARD_IA"}]}})
    assert "gpu-platform:storage.datasets.transitions[0].days" in found or (
        "gpu-platform:storage.datasets.transitions" in found
    )


def key_policy(**kwargs: Any) -> dict[str, Any]:
    args = {"training_role": "storage-training-abc1234", **kwargs}
    return json.loads(storage_key_policy("aws", "us-east-1", ACCOUNT, DEPLOYER, **args))


ROOT_ARN = f"arn:aws:iam::{ACCOUNT}:root"
CRYPTO = ("kms:encrypt", "kms:decrypt", "kms:reencrypt", "kms:generatedatakey")


def grants(statement: dict[str, Any], action: str) -> bool:
    import fnmatch

    return any(fnmatch.fnmatchcase(action, a.lower()) for a in as_list(statement["Action"]))


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"model_readers": ["triton-models-read-1234567"]}, {"fsx": True}],
    ids=["training only", "with a model reader", "with the hot tier"],
)
def test_storage_key_policy_separates_administrators_from_users(kwargs):
    document = key_policy(**kwargs)
    admin, *users = document["Statement"]
    assert admin["Sid"] == "KeyAdministration"
    assert sorted(admin["Principal"]["AWS"]) == sorted([ROOT_ARN, DEPLOYER])
    assert grants(admin, "kms:putkeypolicy")  # never locked out
    assert not any(grants(admin, a) for a in CRYPTO)  # no administrator encrypts or decrypts
    assert users
    for statement in users:
        assert statement["Effect"] == "Allow"
        assert not grants(statement, "kms:putkeypolicy")
        assert not any(grants(statement, a) for a in ("kms:schedulekeydeletion", "kms:*"))
        assert ROOT_ARN not in json.dumps(statement["Principal"])
        condition = statement["Condition"]["StringEquals"]
        assert condition["kms:CallerAccount"] == ACCOUNT  # never another account's callers
        assert condition["kms:ViaService"] in (
            "s3.us-east-1.amazonaws.com",
            "fsx.us-east-1.amazonaws.com",
        )
        if DEPLOYER in json.dumps(statement["Principal"]):
            assert statement["Action"] == ["kms:GenerateDataKey"]  # seeds objects, never reads


def test_storage_key_policy_names_its_users_by_role_arn():
    by_sid = {s["Sid"]: s for s in key_policy(model_readers=["triton-a", "triton-b"])["Statement"]}
    training = by_sid["TrainingThroughS3"]
    assert training["Principal"] == {
        "AWS": [f"arn:aws:iam::{ACCOUNT}:role/storage-training-abc1234"]
    }
    assert set(training["Action"]) == {"kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"}
    readers = by_sid["ModelReadersThroughS3"]
    assert readers["Principal"]["AWS"] == [
        f"arn:aws:iam::{ACCOUNT}:role/triton-a",
        f"arn:aws:iam::{ACCOUNT}:role/triton-b",
    ]
    assert set(readers["Action"]) == {"kms:Decrypt", "kms:DescribeKey"}
    assert "FsxEncryptsFileSystem" not in by_sid
    assert "DeployerSeedsThroughS3" not in {s["Sid"] for s in key_policy()["Statement"]}


def test_storage_key_policy_lets_fsx_and_its_link_roles_use_the_key_through_services_only():
    by_sid = {s["Sid"]: s for s in key_policy(fsx=True)["Statement"]}
    fsx = by_sid["FsxEncryptsFileSystem"]
    assert fsx["Principal"] == "*"
    assert fsx["Condition"] == {
        "StringEquals": {
            "kms:ViaService": "fsx.us-east-1.amazonaws.com",
            "kms:CallerAccount": ACCOUNT,
        }
    }
    assert "kms:CreateGrant" in fsx["Action"]
    links = by_sid["FsxLinksReadAndWriteBuckets"]
    assert links["Principal"] == "*"
    assert links["Condition"]["StringEquals"]["kms:ViaService"] == "s3.us-east-1.amazonaws.com"
    assert links["Condition"]["ArnLike"]["aws:PrincipalArn"] == (
        f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/s3.data-source.lustre.fsx.amazonaws.com/"
        "AWSServiceRoleForFSxS3Access_*"
    )
    assert "kms:*" not in links["Action"]


def test_storage_key_policy_names_the_stacks_partition():
    china = {
        "aws:region": "cn-north-1",
        "availabilityZones": ["cn-north-1a", "cn-north-1b"],
        "subnets": None,  # the fixed address plan for the new AZs
    }
    spec = platform("dev", **china).storage
    assert spec.partition == "aws-cn"
    document = json.loads(
        storage_key_policy(
            spec.partition,
            spec.region,
            "111122223333",
            spec.deployer_arn,
            training_role="t",
            fsx=True,
        )
    )
    admin, training = document["Statement"][:2]
    assert "arn:aws-cn:iam::111122223333:root" in admin["Principal"]["AWS"]
    assert training["Principal"]["AWS"] == ["arn:aws-cn:iam::111122223333:role/t"]
    via = training["Condition"]["StringEquals"]["kms:ViaService"]
    assert via.startswith("s3.cn-north-1.")


# --------------------------------------------------------------------------- EFA and throughput


def efa_hot(*pools: dict[str, Any], **fsx: Any) -> Any:
    """The hot tier of prod with these pools and `storage.fsx` keys."""
    storage = {"fsx": {"enabled": True, **fsx}}
    spec = platform(POOL_STACK, gpuPools=list(pools), addons=ADDONS, storage=storage).storage.fsx
    assert spec is not None
    return spec


@pytest.mark.parametrize(
    ("per_tib", "step"), [(1000, 4800), (500, 9600), (250, 19200), (125, 38400)]
)
def test_an_efa_pool_makes_the_file_system_efa_enabled_in_its_tiers_increments(per_tib, step):
    spec = efa_hot(efa_pool(), perUnitStorageThroughput=per_tib)
    assert spec.efa and spec.metadata_mode == "AUTOMATIC" and spec.metadata_iops is None
    assert spec.capacity_gib == step
    assert spec.free_capacity_alarm_bytes == int(step * 1024**3 * 0.1)


def test_without_an_efa_pool_the_file_system_is_tcp_only_and_keeps_its_capacity():
    spec = efa_hot(training_pool(), storageCapacityGib=4800)
    assert not spec.efa and spec.metadata_mode is None
    assert spec.capacity_gib == 4800


def test_efa_can_be_turned_off_and_metadata_iops_provisioned():
    assert not efa_hot(efa_pool(), efaEnabled=False).efa
    spec = efa_hot(efa_pool(), metadataIops=24000)
    assert (spec.metadata_mode, spec.metadata_iops) == ("USER_PROVISIONED", 24000)


def test_efa_without_an_efa_pool_is_refused_naming_the_key():
    with pytest.raises(ConfigError) as caught:
        efa_hot(training_pool(), efaEnabled=True)
    assert "gpu-platform:storage.fsx.efaEnabled" in dict(caught.value.problems)


@pytest.mark.parametrize("iops", [1000, 13000, 204000])
def test_metadata_iops_outside_the_fsx_values_are_refused(iops):
    assert "gpu-platform:storage.fsx.metadataIops" in problems(
        {"fsx": {"enabled": True, "metadataIops": iops}}
    )


def test_the_target_raises_capacity_to_the_smallest_increment_that_meets_it():
    # 4 p5 nodes x 1 GB/s at 125 MB/s/TiB: 32 TiB, so one 38400 GiB increment (4.69 GB/s).
    pool = {**efa_pool(), "maxSize": 4}
    spec = efa_hot(pool, perUnitStorageThroughput=125, targetGbpsPerTrainingNode=1.0)
    assert spec.capacity_gib == 38400 and spec.training_nodes_at_max == 4
    assert aggregate_gbps(spec.capacity_gib, 125) / 4 >= 1.0
    # 2 GB/s needs 64 TiB: two increments.
    spec = efa_hot(pool, perUnitStorageThroughput=125, targetGbpsPerTrainingNode=2.0)
    assert spec.capacity_gib == 2 * 38400
    # TCP-only: 1200, 2400, then steps of 2400 GiB.
    spec = efa_hot(training_pool(), perUnitStorageThroughput=250, targetGbpsPerTrainingNode=0.5)
    assert spec.capacity_gib == 4800  # 2 nodes x 0.5 GB/s at 250 MB/s/TiB = 4 TiB
    # At the default 125 MB/s/TiB the same target needs 8 TiB.
    spec = efa_hot(training_pool(), targetGbpsPerTrainingNode=0.5)
    assert spec.throughput_per_tib == 125 and spec.capacity_gib == 9600


@given(
    per_tib=st.sampled_from([125, 250, 500, 1000]),
    efa=st.booleans(),
    target=st.floats(min_value=0.01, max_value=50),
    nodes=st.integers(min_value=1, max_value=64),
)
@settings(max_examples=200, deadline=None)
def test_capacity_for_is_the_smallest_valid_size_meeting_the_target(per_tib, efa, target, nodes):
    got = capacity_for(1200, per_tib, efa, target, nodes)
    step = EFA_CAPACITY_INCREMENT_GIB[per_tib] if efa else 2400
    assert aggregate_gbps(got, per_tib) / nodes >= target - 1e-9
    assert got % step == 0 or (not efa and got == 1200)
    smaller = got - step
    if smaller >= (step if efa else 1200):
        assert aggregate_gbps(smaller, per_tib) / nodes < target


def test_a_target_above_a_nodes_network_is_refused_naming_the_key():
    # p5.48xlarge: 3200 Gbps = 400 GB/s; no file system can feed a node faster.
    with pytest.raises(ConfigError) as caught:
        efa_hot(efa_pool(), targetGbpsPerTrainingNode=500)
    [(key, message)] = caught.value.problems
    assert key == "gpu-platform:storage.fsx.targetGbpsPerTrainingNode"
    assert "p5.48xlarge" in message


def test_data_users_use_the_storage_key_through_s3_only():
    users = ["arn:aws:iam::123456789012:role/data-engineers", "arn:aws:iam::123456789012:user/etl"]
    by_sid = {s["Sid"]: s for s in key_policy(data_users=users)["Statement"]}
    statement = by_sid["DataUsersThroughS3"]
    assert statement["Principal"] == {"AWS": sorted(users)}
    assert set(statement["Action"]) == {"kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"}
    assert statement["Condition"]["StringEquals"] == {
        "kms:ViaService": "s3.us-east-1.amazonaws.com",
        "kms:CallerAccount": ACCOUNT,
    }
    assert "DataUsersThroughS3" not in {s["Sid"] for s in key_policy()["Statement"]}


def test_data_users_come_from_the_config_and_must_be_iam_principals():
    user = "arn:aws:iam::123456789012:role/data-engineers"
    spec = platform("dev", storage={"dataUserArns": [user]}).storage
    assert spec.data_user_arns == (user,)
    assert platform("dev").storage.data_user_arns == ()
    found = problems({"dataUserArns": ["data-engineers"]})
    assert "gpu-platform:storage.dataUserArns[0]" in found
