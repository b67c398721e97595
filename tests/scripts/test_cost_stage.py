"""The cost stage reads each resource's region from its AWS provider in the document."""

from __future__ import annotations

from typing import Any

from components.catalog import PriceSnapshot, get_instance_type
from policies.cost import findings
from policies.pricing import HOURS_PER_MONTH, POOL_LABEL, Res, SpotRates, estimate
from scripts.plan.stages.base import PlanContext, states
from scripts.plan.stages.cost import CostStage, cost_report, provider_region
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


# ------------------------------------------------------------ spot prices for the expected cost

SPOT_SNAPSHOT = PriceSnapshot(
    date="2026-11-22",
    region="us-east-1",
    source="EC2 DescribeSpotPriceHistory, Linux/UNIX, latest price per AZ, lowest across AZs",
)
FIXTURE_SPOT = SpotRates(prices={"g4dn.xlarge": 0.2, "g5.xlarge": 0.45}, snapshot=SPOT_SNAPSHOT)
"""A fixture prices document's spot section (the shipped prices.json is never edited)."""
NO_SPOT = SpotRates(prices={}, snapshot=None)


def _pool_document(capacity: str, types: list[str]) -> dict[str, Any]:
    return doc(
        state(
            NODE_GROUP,
            "pool-ng",
            {
                "instanceTypes": types,
                "capacityType": capacity,
                "scalingConfig": {"minSize": 1, "desiredSize": 2, "maxSize": 4},
                "labels": {POOL_LABEL: "pool"},
            },
        )
    )


def _on_demand(name: str) -> float:
    rate = get_instance_type(name).on_demand_usd_per_hour
    assert rate is not None
    return rate


def test_a_spot_pool_expects_the_spot_price_and_its_worst_case_stays_on_demand():
    report = cost_report(_pool_document("SPOT", ["g4dn.xlarge", "g5.xlarge"]), FIXTURE_SPOT)
    (line,) = report["resources"]
    assert line["monthlyUsd"]["idle"] == round(1 * 0.2 * HOURS_PER_MONTH, 2)
    assert line["monthlyUsd"]["expected"] == round(2 * 0.2 * HOURS_PER_MONTH, 2)
    dearest = max(_on_demand("g4dn.xlarge"), _on_demand("g5.xlarge"))
    assert line["monthlyUsd"]["worst"] == round(4 * dearest * HOURS_PER_MONTH, 2)
    assert (
        "expected at spot $0.2/h g4dn.xlarge, 2026-11-22; worst case at on-demand"
        in (line["detail"])
    )
    assert report["spotNote"] is None
    assert report["priceSnapshot"]["spot"]["date"] == "2026-11-22"


def test_a_spot_type_without_a_spot_price_counts_at_on_demand():
    spot = SpotRates(prices={"g5.xlarge": 0.9}, snapshot=SPOT_SNAPSHOT)
    report = cost_report(_pool_document("SPOT", ["g4dn.xlarge", "g5.xlarge"]), spot)
    (line,) = report["resources"]
    cheapest = min(_on_demand("g4dn.xlarge"), 0.9)
    assert line["monthlyUsd"]["expected"] == round(2 * cheapest * HOURS_PER_MONTH, 2)
    assert "on-demand $0.526/h g4dn.xlarge, no spot price" in line["detail"]


def test_without_a_spot_section_a_spot_pool_is_expected_at_on_demand_and_the_report_says_so():
    stage = CostStage(spot=NO_SPOT)
    result = stage.run(PlanContext(stack="dev", document=_pool_document("SPOT", ["g4dn.xlarge"])))
    (line,) = result.data["resources"]
    assert line["monthlyUsd"]["expected"] == round(2 * _on_demand("g4dn.xlarge") * 730, 2)
    assert "on-demand rates: no spot prices" in line["detail"]
    assert result.data["priceSnapshot"]["spot"] is None
    notes = [text for text in result.terminal if text.startswith("Spot: ")]
    assert notes == [
        "Spot: spot pools' idle and expected cost are at on-demand rates: the price snapshot "
        "has no spot section (`python -m scripts.ops prices refresh` adds one)."
    ]


def test_on_demand_pools_ignore_spot_prices():
    report = cost_report(_pool_document("ON_DEMAND", ["g4dn.xlarge"]), FIXTURE_SPOT)
    (line,) = report["resources"]
    assert line["monthlyUsd"]["expected"] == round(2 * _on_demand("g4dn.xlarge") * 730, 2)
    assert line["detail"].endswith("(on-demand rates)")
    assert report["spotNote"] is None


def test_the_budget_guard_never_assumes_spot_prices():
    document = _pool_document("SPOT", ["g4dn.xlarge"])
    resources = [Res(type=s["type"], urn=s["urn"], props=s["inputs"]) for s in states(document)]
    cheap = SpotRates(prices={"g4dn.xlarge": 0.01}, snapshot=SPOT_SNAPSHOT)
    worst = round(4 * _on_demand("g4dn.xlarge") * HOURS_PER_MONTH, 2)
    # A ceiling between the spot-priced and the on-demand worst case still fails.
    found = findings(estimate(resources, cheap), {"maxMonthlyUsd": worst - 1})
    assert any(message.startswith("worst-case monthly cost") for message, _ in found)
