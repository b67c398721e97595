"""Budget component: monthly limit, environment filter, alerts, cost-allocation tags."""

from __future__ import annotations

from components.guardrails.budget import Budget
from tests.support import platform


def test_budget_limit_filter_and_alerts(run_pulumi):
    budget_spec = platform(
        "prod",
        monthlyBudgetUsd=250000,
        budgetAlertEmails=["b@example.com", "a@example.com"],
        activateCostAllocationTags=True,
        tags={"team": "ml-platform"},
    ).budget
    recorded = run_pulumi(lambda: Budget("budget", budget_spec))
    budget = recorded.one("aws:budgets/budget:Budget")
    assert budget.inputs["limitAmount"] == "250000.00"
    assert budget.inputs["limitUnit"] == "USD"
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
    # Every stack tag key is activated: the configured ones and those the platform adds.
    tags = recorded.of_type("aws:costexplorer/costAllocationTag:CostAllocationTag")
    assert sorted(t.inputs["tagKey"] for t in tags) == [
        "environment",
        "managed-by",
        "project",
        "stack",
        "team",
    ]
    assert all(t.inputs["status"] == "Active" for t in tags)


def test_cost_allocation_tags_are_activated_only_when_asked(run_pulumi):
    budget_spec = platform("prod", activateCostAllocationTags=None).budget
    recorded = run_pulumi(lambda: Budget("budget", budget_spec))
    assert recorded.one("aws:budgets/budget:Budget").inputs["limitAmount"] == "250000.00"
    assert not recorded.of_type("aws:costexplorer/costAllocationTag:CostAllocationTag")


def test_no_addresses_means_no_notifications():
    spec = platform("dev", monthlyBudgetUsd=3000.5, budgetAlertEmails=[]).budget
    assert spec.notifications == [] and spec.limit == "3000.50"
    assert spec.cost_filters == [{"name": "TagKeyValue", "values": ["user:environment$dev"]}]
    assert platform("dev", budgetAlertEmails=None).budget.notifications == []
