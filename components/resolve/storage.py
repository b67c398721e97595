"""Resolve the storage tiers: bucket lifecycles, the hot tier's shape and where it lives."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from components.config import PROJECT_NAMESPACE, BucketConfig, ConfigError, PoolPurpose, StackConfig
from components.resolve.compute import GpuPoolSpec

BUCKETS = ("datasets", "checkpoints", "models")
FSX_LINKS = {"/datasets": "datasets", "/checkpoints": "checkpoints"}
"""File-system path -> bucket linked by a data repository association."""
MULTIPART_ABORT_DAYS = 7
NONCURRENT_CHECKPOINT_TRANSITION_DAYS = 30
LINK_IMPORT_EVENTS = ("NEW", "CHANGED", "DELETED")
"""S3 -> FSx: the file system follows the bucket, deletions included (a version deleted in S3
stays restorable from its noncurrent version for the recovery window)."""
LINK_EXPORT_EVENTS = ("NEW", "CHANGED")
"""FSx -> S3: never DELETED, so removing or rotating a file on the hot tier never deletes the
durable copy (FSx API S3DataRepositoryConfiguration AutoExportPolicy: NEW, CHANGED, DELETED)."""
FSX_LOG_LEVEL = "WARN_ERROR"
"""Data repository events FSx logs (FSx API LustreLogCreateConfiguration Level)."""
FSX_LOG_RETENTION_DAYS = 90
"""Retention of the file system's event log group."""
GIB = 1024**3
EFA_CAPACITY_INCREMENT_GIB = {1000: 4800, 500: 9600, 250: 19200, 125: 38400}
"""MB/s/TiB -> capacity increment (GiB) of an EFA-enabled PERSISTENT_2 file system (FSx Lustre
user guide, "Working with EFA-enabled file systems" and "Increasing storage capacity": multiples of
4800, 9600, 19200 and 38400 GiB for 1000, 500, 250 and 125 MB/s/TiB)."""
METADATA_AUTOMATIC = "AUTOMATIC"
METADATA_PROVISIONED = "USER_PROVISIONED"
"""FSx API CreateFileSystemLustreMetadataConfiguration Mode (pulumi_aws 7.x
`fsx.LustreFileSystemMetadataConfigurationArgs(mode, iops)`)."""
TARGET_KEY = f"{PROJECT_NAMESPACE}:storage.fsx.targetGbpsPerTrainingNode"
RELEASE_PATHS = ("/",)
"""FSx API CreateDataRepositoryTask Paths, for release tasks: "to release all exported files in
the file system, specify a forward slash (/)"."""


@dataclass(frozen=True)
class LinkSpec:
    """One data repository association: a file-system directory and its bucket."""

    file_system_path: str
    """Absolute path on the file system, e.g. `/checkpoints`."""
    bucket: str
    """Logical bucket name."""
    import_events: tuple[str, ...]
    export_events: tuple[str, ...]


@dataclass(frozen=True)
class ReleaseSpec:
    """The scheduled `RELEASE_DATA_FROM_FILESYSTEM` data repository task."""

    after_days: int
    """Release exported files whose last access is older than this (DurationSinceLastAccess)."""
    schedule: str
    """EventBridge Scheduler expression."""
    paths: tuple[str, ...]
    """File-system paths to release from (CreateDataRepositoryTask Paths; `/` releases every
    exported file, and only files under the links are ever exported)."""


@dataclass(frozen=True)
class BucketSpec:
    name: str
    """Logical name: datasets, checkpoints or models."""
    expected_size_gib: float
    lifecycle_rules: list[dict[str, Any]]
    """pulumi-aws argument names."""


@dataclass(frozen=True)
class FsxSpec:
    capacity_gib: int
    throughput_per_tib: int
    az: str
    """The training pool's AZ: the file servers live next to the GPUs."""
    csi_driver_version: str | None
    """None: EKS's default build (see components/versions.py)."""
    links: tuple[LinkSpec, ...]
    release: ReleaseSpec
    free_capacity_alarm_bytes: int
    """Alarm when FreeDataStorageCapacity (bytes) falls below this."""
    alarm_emails: tuple[str, ...]
    working_set_gib: float
    """Data the hot tier must hold at once; tagged on the file system for the plan."""
    log_level: str = FSX_LOG_LEVEL
    log_retention_days: int = FSX_LOG_RETENTION_DAYS
    efa: bool = False
    """EFA-enabled (`efaEnabled`, GPUDirect Storage from P5-class clients): the training pool uses
    EFA. Needs PERSISTENT_2, a metadata configuration and an EFA-enabled security group (all
    traffic within itself and with the clients' security groups, by id; FSx Lustre user guide,
    "EFA-enabled security groups"); fixed at creation."""
    metadata_mode: str | None = None
    """AUTOMATIC or USER_PROVISIONED on an EFA-enabled file system; None: no configuration."""
    metadata_iops: int | None = None
    """With USER_PROVISIONED only."""
    training_nodes_at_max: int = 0
    """Nodes of the training pools at their maximum (what the throughput target divides by)."""


def aggregate_gbps(capacity_gib: int, throughput_per_tib: int) -> float:
    """Pure: the file system's aggregate throughput in GB/s (capacity TiB x MB/s/TiB)."""
    return capacity_gib / 1024 * throughput_per_tib / 1000


def training_pools(pools: Sequence[GpuPoolSpec]) -> list[GpuPoolSpec]:
    """The pools the hot tier serves: the EFA pools, else the `training` pools (as the plan)."""
    efa = [p for p in pools if p.efa]
    return efa or [p for p in pools if p.purpose is PoolPurpose.TRAINING]


def capacity_for(
    configured_gib: int, per_tib: int, efa: bool, target_gbps: float | None, nodes: int
) -> int:
    """Pure: the smallest valid capacity >= the configured one whose aggregate throughput over
    `nodes` meets `target_gbps` (EFA-enabled: multiples of the tier's increment; otherwise 1200,
    2400, then steps of 2400 GiB)."""
    needed = float(configured_gib)
    if target_gbps is not None and nodes:
        needed = max(needed, target_gbps * nodes * 1000 / per_tib * 1024)
    if efa:
        step = EFA_CAPACITY_INCREMENT_GIB[per_tib]
        return max(1, math.ceil(needed / step)) * step
    if needed <= 1200:
        return 1200
    return math.ceil(needed / 2400) * 2400


def check_target(target_gbps: float | None, pools: Sequence[GpuPoolSpec]) -> None:
    """Refuse a target no file system can meet: more than the network bandwidth of a training
    node (catalog `network_bandwidth_gbps`, the slowest instance type of the pools) carries.
    Without a training pool the target sizes nothing (the configured capacity stands)."""
    served = training_pools(pools)
    if target_gbps is None or not served:
        return
    types = [t for p in served for t in p.instance_types]
    slowest = min(types, key=lambda t: t.network_bandwidth_gbps)
    limit = slowest.network_bandwidth_gbps / 8
    if target_gbps > limit:
        raise ConfigError(
            [
                (
                    TARGET_KEY,
                    f"{target_gbps:g} GB/s per node exceeds what a {slowest.name} node's network "
                    f"carries ({slowest.network_bandwidth_gbps:g} Gbps = {limit:g} GB/s): no FSx "
                    "capacity or throughput tier meets it",
                )
            ]
        )


@dataclass(frozen=True)
class StorageSpec:
    """Warm buckets with their cold-tier lifecycles, and the hot tier when it is on."""

    region: str
    partition: str
    cluster_name: str
    buckets: tuple[BucketSpec, ...]
    fsx: FsxSpec | None
    namespace: str
    """Namespace of the FSx claim and the training service account."""
    protect: bool
    deployer_arn: str
    """`deployer.principalArn`: administers the storage key (and writes the seeded objects)."""
    data_user_arns: tuple[str, ...]
    """`storage.dataUserArns`: further key users through S3."""

    def bucket(self, name: str) -> BucketSpec:
        return next(b for b in self.buckets if b.name == name)


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


def fsx_links() -> tuple[LinkSpec, ...]:
    """Pure: the hot tier's links, each importing every S3 change and exporting no deletions."""
    return tuple(
        LinkSpec(path, bucket, LINK_IMPORT_EVENTS, LINK_EXPORT_EVENTS)
        for path, bucket in FSX_LINKS.items()
    )


def resolve_fsx(
    config: StackConfig,
    fsx_az: str,
    csi_driver_version: str | None,
    pools: Sequence[GpuPoolSpec] = (),
) -> FsxSpec:
    """Pure: the hot tier's shape, release task, alarm and working set. EFA-enabled when a
    training pool uses EFA; the capacity is raised to meet the per-node throughput target.
    Raises ConfigError for a target no capacity meets."""
    storage = config.storage
    fsx = storage.fsx
    check_target(fsx.target_gbps_per_training_node, pools)
    served = training_pools(pools)
    nodes = sum(p.max_size for p in served)
    efa = any(p.efa for p in served) if fsx.efa_enabled is None else fsx.efa_enabled
    if efa and not any(p.efa for p in served):
        raise ConfigError(
            [
                (
                    f"{PROJECT_NAMESPACE}:storage.fsx.efaEnabled",
                    "an EFA-enabled file system needs a GPU pool with efa: true (its clients)",
                )
            ]
        )
    capacity = capacity_for(
        fsx.storage_capacity_gib,
        fsx.per_unit_storage_throughput,
        efa,
        fsx.target_gbps_per_training_node,
        nodes,
    )
    metadata_mode = None
    if efa:
        metadata_mode = METADATA_PROVISIONED if fsx.metadata_iops else METADATA_AUTOMATIC
    links = fsx_links()
    working_set = fsx.working_set_gib
    if working_set is None:
        working_set = sum(getattr(storage, link.bucket).expected_size_gib for link in links)
    return FsxSpec(
        capacity_gib=capacity,
        throughput_per_tib=fsx.per_unit_storage_throughput,
        az=fsx_az,
        csi_driver_version=csi_driver_version,
        links=links,
        release=ReleaseSpec(
            after_days=fsx.release_after_days,
            schedule=fsx.release_schedule,
            paths=RELEASE_PATHS,
        ),
        free_capacity_alarm_bytes=int(capacity * GIB * fsx.free_capacity_alarm_fraction),
        alarm_emails=tuple(fsx.alarm_emails),
        working_set_gib=working_set,
        efa=efa,
        metadata_mode=metadata_mode,
        metadata_iops=fsx.metadata_iops if efa else None,
        training_nodes_at_max=nodes,
    )


def resolve_storage(
    config: StackConfig,
    partition: str,
    cluster_name: str,
    fsx_az: str,
    csi_driver_version: str | None,
    pools: Sequence[GpuPoolSpec] = (),
) -> StorageSpec:
    """Pure: lifecycle rules per bucket and the file system's shape (validated by the config)."""
    storage = config.storage
    fsx = storage.fsx
    return StorageSpec(
        region=config.region,
        partition=partition,
        cluster_name=cluster_name,
        buckets=tuple(
            BucketSpec(
                name=name,
                expected_size_gib=getattr(storage, name).expected_size_gib,
                lifecycle_rules=lifecycle_rules(name, getattr(storage, name)),
            )
            for name in BUCKETS
        ),
        fsx=resolve_fsx(config, fsx_az, csi_driver_version, pools) if fsx.enabled else None,
        namespace=storage.training_namespace,
        protect=config.protect,
        deployer_arn=config.deployer.principal_arn,
        data_user_arns=tuple(storage.data_user_arns),
    )
