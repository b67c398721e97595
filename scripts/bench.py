"""Benchmark the offline plan against the bare SDK cost of the same resources (the floor).

Run it as `python -m scripts.bench [--stack S ...] [--repeat N] [--json FILE]` (`make bench`).

What is measured, every figure in a fresh `python -c` subprocess of this interpreter so that no
import is ever cached in memory:

* **SDK imports**: `import pulumi`, `import pulumi_aws`, `import pulumi_kubernetes` alone, then
  the three together in one process. The last one is the *import baseline*.
* **Floor** (per stack): what the SDKs alone cost to register the stack's resources. The stack's
  program is run once, untimed, under the plan's mocks and its registrations are written to a
  file (type, name, parent, inputs, dependencies, provider, options, and the SDK module and class
  of each type); the floor child then loads the same provider classes (each type's module
  imported, its class looked up) and registers every recorded resource again, with the same
  types, names and inputs, through a bare SDK program (`pulumi.CustomResource`,
  `ProviderResource`, `ComponentResource`) under the same mocks (`scripts.plan.runner.
  run_function`, `PlanMocks`). It runs none of the platform's code: no config, no resolve, no
  components, no preview run, no stages.
* **Plans**: for each shipped stack (`stacks/Pulumi.<name>.yaml`, or the `--stack` ones) the full
  offline plan as `python -m scripts.plan` does it: `plan(stack)` (the program under mocks, the
  preview document, every stage, with the preview's halves in a forked worker where the machine
  has a second CPU) and the terminal report. The child reports the number of resources (the
  document's `steps`, default providers and the stack root included).

The plan child and the floor child both set the cyclic garbage collector as `python -m
scripts.plan` does (`scripts.plan.runner.tune_collector`, right after their imports), so the
collector's setting speeds both alike and `x floor` measures the plan's own work only.

Each child is run `--repeat` times (default 3); a stack's floor and plan children take turns
(floor, plan, floor, plan, ...), so a machine whose speed drifts while the bench runs weighs on
both alike. The table shows the median and the fastest wall time, measured by this process around
the whole child (interpreter start-up included, the same for every row), the median CPU time
(user + system of the child and of every process it waited for: a plan hands its preview run and
the pack's preview pass to a second process where there is a second CPU, scripts/plan/
background.py, so its CPU time is above its wall time), and the child's peak resident memory
(`ru_maxrss` from `resource.getrusage` inside the child, the largest over the runs). Every child
leaves with `os._exit` right after its result line, as `python -m scripts.plan` does, so no row
pays the interpreter's teardown. Before timing anything, one untimed import of the three SDKs
and one untimed plan of the first stack warm the disk cache and the `.pyc` files, so the first
timed row is not penalised (`--no-warmup` skips them).

How to read the overhead columns:

* `x floor` = plan median wall / the same stack's floor median wall: how many times the bare SDK
  cost of its resources the stack's plan takes (the target for prod is 1.5 or less). Everything
  above 1.0 is the plan's own work: the config and the resolve, the components' code, the
  preview run of the program, the document and the stages (the policy pack among them).

* `x import` = plan median wall / import-baseline median wall. 1.0 would mean the plan costs
  nothing beyond starting Python and importing the SDKs; 4.0 means it takes four times as long as
  that start-up alone. Everything above 1.0 is the plan's own work.
* `ms/res` = (plan median - baseline median) / resources, in milliseconds: the plan's own work
  spread over its resources. It is an average, not a marginal cost: fixed work (the lazy SDK
  submodule imports below, the stages' set-up) is part of it, so a small stack shows a higher
  figure than a large one on the same code.

The SDKs load most of themselves lazily: `import pulumi_aws` does not import `pulumi_aws.ec2` or
`pulumi_aws.eks`. Those submodule imports happen while the program runs, so they count as the
plan's own work, not as part of the baseline. A large `x import` therefore does not by itself mean
slow plan code; compare `ms/res` between stacks and between revisions on the same machine.

Exit status: 0 when every measurement succeeded, 1 when a child failed (its error is printed and
its row shows `failed`), 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scripts.plan.runner import Registration

ROOT = Path(__file__).resolve().parents[1]
STACKS_DIR = ROOT / "stacks"
SDKS: tuple[str, ...] = ("pulumi", "pulumi_aws", "pulumi_kubernetes")
MARKER = "BENCH_RESULT "

# `ru_maxrss` is in KiB on Linux and in bytes on macOS; the child converts it to MiB itself.
# `_report` ends the child (`os._exit` once the result line is out), the way `python -m
# scripts.plan` ends (`exit_now` in scripts/plan/__main__.py), so no row pays the interpreter's
# teardown of its objects.
_CHILD_PRELUDE = """\
import json, os, resource, sys, time
_t0 = time.perf_counter()
def _report(**extra):
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    mib = rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024
    extra.update(seconds=time.perf_counter() - _t0, max_rss_mib=mib)
    sys.stdout.flush()
    print(MARKER + json.dumps(extra), flush=True)
    sys.stderr.flush()
    os._exit(0)
""".replace("MARKER", repr(MARKER))

_IMPORT_CHILD = (
    _CHILD_PRELUDE
    + """\
import importlib
for _name in sys.argv[1:]:
    importlib.import_module(_name)
_report()
"""
)

_PLAN_CHILD = (
    _CHILD_PRELUDE
    + """\
from scripts.plan.__main__ import plan
from scripts.plan.report import terminal_report
from scripts.plan.runner import PlanError, tune_collector
tune_collector()
try:
    _document, _results = plan(sys.argv[1])
except PlanError as exc:
    print(f"plan: error: {exc}", file=sys.stderr)
    sys.exit(2)
terminal_report(_document, _results)
_report(
    steps=len(_document["steps"]),
    blocking=any(result.blocking for _, result in _results.values()),
)
"""
)


_RECORD_CHILD = (
    _CHILD_PRELUDE
    + """\
from scripts.bench import record_floor
record_floor(sys.argv[1], sys.argv[2])
_report()
"""
)

_FLOOR_CHILD = (
    _CHILD_PRELUDE
    + """\
import json
from scripts.bench import replay_floor
from scripts.plan.runner import tune_collector
tune_collector()
with open(sys.argv[1]) as _file:
    _records = json.load(_file)
_report(steps=len(replay_floor(_records)))
"""
)


def record_floor(stack: str, path: str) -> None:
    """Run the stack's program once under the plan's mocks and write what it registered (type,
    name, parent, inputs, dependencies, provider, options, and the module and class of the SDK's
    resource type) as the floor program's input."""
    import runpy

    from scripts.plan.runner import (
        PROGRAM,
        project_name,
        read_stack_config,
        run_function,
        stack_config_path,
    )

    raw = read_stack_config(stack_config_path(stack))
    registrations, _ = run_function(
        lambda: runpy.run_path(str(PROGRAM), run_name="__main__"),
        stack=stack,
        project=project_name(),
        config=raw,
    )
    recorded = {"stack": stack, "project": project_name(), "config": raw}
    Path(path).write_text(json.dumps({**recorded, "resources": floor_records(registrations)}))


def floor_records(registrations: list[Registration]) -> list[dict[str, Any]]:
    """What the floor program registers again: every recorded resource but the stack root (the
    SDK registers that itself), with the module and class of its type in the SDKs."""
    from scripts.plan.runner import STACK_ROOT_TYPE, sdk_class

    records = []
    for reg in registrations:
        if reg.type == STACK_ROOT_TYPE:
            continue  # the SDK registers the stack root itself
        module, cls = sdk_class(reg.type, reg.custom)
        records.append(
            {
                "urn": reg.urn,
                "type": reg.type,
                "name": reg.name,
                "custom": reg.custom,
                "parent": reg.parent,
                "inputs": reg.inputs,
                "dependencies": reg.dependencies,
                "provider": reg.provider.rsplit("::", 1)[0] if reg.provider else "",
                "protect": reg.protect,
                "retainOnDelete": reg.retain_on_delete,
                "version": reg.version,
                "module": module,
                "class": cls,
            }
        )
    return records


def replay_floor(recorded: dict[str, Any]) -> list[Registration]:
    """The floor program: the same provider classes loaded (each recorded type's module imported
    and its class looked up) and every recorded resource registered again, with its type, name,
    inputs, parent, dependencies, provider and options, by a bare SDK program (`CustomResource`,
    `ProviderResource`, `ComponentResource`) under the plan's own mocks. Returns the number of
    what it registered (the stack root included)."""
    import importlib

    import pulumi

    from scripts.plan.runner import run_function

    resources = recorded["resources"]
    for record in resources:
        if record["module"]:
            getattr(importlib.import_module(record["module"]), record["class"])

    def program() -> None:
        made: dict[str, pulumi.Resource] = {}
        for record in resources:
            opts = pulumi.ResourceOptions(
                parent=made.get(record["parent"]),
                depends_on=[made[u] for u in record["dependencies"] if u in made],
                provider=made.get(record["provider"]),  # type: ignore[arg-type]
                protect=record["protect"],
                retain_on_delete=record["retainOnDelete"] or None,
                version=record["version"] or None,
            )
            kind = record["type"]
            inputs = record["inputs"]
            resource: pulumi.Resource
            if kind.startswith("pulumi:providers:"):
                package = kind.removeprefix("pulumi:providers:")
                resource = pulumi.ProviderResource(package, record["name"], inputs, opts)
            elif record["custom"]:
                resource = pulumi.CustomResource(kind, record["name"], inputs, opts)
            else:
                resource = pulumi.ComponentResource(kind, record["name"], None, opts)
            made[record["urn"]] = resource

    registrations, _ = run_function(
        program,
        stack=recorded["stack"],
        project=recorded["project"],
        config=recorded["config"],
    )
    return registrations


class ChildError(Exception):
    """A benchmark child failed; the message carries its exit status and the end of its stderr."""


@dataclass
class Run:
    wall_seconds: float
    cpu_seconds: float
    """User and system CPU of the child and every process it waited for (a plan's preview run
    in a second process among them): above the wall time when they ran side by side."""
    child_seconds: float
    max_rss_mib: float
    steps: int | None = None
    blocking: bool | None = None


@dataclass
class Measurement:
    label: str
    runs: list[Run] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.runs)

    @property
    def median(self) -> float:
        return statistics.median(r.wall_seconds for r in self.runs)

    @property
    def cpu(self) -> float:
        return statistics.median(r.cpu_seconds for r in self.runs)

    @property
    def fastest(self) -> float:
        return min(r.wall_seconds for r in self.runs)

    @property
    def peak_mib(self) -> float:
        return max(r.max_rss_mib for r in self.runs)

    @property
    def steps(self) -> int | None:
        counts = {r.steps for r in self.runs if r.steps is not None}
        return max(counts) if counts else None

    @property
    def steps_vary(self) -> bool:
        return len({r.steps for r in self.runs}) > 1


def _progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def shipped_stacks(stacks_dir: Path = STACKS_DIR) -> list[str]:
    """Stack names from `stacks/Pulumi.<name>.yaml`, sorted."""
    names = []
    for path in stacks_dir.glob("Pulumi.*.yaml"):
        names.append(path.name.removeprefix("Pulumi.").removesuffix(".yaml"))
    return sorted(names)


def _children_cpu() -> float:
    """User + system CPU seconds of every child this process has waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_child(code: str, args: list[str], timeout: float) -> Run:
    """Run `python -c code *args` from the repository root; parse the child's result line."""
    command = [sys.executable, "-c", code, *args]
    before = _children_cpu()
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            command,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(os.environ),
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ChildError(f"timed out after {timeout:.0f}s") from None
    wall = time.perf_counter() - started
    cpu = _children_cpu() - before
    result: dict[str, Any] | None = None
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            result = json.loads(line[len(MARKER) :])
    if proc.returncode != 0 or result is None:
        tail = "\n".join(proc.stderr.strip().splitlines()[-8:]) or "(no stderr)"
        raise ChildError(f"exit status {proc.returncode}:\n{tail}")
    return Run(
        wall_seconds=wall,
        cpu_seconds=cpu,
        child_seconds=float(result["seconds"]),
        max_rss_mib=float(result["max_rss_mib"]),
        steps=result.get("steps"),
        blocking=result.get("blocking"),
    )


def measure(label: str, code: str, args: list[str], repeat: int, timeout: float) -> Measurement:
    return measure_interleaved([(label, code, args)], repeat, timeout)[0]


def measure_interleaved(
    children: list[tuple[str, str, list[str]]], repeat: int, timeout: float
) -> list[Measurement]:
    """Each `(label, code, args)` child run `repeat` times, in turns (a, b, a, b, ...), so that
    a machine that speeds up or slows down while the bench runs weighs on every child alike (a
    plan and its floor are compared run for run). A child that fails is not run again."""
    measurements = [Measurement(label=label) for label, _, _ in children]
    for index in range(1, repeat + 1):
        for measurement, (label, code, args) in zip(measurements, children, strict=True):
            if measurement.error is not None:
                continue
            _progress(f"{label} {index}/{repeat} ...")
            try:
                run = run_child(code, args, timeout)
            except ChildError as exc:
                measurement.error = str(exc)
                _progress(f"{label} {index}/{repeat} FAILED: {exc}")
                continue
            measurement.runs.append(run)
            detail = f"{run.wall_seconds:.2f}s, {run.max_rss_mib:.0f} MiB"
            if run.steps is not None:
                detail += f", {run.steps} resources"
            _progress(f"{label} {index}/{repeat} {detail}")
    return measurements


# --------------------------------------------------------------------------- report


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def _overheads(plan: Measurement, baseline: Measurement | None) -> tuple[float, float] | None:
    """(plan / baseline, ms per resource above the baseline), when both are known."""
    if baseline is None or not baseline.ok or not plan.ok or not plan.steps:
        return None
    ratio = plan.median / baseline.median
    per_resource_ms = (plan.median - baseline.median) * 1000 / plan.steps
    return ratio, per_resource_ms


def _ratio(plan: Measurement, floor: Measurement | None) -> float | None:
    """Plan median / floor median, when both are known."""
    if floor is None or not floor.ok or not plan.ok:
        return None
    return plan.median / floor.median


def render(
    imports: list[Measurement],
    plans: list[Measurement],
    baseline: Measurement | None,
    repeat: int,
    floors: dict[str, Measurement] | None = None,
) -> str:
    """The report: the SDK imports, the floor of each stack, then each stack's plan with its
    floor beside it (`x floor` = plan median / floor median)."""
    floors = floors or {}
    out = [
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs; every figure from a fresh subprocess, median of {repeat} run(s)",
        "",
        "SDK imports",
    ]
    rows = []
    for m in imports:
        if m.ok:
            rows.append([m.label, f"{m.median:.3f}", f"{m.fastest:.3f}", f"{m.peak_mib:.1f}"])
        else:
            rows.append([m.label, "failed", "", ""])
    out.append(_table(["import", "median s", "fastest s", "peak MiB"], rows))
    if floors:
        out += [
            "",
            "Floor (the plan's recorded resources registered again by a bare SDK program: the same "
            "provider classes loaded, the same types, names and inputs, under the plan's mocks)",
        ]
        rows = []
        for m in floors.values():
            if m.ok:
                rows.append(
                    [
                        m.label,
                        str(m.steps or "?"),
                        f"{m.median:.3f}",
                        f"{m.fastest:.3f}",
                        f"{m.cpu:.3f}",
                        f"{m.peak_mib:.1f}",
                    ]
                )
            else:
                rows.append([m.label, "failed", "", "", "", ""])
        out.append(
            _table(["floor", "resources", "median s", "fastest s", "cpu s", "peak MiB"], rows)
        )
    out += ["", "Offline plan (python -m scripts.plan)"]
    rows = []
    notes: list[str] = []
    for m in plans:
        floor = floors.get(m.label)
        floor_cell = f"{floor.median:.3f}" if floor is not None and floor.ok else "n/a"
        if not m.ok:
            rows.append([m.label, "failed", "", floor_cell, "n/a", "", "", "", "", ""])
            continue
        times_floor = _ratio(m, floor)
        over = _overheads(m, baseline)
        ratio, per_res = (f"{over[0]:.2f}", f"{over[1]:.1f}") if over else ("n/a", "n/a")
        steps = str(m.steps) if m.steps is not None else "?"
        if m.steps_vary:
            steps += "*"
            notes.append(f"* {m.label}: resource count differed between runs")
        if any(r.blocking for r in m.runs):
            notes.append(f"{m.label}: a stage reported a mandatory violation (timed all the same)")
        rows.append(
            [
                m.label,
                steps,
                f"{m.median:.3f}",
                floor_cell,
                f"{times_floor:.2f}" if times_floor is not None else "n/a",
                f"{m.fastest:.3f}",
                f"{m.cpu:.3f}",
                f"{m.peak_mib:.1f}",
                ratio,
                per_res,
            ]
        )
    out.append(
        _table(
            [
                "stack",
                "resources",
                "plan s",
                "floor s",
                "x floor",
                "fastest s",
                "cpu s",
                "peak MiB",
                "x import",
                "ms/res",
            ],
            rows,
        )
    )
    if baseline is not None and baseline.ok:
        out.append(
            f"\nimport baseline ({baseline.label}): {baseline.median:.3f}s, "
            f"{baseline.peak_mib:.1f} MiB"
        )
    out.append(
        "plan s, floor s = median wall; x floor = plan / floor of the same stack (goal for prod: "
        "1.5 or less); cpu s = median user + system CPU of the child and its own children (above "
        "plan s where the preview run went to a second process); x import = plan / import "
        "baseline; ms/res = (plan - baseline) per resource, in ms"
    )
    out += notes
    return "\n".join(out) + "\n"


def to_json(
    imports: list[Measurement],
    plans: list[Measurement],
    baseline: Measurement | None,
    repeat: int,
    floors: dict[str, Measurement] | None = None,
) -> dict[str, Any]:
    floors = floors or {}

    def summary(m: Measurement) -> dict[str, Any]:
        data: dict[str, Any] = {"label": m.label, "runs": [asdict(r) for r in m.runs]}
        if m.error is not None:
            data["error"] = m.error
        if m.ok:
            data.update(
                median_seconds=m.median,
                fastest_seconds=m.fastest,
                median_cpu_seconds=m.cpu,
                peak_rss_mib=m.peak_mib,
            )
        return data

    stacks = []
    for m in plans:
        data = summary(m)
        data["resources"] = m.steps
        over = _overheads(m, baseline)
        if over is not None:
            data["ratio_to_import_baseline"] = over[0]
            data["ms_per_resource_above_baseline"] = over[1]
        floor = floors.get(m.label)
        if floor is not None:
            data["floor"] = {**summary(floor), "resources": floor.steps}
        times_floor = _ratio(m, floor)
        if times_floor is not None:
            data["ratio_to_floor"] = times_floor
        stacks.append(data)
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "repeat": repeat,
        "imports": [summary(m) for m in imports],
        "import_baseline": summary(baseline) if baseline is not None else None,
        "stacks": stacks,
    }


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.bench",
        description="Time the offline plan of each stack against the bare Pulumi SDK imports.",
    )
    parser.add_argument(
        "--stack",
        action="append",
        dest="stacks",
        metavar="NAME",
        help="stack to plan (repeatable; default: every stacks/Pulumi.<name>.yaml)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (default: 3)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures here")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds allowed per child (default: 600)"
    )
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed warm-up import")
    args = parser.parse_args(argv)

    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    available = shipped_stacks()
    stacks: list[str] = args.stacks or available
    unknown = [s for s in stacks if s not in available]
    if unknown:
        parser.error(
            f"no stacks/Pulumi.<name>.yaml for {', '.join(unknown)} "
            f"(available: {', '.join(available) or 'none'})"
        )

    if not args.no_warmup:
        warmups = [("import", _IMPORT_CHILD, list(SDKS)), (stacks[0], _PLAN_CHILD, stacks[:1])]
        for label, code, child_args in warmups:
            _progress(f"warm-up {label} (untimed) ...")
            try:
                run_child(code, child_args, args.timeout)
            except ChildError as exc:
                _progress(f"warm-up {label} failed (measuring anyway): {exc}")

    imports: list[Measurement] = []
    for name in SDKS:
        imports.append(measure(f"import {name}", _IMPORT_CHILD, [name], args.repeat, args.timeout))
    baseline = measure(
        "import " + " + ".join(SDKS), _IMPORT_CHILD, list(SDKS), args.repeat, args.timeout
    )
    imports.append(baseline)

    floors: dict[str, Measurement] = {}
    plans: list[Measurement] = []
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as scratch:
        for stack in stacks:
            recorded = str(Path(scratch) / f"{stack}.json")
            _progress(f"recording {stack} for its floor (untimed) ...")
            try:
                run_child(_RECORD_CHILD, [stack, recorded], args.timeout)
            except ChildError as exc:
                floors[stack] = Measurement(stack, error=str(exc))
                _progress(f"recording {stack} FAILED: {exc}")
                plans.append(measure(stack, _PLAN_CHILD, [stack], args.repeat, args.timeout))
                continue
            floors[stack], plan = measure_interleaved(
                [(f"floor {stack}", _FLOOR_CHILD, [recorded]), (stack, _PLAN_CHILD, [stack])],
                args.repeat,
                args.timeout,
            )
            floors[stack].label = stack
            plans.append(plan)

    sys.stdout.write(render(imports, plans, baseline, args.repeat, floors))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        document = to_json(imports, plans, baseline, args.repeat, floors)
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        _progress(f"wrote {args.json}")
    failed = [m.label for m in [*imports, *plans] if not m.ok]
    failed += [f"floor {m.label}" for m in floors.values() if not m.ok]
    if failed:
        _progress(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
