"""Tenancy: team namespaces, GPU/EFA quotas and container defaults, whether or not Kubeflow is on,
and the aliases to the URNs the team objects had under the Kubeflow component."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components import versions
from components.catalog.conventions import TEAM_LABEL
from components.config import ConfigError
from components.resolve.tenancy import DEFAULT_LIMIT, DEFAULT_REQUEST, TenancySpec
from components.tenancy import (
    LEGACY_PARENT,
    LIMITS_TYPE,
    NAMESPACE_TYPE,
    QUOTA_TYPE,
    Tenancy,
    legacy_urn,
    team_manifests,
    team_network_policies,
)
from scripts.plan.stages.kubernetes import check
from tests.conftest import Recorded
from tests.support import config, platform

COMPONENT = "gpuplatform:index:Tenancy"
NETWORK_POLICY_TYPE = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
PROJECT = "gpu-platform"
NAME = "tenancy"


def prod_without_kubeflow() -> TenancySpec:
    spec = platform("prod", addons={"kubeflow": False})
    assert spec.kubeflow is None and spec.training is None  # Kubeflow really is off
    return spec.tenancy


# ------------------------------------------------------------------ manifests


def test_team_namespace_quota_and_limits_are_valid_kubernetes():
    research = next(t for t in platform("prod").tenancy.teams if t.name == "team-research")
    assert (research.gpu_quota, research.efa_quota) == (32, 128)  # prod's stack file
    objects = team_manifests(research)
    assert [o["kind"] for o in objects] == ["Namespace", "ResourceQuota", "LimitRange"]
    for obj in objects:
        assert check(obj, versions.KUBERNETES_VERSION) == []
    assert {o["metadata"].get("namespace", o["metadata"]["name"]) for o in objects} == {
        "team-research"
    }
    hard = objects[1]["spec"]["hard"]
    # Kueue is on in prod: 32 own GPUs plus team-serving's 12 it may borrow; no other team owns
    # EFA devices, so the EFA cap stays at its own 128.
    assert hard["requests.nvidia.com/gpu"] == "44"
    assert hard["requests.vpc.amazonaws.com/efa"] == "128"
    labels = objects[0]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    assert labels[TEAM_LABEL] == "team-research"
    (limits,) = objects[2]["spec"]["limits"]
    assert limits["defaultRequest"] == DEFAULT_REQUEST and limits["default"] == DEFAULT_LIMIT


def test_teams_are_the_stack_configs_with_their_pod_security_level():
    teams = [
        {"name": "team-a", "gpuQuota": 4, "podSecurity": "restricted"},
        {"name": "team-b", "gpuQuota": 0, "efaQuota": 8},
    ]
    spec = platform("prod", teams=teams).tenancy
    assert [(t.name, t.gpu_quota, t.efa_quota, t.pod_security) for t in spec.teams] == [
        ("team-a", 4, 0, "restricted"),
        ("team-b", 0, 8, "baseline"),
    ]
    namespace = team_manifests(spec.teams[0])[0]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize(
    ("teams", "fragment"),
    [
        ([{"name": "a", "gpuQuota": 1}, {"name": "a", "gpuQuota": 2}], "twice"),
        ([{"name": "kubeflow", "gpuQuota": 1}], "uses"),
        ([{"name": "training", "gpuQuota": 1}], "training namespace"),
    ],
)
def test_a_team_name_the_platform_uses_is_refused_naming_the_key(teams, fragment):
    with pytest.raises(ConfigError) as caught:
        config("prod", teams=teams)
    problems = dict(caught.value.problems)
    key = f"gpu-platform:teams[{len(teams) - 1}].name"
    assert key in problems and fragment in problems[key]


BORROWING_TEAMS = [
    {"name": "team-a", "gpuQuota": 16, "efaQuota": 64},
    {"name": "team-b", "gpuQuota": 8, "gpuBorrowingLimit": 4, "efaBorrowingLimit": 0},
    {"name": "team-c", "gpuQuota": 4, "gpuBorrowingLimit": 100},
]


def hard(team) -> tuple[str, str]:
    quota = team_manifests(team)[1]["spec"]["hard"]
    return quota["requests.nvidia.com/gpu"], quota["requests.vpc.amazonaws.com/efa"]


def test_with_kueue_the_namespace_quota_is_what_the_team_may_hold_with_borrowing():
    spec = platform("prod", teams=BORROWING_TEAMS).tenancy
    assert spec.queued
    teams = {t.name: t for t in spec.teams}
    # team-a: no limit, so its 16 plus everything the others own (8 + 4 GPUs, 0 EFA devices).
    assert hard(teams["team-a"]) == ("28", "64")
    # team-b: 8 plus its limit of 4; it may borrow no EFA device.
    assert hard(teams["team-b"]) == ("12", "0")
    # team-c: a limit above what the others own lends no more than they own (16 + 8).
    assert hard(teams["team-c"]) == ("28", "64")
    # The nominal quota Kueue enforces is still the team's own.
    assert (teams["team-b"].gpu_quota, teams["team-b"].gpu_borrowing_limit) == (8, 4)


def test_without_kueue_the_namespace_quota_is_the_teams_quota():
    spec = platform("prod", addons={"kubeflow": True, "triton": True, "kueue": False}).tenancy
    assert not spec.queued
    for team, configured in zip(spec.teams, config("prod").teams, strict=True):
        assert hard(team) == (str(configured.gpu_quota), str(configured.efa_quota))


@pytest.mark.parametrize("key", ["gpuBorrowingLimit", "efaBorrowingLimit"])
def test_a_borrowing_limit_without_kueue_is_refused_naming_the_key(key):
    teams = [{"name": "team-a", "gpuQuota": 4}, {"name": "team-b", "gpuQuota": 4, key: 2}]
    with pytest.raises(ConfigError) as caught:
        platform("prod", teams=teams, addons={"kubeflow": True, "triton": True, "kueue": False})
    problems = dict(caught.value.problems)
    assert f"gpu-platform:teams[1].{key}" in problems
    assert "needs Kueue" in problems[f"gpu-platform:teams[1].{key}"]


def test_a_negative_borrowing_limit_is_refused_naming_the_key():
    with pytest.raises(ConfigError) as caught:
        config("prod", teams=[{"name": "team-a", "gpuQuota": 4, "gpuBorrowingLimit": -1}])
    assert "gpu-platform:teams[0].gpuBorrowingLimit" in dict(caught.value.problems)


# ------------------------------------------------------------------ under mocks


def program(spec: TenancySpec, seen: list[tuple[str, str, list[Any]]]) -> Any:
    def body() -> None:
        def record(args: pulumi.ResourceTransformationArgs) -> None:
            seen.append((args.type_, args.name, list(args.opts.aliases or [])))

        pulumi.runtime.register_stack_transformation(record)
        provider = k8s.Provider("k8s", kubeconfig="{}")
        tenancy = Tenancy(NAME, spec, provider)
        pulumi.export("namespaces", sorted(tenancy.namespaces))

    return body


@pytest.fixture
def without_kubeflow(run_pulumi) -> tuple[Recorded, list[tuple[str, str, list[Any]]]]:
    seen: list[tuple[str, str, list[Any]]] = []
    recorded = run_pulumi(program(prod_without_kubeflow(), seen), stack="prod")
    return recorded, seen


def test_every_team_gets_its_namespace_quota_and_limits_without_kubeflow(without_kubeflow):
    recorded, _ = without_kubeflow
    spec = prod_without_kubeflow()
    assert [t.name for t in spec.teams] == [t.name for t in config("prod").teams]
    assert len(spec.teams) == 2
    component = recorded.one(COMPONENT, NAME)
    provider = recorded.one("pulumi:providers:kubernetes", "k8s")
    for team in spec.teams:
        expected = {m["kind"]: m for m in team_manifests(team)}
        namespace = recorded.one(NAMESPACE_TYPE, f"{NAME}-team-{team.name}")
        quota = recorded.one(QUOTA_TYPE, f"{NAME}-team-{team.name}-quota")
        limits = recorded.one(LIMITS_TYPE, f"{NAME}-team-{team.name}-limits")
        assert namespace.inputs["metadata"] == expected["Namespace"]["metadata"]
        assert quota.inputs["metadata"] == expected["ResourceQuota"]["metadata"]
        assert quota.inputs["spec"] == expected["ResourceQuota"]["spec"]
        assert quota.inputs["spec"]["hard"]["requests.nvidia.com/gpu"] == str(team.gpu_hard)
        assert limits.inputs["spec"] == expected["LimitRange"]["spec"]
        for child in (namespace, quota, limits):
            assert child.parent == component.urn
            assert child.provider.startswith(provider.urn)
        assert namespace.urn in quota.dependencies and namespace.urn in limits.dependencies
    kinds = {r.type for r in recorded.children(component.urn)}
    assert kinds == {NAMESPACE_TYPE, QUOTA_TYPE, LIMITS_TYPE, NETWORK_POLICY_TYPE}
    assert len(recorded.children(component.urn)) == 5 * len(spec.teams)
    assert recorded.outputs["namespaces"] == sorted(t.name for t in spec.teams)


def old_kubeflow_urns(run_pulumi, teams: list[str]) -> dict[tuple[str, str], str]:
    """The URNs the engine gives the team objects as the Kubeflow component named them: children
    `kubeflow-team-<name>[-quota|-limits]` of a `gpuplatform:index:Kubeflow` named `kubeflow` at
    the stack's root, in stack `prod` (what the old program registered)."""

    class OldKubeflow(pulumi.ComponentResource):
        def __init__(self) -> None:
            super().__init__(LEGACY_PARENT, "kubeflow", {}, None)
            provider = k8s.Provider("old-k8s", kubeconfig="{}")
            child = pulumi.ResourceOptions(parent=self, provider=provider)
            for team in teams:
                metadata: Any = {"name": team}
                k8s.core.v1.Namespace(f"kubeflow-team-{team}", metadata=metadata, opts=child)
                k8s.core.v1.ResourceQuota(
                    f"kubeflow-team-{team}-quota", metadata=metadata, opts=child
                )
                k8s.core.v1.LimitRange(
                    f"kubeflow-team-{team}-limits", metadata=metadata, opts=child
                )

    recorded = run_pulumi(OldKubeflow, stack="prod")
    return {
        (r.type, r.name): r.urn
        for r in recorded.registrations
        if r.type in (NAMESPACE_TYPE, QUOTA_TYPE, LIMITS_TYPE)
    }


def test_legacy_urn_is_the_urn_the_team_namespace_had_under_kubeflow(run_pulumi):
    teams = [t.name for t in prod_without_kubeflow().teams]
    old = old_kubeflow_urns(run_pulumi, teams)
    for team in teams:
        expected = (
            "urn:pulumi:prod::gpu-platform::gpuplatform:index:Kubeflow"
            f"$kubernetes:core/v1:Namespace::kubeflow-team-{team}"
        )
        assert legacy_urn("prod", PROJECT, NAMESPACE_TYPE, f"team-{team}") == expected
        assert old[(NAMESPACE_TYPE, f"kubeflow-team-{team}")] == expected
        for kind, suffix in ((QUOTA_TYPE, "-quota"), (LIMITS_TYPE, "-limits")):
            stem = f"team-{team}{suffix}"
            assert legacy_urn("prod", PROJECT, kind, stem) == old[(kind, f"kubeflow-{stem}")]


def test_every_team_object_is_aliased_to_its_kubeflow_urn(run_pulumi, without_kubeflow):
    recorded, seen = without_kubeflow
    teams = [t.name for t in prod_without_kubeflow().teams]
    old = old_kubeflow_urns(run_pulumi, teams)
    aliases = {(type_, name): found for type_, name, found in seen}
    for (kind, old_name), old_urn in old.items():
        new_name = f"{NAME}-{old_name.removeprefix('kubeflow-')}"
        assert recorded.one(kind, new_name)  # registered under the Tenancy component
        assert aliases[(kind, new_name)] == [old_urn], new_name
    assert len(old) == 3 * len(teams)


# ------------------------------------------------------------------ network policy


def test_team_namespaces_deny_ingress_except_their_own_pods_and_prometheus():
    research = next(t for t in platform("prod").tenancy.teams if t.name == "team-research")
    deny, allow = team_network_policies(research)
    for policy in (deny, allow):
        assert check(policy, versions.KUBERNETES_VERSION) == []
        assert policy["metadata"]["namespace"] == "team-research"
        assert policy["spec"]["podSelector"] == {} and policy["spec"]["policyTypes"] == ["Ingress"]
    assert "ingress" not in deny["spec"]  # selects every pod, admits nothing
    (rule,) = allow["spec"]["ingress"]
    assert "ports" not in rule  # any port, but only from these peers
    own, prometheus = rule["from"]
    assert own == {"podSelector": {}}  # the namespace's own pods (multi-node jobs)
    monitoring = platform("prod").observability.namespace  # type: ignore[union-attr]
    assert prometheus["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": monitoring}
    }
    assert prometheus["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "prometheus"
    assert deny["metadata"]["name"] != allow["metadata"]["name"]


def test_every_team_gets_its_network_policies(without_kubeflow):
    recorded, _ = without_kubeflow
    for team in prod_without_kubeflow().teams:
        namespace = recorded.one(NAMESPACE_TYPE, f"{NAME}-team-{team.name}")
        expected = {p["metadata"]["name"]: p["spec"] for p in team_network_policies(team)}
        found = {}
        for role in ("deny-ingress", "allow-ingress"):
            policy = recorded.one(NETWORK_POLICY_TYPE, f"{NAME}-team-{team.name}-{role}")
            assert policy.parent == recorded.one(COMPONENT, NAME).urn
            assert namespace.urn in policy.dependencies
            found[policy.inputs["metadata"]["name"]] = policy.inputs["spec"]
        assert found == expected


# ------------------------------------------------------------------ training in team namespaces

HOT_TIER = {
    "file_system_id": "fs-0123456789abcdef0",
    "dns_name": "fs-0123456789abcdef0.fsx.us-east-1.amazonaws.com",
    "mount_name": "abcdefgh",
    "capacity_gib": 9600,
}


def test_team_storage_is_a_static_pv_reserved_for_the_teams_fsx_claim():
    from components.catalog.conventions import FSX_CLAIM
    from components.tenancy import fsx_volume_name, team_storage_manifests

    volume, claim = team_storage_manifests("team-research", HOT_TIER)  # type: ignore[arg-type]
    for obj in (volume, claim):
        assert check(obj, versions.KUBERNETES_VERSION) == []
    assert claim["metadata"] == {"name": FSX_CLAIM, "namespace": "team-research"}
    assert (
        claim["spec"]["volumeName"]
        == volume["metadata"]["name"]
        == fsx_volume_name("team-research")
    )
    assert claim["spec"]["storageClassName"] == volume["spec"]["storageClassName"] == ""
    assert volume["spec"]["claimRef"] == {"namespace": "team-research", "name": FSX_CLAIM}
    assert volume["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert volume["spec"]["accessModes"] == claim["spec"]["accessModes"] == ["ReadWriteMany"]
    csi = volume["spec"]["csi"]
    assert csi["driver"] == "fsx.csi.aws.com"
    assert csi["volumeHandle"] == HOT_TIER["file_system_id"]
    assert csi["volumeAttributes"] == {
        "dnsname": HOT_TIER["dns_name"],
        "mountname": HOT_TIER["mount_name"],
    }
    assert claim["spec"]["resources"]["requests"]["storage"] == "9600Gi"


def team_program(spec: TenancySpec, hot_tier: Any) -> Any:
    def body() -> None:
        provider = k8s.Provider("k8s", kubeconfig="{}")
        Tenancy(
            NAME,
            spec,
            provider,
            refs={
                "cluster_name": "gpu-platform-prod",
                "training_role_arn": "arn:aws:iam::123456789012:role/training",
                "hot_tier": hot_tier,
            },
        )

    return body


def test_every_team_can_run_the_shipped_jobs_with_the_hot_tier(run_pulumi):
    from components.catalog.conventions import FSX_CLAIM, TRAINING_SERVICE_ACCOUNT

    spec = platform("prod").tenancy
    recorded: Recorded = run_pulumi(team_program(spec, HOT_TIER))
    teams = [t.name for t in spec.teams]
    accounts = recorded.of_type("kubernetes:core/v1:ServiceAccount")
    assert sorted(
        (a.inputs["metadata"]["namespace"], a.inputs["metadata"]["name"]) for a in accounts
    ) == sorted((t, TRAINING_SERVICE_ACCOUNT) for t in teams)
    associations = recorded.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert sorted((a.inputs["namespace"], a.inputs["serviceAccount"]) for a in associations) == (
        sorted((t, TRAINING_SERVICE_ACCOUNT) for t in teams)
    )
    assert {a.inputs["roleArn"] for a in associations} == {
        "arn:aws:iam::123456789012:role/training"
    }
    claims = recorded.of_type("kubernetes:core/v1:PersistentVolumeClaim")
    assert sorted(c.inputs["metadata"]["namespace"] for c in claims) == sorted(teams)
    assert {c.inputs["metadata"]["name"] for c in claims} == {FSX_CLAIM}
    volumes = {v.urn: v for v in recorded.of_type("kubernetes:core/v1:PersistentVolume")}
    namespaces = {n.inputs["metadata"]["name"]: n for n in recorded.of_type(NAMESPACE_TYPE)}
    for claim in claims:
        team = claim.inputs["metadata"]["namespace"]
        assert namespaces[team].urn in claim.dependencies
        assert set(claim.dependencies) & set(volumes)
    # The shipped jobs' namespace is one of these teams, and they mount the same claim.
    training = platform("prod").training
    assert training is not None and training.example.namespace in teams
    assert training.example.fsx_claim == FSX_CLAIM


def test_without_the_hot_tier_teams_get_the_account_but_no_claim(run_pulumi):
    recorded: Recorded = run_pulumi(team_program(platform("prod").tenancy, None))
    assert recorded.of_type("kubernetes:core/v1:PersistentVolumeClaim") == []
    assert recorded.of_type("kubernetes:core/v1:PersistentVolume") == []
    assert recorded.of_type("kubernetes:core/v1:ServiceAccount")
