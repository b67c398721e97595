"""Cost stage: idle, expected and worst-case monthly cost of the document, by resource and tier.

It prices the preview document with the same code as the pack's `cost-limits` policy
(policies/pricing.py), so the figures shown are the figures enforced. The verdict itself belongs
to the policy stage; this stage reports.
"""

from __future__ import annotations

from typing import Any

from components.catalog import price_snapshot, service_price_snapshot
from policies.pricing import HOURS_PER_MONTH, SCALES, Res, SpotRates, estimate
from scripts.plan.stages.base import PlanContext, StageResult, states


def provider_region(state: dict[str, Any], by_urn: dict[str, dict[str, Any]]) -> str | None:
    """The `region` input of the AWS provider a state references (`<urn>::<id>`), if known."""
    reference = str(state.get("provider") or "")
    provider = by_urn.get(reference.rsplit("::", 1)[0]) if reference else None
    if provider is None or not str(provider.get("type", "")).startswith("pulumi:providers:aws"):
        return None
    region = (provider.get("inputs") or {}).get("region")
    return region if isinstance(region, str) and region else None


def cost_report(document: dict[str, Any], spot: SpotRates | None = None) -> dict[str, Any]:
    """The cost section of the plan. `spot`: spot prices for spot pools' idle and expected
    figures (default: the catalog's snapshot; the worst case is always at on-demand rates)."""
    spot = SpotRates.from_catalog() if spot is None else spot
    all_states = states(document)
    by_urn = {s["urn"]: s for s in all_states}
    est = estimate(
        (
            Res(
                type=s["type"],
                urn=s["urn"],
                props=s.get("inputs") or {},
                property_dependencies=s.get("propertyDependencies") or {},
                region=provider_region(s, by_urn),
            )
            for s in all_states
        ),
        spot,
    )
    budget = min(est.budgets_usd) if est.budgets_usd else None
    worst = est.total("worst")
    instances, services = price_snapshot(), service_price_snapshot()
    return {
        "currency": "USD",
        "hoursPerMonth": HOURS_PER_MONTH,
        "priceSnapshot": {
            "instances": {
                "date": instances.date,
                "region": instances.region,
                "source": instances.source,
            },
            "services": {
                "date": services.date,
                "region": services.region,
                "source": services.source,
            },
            "spot": (
                None
                if spot.snapshot is None
                else {
                    "date": spot.snapshot.date,
                    "region": spot.snapshot.region,
                    "source": spot.snapshot.source,
                }
            ),
        },
        "spotNote": est.spot_note,
        "totals": {scale: est.total(scale) for scale in SCALES},
        "byTier": {scale: est.by_tier(scale) for scale in SCALES},
        "budgetUsd": budget,
        "worstCasePercentOfBudget": round(100 * worst / budget, 1) if budget else None,
        "resources": [
            {
                "urn": line.urn,
                "name": line.name,
                "tier": line.tier,
                "monthlyUsd": line.monthly,
                "detail": line.detail,
            }
            for line in sorted(est.lines, key=lambda item: -item.monthly["worst"])
        ],
        "unpriced": est.unpriced,
        "notPriced": (
            "data transfer, NAT data processing, EBS root volumes, CloudWatch Logs, "
            "CloudTrail events (billed per event)"
        ),
    }


class CostStage:
    """Monthly cost at idle (min sizes), expected (desired sizes) and worst case (max sizes)."""

    key = "cost"
    title = "Cost (monthly, USD)"

    def __init__(self, spot: SpotRates | None = None) -> None:
        self.spot = spot
        """Spot prices to use (None: the catalog's snapshot)."""

    def run(self, context: PlanContext) -> StageResult:
        data = cost_report(context.document, self.spot)
        return StageResult.rendered(data, self._render)

    @staticmethod
    def _render(data: dict[str, Any], table: Any) -> list[str]:
        def usd(value: float | None) -> str:
            return "-" if value is None else f"${value:,.2f}"

        totals = data["totals"]
        budget = data["budgetUsd"]
        lines = [
            f"idle {usd(totals['idle'])}  expected {usd(totals['expected'])}  "
            f"worst case {usd(totals['worst'])}  budget {usd(budget)}"
            + (f" (worst case {data['worstCasePercentOfBudget']:g}%)" if budget else ""),
            "",
        ]
        tiers = sorted(data["byTier"]["worst"])
        lines += table(
            ["tier", "idle", "expected", "worst case"],
            [[t, *(usd(data["byTier"][s].get(t, 0.0)) for s in SCALES)] for t in tiers],
        )
        lines.append("")
        lines += table(
            ["resource", "tier", "idle", "expected", "worst case", "detail"],
            [
                [r["name"], r["tier"], *(usd(r["monthlyUsd"][s]) for s in SCALES), r["detail"]]
                for r in data["resources"][:15]
            ],
        )
        if len(data["resources"]) > 15:
            lines.append(f"... and {len(data['resources']) - 15} more in the JSON document")
        if data["unpriced"]:
            lines += ["", "Unpriced: " + "; ".join(data["unpriced"])]
        if data.get("spotNote"):
            lines += ["", "Spot: " + data["spotNote"] + "."]
        snapshot = data["priceSnapshot"]["instances"]
        lines += [
            "",
            f"Prices: {snapshot['region']} snapshot of {snapshot['date']} ({snapshot['source']}); "
            f"{data['hoursPerMonth']} h/month; not priced: {data['notPriced']}.",
        ]
        return lines
