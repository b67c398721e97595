"""The cost stage reads each resource's region from its AWS provider in the document."""

from __future__ import annotations

from typing import Any

from components.catalog import get_instance_type
from policies.pricing import HOURS_PER_MONTH, POOL_LABEL
from scripts.plan.stages.cost import cost_report, provider_region
from tests.policies import doc, provider_reference, provider_state, state

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


def _document(region: str | None) -> dict[str, Any]:
    group = state(
        NODE_GROUP,
        "gpu-ng",
        {
            "instanceTypes": ["g6e.xlarge"],
            "scalingConfig": {"minSize": 1, "desiredSize": 1, "maxSize": 2},
            "labels": {POOL_LABEL: "gpu"},
        },
    )
    if region is None:
        return doc(group)
    provider = provider_state("default_7_51_1", {"region": region, "version": "7.51.1"})
    group["provider"] = provider_reference(provider)
    return doc(provider, group)


def test_a_stack_in_the_snapshot_region_is_priced():
    report = cost_report(_document("us-east-1"))
    assert report["unpriced"] == []
    rate = get_instance_type("g6e.xlarge").on_demand_usd_per_hour
    assert rate is not None
    assert report["totals"]["idle"] == round(rate * HOURS_PER_MONTH, 2)


def test_a_stack_in_another_region_is_reported_unpriced():
    report = cost_report(_document("ap-southeast-2"))
    assert report["totals"] == {"idle": 0.0, "expected": 0.0, "worst": 0.0}
    (problem,) = report["unpriced"]
    assert "node group gpu: runs in ap-southeast-2" in problem
    assert "snapshot is us-east-1's" in problem


def test_a_resource_without_a_provider_reference_counts_as_the_snapshot_region():
    report = cost_report(_document(None))
    assert report["unpriced"] == []
    assert report["totals"]["worst"] > 0


def test_provider_region_reads_only_aws_providers():
    provider = provider_state("default", {"region": "eu-west-1"})
    k8s = dict(provider, type="pulumi:providers:kubernetes", urn=provider["urn"] + "-k8s")
    by_urn = {provider["urn"]: provider, k8s["urn"]: k8s}
    assert provider_region({"provider": provider_reference(provider)}, by_urn) == "eu-west-1"
    assert provider_region({"provider": provider_reference(k8s)}, by_urn) is None
    assert provider_region({"provider": ""}, by_urn) is None
