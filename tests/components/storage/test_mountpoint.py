"""Mountpoint for Amazon S3: the resolved volumes and config errors, the driver's least-privilege
policy, and the component under recording mocks (the add-on after its Pod Identity, every team's
static PV and claim, valid against the Kubernetes schema)."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components import versions
from components.config import ConfigError
from components.resolve.mountpoint import (
    ADDON_NAME,
    CSI_DRIVER,
    DRIVER_NAMESPACE,
    DRIVER_SERVICE_ACCOUNT,
    MountpointSpec,
    S3Volume,
)
from components.storage.mountpoint import MountpointS3, driver_policy, volume_manifests
from scripts.plan.stages.kubernetes import check
from tests.conftest import Recorded
from tests.support import config, platform, shipped_plan

COMPONENT = "gpuplatform:index:MountpointS3"
ADDON = "aws:eks/addon:Addon"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
PV = "kubernetes:core/v1:PersistentVolume"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
ARNS = {
    "datasets": "arn:aws:s3:::ds-bucket",
    "checkpoints": "arn:aws:s3:::ck-bucket",
    "models": "arn:aws:s3:::md-bucket",
}
NAMES = {b: arn.rsplit(":", 1)[-1] for b, arn in ARNS.items()}
ACCOUNT = "123456789012"
KEY_ALIAS = "alias/gpu-platform-prod-storage"
KEY = {"partition": "aws", "account_id": ACCOUNT, "key_alias": KEY_ALIAS}
TEAMS = [{"name": "team-a", "gpuQuota": 8}, {"name": "team-b", "gpuQuota": 4}]


def mountpoint(**storage: Any) -> MountpointSpec:
    spec = platform(
        "prod", teams=TEAMS, storage={"mountpoint": {"enabled": True, **storage}}
    ).mountpoint
    assert spec is not None
    return spec


def statements(policy: str) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in json.loads(policy)["Statement"]}


# --------------------------------------------------------------------------- resolve


def test_off_by_default_and_on_in_prod():
    assert platform("dev").mountpoint is None
    assert platform("staging").mountpoint is None
    prod = platform("prod").mountpoint
    assert prod is not None
    assert prod.addon_version == versions.EKS_ADDONS["1.36"].mountpoint_s3_csi_driver
    teams = [t.name for t in config("prod").teams]
    assert sorted((v.team, v.bucket) for v in prod.volumes) == sorted(
        (t, b) for t in teams for b in ("datasets", "checkpoints")
    )


def test_default_volumes_are_datasets_read_only_and_each_teams_checkpoints_read_write():
    spec = mountpoint()
    volumes = {(v.team, v.bucket): v for v in spec.volumes}
    assert volumes[("team-a", "datasets")] == S3Volume("team-a", "datasets", "", True)
    assert volumes[("team-a", "checkpoints")] == S3Volume("team-a", "checkpoints", "team-a/", False)
    assert volumes[("team-b", "checkpoints")].prefix == "team-b/"
    assert volumes[("team-a", "checkpoints")].claim == "s3-checkpoints"
    assert volumes[("team-a", "checkpoints")].volume == "s3-checkpoints-team-a"


def test_mount_options_follow_the_volume():
    spec = mountpoint()
    volumes = {(v.team, v.bucket): v for v in spec.volumes}
    assert spec.mount_options(volumes[("team-a", "datasets")]) == [
        "region us-east-1",
        "read-only",
        "allow-other",
    ]
    assert spec.mount_options(volumes[("team-b", "checkpoints")]) == [
        "region us-east-1",
        "prefix team-b/",
        "allow-delete",
        "allow-other",
    ]


def test_a_volume_can_aim_for_more_throughput_than_mountpoints_default():
    spec = mountpoint(volumes=[{"bucket": "datasets", "maximumThroughputGbps": 100}])
    for volume in spec.volumes:
        assert spec.mount_options(volume)[-2:] == ["maximum-throughput-gbps 100", "allow-other"]


def test_a_volume_can_be_limited_to_some_teams_and_a_prefix():
    spec = mountpoint(
        volumes=[{"bucket": "models", "prefix": "triton/", "teams": ["team-b"]}],
    )
    assert spec.volumes == (S3Volume("team-b", "models", "triton/", True),)


@pytest.mark.parametrize(
    ("storage", "teams", "key", "fragment"),
    [
        ({}, [], "storage.mountpoint.enabled", "no teams"),
        (
            {"volumes": [{"bucket": "datasets", "teams": ["team-x"]}]},
            TEAMS,
            "storage.mountpoint.volumes[0].teams",
            "team-x",
        ),
        (
            {"volumes": [{"bucket": "datasets"}, {"bucket": "datasets", "prefix": "a/"}]},
            TEAMS,
            "storage.mountpoint.volumes",
            "listed twice",
        ),
        (
            {"volumes": [{"bucket": "datasets", "prefix": "no-slash"}]},
            TEAMS,
            "storage.mountpoint.volumes[0].prefix",
            "pattern",
        ),
        (
            {"volumes": [{"bucket": "datasets", "teams": ["team-a", "team-a"]}]},
            TEAMS,
            "storage.mountpoint.volumes[0].teams",
            "twice",
        ),
        (
            {"volumes": [{"bucket": "logs"}]},
            TEAMS,
            "storage.mountpoint.volumes[0].bucket",
            "datasets",
        ),
    ],
)
def test_bad_mountpoint_config_is_refused_naming_the_key(storage, teams, key, fragment):
    with pytest.raises(ConfigError) as caught:
        platform("prod", teams=teams, storage={"mountpoint": {"enabled": True, **storage}})
    problems = dict(caught.value.problems)
    assert f"gpu-platform:{key}" in problems, problems
    assert fragment in problems[f"gpu-platform:{key}"]


def test_mount_s3_is_not_a_team_name():
    with pytest.raises(ConfigError) as caught:
        config("prod", teams=[{"name": "mount-s3", "gpuQuota": 1}])
    assert "gpu-platform:teams[0].name" in dict(caught.value.problems)


# --------------------------------------------------------------------------- policy


def test_the_driver_lists_reads_and_writes_only_the_mounted_prefixes():
    found = statements(driver_policy(mountpoint(), ARNS, **KEY))
    assert set(found) == {
        "ListDatasets",
        "ReadDatasets",
        "ListCheckpoints",
        "ReadCheckpoints",
        "WriteCheckpoints",
        "UseStorageKey",
    }
    # Datasets: the whole bucket, read only.
    assert found["ListDatasets"]["Resource"] == ARNS["datasets"]
    assert "Condition" not in found["ListDatasets"]
    assert found["ReadDatasets"]["Action"] == ["s3:GetObject"]
    assert found["ReadDatasets"]["Resource"] == f"{ARNS['datasets']}/*"
    # Checkpoints: each team's prefix, listing scoped by s3:prefix.
    prefixes = ["team-a/*", "team-b/*"]
    assert found["ListCheckpoints"]["Condition"] == {"StringLike": {"s3:prefix": prefixes}}
    objects = [f"{ARNS['checkpoints']}/{p}" for p in prefixes]
    assert found["ReadCheckpoints"]["Resource"] == objects
    assert found["WriteCheckpoints"]["Resource"] == objects
    assert found["WriteCheckpoints"]["Action"] == [
        "s3:AbortMultipartUpload",
        "s3:DeleteObject",
        "s3:PutObject",
    ]
    # The storage key, by its alias and through S3 only (known before the key exists).
    assert found["UseStorageKey"]["Resource"] == f"arn:aws:kms:us-east-1:{ACCOUNT}:key/*"
    assert found["UseStorageKey"]["Condition"] == {
        "ForAnyValue:StringEquals": {"kms:ResourceAliases": KEY_ALIAS},
        "StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"},
    }
    assert found["UseStorageKey"]["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]


def test_read_only_volumes_get_no_write_and_no_data_key():
    spec = mountpoint(volumes=[{"bucket": "models", "prefix": "triton/"}])
    found = statements(driver_policy(spec, ARNS, **KEY))
    assert set(found) == {"ListModels", "ReadModels", "UseStorageKey"}
    assert found["ListModels"]["Condition"] == {"StringLike": {"s3:prefix": ["triton/*"]}}
    assert found["ReadModels"]["Resource"] == f"{ARNS['models']}/triton/*"
    assert found["UseStorageKey"]["Action"] == ["kms:Decrypt"]


def test_a_whole_bucket_volume_beside_a_prefix_lists_without_a_condition():
    spec = mountpoint(
        volumes=[{"bucket": "checkpoints", "teams": ["team-a"], "perTeam": False}],
    )
    found = statements(driver_policy(spec, ARNS, **KEY))
    assert "Condition" not in found["ListCheckpoints"]


def test_the_shipped_policy_passes_the_pack():
    document, _ = shipped_plan("prod")
    assert any("mountpoint-driver" in step["urn"] for step in document["steps"])
    violations = document["policies"]["violations"]
    assert not [v for v in violations if "mountpoint" in json.dumps(v)]


# --------------------------------------------------------------------------- manifests


def test_volume_and_claim_are_valid_kubernetes_and_bound_to_each_other():
    spec = mountpoint()
    for volume in spec.volumes:
        pv, claim = volume_manifests(spec, volume, NAMES[volume.bucket])
        assert check(pv, versions.KUBERNETES_VERSION) == []
        assert check(claim, versions.KUBERNETES_VERSION) == []
        assert pv["spec"]["claimRef"] == {"namespace": volume.team, "name": volume.claim}
        assert claim["spec"]["volumeName"] == pv["metadata"]["name"]
        assert claim["metadata"] == {"name": volume.claim, "namespace": volume.team}
        for obj in (pv, claim):
            assert obj["spec"]["storageClassName"] == ""
            assert obj["spec"]["accessModes"] == ["ReadWriteMany"]
        assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
        assert pv["spec"]["csi"] == {
            "driver": CSI_DRIVER,
            "volumeHandle": volume.volume,
            "volumeAttributes": {"bucketName": NAMES[volume.bucket]},
        }
        assert pv["spec"]["mountOptions"] == spec.mount_options(volume)
    handles = [
        volume_manifests(spec, v, "b")[0]["spec"]["csi"]["volumeHandle"] for v in spec.volumes
    ]
    assert len(set(handles)) == len(handles)  # unique: Kubernetes processes a handle once


# --------------------------------------------------------------------------- under mocks


@pytest.fixture(scope="module")
def spec() -> MountpointSpec:
    return mountpoint()


@pytest.fixture
def recorded(run_pulumi, spec: MountpointSpec) -> Recorded:
    def body() -> None:
        provider = k8s.Provider("k8s", kubeconfig="{}")
        nodes = pulumi.CustomResource("test:index:Nodes", "nodes")
        namespaces = {
            t["name"]: k8s.core.v1.Namespace(
                t["name"],
                metadata={"name": t["name"]},
                opts=pulumi.ResourceOptions(provider=provider),
            )
            for t in TEAMS
        }
        MountpointS3(
            "mountpoint",
            spec,
            {
                "cluster_name": "gpu-platform-prod",
                "provider": provider,
                "bucket_names": NAMES,
                "bucket_arns": ARNS,
                "partition": "aws",
                "key_alias": KEY_ALIAS,
                "namespaces": namespaces,
                "nodes": [nodes],
            },
        )

    return run_pulumi(body, stack="prod")


def test_the_add_on_waits_for_its_pod_identity_and_the_nodes(
    recorded: Recorded, spec: MountpointSpec
):
    component = recorded.one(COMPONENT, "mountpoint")
    addon = recorded.one(ADDON, "mountpoint-addon")
    role = recorded.one(ROLE, "mountpoint-driver")
    policy = recorded.one(ROLE_POLICY, "mountpoint-driver")
    association = recorded.one(ASSOCIATION, "mountpoint-driver")
    nodes = recorded.one("test:index:Nodes", "nodes")
    assert addon.parent == component.urn
    assert addon.inputs["addonName"] == ADDON_NAME
    assert addon.inputs["clusterName"] == "gpu-platform-prod"
    assert addon.inputs.get("addonVersion") == versions.EKS_ADDONS["1.36"].mountpoint_s3_csi_driver
    assert json.loads(addon.inputs["configurationValues"]) == {"node": {"tolerateAllTaints": True}}
    assert {role.urn, policy.urn, association.urn, nodes.urn} <= set(addon.dependencies)
    assert association.inputs["namespace"] == DRIVER_NAMESPACE == "kube-system"
    assert association.inputs["serviceAccount"] == DRIVER_SERVICE_ACCOUNT == "s3-csi-driver-sa"
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {
        "Service": "pods.eks.amazonaws.com"
    }
    assert policy.inputs["policy"] == driver_policy(spec, ARNS, **KEY)


def test_every_team_gets_its_claims_bound_to_reserved_volumes(
    recorded: Recorded, spec: MountpointSpec
):
    addon = recorded.one(ADDON, "mountpoint-addon")
    volumes = {v.inputs["metadata"]["name"]: v for v in recorded.of_type(PV)}
    claims = recorded.of_type(PVC)
    namespaces = {n.name: n for n in recorded.of_type("kubernetes:core/v1:Namespace")}
    assert sorted(
        (c.inputs["metadata"]["namespace"], c.inputs["metadata"]["name"]) for c in claims
    ) == sorted((v.team, v.claim) for v in spec.volumes)
    for volume in spec.volumes:
        pv = volumes[volume.volume]
        expected, expected_claim = volume_manifests(spec, volume, NAMES[volume.bucket])
        assert pv.inputs["spec"] == expected["spec"]
        assert addon.urn in pv.dependencies  # the driver is installed first
        claim = next(
            c
            for c in claims
            if (c.inputs["metadata"]["namespace"], c.inputs["metadata"]["name"])
            == (volume.team, volume.claim)
        )
        assert claim.inputs["spec"] == expected_claim["spec"]
        assert {pv.urn, namespaces[volume.team].urn} <= set(claim.dependencies)
