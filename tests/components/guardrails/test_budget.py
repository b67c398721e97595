"""Budget component: monthly limit, environment filter, alerts, cost-allocation tags."""

from __future__ import annotations

from components.budget import Budget, resolve


def test_budget_limit_filter_and_alerts(run_pulumi):
    recorded = run_pulumi(
        lambda: Budget(
            "budget",
            {
                "environment": "prod",
                "monthly_limit_usd": 250000,
                "alert_emails": ["b@example.com", "a@example.com"],
                "cost_allocation_tags": ["environment", "team"],
            },
        )
    )
    budget = recorded.one("aws:budgets/budget:Budget")
    assert budget.inputs["limitAmount"] == "250000.00"
    assert budget.inputs["timeUnit"] == "MONTHLY" and budget.inputs["budgetType"] == "COST"
    assert budget.inputs["costFilters"] == [
        {"name": "TagKeyValue", "values": ["user:environment$prod"]}
    ]
    alerts = {(n["notificationType"], n["threshold"]) for n in budget.inputs["notifications"]}
    assert alerts == {("ACTUAL", 80), ("FORECASTED", 100)}
    assert all(
        n["subscriberEmailAddresses"] == ["a@example.com", "b@example.com"]
        for n in budget.inputs["notifications"]
    )
    tags = recorded.of_type("aws:costexplorer/costAllocationTag:CostAllocationTag")
    assert sorted(t.inputs["tagKey"] for t in tags) == ["environment", "team"]
    assert all(t.inputs["status"] == "Active" for t in tags)


def test_no_addresses_means_no_notifications():
    spec = resolve(
        {
            "environment": "dev",
            "monthly_limit_usd": 3000.5,
            "alert_emails": [],
            "cost_allocation_tags": [],
        }
    )
    assert spec.notifications == [] and spec.limit == "3000.50"
