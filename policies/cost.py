"""Cost rules, checked against the whole stack before anything is deployed.

One stack policy, `cost-limits`, prices every priced resource (see policies/pricing.py; compute
wherever it is declared: node groups, Auto Scaling groups, instances, fleets, capacity
reservations) and rejects, per the environment's policy config:
- a worst-case monthly cost (every pool at max size, dearest instance type) above the budget (the
  stack's monthly USD cost budgets and `maxMonthlyUsd` from the policy config, the lowest wins;
  an annual, quarterly, usage or auto-adjusting budget limits nothing);
- a budget declared above `maxMonthlyUsd`: the per-stack ceiling in the policy config cannot be
  raised by the program;
- a GPU pool whose GPUs at max size exceed `maxGpusPerPool`;
- a GPU instance type outside `allowedGpuInstanceTypes` (glob patterns; e.g. no p5 in dev);
- a spot share of GPU capacity (GPUs at max size) below `minSpotGpuShare`;
- on-demand p5 pools when `requireCapacityBlockForP5` is set, unless listed in
  `allowOnDemandP5Pools`.
Anything it cannot price or read is a violation, not a silent skip. Unknown values (preview) leave
only what they feed undecided: a bucket with an unknown size tag leaves the budget comparison
undecided unless the known part already exceeds it; the GPU caps, GPU types and the p5 rule of
every other pool are still judged.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    StackValidationPolicy,
)

from policies.inputs import StackJudge, run_stack
from policies.pricing import Estimate, Res, estimate

DEFAULTS: dict[str, Any] = {
    "maxGpusPerPool": 64,
    "allowedGpuInstanceTypes": ["*"],
    "minSpotGpuShare": 0.0,
    "requireCapacityBlockForP5": False,
    "allowOnDemandP5Pools": [],
}


def _usd(amount: float) -> str:
    return f"${amount:,.2f}"


def findings(est: Estimate, config: dict[str, Any]) -> list[tuple[str, str | None]]:
    """Pure: (message, urn or None) for every decided violation of the cost rules."""
    return evaluate(est, config)[0]


def evaluate(
    est: Estimate, config: dict[str, Any]
) -> tuple[list[tuple[str, str | None]], list[str]]:
    """Pure: the decided violations, and what unknown values left undecided."""
    conf = {**DEFAULTS, **{k: v for k, v in config.items() if v is not None}}
    found: list[tuple[str, str | None]] = [(problem, None) for problem in est.unpriced]
    undecided = list(est.undecided)

    ceiling = conf.get("maxMonthlyUsd")
    limits = list(est.budgets_usd)
    if ceiling is not None:
        limits.append(float(ceiling))
        for urn, name, amount in est.budgets:
            if amount > float(ceiling):
                found.append(
                    (
                        f"budget {name} of {_usd(amount)} is above this stack's ceiling "
                        f"{_usd(float(ceiling))} (maxMonthlyUsd)",
                        urn,
                    )
                )
    worst = est.total("worst")
    budget_undecided = any(
        ".limitAmount" in u or ".budgetType" in u or ".timeUnit" in u or ".limitUnit" in u
        for u in est.undecided
    )
    if not limits:
        if not budget_undecided:
            found.append(
                (
                    "no budget: the stack has no monthly USD cost budget (aws.budgets.Budget) "
                    "and no maxMonthlyUsd"
                    + (f" ({'; '.join(est.ignored_budgets)})" if est.ignored_budgets else ""),
                    None,
                )
            )
    else:
        limit = min(limits)
        if worst > limit:
            found.append(
                (
                    f"worst-case monthly cost {_usd(worst)} exceeds the budget {_usd(limit)} "
                    f"by {_usd(worst - limit)} (expected {_usd(est.total('expected'))}, "
                    f"idle {_usd(est.total('idle'))})",
                    None,
                )
            )
    if est.undecided and not any(m.startswith("worst-case") for m, _ in found):
        undecided.append("the worst-case monthly cost (it includes unknown values)")

    gpu_pools = [p for p in est.pools if p.is_gpu]
    for pool in gpu_pools:
        cap = int(conf["maxGpusPerPool"])
        if pool.gpus_at_max > cap:
            found.append(
                (
                    f"pool {pool.name} reaches {pool.gpus_at_max} GPUs at max size; "
                    f"the cap is {cap}",
                    pool.urn,
                )
            )
        for instance in pool.types:
            if instance.is_gpu and not any(
                fnmatch.fnmatch(instance.name, pattern)
                for pattern in conf["allowedGpuInstanceTypes"]
            ):
                found.append(
                    (
                        f"pool {pool.name}: {instance.name} is not allowed here "
                        f"(allowed: {', '.join(conf['allowedGpuInstanceTypes'])})",
                        pool.urn,
                    )
                )
        p5 = any(t.family.startswith("p5") for t in pool.types)
        if (
            p5
            and pool.capacity_type in ("ON_DEMAND", "RESERVED")
            and conf["requireCapacityBlockForP5"]
            and pool.name not in conf["allowOnDemandP5Pools"]
        ):
            found.append(
                (
                    f"pool {pool.name} runs p5 on demand; use a Capacity Block or list it in "
                    "allowOnDemandP5Pools",
                    pool.urn,
                )
            )

    total_gpus = sum(p.gpus_at_max for p in gpu_pools)
    spot_gpus = sum(p.gpus_at_max for p in gpu_pools if p.capacity_type == "SPOT")
    minimum = float(conf["minSpotGpuShare"])
    compute_undecided = bool(est.undecided_compute)
    if total_gpus and spot_gpus / total_gpus < minimum:
        if compute_undecided:
            undecided.append("the spot share of GPU capacity (a pool has unknown values)")
        else:
            found.append(
                (
                    f"spot share of GPU capacity is {spot_gpus / total_gpus:.0%} "
                    f"({spot_gpus} of {total_gpus} GPUs at max size); the minimum is {minimum:.0%}",
                    None,
                )
            )
    return found, undecided


def _region(provider_props: dict[str, Any]) -> str | None:
    region = provider_props.get("region")
    return region if isinstance(region, str) and region else None


def _check(judge: StackJudge) -> None:
    resources = [
        Res(
            type=r.type,
            urn=r.urn,
            props=r.props,
            property_dependencies=r.property_dependencies,
            region=_region(r.provider_props),
        )
        for r in judge.resources
    ]
    found, undecided = evaluate(estimate(resources), dict(judge.config))
    for message, urn in found:
        judge.report(message, urn)
    for item in undecided:
        judge.unknown(item)


cost_limits = StackValidationPolicy(
    name="cost-limits",
    description="Worst-case monthly cost within budget and ceiling; GPU caps, types, spot share.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=run_stack(_check),
    config_schema=PolicyConfigSchema(
        properties={
            "maxMonthlyUsd": {"type": "number", "exclusiveMinimum": 0},
            "maxGpusPerPool": {"type": "integer", "minimum": 0, "default": 64},
            "allowedGpuInstanceTypes": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["*"],
            },
            "minSpotGpuShare": {"type": "number", "minimum": 0, "maximum": 1, "default": 0},
            "requireCapacityBlockForP5": {"type": "boolean", "default": False},
            "allowOnDemandP5Pools": {"type": "array", "items": {"type": "string"}, "default": []},
        }
    ),
)

POLICIES = [cost_limits]
