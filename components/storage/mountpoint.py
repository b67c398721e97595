"""Mountpoint for Amazon S3 CSI driver v2: the stack's buckets as volumes in team namespaces.

- The EKS add-on `aws-mountpoint-s3-csi-driver` (build in components/versions.py; None: EKS's
  default), configured so its node plugin tolerates every taint (it runs on the GPU nodes).
- Driver-level credentials: a Pod Identity role for `kube-system/s3-csi-driver-sa`, the driver's
  service account, whose credentials the Mountpoint Pods (`mp-*` in `mount-s3`) use. The add-on
  depends on the role, its policy and the association, so the driver never starts without them.
  The policy reaches only the configured bucket prefixes: `s3:ListBucket` on each bucket (with an
  `s3:prefix` condition where every volume of the bucket mounts a prefix), `s3:GetObject` on
  `<bucket>/<prefix>*`, writes and deletes only where a volume is read-write, and the storage key
  (the buckets are SSE-KMS) by its alias and through S3 only: `kms:Decrypt`, plus
  `kms:GenerateDataKey` to write. The key's own policy names the role as a key user too
  (`TieredStorage.grant_key_use`): it does not let IAM policies alone grant its use.
- Per team and volume a static PersistentVolume (`csi.driver: s3.csi.aws.com`, reserved for the
  team's claim by `claimRef`, retained when the claim goes) and the claim `s3-<bucket>`
  (ReadWriteMany, `storageClassName: ""`, bound by `volumeName`).

Field names: pulumi_aws 7.x `eks.Addon(cluster_name, addon_name, addon_version,
configuration_values, resolve_conflicts_on_create, resolve_conflicts_on_update)`; the PV fields
are core/v1 (the plan validates them against the cluster version's schema); the driver's names
are read from awslabs/mountpoint-s3-csi-driver v2.7.0 (components/resolve/mountpoint.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.catalog.conventions import TEAM_LABEL
from components.common import iam, kms
from components.common.identity import pod_identity
from components.resolve.mountpoint import (
    ADDON_NAME,
    CAPACITY,
    CSI_DRIVER,
    DRIVER_NAMESPACE,
    DRIVER_SERVICE_ACCOUNT,
    MountpointSpec,
    S3Volume,
)

OBJECT_READ = ("s3:GetObject",)
OBJECT_WRITE = ("s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject")


class MountpointRefs(TypedDict):
    """What the driver and the volumes use of other components."""

    cluster_name: pulumi.Input[str]
    provider: k8s.Provider
    bucket_names: Mapping[str, pulumi.Input[str]]
    """Logical bucket -> physical name (`volumeAttributes.bucketName`)."""
    bucket_arns: Mapping[str, pulumi.Input[str]]
    """Logical bucket -> ARN, built from the name (known in a preview)."""
    partition: str
    key_alias: str
    """The alias of the storage key the buckets are encrypted with (`TieredStorage.key_alias`)."""
    namespaces: Mapping[str, pulumi.Resource]
    """Team namespaces, by name (the claims go there)."""
    nodes: Sequence[pulumi.Resource]
    """What must exist before the add-on's pods can run (the cluster and its system nodes)."""


def driver_policy(
    spec: MountpointSpec,
    bucket_arns: Mapping[str, str],
    *,
    partition: str,
    account_id: str,
    key_alias: str,
) -> str:
    """Pure: what the driver's role may do: list, read and (where a volume is read-write) write
    and delete under the mounted prefixes of each bucket, and use the storage key (by its alias,
    through S3 only)."""
    statements: list[dict[str, Any]] = []
    writes = False
    for bucket, (read, write) in spec.grants().items():
        arn = bucket_arns[bucket]
        stem = bucket.capitalize()
        listing = iam.allow(["s3:ListBucket"], [arn], sid=f"List{stem}")
        if "" not in read:
            listing["Condition"] = {"StringLike": {"s3:prefix": [f"{p}*" for p in read]}}
        statements.append(listing)
        statements.append(
            iam.allow(list(OBJECT_READ), [f"{arn}/{p}*" for p in read], sid=f"Read{stem}")
        )
        if write:
            writes = True
            statements.append(
                iam.allow(list(OBJECT_WRITE), [f"{arn}/{p}*" for p in write], sid=f"Write{stem}")
            )
    key_actions = ["kms:Decrypt", *(["kms:GenerateDataKey"] if writes else [])]
    statements.append(
        kms.alias_scoped(
            key_actions,
            partition,
            spec.region,
            account_id,
            key_alias,
            sid="UseStorageKey",
            via=kms.service_endpoint("s3", spec.region),
        )
    )
    return iam.document(statements)


def volume_manifests(
    spec: MountpointSpec, volume: S3Volume, bucket_name: pulumi.Input[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Pure: the static PersistentVolume of one team's volume and its claim (docs/CONFIGURATION.md
    "Static Provisioning" at v2.7.0: `storageClassName: ""` on both, `claimRef` on the PV,
    `volumeName` on the claim, a `volumeHandle` unique in the cluster)."""
    pv = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": volume.volume, "labels": {TEAM_LABEL: volume.team}},
        "spec": {
            "capacity": {"storage": CAPACITY},
            "volumeMode": "Filesystem",
            "accessModes": ["ReadWriteMany"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "mountOptions": spec.mount_options(volume),
            "claimRef": {"namespace": volume.team, "name": volume.claim},
            "csi": {
                "driver": CSI_DRIVER,
                "volumeHandle": volume.volume,
                "volumeAttributes": {"bucketName": bucket_name},
            },
        },
    }
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": volume.claim, "namespace": volume.team},
        "spec": {
            "accessModes": ["ReadWriteMany"],
            "storageClassName": "",
            "volumeName": volume.volume,
            "resources": {"requests": {"storage": CAPACITY}},
        },
    }
    return pv, claim


class MountpointS3(pulumi.ComponentResource):
    """The Mountpoint for Amazon S3 CSI driver add-on, its Pod Identity, and every team's S3
    volumes."""

    def __init__(
        self,
        name: str,
        spec: MountpointSpec,
        refs: MountpointRefs,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("gpuplatform:index:MountpointS3", name, {}, opts)
        buckets = sorted(spec.grants())
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        inputs = pulumi.Output.all(account.account_id, *(refs["bucket_arns"][b] for b in buckets))
        self.identity = pod_identity(
            f"{name}-driver",
            cluster_name=spec.cluster_name,
            namespace=DRIVER_NAMESPACE,
            service_account=DRIVER_SERVICE_ACCOUNT,
            policy=inputs.apply(
                lambda v: driver_policy(
                    spec,
                    dict(zip(buckets, v[1:], strict=True)),
                    partition=refs["partition"],
                    account_id=v[0],
                    key_alias=refs["key_alias"],
                )
            ),
            parent=self,
            description="Mountpoint for Amazon S3 CSI driver: the team volumes' bucket prefixes",
        )
        # Credentials before pods: the driver's pods start with the add-on.
        self.addon = aws.eks.Addon(
            f"{name}-addon",
            cluster_name=refs["cluster_name"],
            addon_name=ADDON_NAME,
            addon_version=spec.addon_version,
            configuration_values=spec.configuration,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[*self.identity.ready, *refs["nodes"]]
            ),
        )
        provider = refs["provider"]
        self.claims: dict[tuple[str, str], k8s.core.v1.PersistentVolumeClaim] = {}
        for volume in spec.volumes:
            stem = f"{name}-{volume.team}-{volume.bucket}"
            pv_manifest, claim_manifest = volume_manifests(
                spec, volume, refs["bucket_names"][volume.bucket]
            )
            pv = k8s.core.v1.PersistentVolume(
                f"{stem}-pv",
                metadata=pv_manifest["metadata"],
                spec=pv_manifest["spec"],
                opts=pulumi.ResourceOptions(
                    parent=self, provider=provider, depends_on=[self.addon]
                ),
            )
            self.claims[(volume.team, volume.bucket)] = k8s.core.v1.PersistentVolumeClaim(
                f"{stem}-pvc",
                metadata=claim_manifest["metadata"],
                spec=claim_manifest["spec"],
                opts=pulumi.ResourceOptions(
                    parent=self,
                    provider=provider,
                    depends_on=[refs["namespaces"][volume.team], pv],
                ),
            )
        self.register_outputs(
            {"claims": sorted(f"{team}/{bucket}" for team, bucket in self.claims)}
        )
