"""Every shipped stack plans cleanly, and each environment gets what it promises."""

from __future__ import annotations

from typing import Any

import pytest

from scripts.plan.__main__ import plan
from tests.conftest import STACKS

REQUIRED_TAGS = {"environment", "project", "owner", "team", "cost-center"}


@pytest.fixture(scope="module", params=STACKS)
def planned(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    document, _ = plan(request.param)
    return request.param, document


def states(document: dict[str, Any], type_token: str | None = None) -> list[dict[str, Any]]:
    found = [s["newState"] for s in document["steps"]]
    return [s for s in found if type_token is None or s["type"] == type_token]


def test_three_environments_ship():
    assert STACKS == ["dev", "prod", "staging"]


def test_stack_plans_clean_with_vpc_and_encrypted_cluster(planned):
    _, document = planned
    assert document["integrity"]["problems"] == []
    assert len(states(document, "aws:ec2/vpc:Vpc")) == 1
    (cluster,) = states(document, "aws:eks/cluster:Cluster")
    key_arn = cluster["inputs"]["encryptionConfig"]["provider"]["keyArn"]
    assert key_arn.startswith("arn:aws:kms:")
    (key,) = states(document, "aws:kms/key:Key")
    assert key["urn"] in cluster["dependencies"]


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
    dev, _ = plan("dev")
    prod, _ = plan("prod")

    def cluster_vpc(doc: dict[str, Any]) -> dict[str, Any]:
        return states(doc, "aws:eks/cluster:Cluster")[0]["inputs"]["vpcConfig"]

    assert cluster_vpc(dev)["endpointPublicAccess"] is True
    assert cluster_vpc(prod)["endpointPublicAccess"] is False
    assert len(states(dev, "aws:ec2/natGateway:NatGateway")) == 1
    assert len(states(prod, "aws:ec2/natGateway:NatGateway")) == 3
    assert not states(dev, "aws:ec2/flowLog:FlowLog")
    assert len(states(prod, "aws:ec2/flowLog:FlowLog")) == 1
    assert states(prod, "aws:kms/key:Key")[0]["protect"] is True
    assert states(dev, "aws:kms/key:Key")[0]["protect"] is False
    prod_logs = states(prod, "aws:eks/cluster:Cluster")[0]["inputs"]["enabledClusterLogTypes"]
    assert {"api", "audit", "authenticator"} <= set(prod_logs)
