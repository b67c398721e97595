"""`make bench`: the floor program and the report's floor multiples (no timing asserted)."""

from __future__ import annotations

from scripts.bench import Measurement, Run, floor_document, render, to_json


def test_the_floor_is_a_two_resource_program_under_the_plans_mocks():
    document = floor_document()
    types = sorted(step["newState"]["type"] for step in document["steps"])
    assert "aws:s3/bucket:Bucket" in types
    assert "kubernetes:core/v1:ConfigMap" in types
    assert "pulumi:pulumi:Stack" in types


def _measured(label: str, seconds: float, steps: int) -> Measurement:
    return Measurement(label, [Run(seconds, seconds, 100.0, steps=steps)])


def test_each_stack_is_reported_as_a_multiple_of_the_floor():
    baseline = _measured("import pulumi + pulumi_aws + pulumi_kubernetes", 1.0, 0)
    floor = _measured("floor", 2.0, 5)
    plans = [_measured("dev", 3.0, 106), _measured("prod", 5.0, 267)]
    text = render([baseline], plans, baseline, 1, floor)
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.strip():
            rows.setdefault(line.split()[0], line.split())  # the table row, not the summary
    # stack, resources, median, fastest, peak, x floor, x import, ms/res
    assert rows["floor"][5] == "1.00"
    assert rows["dev"][5] == "1.50"
    assert rows["prod"][5] == "2.50"
    assert rows["prod"][6] == "5.00"
    data = to_json([baseline], plans, baseline, 1, floor)
    assert data["floor"]["median_seconds"] == 2.0
    assert [s["ratio_to_floor"] for s in data["stacks"]] == [1.5, 2.5]


def test_a_failed_floor_leaves_the_multiples_unknown():
    floor = Measurement("floor", error="exit status 1")
    text = render([], [_measured("prod", 5.0, 267)], None, 1, floor)
    prod = next(line for line in text.splitlines() if line.startswith("prod"))
    assert "n/a" in prod
    assert next(line for line in text.splitlines() if line.startswith("floor")).split()[1] == (
        "failed"
    )
