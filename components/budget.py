"""AWS Budgets for the environment: the stack's monthly limit, filtered by the environment tag.

Alerts at 80% of actual spend and at 100% of forecast spend go to the configured addresses. The
filter needs the `environment` tag active for cost allocation. Activation is account-wide and AWS
accepts it only once the key has appeared on billed resources (about a day after the first
deployment), from the payer account; so this component activates the given keys only when asked
(`activateCostAllocationTags`), in one stack.

The budget resource also carries the limit into the preview document, where the cost policy
compares the stack's worst-case monthly cost with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import pulumi
import pulumi_aws as aws

ACTUAL_ALERT_PERCENT = 80
FORECAST_ALERT_PERCENT = 100


class BudgetArgs(TypedDict):
    environment: str
    monthly_limit_usd: float
    alert_emails: Sequence[str]
    cost_allocation_tags: Sequence[str]
    """Tag keys to activate for cost allocation (the environment tag among them)."""


@dataclass(frozen=True)
class ResolvedBudget:
    limit: str
    cost_filters: list[dict[str, Any]]
    notifications: list[dict[str, Any]]


def resolve(args: BudgetArgs) -> ResolvedBudget:
    """Pure: the limit as AWS wants it (a decimal string), the tag filter and the alerts."""
    emails = sorted(set(args["alert_emails"]))
    alerts = [
        ("ACTUAL", ACTUAL_ALERT_PERCENT),
        ("FORECASTED", FORECAST_ALERT_PERCENT),
    ]
    return ResolvedBudget(
        limit=f"{args['monthly_limit_usd']:.2f}",
        cost_filters=[
            {"name": "TagKeyValue", "values": [f"user:environment${args['environment']}"]}
        ],
        notifications=[
            {
                "comparison_operator": "GREATER_THAN",
                "threshold": percent,
                "threshold_type": "PERCENTAGE",
                "notification_type": kind,
                "subscriber_email_addresses": emails,
            }
            for kind, percent in alerts
        ]
        if emails
        else [],
    )


class Budget(pulumi.ComponentResource):
    """A monthly cost budget for the environment and its cost-allocation tags."""

    def __init__(self, name: str, args: BudgetArgs, opts: pulumi.ResourceOptions | None = None):
        spec = resolve(args)
        super().__init__("gpuplatform:index:Budget", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        budget = aws.budgets.Budget(
            f"{name}-monthly",
            budget_type="COST",
            limit_amount=spec.limit,
            limit_unit="USD",
            time_unit="MONTHLY",
            cost_filters=spec.cost_filters,  # type: ignore[arg-type]
            notifications=spec.notifications,  # type: ignore[arg-type]
            opts=child,
        )
        for key in sorted(set(args["cost_allocation_tags"])):
            aws.costexplorer.CostAllocationTag(
                f"{name}-tag-{key}", tag_key=key, status="Active", opts=child
            )
        self.budget_name = budget.name
        self.register_outputs({"budget_name": self.budget_name})
