"""Cluster Autoscaler (priorities, IAM policy, Helm release) and the EFA device plugin's values.

Specs are a shipped stack's config (pools replaced where a test needs particular ones), resolved
as the program does.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pulumi_kubernetes as k8s
import pytest

from components import versions
from components.compute.autoscaler import (
    PRIORITY_ON_DEMAND,
    PRIORITY_SPOT,
    ClusterAutoscaler,
    policy,
    priorities,
    values,
)
from components.resolve.software import AutoscalerSpec
from components.software.efa_device_plugin import values as efa_values
from tests.support import config, platform, raw_config

STACK = "prod"
ADDONS = {**json.loads(raw_config(STACK)["gpu-platform:addons"]), "triton": False}
"""The stack's add-ons without Triton, which needs an inference pool the tests may not have."""
RESERVATION = "cr-0123456789abcdef0"
RELEASE = "kubernetes:helm.sh/v3:Release"
POD_IDENTITY = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
WRITE_ACTIONS = {
    "autoscaling:SetDesiredCapacity",
    "autoscaling:TerminateInstanceInAutoScalingGroup",
}


def on_demand(name: str) -> dict[str, Any]:
    return {"name": name, "instanceTypes": ["g4dn.xlarge"], "maxSize": 2}


def spot(name: str) -> dict[str, Any]:
    gpu_need = {"gpuModel": "T4", "gpusPerNode": 1}
    return {"name": name, "capacityType": "SPOT", "gpuNeed": gpu_need, "maxSize": 2}


POOLS = [
    {
        "name": "h100-cb",
        "purpose": "training",
        "instanceTypes": ["p5.48xlarge"],
        "efa": True,
        "capacityType": "CAPACITY_BLOCK",
        "capacityReservationId": RESERVATION,
        "maxSize": 2,
    },
    {
        "name": "h100-odcr",
        "instanceTypes": ["p5.48xlarge"],
        "capacityReservationId": RESERVATION,
        "maxSize": 2,
    },
    spot("t4-spot"),
    on_demand("t4"),
]


def autoscaler(*pools: dict[str, Any], stack: str = STACK, **overrides: Any) -> AutoscalerSpec:
    """The stack's autoscaler spec with these GPU pools."""
    spec = platform(stack, gpuPools=list(pools), addons=ADDONS, **overrides).autoscaler
    assert spec is not None
    return spec


SPEC = autoscaler(*POOLS)
CLUSTER = SPEC.cluster_name


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


# --------------------------------------------------------------------------- the spec


def test_the_spec_carries_each_pools_capacity_kind_in_config_order():
    assert [(p.name, p.reserved, p.spot) for p in SPEC.pools] == [
        ("h100-cb", True, False),
        ("h100-odcr", True, False),
        ("t4-spot", False, True),
        ("t4", False, False),
    ]
    assert platform(STACK).cluster.name == CLUSTER
    assert SPEC.region == config(STACK).region
    assert SPEC.partition == "aws"


def test_no_autoscaler_spec_when_the_addon_is_off():
    assert platform(STACK, addons={**ADDONS, "clusterAutoscaler": False}).autoscaler is None


# --------------------------------------------------------------------------- priorities


def test_reserved_capacity_first_then_spot_then_on_demand_then_anything():
    prios = priorities(SPEC.pools)
    levels = sorted(int(level) for level in prios)
    highest, lowest = levels[-1], levels[0]
    assert max(level_of(prios, asg_name("h100-cb"))) == highest
    assert max(level_of(prios, asg_name("h100-odcr"))) == highest
    spot_level = max(level_of(prios, asg_name("t4-spot")))
    on_demand_level = max(level_of(prios, asg_name("t4")))
    assert highest > spot_level > on_demand_level
    assert ".*" in prios[str(lowest)]
    assert all(".*" not in prios[str(level)] for level in levels[1:])
    # Anything else (the system pool) only matches the catch-all.
    assert level_of(prios, "eks-system-20261122143000000000000002-abcd") == [lowest]


def test_priority_levels_are_string_keys_with_sorted_regex_lists():
    prios = priorities(SPEC.pools)
    assert all(isinstance(level, str) and level.isdigit() for level in prios)
    assert all(regexes == sorted(regexes) for regexes in prios.values())


def test_priorities_without_pools_is_just_the_catch_all():
    spec = autoscaler()
    assert spec.pools == ()
    prios = priorities(spec.pools)
    assert list(prios.values()) == [[".*"]]


@pytest.mark.parametrize(
    ("pool", "other"),
    [("t4-spot", "t4"), ("h100-cb", "h100"), ("t4", "t4-spot"), ("h100", "h100-cb")],
)
def test_a_pool_regex_matches_its_own_asg_and_not_a_prefix_pool(pool, other):
    prios = priorities(autoscaler(spot(pool), on_demand(other)).pools)
    (mine,) = prios[str(PRIORITY_SPOT)]
    assert re.match(mine, asg_name(pool))
    assert not re.match(mine, asg_name(other))
    others = [r for r in own_regexes(prios) if r != mine]
    assert others
    assert all(re.match(r, asg_name(other)) for r in others)
    assert not any(re.match(r, asg_name(pool)) for r in others)


def test_t4_spot_asg_matches_the_spot_pool_only():
    prios = priorities(SPEC.pools)
    name = "eks-t4-spot-20261122143000000000000001-1ac9a2b4-0000-0000-0000-000000000000"
    matching = [r for r in own_regexes(prios) if re.match(r, name)]
    assert len(matching) == 1
    assert re.match(matching[0], asg_name("t4-spot"))
    t4_regexes = [r for r in own_regexes(prios) if re.match(r, asg_name("t4"))]
    assert len(t4_regexes) == 1
    assert not re.match(t4_regexes[0], name)


@pytest.mark.parametrize(("pool", "other"), [("t4", "t4-2"), ("h100", "h100-1")])
def test_a_pool_regex_does_not_match_a_pool_named_with_a_numeric_suffix(pool, other):
    prios = priorities(autoscaler(on_demand(pool), spot(other)).pools)
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


def spec_policy(spec: AutoscalerSpec) -> str:
    return policy(spec.region, spec.partition, spec.cluster_name)


def test_write_actions_are_limited_to_this_clusters_owned_asgs():
    found = statements(spec_policy(SPEC))
    writers = [s for s in found if WRITE_ACTIONS & set(as_list(s["Action"]))]
    assert writers
    assert {a for s in writers for a in as_list(s["Action"])} >= WRITE_ACTIONS
    for statement in writers:
        assert statement["Effect"] == "Allow"
        resources = as_list(statement["Resource"])
        assert "*" not in resources
        assert all(r.startswith(f"arn:aws:autoscaling:{SPEC.region}:") for r in resources)
        condition = statement["Condition"]["StringEquals"]
        assert condition == {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{CLUSTER}": "owned"}


def test_no_wildcard_actions_and_only_reads_on_every_resource():
    found = statements(spec_policy(SPEC))
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
    spec = autoscaler(
        stack="dev",
        **{"aws:region": "cn-north-1", "availabilityZones": ["cn-north-1a", "cn-north-1b"]},
        subnets=None,
    )
    assert spec.partition == "aws-cn"
    found = statements(spec_policy(spec))
    writers = [s for s in found if WRITE_ACTIONS & set(as_list(s["Action"]))]
    assert writers
    assert all(
        r.startswith("arn:aws-cn:autoscaling:cn-north-1:")
        for s in writers
        for r in as_list(s["Resource"])
    )


# --------------------------------------------------------------------------- the component


@pytest.fixture
def recorded(run_pulumi):
    def program() -> None:
        provider = k8s.Provider("k8s", kubeconfig="{}")
        ClusterAutoscaler("autoscaler", SPEC, provider)

    return run_pulumi(program)


def test_release_is_the_pinned_chart_with_discovery_and_priority_expander(recorded):
    release = recorded.one(RELEASE)
    chart = versions.CHARTS["cluster-autoscaler"]
    assert release.inputs["chart"] == chart.chart
    assert release.inputs["version"] == chart.version
    assert release.inputs["repositoryOpts"]["repo"] == chart.repo
    assert release.inputs["namespace"] == "kube-system"
    chart_values = release.inputs["values"]
    assert chart_values == values(SPEC)
    assert chart_values["autoDiscovery"]["clusterName"] == CLUSTER
    assert chart_values["awsRegion"] == "us-east-1"
    assert "priority" in chart_values["extraArgs"]["expander"].split(",")
    assert chart_values["expanderPriorities"] == priorities(SPEC.pools)
    image_tag = versions.CLUSTER_AUTOSCALER_IMAGE_TAG[config(STACK).kubernetes_version]
    assert chart_values["image"]["tag"] == image_tag


@pytest.mark.parametrize("k8s_version", sorted(versions.CLUSTER_AUTOSCALER_IMAGE_TAG))
def test_image_minor_follows_the_cluster(k8s_version):
    spec = autoscaler(kubernetesVersion=k8s_version)
    tag = values(spec)["image"]["tag"]
    assert tag == spec.image_tag == versions.CLUSTER_AUTOSCALER_IMAGE_TAG[k8s_version]
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
    assert json.loads(role_policy.inputs["policy"]) == json.loads(spec_policy(SPEC))
    # Credentials before the pods start: the role, its policy and the association.
    for credential in (role, role_policy, association):
        assert credential.urn in release.dependencies, credential.type


def test_release_uses_the_given_kubernetes_provider(recorded):
    provider = recorded.one("pulumi:providers:kubernetes", "k8s")
    release = recorded.one(RELEASE)
    assert release.provider.startswith(provider.urn)
    component = recorded.one("gpuplatform:index:ClusterAutoscaler")
    assert release.parent == component.urn
    assert all(r.parent == component.urn for r in recorded.of_type(POD_IDENTITY))


# --------------------------------------------------------------------------- EFA device plugin


def test_efa_device_plugin_runs_only_on_efa_nodes_of_the_given_types():
    spec = platform(STACK).efa_plugin
    assert spec is not None
    assert spec.instance_types == ("p5.48xlarge",)
    chart_values = efa_values(spec.instance_types, spec.image_repository)
    # The image comes from the cluster region's EKS registry, not the chart's us-west-2 default.
    assert chart_values["image"] == {
        "repository": "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/aws-efa-k8s-device-plugin"
    }
    tolerated = {t["key"] for t in chart_values["tolerations"]}
    assert "nvidia.com/gpu" in tolerated
    assert "gpu-platform/spot" in tolerated
    assert all(t["operator"] == "Exists" for t in chart_values["tolerations"])
    assert chart_values["nodeSelector"] == {"gpu-platform/efa": "true"}
    assert chart_values["supportedInstanceLabels"]["values"] == ["p5.48xlarge"]
    assert chart_values["supportedInstanceLabels"]["keys"] == ["node.kubernetes.io/instance-type"]


def test_efa_device_plugin_types_are_deduplicated_and_sorted():
    chart_values = efa_values(["p5en.48xlarge", "p4d.24xlarge", "p5en.48xlarge"], "registry/efa")
    assert chart_values["supportedInstanceLabels"]["values"] == ["p4d.24xlarge", "p5en.48xlarge"]
    efa = {"purpose": "training", "efa": True, "maxSize": 2}
    spec = platform(
        STACK,
        gpuPools=[
            {"name": "a", "instanceTypes": ["p5en.48xlarge"], **efa},
            {"name": "b", "instanceTypes": ["p4d.24xlarge"], **efa},
            {"name": "c", "instanceTypes": ["p5en.48xlarge"], **efa},
            on_demand("t4"),
        ],
        addons=ADDONS,
    ).efa_plugin
    assert spec is not None
    assert efa_values(spec.instance_types, "registry/efa") == chart_values


def test_no_efa_device_plugin_without_an_efa_pool():
    assert (
        platform(STACK, gpuPools=[on_demand("t4"), spot("t4-spot")], addons=ADDONS).efa_plugin
        is None
    )
