"""Capacity stage: reads node groups, launch templates and subnets from any preview document."""

from __future__ import annotations

from typing import Any

from scripts.plan.__main__ import plan
from scripts.plan.stages import PlanContext
from scripts.plan.stages.capacity import CapacityStage

STACK = "urn:pulumi:x::p::pulumi:pulumi:Stack::p-x"


def _state(kind: str, name: str, inputs: dict[str, Any], deps: dict[str, list[str]] | None = None):
    urn = f"urn:pulumi:x::p::{kind}::{name}"
    return {
        "op": "create",
        "urn": urn,
        "newState": {
            "urn": urn,
            "type": kind,
            "custom": True,
            "parent": STACK,
            "inputs": inputs,
            "dependencies": [],
            "provider": "",
            "propertyDependencies": deps or {},
        },
    }


def _document(instance_type: str, max_size: int, cidr: str, efa_cards: int = 0) -> dict[str, Any]:
    """A bare preview document (no keys of ours), as `pulumi preview --json` would give."""
    subnet = _state(
        "aws:ec2/subnet:Subnet", "s1", {"cidrBlock": cidr, "availabilityZone": "us-east-1a"}
    )
    interfaces = [
        {"networkCardIndex": card, "deviceIndex": 0, "interfaceType": "efa-only"}
        for card in range(efa_cards)
    ]
    template = _state(
        "aws:ec2/launchTemplate:LaunchTemplate", "lt", {"networkInterfaces": interfaces}
    )
    group = _state(
        "aws:eks/nodeGroup:NodeGroup",
        "ng",
        {
            "instanceTypes": [instance_type],
            "capacityType": "ON_DEMAND",
            "scalingConfig": {"minSize": 1, "maxSize": max_size, "desiredSize": 1},
            "labels": {"gpu-platform/pool": "train"},
        },
        {"subnetIds": [subnet["urn"]], "launchTemplate": [template["urn"]]},
    )
    return {"steps": [subnet, template, group]}


def run(document: dict[str, Any]):
    return CapacityStage().run(PlanContext(stack="x", document=document))


def test_prod_p5_pool_reaches_full_efa_bandwidth_and_counts_quotas():
    document, results = plan("prod")
    capacity = document["capacity"]
    pools = {p["name"]: p for p in capacity["pools"]}
    h100 = pools["h100-train"]
    assert h100["efa"] == {
        "devices": 32,
        "cardsWithEfa": 32,
        "networkCards": 32,
        "efaCapableCards": 32,
        "configuredGbps": 3200,
        "maxGbps": 3200,
        "percent": 100,
    }
    assert (h100["gpusAtMin"], h100["gpusAtMax"]) == (0, 8 * h100["maxSize"])
    assert pools["t4-infer"]["efa"] is None
    quotas = {q["code"]: q["vcpusAtMax"] for q in capacity["quotas"]}
    assert quotas["L-417A185B"] == 192 * h100["maxSize"]  # on-demand P: p5 has 192 vCPUs
    assert "L-3819A6DF" in quotas  # the spot batch pool counts against the spot G quota
    assert capacity["totals"]["gpusAtMax"] == sum(p["gpusAtMax"] for p in capacity["pools"])
    assert all(s["addressesAtMax"] <= s["usableAddresses"] for s in capacity["subnets"])
    assert "3200/3200 Gbps (100%)" in "\n".join(results["capacity"][1].terminal)


def test_partial_efa_layout_reports_the_fraction():
    result = run(_document("p5.48xlarge", 2, "10.0.0.0/20", efa_cards=8))
    efa = result.data["pools"][0]["efa"]
    assert (efa["configuredGbps"], efa["percent"]) == (800, 25)


def test_a_subnet_too_small_for_the_pool_at_max_blocks():
    result = run(_document("p5.48xlarge", 40, "10.0.0.0/24"))
    (subnet,) = result.data["subnets"]
    assert subnet["usableAddresses"] == 251
    assert subnet["addressesAtMax"] > 251
    assert result.blocking and "10.0.0.0/24" in result.blocking[0]


def test_a_fitting_subnet_does_not_block():
    result = run(_document("g4dn.xlarge", 4, "10.0.0.0/20"))
    assert result.blocking == []
    assert result.data["pools"][0]["gpusAtMax"] == 4


def test_unknown_instance_type_is_reported_not_skipped():
    result = run(_document("x9.huge", 4, "10.0.0.0/20"))
    assert result.data["pools"][0]["unknownInstanceTypes"] == ["x9.huge"]
    assert any("x9.huge" in b for b in result.blocking)


def _with_pod_subnet(document: dict[str, Any], cidr: str) -> dict[str, Any]:
    pods = _state(
        "aws:ec2/subnet:Subnet",
        "pods",
        {
            "cidrBlock": cidr,
            "availabilityZone": "us-east-1a",
            "tags": {"gpu-platform/subnet-role": "pods"},
        },
    )
    return {"steps": [pods, *document["steps"]]}


def test_with_a_pod_subnet_the_node_subnet_holds_node_addresses_and_the_pods_move():
    # 40 p5 nodes: too many for a /24 without custom networking (test above); with a pod subnet
    # in the AZ the node subnet needs 40 addresses and the pod subnet 40 x 273.
    result = run(_with_pod_subnet(_document("p5.48xlarge", 40, "10.0.0.0/24"), "100.64.0.0/18"))
    subnets = {s["name"]: s for s in result.data["subnets"]}
    assert subnets["s1"]["addressesAtMax"] == 40
    assert subnets["pods"]["addressesAtMax"] == 40 * 273
    assert result.blocking == []
    tight = run(_with_pod_subnet(_document("p5.48xlarge", 40, "10.0.0.0/24"), "100.64.0.0/20"))
    assert tight.blocking and "100.64.0.0/20" in tight.blocking[0]


def test_prod_checks_its_pod_subnets():
    document, _ = plan("prod")
    subnets = {s["name"]: s for s in document["capacity"]["subnets"]}
    assert {n for n in subnets if n.startswith("network-pods-")} == {
        f"network-pods-us-east-1{z}" for z in "abc"
    }
    # Node subnets: one address per node (18 nodes at most in us-east-1a).
    assert subnets["network-private-us-east-1a"]["addressesAtMax"] == 18
    assert subnets["network-pods-us-east-1a"]["addressesAtMax"] > 1000
