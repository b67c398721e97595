"""`cost report STACK`: month-to-date spend and forecast of a stack against its budget.

Cost Explorer (served from us-east-1) `get_cost_and_usage` from the first of the month up to
today (the end date is exclusive, so today's partial day is left to the forecast), UnblendedCost,
filtered by the cost allocation tag `environment` = the stack's environment and grouped by
SERVICE; `get_cost_forecast` from today to the end of the month. Month-to-date plus forecast is
the projected month, compared with the stack's `monthlyBudgetUsd`.

The `environment` tag must be activated as a cost allocation tag (Billing console) before Cost
Explorer can filter on it; costs show up about a day after they are incurred.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from components.config import StackConfig
from scripts.ops.aws import Aws, error_code
from scripts.ops.common import Report, table, usd

CE_REGION = "us-east-1"
TAG_KEY = "environment"
METRIC = "UnblendedCost"
FORECAST_METRIC = "UNBLENDED_COST"
GRANULARITIES = ("MONTHLY", "DAILY")


def today() -> date:
    """Today in UTC, the calendar Cost Explorer uses (a function so tests can pin it)."""
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class Periods:
    month_start: date
    today: date
    month_end: date
    """First day of the next month (exclusive end)."""

    @property
    def has_usage(self) -> bool:
        """False on the first of the month: there is no completed day yet."""
        return self.today > self.month_start


def periods(day: date) -> Periods:
    start = day.replace(day=1)
    following = (start + timedelta(days=32)).replace(day=1)
    return Periods(month_start=start, today=day, month_end=following)


def tag_filter(environment: str) -> dict[str, Any]:
    return {"Tags": {"Key": TAG_KEY, "Values": [environment], "MatchOptions": ["EQUALS"]}}


def month_to_date(
    client: Any, span: Periods, environment: str, granularity: str
) -> tuple[dict[str, float], dict[str, float], str]:
    """(cost per service, cost per period start, currency) from the first of the month."""
    by_service: dict[str, float] = defaultdict(float)
    by_period: dict[str, float] = defaultdict(float)
    unit = "USD"
    if not span.has_usage:
        return {}, {}, unit
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {
            "TimePeriod": {"Start": span.month_start.isoformat(), "End": span.today.isoformat()},
            "Granularity": granularity,
            "Metrics": [METRIC],
            "Filter": tag_filter(environment),
            "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
        }
        if token:
            kwargs["NextPageToken"] = token
        response = client.get_cost_and_usage(**kwargs)
        for result in response.get("ResultsByTime", []):
            start = result["TimePeriod"]["Start"]
            by_period.setdefault(start, 0.0)
            for group in result.get("Groups", []):
                metric = group["Metrics"][METRIC]
                amount = float(metric["Amount"])
                unit = metric.get("Unit", unit)
                by_service[group["Keys"][0]] += amount
                by_period[start] += amount
        token = response.get("NextPageToken")
        if not token:
            break
    return dict(by_service), dict(by_period), unit


def forecast(client: Any, span: Periods, environment: str) -> tuple[dict[str, float] | None, str]:
    """The forecast for the rest of the month (`total`, `low`, `high`), or None and why."""
    try:
        response = client.get_cost_forecast(
            TimePeriod={"Start": span.today.isoformat(), "End": span.month_end.isoformat()},
            Metric=FORECAST_METRIC,
            Granularity="MONTHLY",
            Filter=tag_filter(environment),
            PredictionIntervalLevel=80,
        )
    except ClientError as exc:
        if error_code(exc) == "DataUnavailableException":
            return None, "Cost Explorer has too little history to forecast yet"
        raise
    result = {"total": float(response["Total"]["Amount"])}
    periods_ = response.get("ForecastResultsByTime") or []
    low = sum(float(p.get("PredictionIntervalLowerBound", 0) or 0) for p in periods_)
    high = sum(float(p.get("PredictionIntervalUpperBound", 0) or 0) for p in periods_)
    if periods_ and high:
        result.update(low=low, high=high)
    return result, ""


def cost_report(aws: Aws, stack: str, config: StackConfig, granularity: str, day: date) -> Report:
    client = aws.client("ce", region=CE_REGION)
    environment = config.environment.value
    span = periods(day)
    services, by_period, unit = month_to_date(client, span, environment, granularity)
    predicted, why_not = forecast(client, span, environment)
    mtd = sum(services.values())
    budget = config.monthly_budget_usd
    projected = mtd + (predicted["total"] if predicted else 0.0)
    percent = 100 * projected / budget
    mtd_percent = 100 * mtd / budget
    over = projected > budget

    rows = [
        [name, f"{amount:,.2f}", f"{100 * amount / mtd:.1f}%" if mtd else "-"]
        for name, amount in sorted(services.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    last_day = span.today - timedelta(days=1)
    lines = [
        f"cost: stack {stack}, tag {TAG_KEY}={environment}, {METRIC} in {unit}, "
        f"{span.month_start} to {last_day if span.has_usage else span.month_start} (month to date)",
        "",
    ]
    if rows:
        lines += [*table(["service", f"month to date ({unit})", "share"], rows), ""]
    else:
        lines += [
            f"no costs tagged {TAG_KEY}={environment} yet (is `{TAG_KEY}` activated as a cost "
            "allocation tag?)",
            "",
        ]
    if granularity == "DAILY" and by_period:
        lines += [
            *table(["day", unit], [[k, f"{v:,.2f}"] for k, v in sorted(by_period.items())]),
            "",
        ]
    summary = [["month to date", f"{mtd:,.2f}", f"{mtd_percent:.1f}% of budget"]]
    end = span.month_end - timedelta(days=1)
    if predicted:
        interval = (
            f"80% interval {usd(predicted['low'])} - {usd(predicted['high'])}"
            if "low" in predicted
            else ""
        )
        summary.append([f"forecast {span.today} to {end}", f"{predicted['total']:,.2f}", interval])
    else:
        summary.append([f"forecast {span.today} to {end}", "-", why_not])
    summary += [
        ["projected month", f"{projected:,.2f}", f"{percent:.1f}% of budget"],
        ["monthly budget (monthlyBudgetUsd)", f"{budget:,.2f}", ""],
    ]
    lines += table(["", unit, ""], summary)
    verdict = (
        f"OVER budget by {usd(projected - budget)} ({percent:.1f}%)"
        if over
        else f"under budget by {usd(budget - projected)} ({percent:.1f}%)"
    )
    lines += ["", f"RESULT: {verdict}"]
    data = {
        "stack": stack,
        "environment": environment,
        "currency": unit,
        "period": {
            "start": span.month_start.isoformat(),
            "end": span.today.isoformat(),
            "forecastEnd": span.month_end.isoformat(),
        },
        "granularity": granularity,
        "services": dict(sorted(services.items())),
        "byPeriod": dict(sorted(by_period.items())) if granularity == "DAILY" else None,
        "monthToDate": round(mtd, 2),
        "forecast": predicted,
        "forecastUnavailable": why_not or None,
        "projected": round(projected, 2),
        "budget": budget,
        "percentOfBudget": round(percent, 1),
        "monthToDatePercentOfBudget": round(mtd_percent, 1),
        "overBudget": over,
    }
    return Report(data=data, lines=lines)


def handle(args: argparse.Namespace, aws: Aws) -> Report:
    return cost_report(aws, args.stack, args.config, args.granularity, today())


def register(
    subparsers: Any, common: argparse.ArgumentParser, stack: argparse.ArgumentParser
) -> None:
    cost = subparsers.add_parser("cost", help="Cost Explorer reports")
    sub = cost.add_subparsers(dest="cost_command", required=True, metavar="COMMAND")
    parser = sub.add_parser(
        "report",
        parents=[stack, common],
        help="month-to-date cost and forecast of a stack against its monthly budget",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--granularity",
        choices=GRANULARITIES,
        default="MONTHLY",
        help="Cost Explorer granularity (DAILY also prints a per-day table; default: MONTHLY)",
    )
    parser.set_defaults(handler=handle)
