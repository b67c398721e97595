"""Cost rules, checked against the whole stack before anything is deployed.

One stack policy, `cost-limits`, prices every priced resource (see policies/pricing.py) and
rejects, per the environment's policy config:
- a worst-case monthly cost (every pool at max size, dearest instance type) above the budget (the
  stack's `aws.budgets.Budget` limit, or `maxMonthlyUsd` from the policy config, the lower wins);
- a GPU pool whose GPUs at max size exceed `maxGpusPerPool`;
- a GPU instance type outside `allowedGpuInstanceTypes` (glob patterns; e.g. no p5 in dev);
- a spot share of GPU capacity (GPUs at max size) below `minSpotGpuShare`;
- on-demand p5 pools when `requireCapacityBlockForP5` is set, unless listed in
  `allowOnDemandP5Pools`.
Anything it cannot price or read is a violation, not a silent skip.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

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
    """Pure: (message, urn or None) for every violation of the cost rules."""
    conf = {**DEFAULTS, **config}
    found: list[tuple[str, str | None]] = [(problem, None) for problem in est.unpriced]

    limits = list(est.budgets_usd)
    if conf.get("maxMonthlyUsd") is not None:
        limits.append(float(conf["maxMonthlyUsd"]))
    worst = est.total("worst")
    if not limits:
        found.append(("no budget: the stack has no aws.budgets.Budget and no maxMonthlyUsd", None))
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
            and pool.capacity_type == "ON_DEMAND"
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
    if total_gpus and spot_gpus / total_gpus < minimum:
        found.append(
            (
                f"spot share of GPU capacity is {spot_gpus / total_gpus:.0%} "
                f"({spot_gpus} of {total_gpus} GPUs at max size); the minimum is {minimum:.0%}",
                None,
            )
        )
    return found


def _validate(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = [
        Res(
            type=r.resource_type,
            urn=r.urn,
            props=r.props,
            property_dependencies={
                key: [dep.urn for dep in deps] for key, deps in r.property_dependencies.items()
            },
        )
        for r in args.resources
    ]
    for message, urn in findings(estimate(resources), dict(args.get_config() or {})):
        report(message, urn)


cost_limits = StackValidationPolicy(
    name="cost-limits",
    description="Worst-case monthly cost within budget; GPU caps, allowed GPU types, spot share.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_validate,
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
