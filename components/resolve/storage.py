"""Resolve the storage tiers: bucket lifecycles, the hot tier's shape and where it lives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.config import BucketConfig, StackConfig

BUCKETS = ("datasets", "checkpoints", "models")
FSX_LINKS = {"/datasets": "datasets", "/checkpoints": "checkpoints"}
"""File-system path -> bucket linked by a data repository association."""
MULTIPART_ABORT_DAYS = 7
NONCURRENT_CHECKPOINT_TRANSITION_DAYS = 30


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
    backup_days: int
    az: str
    """The training pool's AZ: the file servers live next to the GPUs."""
    csi_driver_version: str


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


def resolve_storage(
    config: StackConfig, partition: str, cluster_name: str, fsx_az: str, csi_driver_version: str
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
        fsx=FsxSpec(
            capacity_gib=fsx.storage_capacity_gib,
            throughput_per_tib=fsx.per_unit_storage_throughput,
            backup_days=fsx.automatic_backup_retention_days,
            az=fsx_az,
            csi_driver_version=csi_driver_version,
        )
        if fsx.enabled
        else None,
        namespace=storage.training_namespace,
        protect=config.protect,
    )
