"""`ops cost report`: Cost Explorer through botocore Stubber, against the stack's budget."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from scripts.ops import cost
from scripts.ops.aws import Aws
from tests.scripts.test_ops_support import isolate_aws_env, make_aws, run_ops

TODAY = date(2026, 11, 22)
PROD_FILTER = {"Tags": {"Key": "environment", "Values": ["prod"], "MatchOptions": ["EQUALS"]}}


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_aws_env(monkeypatch, tmp_path)
    monkeypatch.setattr(cost, "today", lambda: TODAY)


def group(service: str, amount: str) -> dict[str, Any]:
    return {"Keys": [service], "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}}}


def usage_params(granularity: str = "MONTHLY", **extra: Any) -> dict[str, Any]:
    return {
        "TimePeriod": {"Start": "2026-11-01", "End": "2026-11-22"},
        "Granularity": granularity,
        "Metrics": ["UnblendedCost"],
        "Filter": PROD_FILTER,
        "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
        **extra,
    }


FORECAST_PARAMS = {
    "TimePeriod": {"Start": "2026-11-22", "End": "2026-12-01"},
    "Metric": "UNBLENDED_COST",
    "Granularity": "MONTHLY",
    "Filter": PROD_FILTER,
    "PredictionIntervalLevel": 80,
}


def forecast_response(total: str) -> dict[str, Any]:
    return {
        "Total": {"Amount": total, "Unit": "USD"},
        "ForecastResultsByTime": [
            {
                "TimePeriod": {"Start": "2026-11-22", "End": "2026-12-01"},
                "MeanValue": total,
                "PredictionIntervalLowerBound": "50000.0",
                "PredictionIntervalUpperBound": "70000.0",
            }
        ],
    }


def stubbed(
    ce_calls: list[tuple[str, dict[str, Any], dict[str, Any] | str]],
) -> tuple[Aws, Stubber]:
    aws = make_aws()
    stubber = Stubber(aws.client("ce", region="us-east-1"))
    for method, params, answer in ce_calls:
        if isinstance(answer, str):
            stubber.add_client_error(method, answer, expected_params=params)
        else:
            stubber.add_response(method, answer, expected_params=params)
    stubber.activate()
    return aws, stubber


def test_periods_cover_the_month() -> None:
    span = cost.periods(date(2026, 12, 31))
    assert (span.month_start, span.month_end, span.has_usage) == (
        date(2026, 12, 1),
        date(2027, 1, 1),
        True,
    )
    assert cost.periods(date(2026, 2, 1)).has_usage is False


def test_report_shows_percent_of_budget_and_forecast(capsys: pytest.CaptureFixture[str]) -> None:
    usage = {
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": "2026-11-01", "End": "2026-11-22"},
                "Total": {},
                "Groups": [
                    group("Amazon Elastic Compute Cloud - Compute", "120000.00"),
                    group("Amazon Elastic Kubernetes Service", "50.40"),
                    group("Amazon FSx", "9949.60"),
                ],
                "Estimated": True,
            }
        ]
    }
    aws, stubber = stubbed(
        [
            ("get_cost_and_usage", usage_params(), usage),
            ("get_cost_forecast", FORECAST_PARAMS, forecast_response("60000.00")),
        ]
    )

    run = run_ops(capsys, ["cost", "report", "prod"], aws)

    assert run.code == 0, run.err
    stubber.assert_no_pending_responses()
    # 130,000 so far + 60,000 forecast = 190,000 of a 250,000 budget.
    lines = {line.split("  ")[0]: line for line in run.out.splitlines()}
    assert "130,000.00" in lines["month to date"] and "52.0% of budget" in lines["month to date"]
    forecast = lines["forecast 2026-11-22 to 2026-11-30"]
    assert "60,000.00" in forecast and "80% interval $50,000.00 - $70,000.00" in forecast
    assert "190,000.00" in lines["projected month"]
    assert "76.0% of budget" in lines["projected month"]
    assert "250,000.00" in lines["monthly budget (monthlyBudgetUsd)"]
    assert "RESULT: under budget by $60,000.00 (76.0%)" in run.out
    ec2_line = lines["Amazon Elastic Compute Cloud - Compute"]
    assert "120,000.00" in ec2_line and "92.3%" in ec2_line


def day(start: str, amount: str) -> dict[str, Any]:
    return {
        "TimePeriod": {"Start": start, "End": start},
        "Groups": [group("Amazon Elastic Compute Cloud - Compute", amount)],
    }


def test_json_report_and_over_budget(capsys: pytest.CaptureFixture[str]) -> None:
    first = {"ResultsByTime": [day("2026-11-01", "100000")], "NextPageToken": "page-2"}
    second = {"ResultsByTime": [day("2026-11-02", "100000")]}
    aws, stubber = stubbed(
        [
            ("get_cost_and_usage", usage_params("DAILY"), first),
            ("get_cost_and_usage", usage_params("DAILY", NextPageToken="page-2"), second),
            ("get_cost_forecast", FORECAST_PARAMS, forecast_response("100000")),
        ]
    )

    run = run_ops(capsys, ["cost", "report", "prod", "--granularity", "DAILY", "--json"], aws)

    assert run.code == 0
    stubber.assert_no_pending_responses()
    report = json.loads(run.out)
    assert report["monthToDate"] == 200000
    assert report["forecast"] == {"total": 100000.0, "low": 50000.0, "high": 70000.0}
    assert report["projected"] == 300000
    assert report["budget"] == 250000
    assert report["percentOfBudget"] == 120.0
    assert report["monthToDatePercentOfBudget"] == 80.0
    assert report["overBudget"] is True
    assert report["byPeriod"] == {"2026-11-01": 100000.0, "2026-11-02": 100000.0}


def test_forecast_unavailable_is_reported_not_fatal(capsys: pytest.CaptureFixture[str]) -> None:
    aws, _ = stubbed(
        [
            ("get_cost_and_usage", usage_params(), {"ResultsByTime": []}),
            ("get_cost_forecast", FORECAST_PARAMS, "DataUnavailableException"),
        ]
    )

    run = run_ops(capsys, ["cost", "report", "prod"], aws)

    assert run.code == 0
    assert "too little history to forecast" in run.out
    assert "no costs tagged environment=prod yet" in run.out
    assert "RESULT: under budget by $250,000.00 (0.0%)" in run.out
