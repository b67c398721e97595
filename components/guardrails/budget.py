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

import pulumi
import pulumi_aws as aws

from components.resolve.budget import BudgetSpec


class Budget(pulumi.ComponentResource):
    """A monthly cost budget for the environment and its cost-allocation tags."""

    def __init__(self, name: str, spec: BudgetSpec, opts: pulumi.ResourceOptions | None = None):
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
        for key in spec.cost_allocation_tags:
            aws.costexplorer.CostAllocationTag(
                f"{name}-tag-{key}", tag_key=key, status="Active", opts=child
            )
        self.budget_name = budget.name
        self.register_outputs({"budget_name": self.budget_name})
