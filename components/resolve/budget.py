"""Resolve the budget: the limit as AWS wants it, the tag filter and the alerts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.config import StackConfig

ACTUAL_ALERT_PERCENT = 80
FORECAST_ALERT_PERCENT = 100


@dataclass(frozen=True)
class BudgetSpec:
    limit: str
    """Monthly USD limit as a decimal string."""
    cost_filters: list[dict[str, Any]]
    notifications: list[dict[str, Any]]
    cost_allocation_tags: tuple[str, ...]
    """Tag keys to activate for cost allocation (empty unless the stack opts in)."""


def resolve_budget(config: StackConfig, tags: Mapping[str, str]) -> BudgetSpec:
    emails = sorted(set(config.budget_alert_emails))
    alerts = [("ACTUAL", ACTUAL_ALERT_PERCENT), ("FORECASTED", FORECAST_ALERT_PERCENT)]
    return BudgetSpec(
        limit=f"{config.monthly_budget_usd:.2f}",
        cost_filters=[
            {"name": "TagKeyValue", "values": [f"user:environment${config.environment.value}"]}
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
        cost_allocation_tags=tuple(sorted(tags)) if config.activate_cost_allocation_tags else (),
    )
