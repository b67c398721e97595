"""Resolve Mountpoint for Amazon S3: which bucket prefixes each team namespace mounts, with which
mount options, and what the driver's role may reach.

Names and behaviour checked against awslabs/mountpoint-s3-csi-driver tag v2.7.0:
- CSI driver `s3.csi.aws.com`, static provisioning only (docs/CONFIGURATION.md "Static
  Provisioning": PV and PVC `storageClassName: ""`, `claimRef` / `volumeName`, a unique
  `volumeHandle`, `volumeAttributes.bucketName`, Mountpoint flags as `mountOptions`).
- Driver-level credentials through EKS Pod Identity for the service account `s3-csi-driver-sa` in
  `kube-system` (docs/CONFIGURATION.md "Driver-Level Credentials with EKS Pod Identity";
  charts/aws-mountpoint-s3-csi-driver/values.yaml `node.serviceAccount.name`). The Mountpoint
  Pods (`mp-*`, namespace `mount-s3`, values.yaml `mountpointPod.namespace`) use those credentials.
- The node DaemonSet tolerates every taint (values.yaml `node.tolerateAllTaints: true`, a v2
  default for the Helm chart and the EKS add-on, docs/UPGRADING_TO_V2.md), so it runs on the
  `nvidia.com/gpu` and spot-tainted GPU nodes; the Mountpoint Pods tolerate every taint too
  (pkg/podmounter/mppod/creator.go).
- Mount options (awslabs/mountpoint-s3 doc/CONFIGURATION.md): `region`, `prefix` (ending in `/`),
  `read-only`, `allow-delete`, `allow-other`, `maximum-throughput-gbps`. `region` is always set:
  with the nodes' IMDS hop limit of 1 the Mountpoint Pods cannot detect it (docs/UPGRADING_TO_V2.md
  at v2.7.0, "IMDS might not be accessible"). IAM: `s3:ListBucket` on the bucket, scoped to a
  prefix by the `s3:prefix` condition key, `s3:GetObject` to read, `s3:PutObject` and
  `s3:AbortMultipartUpload` to write, `s3:DeleteObject` to delete.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from components.config import PROJECT_NAMESPACE, ConfigError, StackConfig

ADDON_NAME = "aws-mountpoint-s3-csi-driver"
CSI_DRIVER = "s3.csi.aws.com"
DRIVER_NAMESPACE = "kube-system"
DRIVER_SERVICE_ACCOUNT = "s3-csi-driver-sa"
MOUNTPOINT_POD_NAMESPACE = "mount-s3"
CLAIM_PREFIX = "s3-"
"""A team namespace's claim of a bucket is `s3-<bucket>`."""
CAPACITY = "1200Gi"
"""Ignored by the driver, required by Kubernetes (the upstream examples' value)."""
CONFIGURATION = json.dumps({"node": {"tolerateAllTaints": True}}, sort_keys=True)
"""Add-on configuration values: the node plugin on every node, GPU and spot taints included
(the v2 default, stated so a change of default cannot take it off the GPU nodes)."""
KEY = f"{PROJECT_NAMESPACE}:storage.mountpoint"


@dataclass(frozen=True)
class S3Volume:
    """One team's static PersistentVolume and claim of one bucket prefix."""

    team: str
    """The namespace of the claim."""
    bucket: str
    """Logical bucket: datasets, checkpoints or models."""
    prefix: str
    """Key prefix mounted ("" for the whole bucket), ending in `/`."""
    read_only: bool
    maximum_throughput_gbps: float | None = None
    """Mountpoint's target throughput; None: its default (10 Gbps without IMDS)."""

    @property
    def claim(self) -> str:
        return f"{CLAIM_PREFIX}{self.bucket}"

    @property
    def volume(self) -> str:
        """The cluster-scoped PersistentVolume (also its unique `volumeHandle`)."""
        return f"{CLAIM_PREFIX}{self.bucket}-{self.team}"


@dataclass(frozen=True)
class MountpointSpec:
    cluster_name: str
    region: str
    addon_version: str | None
    """None: EKS's default build (components/versions.py)."""
    volumes: tuple[S3Volume, ...]
    configuration: str = CONFIGURATION

    def mount_options(self, volume: S3Volume) -> list[str]:
        """Pure: the PV's `mountOptions` (Mountpoint flags without the leading `--`)."""
        options = [f"region {self.region}"]
        if volume.prefix:
            options.append(f"prefix {volume.prefix}")
        options.append("read-only" if volume.read_only else "allow-delete")
        if volume.maximum_throughput_gbps is not None:
            options.append(f"maximum-throughput-gbps {volume.maximum_throughput_gbps:g}")
        # Containers that do not run as the Mountpoint Pod's user (any uid) can read the files.
        options.append("allow-other")
        return options

    def grants(self) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
        """Pure: per bucket, the prefixes the driver's role reads and those it writes (each
        sorted, "" meaning the whole bucket)."""
        out: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        for bucket in dict.fromkeys(v.bucket for v in self.volumes):
            mine = [v for v in self.volumes if v.bucket == bucket]
            read = tuple(sorted({v.prefix for v in mine}))
            write = tuple(sorted({v.prefix for v in mine if not v.read_only}))
            out[bucket] = (read, write)
        return out


def resolve_mountpoint(
    config: StackConfig, cluster_name: str, addon_version: str | None
) -> MountpointSpec | None:
    """Pure: the volumes of every team (None when off). Raises ConfigError when on without
    teams, or when a volume names a team the stack does not have."""
    mp = config.storage.mountpoint
    if not mp.enabled:
        return None
    teams = [t.name for t in config.teams]
    if not teams:
        raise ConfigError(
            [
                (
                    f"{KEY}.enabled",
                    "true, but the stack has no teams: volumes are mounted in team namespaces "
                    "(add teams, or turn Mountpoint off)",
                )
            ]
        )
    problems = []
    volumes: list[S3Volume] = []
    for index, entry in enumerate(mp.volumes):
        unknown = [t for t in entry.teams or () if t not in teams]
        if unknown:
            problems.append(
                (f"{KEY}.volumes[{index}].teams", f"{unknown} are not teams of this stack {teams}")
            )
        for team in entry.teams if entry.teams is not None else teams:
            prefix = f"{entry.prefix}{team}/" if entry.per_team else entry.prefix
            volumes.append(
                S3Volume(team, entry.bucket, prefix, entry.read_only, entry.maximum_throughput_gbps)
            )
    if problems:
        raise ConfigError(problems)
    return MountpointSpec(
        cluster_name=cluster_name,
        region=config.region,
        addon_version=addon_version,
        volumes=tuple(volumes),
    )
