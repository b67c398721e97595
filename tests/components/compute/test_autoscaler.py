"""Cluster Autoscaler (priorities, IAM policy, Helm release) and the EFA device plugin's values."""

from __future__ import annotations

import json
import re
from typing import Any

import pulumi_kubernetes as k8s
import pytest

from components import versions
from components.autoscaler import (
    PRIORITY_ON_DEMAND,
    PRIORITY_SPOT,
    ClusterAutoscaler,
    ClusterAutoscalerArgs,
    PoolRef,
    policy,
    priorities,
    resolve,
)
from components.config import CapacityType
from components.efa_device_plugin import values as efa_values

CLUSTER = "gpu-test"
RELEASE = "kubernetes:helm.sh/v3:Release"
POD_IDENTITY = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
WRITE_ACTIONS = {
    "autoscaling:SetDesiredCapacity",
    "autoscaling:TerminateInstanceInAutoScalingGroup",
}

POOLS = [
    PoolRef("h100-cb", CapacityType.CAPACITY_BLOCK, reserved=True),
    PoolRef("h100-odcr", CapacityType.ON_DEMAND, reserved=True),
    PoolRef("t4-spot", CapacityType.SPOT),
    PoolRef("t4", CapacityType.ON_DEMAND),
]


def asg_name(pool: str) -> str:
    """An EKS managed node group ASG: eks-<node group name>-<uuid>, where our node group names
    are <pool>-<26-digit unique suffix>."""
    return f"eks-{pool}-20261122143000000000000001-1ac9a2b4-7d3e-4f1a-9c2b-0123456789ab"


def level_of(prios: dict[str, list[str]], name: str) -> list[int]:
    """Every priority level whose regexes match the ASG name."""
    return [
        int(level) for level, regexes in prios.items() if any(re.match(r, name) for r in regexes)
    ]


def own_regexes(prios: dict[str, list[str]]) -> list[str]:
    return [r for regexes in prios.values() for r in regexes if r != ".*"]


# --------------------------------------------------------------------------- priorities


def test_reserved_capacity_first_then_spot_then_on_demand_then_anything():
    prios = priorities(POOLS)
    levels = sorted(int(level) for level in prios)
    highest, lowest = levels[-1], levels[0]
    assert max(level_of(prios, asg_name("h100-cb"))) == highest
    assert max(level_of(prios, asg_name("h100-odcr"))) == highest
    spot = max(level_of(prios, asg_name("t4-spot")))
    on_demand = max(level_of(prios, asg_name("t4")))
    assert highest > spot > on_demand
    assert ".*" in prios[str(lowest)]
    assert all(".*" not in prios[str(level)] for level in levels[1:])
    # Anything else (the system pool) only matches the catch-all.
    assert level_of(prios, "eks-system-20261122143000000000000002-abcd") == [lowest]


def test_priority_levels_are_string_keys_with_sorted_regex_lists():
    prios = priorities(POOLS)
    assert all(isinstance(level, str) and level.isdigit() for level in prios)
    assert all(regexes == sorted(regexes) for regexes in prios.values())


def test_priorities_without_pools_is_just_the_catch_all():
    prios = priorities([])
    assert list(prios.values()) == [[".*"]]


@pytest.mark.parametrize(
    ("pool", "other"),
    [("t4-spot", "t4"), ("h100-cb", "h100"), ("t4", "t4-spot"), ("h100", "h100-cb")],
)
def test_a_pool_regex_matches_its_own_asg_and_not_a_prefix_pool(pool, other):
    prios = priorities([PoolRef(pool, CapacityType.SPOT), PoolRef(other, CapacityType.ON_DEMAND)])
    (mine,) = prios[str(PRIORITY_SPOT)]
    assert re.match(mine, asg_name(pool))
    assert not re.match(mine, asg_name(other))
    others = [r for r in own_regexes(prios) if r != mine]
    assert others
    assert all(re.match(r, asg_name(other)) for r in others)
    assert not any(re.match(r, asg_name(pool)) for r in others)


def test_t4_spot_asg_matches_the_spot_pool_only():
    prios = priorities(POOLS)
    name = "eks-t4-spot-20261122143000000000000001-1ac9a2b4-0000-0000-0000-000000000000"
    matching = [r for r in own_regexes(prios) if re.match(r, name)]
    assert len(matching) == 1
    assert re.match(matching[0], asg_name("t4-spot"))
    t4_regexes = [r for r in own_regexes(prios) if re.match(r, asg_name("t4"))]
    assert len(t4_regexes) == 1
    assert not re.match(t4_regexes[0], name)


@pytest.mark.parametrize(("pool", "other"), [("t4", "t4-2"), ("h100", "h100-1")])
def test_a_pool_regex_does_not_match_a_pool_named_with_a_numeric_suffix(pool, other):
    prios = priorities([PoolRef(pool, CapacityType.ON_DEMAND), PoolRef(other, CapacityType.SPOT)])
    (mine,) = [r for r in prios[str(PRIORITY_ON_DEMAND)] if r != ".*"]
    assert re.match(mine, asg_name(pool))
    assert not re.match(mine, asg_name(other))


# --------------------------------------------------------------------------- IAM policy


def statements(document: str) -> list[dict[str, Any]]:
    parsed = json.loads(document)
    assert parsed["Version"] == "2012-10-17"
    return parsed["Statement"]


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def test_write_actions_are_limited_to_this_clusters_owned_asgs():
    found = statements(policy("us-east-1", CLUSTER))
    writers = [s for s in found if WRITE_ACTIONS & set(as_list(s["Action"]))]
    assert writers
    assert {a for s in writers for a in as_list(s["Action"])} >= WRITE_ACTIONS
    for statement in writers:
        assert statement["Effect"] == "Allow"
        resources = as_list(statement["Resource"])
        assert "*" not in resources
        assert all(r.startswith("arn:aws:autoscaling:us-east-1:") for r in resources)
        condition = statement["Condition"]["StringEquals"]
        assert condition == {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{CLUSTER}": "owned"}


def test_no_wildcard_actions_and_only_reads_on_every_resource():
    found = statements(policy("us-east-1", CLUSTER))
    for statement in found:
        for action in as_list(statement["Action"]):
            assert action != "*"
            assert not action.endswith(":*")
            assert "*" not in action
        if "*" in as_list(statement["Resource"]):
            assert not WRITE_ACTIONS & set(as_list(statement["Action"]))
            assert all(
                a.split(":", 1)[1].startswith(("Describe", "Get"))
                for a in as_list(statement["Action"])
            )


def test_policy_uses_the_regions_partition():
    found = statements(policy("cn-north-1", "c"))
    writers = [s for s in found if WRITE_ACTIONS & set(as_list(s["Action"]))]
    assert all(r.startswith("arn:aws-cn:") for s in writers for r in as_list(s["Resource"]))


# --------------------------------------------------------------------------- the component


def autoscaler_args(provider: k8s.Provider, **overrides: Any) -> ClusterAutoscalerArgs:
    base = ClusterAutoscalerArgs(
        cluster_name=CLUSTER,
        region="us-east-1",
        kubernetes_version=versions.KUBERNETES_VERSION,
        pools=POOLS,
        provider=provider,
    )
    base.update(overrides)  # type: ignore[typeddict-item]
    return base


@pytest.fixture
def recorded(run_pulumi):
    def program() -> None:
        provider = k8s.Provider("k8s", kubeconfig="{}")
        ClusterAutoscaler("autoscaler", autoscaler_args(provider))

    return run_pulumi(program)


def test_release_is_the_pinned_chart_with_discovery_and_priority_expander(recorded):
    release = recorded.one(RELEASE)
    chart = versions.CHARTS["cluster-autoscaler"]
    assert release.inputs["chart"] == chart.chart
    assert release.inputs["version"] == chart.version
    assert release.inputs["repositoryOpts"]["repo"] == chart.repo
    assert release.inputs["namespace"] == "kube-system"
    chart_values = release.inputs["values"]
    assert chart_values["autoDiscovery"]["clusterName"] == CLUSTER
    assert chart_values["awsRegion"] == "us-east-1"
    assert "priority" in chart_values["extraArgs"]["expander"].split(",")
    assert chart_values["expanderPriorities"] == priorities(POOLS)
    image_tag = versions.CLUSTER_AUTOSCALER_IMAGE_TAG[versions.KUBERNETES_VERSION]
    assert chart_values["image"]["tag"] == image_tag


@pytest.mark.parametrize("k8s_version", sorted(versions.CLUSTER_AUTOSCALER_IMAGE_TAG))
def test_image_minor_follows_the_cluster(k8s_version):
    resolved = resolve(
        {
            "cluster_name": CLUSTER,
            "region": "us-east-1",
            "kubernetes_version": k8s_version,
            "pools": [],
            "provider": None,  # type: ignore[typeddict-item]
        }
    )
    tag = resolved.values["image"]["tag"]
    assert tag == versions.CLUSTER_AUTOSCALER_IMAGE_TAG[k8s_version]
    assert tag.removeprefix("v").startswith(k8s_version + ".")


def test_pod_identity_binds_the_charts_service_account(recorded):
    release = recorded.one(RELEASE)
    association = recorded.one(POD_IDENTITY)
    service_account = release.inputs["values"]["rbac"]["serviceAccount"]
    assert association.inputs["serviceAccount"] == service_account["name"]
    assert association.inputs["namespace"] == "kube-system" == release.inputs["namespace"]
    assert association.inputs["clusterName"] == CLUSTER
    role = recorded.one("aws:iam/role:Role")
    assert association.inputs["roleArn"] == role.outputs["arn"]
    role_policy = recorded.one("aws:iam/rolePolicy:RolePolicy")
    assert json.loads(role_policy.inputs["policy"]) == json.loads(policy("us-east-1", CLUSTER))
    assert role.urn in release.dependencies  # credentials before the pods start


def test_release_uses_the_given_kubernetes_provider(recorded):
    provider = recorded.one("pulumi:providers:kubernetes", "k8s")
    release = recorded.one(RELEASE)
    assert release.provider.startswith(provider.urn)
    component = recorded.one("gpuplatform:index:ClusterAutoscaler")
    assert release.parent == component.urn
    assert all(r.parent == component.urn for r in recorded.of_type(POD_IDENTITY))


# --------------------------------------------------------------------------- EFA device plugin


def test_efa_device_plugin_runs_only_on_efa_nodes_of_the_given_types():
    chart_values = efa_values(["p5.48xlarge"])
    tolerated = {t["key"] for t in chart_values["tolerations"]}
    assert "nvidia.com/gpu" in tolerated
    assert "gpu-platform/spot" in tolerated
    assert all(t["operator"] == "Exists" for t in chart_values["tolerations"])
    assert chart_values["nodeSelector"] == {"gpu-platform/efa": "true"}
    assert chart_values["supportedInstanceLabels"]["values"] == ["p5.48xlarge"]
    assert chart_values["supportedInstanceLabels"]["keys"] == ["node.kubernetes.io/instance-type"]


def test_efa_device_plugin_types_are_deduplicated_and_sorted():
    chart_values = efa_values(["p5en.48xlarge", "p4d.24xlarge", "p5en.48xlarge"])
    assert chart_values["supportedInstanceLabels"]["values"] == ["p4d.24xlarge", "p5en.48xlarge"]
