"""Kueue: resolved from the teams and GPU pools, the release's values, the queue manifests, and the
component under recording mocks (every custom resource after the release, LocalQueues after their
namespaces), and the TrainJobs that carry their namespace's queue label."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi_kubernetes as k8s
import pytest
import yaml

from components import versions
from components.catalog.conventions import GPU_TAINT, NODE_POOL_LABEL, SPOT_TAINT, SYSTEM_POOL
from components.resolve.software import (
    EFA_RESOURCE,
    EFA_TOPOLOGY_LEVELS,
    GPU_RESOURCE,
    QUEUE_NAME_LABEL,
    KueueSpec,
    queue_training,
)
from components.software import kueue as kq
from tests.conftest import Recorded
from tests.support import platform, shipped_plan
from workloads.training import render

COMPONENT = "gpuplatform:index:Kueue"
RELEASE = "kubernetes:helm.sh/v3:Release"
KUEUE = "kubernetes:kueue.x-k8s.io/v1beta2:"
TEAMS = [
    {"name": "team-a", "gpuQuota": 16, "efaQuota": 64},
    {"name": "team-b", "gpuQuota": 4},
]


def prod_kueue(**overrides: Any) -> KueueSpec:
    spec = platform("prod", **overrides).kueue
    assert spec is not None
    return spec


# --------------------------------------------------------------------------- resolve


def test_prod_has_a_flavor_per_gpu_pool_and_a_queue_per_team():
    spec = platform("prod")
    assert spec.kueue is not None
    assert [f.name for f in spec.kueue.flavors] == [p.name for p in spec.pools]
    assert [(q.team, q.gpu_quota, q.efa_quota) for q in spec.kueue.queues] == [
        (t.name, t.gpu_quota, t.efa_quota) for t in spec.tenancy.teams
    ]


def test_kueue_is_off_by_toggle_and_without_teams():
    assert platform("prod", addons={"kubeflow": True, "kueue": False}).kueue is None
    assert platform("staging").kueue is not None
    assert platform("staging", teams=[]).kueue is None


def test_efa_pools_name_the_topology_and_others_do_not():
    spec = platform("prod")
    assert spec.kueue is not None
    by_pool = {p.name: p for p in spec.pools}
    assert any(p.efa for p in spec.pools) and any(not p.efa for p in spec.pools)
    for flavor in spec.kueue.flavors:
        pool = by_pool[flavor.name]
        assert (flavor.topology is not None) == pool.efa
        assert flavor.efa_devices == pool.efa_devices * pool.max_size
        assert flavor.gpus == pool.schedulable_gpus_per_node * pool.max_size
    assert spec.kueue.topology_levels == (
        "topology.k8s.aws/network-node-layer-1",
        "topology.k8s.aws/network-node-layer-2",
        "topology.k8s.aws/network-node-layer-3",
        "kubernetes.io/hostname",
    )


def test_flavors_select_their_pool_and_tolerate_its_taints():
    spec = platform("prod")
    assert spec.kueue is not None
    pools = {p.name: p for p in spec.pools}
    for flavor in spec.kueue.flavors:
        manifest = kq.flavor_manifest(flavor)
        assert manifest["spec"]["nodeLabels"] == {NODE_POOL_LABEL: flavor.name}
        keys = {t["key"] for t in manifest["spec"]["tolerations"]}
        expected = {GPU_TAINT[0]} | ({SPOT_TAINT[0]} if pools[flavor.name].spot else set())
        assert keys == expected, flavor.name
        assert all(t["operator"] == "Equal" for t in manifest["spec"]["tolerations"])
    assert any(pools[f.name].spot for f in spec.kueue.flavors), "no spot pool to check"


# --------------------------------------------------------------------------- manifests


def test_cluster_queues_share_one_cohort_and_reclaim_by_preemption():
    spec = prod_kueue(teams=TEAMS)
    queues = [kq.cluster_queue_manifest(q, spec) for q in spec.queues]
    assert {q["spec"]["cohortName"] for q in queues} == {"gpu-platform"}
    for q in queues:
        assert q["apiVersion"] == "kueue.x-k8s.io/v1beta2"
        assert q["spec"]["preemption"] == {
            "reclaimWithinCohort": "Any",
            "withinClusterQueue": "LowerPriority",
        }
        for flavor in q["spec"]["resourceGroups"][0]["flavors"]:
            for resource in flavor["resources"]:
                assert "borrowingLimit" not in resource  # the cohort's idle quota is open


def test_nominal_quota_is_the_teams_capped_by_the_pool_and_efa_only_on_efa_pools():
    spec = prod_kueue(teams=TEAMS)
    flavors = {f.name: f for f in spec.flavors}
    team_a = next(q for q in spec.queues if q.team == "team-a")
    [group] = kq.cluster_queue_manifest(team_a, spec)["spec"]["resourceGroups"]
    assert group["coveredResources"] == [GPU_RESOURCE, EFA_RESOURCE]
    for flavor in group["flavors"]:
        f = flavors[flavor["name"]]
        quotas = {r["name"]: r["nominalQuota"] for r in flavor["resources"]}
        assert [r["name"] for r in flavor["resources"]] == group["coveredResources"]
        assert quotas[GPU_RESOURCE] == str(min(16, f.gpus))
        assert quotas[EFA_RESOURCE] == (str(min(64, f.efa_devices)) if f.topology else "0")


def test_a_teams_borrowing_limits_go_on_every_flavor_of_its_cluster_queue():
    teams = [
        {"name": "team-a", "gpuQuota": 16, "efaQuota": 64, "gpuBorrowingLimit": 4},
        {"name": "team-b", "gpuQuota": 8, "efaBorrowingLimit": 0},
    ]
    spec = prod_kueue(teams=teams)
    limits = {}
    for queue in spec.queues:
        [group] = kq.cluster_queue_manifest(queue, spec)["spec"]["resourceGroups"]
        limits[queue.team] = {
            (flavor["name"], r["name"]): r.get("borrowingLimit")
            for flavor in group["flavors"]
            for r in flavor["resources"]
        }
    flavors = [f.name for f in spec.flavors]
    assert limits["team-a"] == {
        **{(f, GPU_RESOURCE): "4" for f in flavors},
        **{(f, EFA_RESOURCE): None for f in flavors},
    }
    assert limits["team-b"] == {
        **{(f, GPU_RESOURCE): None for f in flavors},
        **{(f, EFA_RESOURCE): "0" for f in flavors},
    }


def test_without_efa_pools_only_gpus_are_covered():
    spec = prod_kueue(teams=TEAMS)
    no_efa = KueueSpec(
        spec.namespace,
        spec.cohort,
        tuple(f for f in spec.flavors if not f.efa_devices),
        spec.queues,
        spec.topology_levels,
    )
    [group] = kq.cluster_queue_manifest(no_efa.queues[0], no_efa)["spec"]["resourceGroups"]
    assert group["coveredResources"] == [GPU_RESOURCE]
    assert all(len(f["resources"]) == 1 for f in group["flavors"])


def test_local_queue_points_at_the_teams_cluster_queue_in_its_namespace():
    spec = prod_kueue(teams=TEAMS)
    for queue in spec.queues:
        lq = kq.local_queue_manifest(queue)
        assert lq["metadata"]["namespace"] == queue.team
        assert lq["spec"] == {
            "clusterQueue": kq.cluster_queue_manifest(queue, spec)["metadata"]["name"]
        }
        assert spec.local_queue(queue.team) == lq["metadata"]["name"]
    assert spec.local_queue("training") is None


def test_topology_levels_widest_first():
    manifest = kq.topology_manifest("t", EFA_TOPOLOGY_LEVELS)
    assert [lv["nodeLabel"] for lv in manifest["spec"]["levels"]] == list(EFA_TOPOLOGY_LEVELS)


def test_values_run_on_the_system_pool_with_trainjob_and_jobset_integrations():
    values = kq.values()
    assert values["controllerManager"]["nodeSelector"] == {NODE_POOL_LABEL: SYSTEM_POOL}
    config = yaml.safe_load(values["managerConfig"]["controllerManagerConfigYaml"])
    assert config["apiVersion"] == "config.kueue.x-k8s.io/v1beta2"
    assert config["kind"] == "Configuration"
    frameworks = config["integrations"]["frameworks"]
    assert "trainer.kubeflow.org/trainjob" in frameworks
    assert "jobset.x-k8s.io/jobset" in frameworks
    assert not {"pod", "deployment", "statefulset"} & set(frameworks)  # no cluster-wide pod hook
    assert config["resources"] == {"quotaCheckStrategy": "IgnoreUndeclared"}
    assert "manageJobsWithoutQueueName" not in config  # unlabelled jobs are left alone
    assert config["leaderElection"]["leaderElect"] is True


def test_chart_is_pinned_at_the_oci_registry_without_a_leading_v():
    chart = versions.CHARTS["kueue"]
    assert chart.repo == "oci://registry.k8s.io/kueue/charts"
    assert chart.version == "0.19.2"
    assert chart.crd_groups == ("kueue.x-k8s.io",)


# --------------------------------------------------------------------------- component


@pytest.fixture(scope="module")
def recorded_spec() -> KueueSpec:
    return prod_kueue(teams=TEAMS)


@pytest.fixture
def recorded(run_pulumi: Callable[..., Recorded], recorded_spec: KueueSpec) -> Recorded:
    def body() -> None:
        provider = k8s.Provider("k8s", kubeconfig="{}")
        namespaces = {
            q.team: k8s.core.v1.Namespace(f"ns-{q.team}", metadata={"name": q.team})
            for q in recorded_spec.queues
        }
        kq.Kueue("kueue", recorded_spec, provider, namespaces=namespaces)

    return run_pulumi(body)


def test_release_is_the_pinned_chart_in_its_namespace(recorded: Recorded):
    release = recorded.one(RELEASE, "kueue-release")
    assert release.inputs["chart"] == "oci://registry.k8s.io/kueue/charts/kueue"
    assert release.inputs["version"] == "0.19.2"
    assert release.inputs["namespace"] == "kueue-system"
    assert release.inputs["createNamespace"] is True


def test_every_custom_resource_depends_on_the_release(recorded: Recorded):
    component = recorded.one(COMPONENT)
    release = recorded.one(RELEASE, "kueue-release")
    customs = [r for r in recorded.registrations if r.type.startswith(KUEUE)]
    kinds = sorted({r.type.removeprefix(KUEUE) for r in customs})
    assert kinds == ["ClusterQueue", "LocalQueue", "ResourceFlavor", "Topology"]
    for r in customs:
        assert release.urn in r.dependencies, r.name
        assert r.parent == component.urn, r.name
    assert release.parent == component.urn


def test_a_cluster_queue_and_local_queue_per_team(recorded: Recorded, recorded_spec: KueueSpec):
    teams = sorted(q.team for q in recorded_spec.queues)
    cqs = recorded.of_type(KUEUE + "ClusterQueue")
    lqs = recorded.of_type(KUEUE + "LocalQueue")
    assert sorted(r.inputs["metadata"]["name"] for r in cqs) == teams
    assert sorted(r.inputs["metadata"]["namespace"] for r in lqs) == teams
    for lq in lqs:
        team = lq.inputs["metadata"]["namespace"]
        namespace = recorded.one("kubernetes:core/v1:Namespace", f"ns-{team}")
        cq = next(r for r in cqs if r.inputs["metadata"]["name"] == team)
        assert namespace.urn in lq.dependencies
        assert cq.urn in lq.dependencies


def test_efa_flavors_depend_on_the_topology_and_queues_on_the_flavors(recorded: Recorded):
    [topology] = recorded.of_type(KUEUE + "Topology")
    flavors = recorded.of_type(KUEUE + "ResourceFlavor")
    for f in flavors:
        has_topology = "topologyName" in f.inputs["spec"]
        assert (topology.urn in f.dependencies) == has_topology, f.name
    for cq in recorded.of_type(KUEUE + "ClusterQueue"):
        assert {f.urn for f in flavors} <= set(cq.dependencies)


# --------------------------------------------------------------------------- jobs and plans


def train_jobs(**overrides: Any) -> list[dict[str, Any]]:
    """The templates as `scripts.training render` writes them: queued where Kueue is on."""
    spec = platform("prod", **overrides)
    assert spec.training is not None
    training = queue_training(spec.training, spec.kueue) if spec.kueue else spec.training
    return [o for objs in render(training).values() for o in objs if o["kind"] == "TrainJob"]


def test_deployed_templates_stay_suspended_and_out_of_kueue():
    """Kueue starts a labelled job as soon as it admits it: the deployed copies carry no label,
    so nothing runs (or costs) until someone resumes it."""
    document, _ = shipped_plan("prod")
    jobs = [
        s["newState"]["inputs"]
        for s in document["steps"]
        if s["newState"]["type"].endswith(":TrainJob")
    ]
    assert jobs
    for job in jobs:
        assert QUEUE_NAME_LABEL not in (job["metadata"].get("labels") or {})
        assert job["spec"]["suspend"] is True


def test_train_jobs_in_a_team_namespace_carry_its_queue_label():
    jobs = train_jobs()
    spec = prod_kueue()
    assert jobs
    for job in jobs:
        meta = job["metadata"]
        queue = spec.local_queue(meta["namespace"])
        assert meta["labels"].get(QUEUE_NAME_LABEL) == queue, meta["name"]
    assert any(QUEUE_NAME_LABEL in j["metadata"]["labels"] for j in jobs), "no job is queued"


def test_train_jobs_have_no_queue_label_without_kueue():
    for job in train_jobs(addons={"kubeflow": True, "kueue": False}):
        assert QUEUE_NAME_LABEL not in job["metadata"]["labels"]


def test_shipped_prod_plan_queues_every_team_in_one_cohort():
    document, _ = shipped_plan("prod")
    states = [s["newState"] for s in document["steps"]]
    cqs = [s for s in states if s["type"] == KUEUE + "ClusterQueue"]
    lqs = [s for s in states if s["type"] == KUEUE + "LocalQueue"]
    teams = sorted(t.name for t in platform("prod").tenancy.teams)
    assert sorted(s["inputs"]["metadata"]["name"] for s in cqs) == teams
    assert sorted(s["inputs"]["metadata"]["namespace"] for s in lqs) == teams
    assert {s["inputs"]["spec"]["cohortName"] for s in cqs} == {"gpu-platform"}
