"""`make bench`: the floor program and the report's floor multiples (no timing asserted)."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from scripts.bench import Measurement, Run, floor_records, render, replay_floor, to_json


def _program() -> None:
    class Part(pulumi.ComponentResource):
        def __init__(self, name: str) -> None:
            super().__init__("gpuplatform:index:Part", name, {}, None)
            child = pulumi.ResourceOptions(parent=self)
            key = aws.kms.Key(f"{name}-key", description="k", opts=child)
            bucket = aws.s3.BucketV2(f"{name}-bucket", tags={"team": "ml"}, opts=child)
            aws.s3.BucketServerSideEncryptionConfigurationV2(
                f"{name}-sse",
                bucket=bucket.id,
                rules=[
                    {
                        "apply_server_side_encryption_by_default": {
                            "sse_algorithm": "aws:kms",
                            "kms_master_key_id": key.arn,
                        }
                    }
                ],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[key], protect=True),
            )
            provider = k8s.Provider(f"{name}-k8s", kubeconfig="{}", opts=child)
            k8s.core.v1.ConfigMap(
                f"{name}-cm",
                data={"a": "b"},
                opts=pulumi.ResourceOptions(parent=self, provider=provider),
            )
            self.register_outputs({})

    Part("floor")


def test_the_floor_registers_the_recorded_resources_again_with_the_same_inputs(run_pulumi):
    recorded = run_pulumi(_program)
    records = floor_records(recorded.registrations)
    assert {r["type"] for r in records} >= {
        "gpuplatform:index:Part",
        "aws:kms/key:Key",
        "pulumi:providers:kubernetes",
        "kubernetes:core/v1:ConfigMap",
    }
    assert "pulumi:pulumi:Stack" not in {r["type"] for r in records}
    by_type = {r["type"]: r for r in records}
    # the SDK class of each custom type, so the floor loads the same provider modules
    assert (by_type["aws:kms/key:Key"]["module"], by_type["aws:kms/key:Key"]["class"]) == (
        "pulumi_aws.kms",
        "Key",
    )
    assert by_type["pulumi:providers:kubernetes"]["class"] == "Provider"
    assert by_type["kubernetes:core/v1:ConfigMap"]["module"] == "pulumi_kubernetes.core.v1"
    assert by_type["gpuplatform:index:Part"]["module"] == ""

    document = {"stack": "test", "project": "gpu-platform", "config": {"aws:region": "us-east-1"}}
    replayed = replay_floor(json.loads(json.dumps({**document, "resources": records})))

    def shape(registrations):
        return sorted(
            (
                r.urn,
                r.type,
                r.custom,
                r.parent,
                json.dumps(r.inputs, sort_keys=True),
                tuple(r.dependencies),
                r.provider.rsplit("::", 1)[0],
                r.protect,
            )
            for r in registrations
        )

    assert shape(replayed) == shape(recorded.registrations)


def _measured(label: str, seconds: float, steps: int, cpu: float | None = None) -> Measurement:
    return Measurement(label, [Run(seconds, cpu or seconds, seconds, 100.0, steps=steps)])


def test_each_stack_is_reported_as_a_multiple_of_its_own_floor():
    baseline = _measured("import pulumi + pulumi_aws + pulumi_kubernetes", 1.0, 0)
    floors = {"dev": _measured("dev", 2.0, 105), "prod": _measured("prod", 4.0, 266)}
    plans = [_measured("dev", 3.0, 106), _measured("prod", 5.0, 267, cpu=7.5)]
    text = render([baseline], plans, baseline, 1, floors)
    plan_table = text.split("Offline plan", 1)[1]
    rows = {line.split()[0]: line.split() for line in plan_table.splitlines()[1:] if line.strip()}
    # stack, resources, plan s, floor s, x floor, fastest, cpu, peak, x import, ms/res
    assert rows["dev"][3] == "2.000"
    assert rows["dev"][4] == "1.50"
    assert rows["prod"][4] == "1.25"
    assert rows["prod"][6] == "7.500"  # the preview run's second process counts in the CPU
    assert rows["prod"][8] == "5.00"
    floor_table = text.split("Floor (", 1)[1].split("Offline plan", 1)[0]
    assert [line.split()[:3] for line in floor_table.splitlines()[3:] if line.strip()] == [
        ["dev", "105", "2.000"],
        ["prod", "266", "4.000"],
    ]
    data = to_json([baseline], plans, baseline, 1, floors)
    assert [s["floor"]["median_seconds"] for s in data["stacks"]] == [2.0, 4.0]
    assert [s["ratio_to_floor"] for s in data["stacks"]] == [1.5, 1.25]
    assert [s["median_cpu_seconds"] for s in data["stacks"]] == [3.0, 7.5]


def test_a_failed_floor_leaves_the_multiples_unknown():
    floors = {"prod": Measurement("prod", error="exit status 1")}
    text = render([], [_measured("prod", 5.0, 267)], None, 1, floors)
    plan_table = text.split("Offline plan", 1)[1]
    prod = next(line for line in plan_table.splitlines() if line.startswith("prod"))
    assert prod.split()[3:5] == ["n/a", "n/a"]
    floor_table = text.split("Floor (", 1)[1].split("Offline plan", 1)[0]
    assert (
        next(line for line in floor_table.splitlines() if line.startswith("prod")).split()[1]
        == "failed"
    )


def test_a_floor_and_its_plan_take_turns_and_a_failed_child_is_not_run_again(monkeypatch):
    import scripts.bench as bench

    calls: list[str] = []

    def run_child(code: str, args: list[str], timeout: float) -> Run:
        calls.append(args[0])
        if args[0] == "broken" and calls.count("broken") == 2:
            raise bench.ChildError("exit status 1")
        return Run(1.0, 1.0, 1.0, 100.0, steps=3)

    monkeypatch.setattr(bench, "run_child", run_child)
    floor, plan, broken = bench.measure_interleaved(
        [("floor", "", ["floor"]), ("plan", "", ["plan"]), ("broken", "", ["broken"])], 3, 1.0
    )
    assert calls == ["floor", "plan", "broken"] * 2 + ["floor", "plan"]
    assert [len(floor.runs), len(plan.runs), len(broken.runs)] == [3, 3, 1]
    assert broken.error == "exit status 1" and not broken.ok


def test_the_plan_child_and_the_floor_child_set_the_collector_alike_before_their_work():
    """`x floor` compares like with like: both children set the cyclic collector as `python -m
    scripts.plan` does, after their imports and before the plan or the floor program runs."""
    from scripts import bench

    for child, work in (
        (bench._PLAN_CHILD, "plan(sys.argv[1])"),
        (bench._FLOOR_CHILD, "replay_floor("),
    ):
        assert "tune_collector()" in child
        assert child.index("tune_collector()") < child.index(work)
