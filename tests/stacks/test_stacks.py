"""Every shipped stack plans cleanly, and each environment gets what it promises."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support import STACKS, shipped_plan

REQUIRED_TAGS = {"environment", "project", "owner", "team", "cost-center"}


@pytest.fixture(scope="module", params=STACKS)
def planned(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    document, _ = shipped_plan(request.param)
    return request.param, document


def states(document: dict[str, Any], type_token: str | None = None) -> list[dict[str, Any]]:
    found = [s["newState"] for s in document["steps"]]
    return [s for s in found if type_token is None or s["type"] == type_token]


def test_three_environments_ship():
    assert STACKS == ["dev", "prod", "staging"]


def test_stack_plans_clean_with_vpc_and_encrypted_cluster(planned):
    _, document = planned
    assert document["integrity"]["problems"] == []
    # Every rendered Kubernetes object passed its schema (built-in kinds) or shape check.
    assert all(not o["problems"] for o in document["kubernetes"]["objects"])
    assert len(states(document, "aws:ec2/vpc:Vpc")) == 1
    (cluster,) = states(document, "aws:eks/cluster:Cluster")
    key_arn = cluster["inputs"]["encryptionConfig"]["provider"]["keyArn"]
    assert key_arn.startswith("arn:aws:kms:")
    secrets_keys = [k for k in states(document, "aws:kms/key:Key") if "cluster" in k["urn"]]
    assert len(secrets_keys) == 1
    assert secrets_keys[0]["urn"] in cluster["propertyDependencies"]["encryptionConfig"]


def test_every_resource_but_root_and_providers_has_a_parent(planned):
    _, document = planned
    for state in states(document):
        if state["type"] == "pulumi:pulumi:Stack" or state["type"].startswith("pulumi:providers:"):
            continue
        assert state["parent"], state["urn"]


def test_taggable_resources_carry_the_required_tags(planned):
    stack, document = planned
    tagged = [s for s in states(document) if "tags" in s["inputs"]]
    assert len(tagged) > 10
    for state in tagged:
        missing = REQUIRED_TAGS - set(state["inputs"]["tags"])
        assert not missing, f"{state['urn']} lacks {missing}"
        assert state["inputs"]["tags"]["environment"] == stack


def test_environment_shapes():
    dev, _ = shipped_plan("dev")
    prod, _ = shipped_plan("prod")

    def cluster_vpc(doc: dict[str, Any]) -> dict[str, Any]:
        return states(doc, "aws:eks/cluster:Cluster")[0]["inputs"]["vpcConfig"]

    assert cluster_vpc(dev)["endpointPublicAccess"] is True
    assert cluster_vpc(prod)["endpointPublicAccess"] is False
    assert len(states(dev, "aws:ec2/natGateway:NatGateway")) == 1
    assert len(states(prod, "aws:ec2/natGateway:NatGateway")) == 3
    assert not states(dev, "aws:ec2/flowLog:FlowLog")
    assert len(states(prod, "aws:ec2/flowLog:FlowLog")) == 1
    assert all(k["protect"] for k in states(prod, "aws:kms/key:Key"))
    assert not any(k["protect"] for k in states(dev, "aws:kms/key:Key"))
    prod_logs = states(prod, "aws:eks/cluster:Cluster")[0]["inputs"]["enabledClusterLogTypes"]
    assert {"api", "audit", "authenticator"} <= set(prod_logs)


def test_prod_gpu_compute_layout():
    document, _ = shipped_plan("prod")
    groups = {
        s["inputs"]["labels"].get("gpu-platform/pool"): s
        for s in states(document, "aws:eks/nodeGroup:NodeGroup")
    }
    templates = {s["urn"]: s for s in states(document, "aws:ec2/launchTemplate:LaunchTemplate")}
    p5 = [g for g in groups.values() if g["inputs"].get("instanceTypes") == ["p5.48xlarge"]]
    assert len(p5) == 1
    (p5_group,) = p5
    assert len(p5_group["inputs"]["subnetIds"]) == 1
    assert p5_group["inputs"]["scalingConfig"]["maxSize"] >= 4
    template = templates[p5_group["propertyDependencies"]["launchTemplate"][0]]
    interfaces = template["inputs"]["networkInterfaces"]
    cards = [i["networkCardIndex"] for i in interfaces]
    assert sorted(set(cards)) == list(range(32))
    assert max(cards.count(c) for c in set(cards)) <= 2
    efa = [i["networkCardIndex"] for i in interfaces if i["interfaceType"] in ("efa", "efa-only")]
    assert sorted(efa) == list(range(32))  # one EFA device on every card
    # prod runs custom networking: card 0's EFA device is the primary, its second slot is free
    # for the pods' interface.
    assert [i["interfaceType"] for i in interfaces if i["networkCardIndex"] == 0] == ["efa"]
    (placement,) = states(document, "aws:ec2/placementGroup:PlacementGroup")
    assert placement["inputs"]["strategy"] == "cluster"
    assert any(
        g["inputs"].get("instanceTypes") == ["g4dn.xlarge"] and len(g["inputs"]["subnetIds"]) == 3
        for g in groups.values()
    )
    assert any(g["inputs"]["amiType"] == "AL2023_x86_64_NVIDIA" for g in groups.values())
    spot = [g for g in groups.values() if g["inputs"]["capacityType"] == "SPOT"]
    assert spot and all(len(g["inputs"]["instanceTypes"]) >= 2 for g in spot)


def test_dev_gpu_pools_scale_to_zero_and_have_no_h100():
    document, _ = shipped_plan("dev")
    gpu_groups = [
        s
        for s in states(document, "aws:eks/nodeGroup:NodeGroup")
        if s["inputs"]["amiType"].endswith("NVIDIA")
    ]
    assert gpu_groups
    assert all(g["inputs"]["scalingConfig"]["minSize"] == 0 for g in gpu_groups)
    types = [t for g in gpu_groups for t in g["inputs"].get("instanceTypes", [])]
    types += [
        s["inputs"]["instanceType"]
        for s in states(document, "aws:ec2/launchTemplate:LaunchTemplate")
        if "instanceType" in s["inputs"]
    ]
    assert types and not any(t.startswith("p5") for t in types)


def test_prod_gpu_software_and_workloads():
    document, _ = shipped_plan("prod")
    releases = {s["inputs"]["chart"]: s for s in states(document, "kubernetes:helm.sh/v3:Release")}
    operator = releases["gpu-operator"]["inputs"]["values"]
    assert operator["driver"]["enabled"] is False and operator["toolkit"]["enabled"] is False
    assert any(k.startswith("time-sliced-") for k in operator["devicePlugin"]["config"]["data"])
    (deployment,) = [
        s for s in states(document, "kubernetes:apps/v1:Deployment") if "triton" in s["urn"]
    ]
    container = deployment["inputs"]["spec"]["template"]["spec"]["containers"][0]
    assert "nvidia.com/gpu" in container["resources"]["limits"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    scalers = [s for s in states(document, "kubernetes:keda.sh/v1alpha1:ScaledObject")]
    assert any(
        "nv_inference_queue_duration_us" in t["metadata"]["query"]
        for s in scalers
        for t in s["inputs"]["spec"]["triggers"]
    )
    jobs = states(document, "kubernetes:trainer.kubeflow.org/v1alpha1:TrainJob")
    assert jobs and all(j["inputs"]["spec"]["suspend"] is True for j in jobs)
    efa_jobs = [j for j in jobs if j["inputs"]["metadata"]["name"] != "example-spot-training"]
    assert len(efa_jobs) == 2 and len(jobs) == 3  # the EFA example and NCCL test; a spot job
    assert all(
        j["inputs"]["spec"]["trainer"]["resourcesPerNode"]["limits"]["vpc.amazonaws.com/efa"]
        == "32"
        for j in efa_jobs
    )
    # Kubeflow Pipelines behind cert-manager, kustomize URLs in the form kustomize reads.
    releases = {r["inputs"]["chart"] for r in states(document, "kubernetes:helm.sh/v3:Release")}
    assert "cert-manager" in releases
    directories = [
        d["inputs"]["directory"] for d in states(document, "kubernetes:kustomize/v2:Directory")
    ]
    assert any("env/cert-manager/" in d for d in directories)
    assert any(d.endswith("workloads/kustomize/kubeflow-pipelines") for d in directories)
    assert not any("/tree/" in d for d in directories)
    # Alertmanager routes to a real receiver; no DCGM query uses the old `Hostname` label.
    (prometheus,) = [
        r
        for r in states(document, "kubernetes:helm.sh/v3:Release")
        if r["inputs"]["chart"] == "kube-prometheus-stack"
    ]
    assert prometheus["inputs"]["values"]["alertmanager"]["config"]["route"]["receiver"] != "null"
    rules = states(document, "kubernetes:monitoring.coreos.com/v1:PrometheusRule")
    boards = states(document, "kubernetes:core/v1:ConfigMap")
    assert "Hostname" not in json.dumps([r["inputs"] for r in [*rules, *boards]])
    assert states(document, "kubernetes:monitoring.coreos.com/v1:PrometheusRule")
    assert states(document, "aws:budgets/budget:Budget")
    assert document["kubernetes"]["objects"]
    assert all(not o["problems"] for o in document["kubernetes"]["objects"])


@pytest.mark.parametrize("stack", STACKS)
def test_the_platform_puts_no_more_tags_on_a_resource_than_the_stacks_tags_leave_room_for(stack):
    """A stack may set at most 50 - PLATFORM_TAGS_PER_RESOURCE tags (components/config/models.py)
    because no resource carries more of the platform's own than that; and the stack's tags
    themselves use only the keys the config reserves for the platform."""
    from components.catalog.conventions import PLATFORM_TAG_KEYS, PLATFORM_TAGS_PER_RESOURCE
    from components.resolve import stack_tags
    from tests.support import config

    own = config(stack).tags
    assert set(stack_tags(config(stack), "gpu-platform", stack)) - set(own) <= PLATFORM_TAG_KEYS
    most = 0
    for step in shipped_plan(stack)[0]["steps"]:
        tags = step["newState"]["inputs"].get("tags")
        if isinstance(tags, dict):
            most = max(most, len(set(tags) - set(own)))
    assert 0 < most <= PLATFORM_TAGS_PER_RESOURCE
