"""The preview run in a forked child (scripts/plan/background.py): the same result as running it
in process, failures passed back, and no fork where one is unsafe.

A fork copies only the calling thread, and pytest-xdist workers run threads of their own, so every
fork here happens in a fresh single-threaded `python -c` child of the test."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from scripts.plan import background
from tests.conftest import ROOT
from tests.support import shipped_plan


def _python(code: str, *args: str) -> dict:
    """Run `code` in a fresh interpreter at the repository root; its last stdout line is JSON."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_worker_answers_in_order_passes_errors_back_and_reports_a_lost_worker():
    found = _python(
        """
        import json, os, time
        from scripts.plan import background as bg
        out = {"available": bg.available(), "parent": os.getpid()}
        with bg.Worker() as worker:
            worker.submit(os.getpid)
            worker.submit(sorted, [3, 1, 2])
            worker.submit(int, "not a number")
            worker.submit(dict, {"n": list(range(100_000))})  # bigger than a pipe's buffer
            try:
                worker.submit(lambda: None)  # a job pickle cannot carry: refused here
            except Exception as exc:
                out["unsendable"] = type(exc).__name__
            worker.submit(eval, "lambda: None")  # an answer pickle cannot carry
            out["pid"] = worker.result()
            out["sorted"] = worker.result()
            try:
                worker.result()
            except bg.ChildFailed as exc:
                out["failed"] = [exc.kind, str(exc)]
            out["big"] = len(worker.result()["n"])
            try:
                worker.result()
            except bg.ChildFailed as exc:
                out["unpicklable"] = exc.kind
        lost = bg.Worker()
        lost.submit(os._exit, 3)
        try:
            lost.result()
        except bg.ChildLost as exc:
            out["lost"] = str(exc)
        out["running_after_loss"] = lost.running
        slow = bg.Worker()
        slow.submit(time.sleep, 600)
        slow.cancel()
        status = slow.exit_status
        out["cancelled_by"] = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        try:
            os.kill(slow.pid, 0)
            out["reaped"] = False
        except ProcessLookupError:
            out["reaped"] = True
        with bg.Worker() as done:
            done.submit(abs, -1)
            done.result()
        out["closed_exit"] = os.WEXITSTATUS(done.exit_status)
        print(json.dumps(out))
        """
    )
    assert found["pid"] != found["parent"]  # the jobs ran in another process
    assert found["sorted"] == [1, 2, 3]
    assert found["failed"] == [
        "ValueError",
        "invalid literal for int() with base 10: 'not a number'",
    ]
    assert found["big"] == 100_000
    assert found["unsendable"] == "PicklingError"
    assert found["unpicklable"] in {"PicklingError", "AttributeError"}
    assert found["lost"] == "the worker process ended without a result"
    assert found["running_after_loss"] is False  # a stage then does the work itself
    assert found["reaped"] is True
    assert found["cancelled_by"] == signal.SIGKILL  # killed, not waited for
    assert found["closed_exit"] == 0  # a closed worker finishes and leaves cleanly


def test_no_fork_while_another_thread_runs_or_on_one_cpu(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(background, "usable_cpus", lambda: 2)
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    assert background.available()
    monkeypatch.setattr(threading, "active_count", lambda: 2)
    assert not background.available()
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    monkeypatch.setattr(background, "usable_cpus", lambda: 1)
    assert not background.available()
    monkeypatch.setattr(background, "usable_cpus", lambda: 2)
    monkeypatch.setattr(sys, "platform", "darwin")
    assert not background.available()


_PROGRAM = """\
import pulumi
import pulumi_aws as aws

vpc = aws.ec2.Vpc("vpc", cidr_block="10.0.0.0/16")
aws.ec2.Subnet("subnet", vpc_id=vpc.id, cidr_block="10.0.1.0/24")
# Created inside an apply over an id: absent from a preview of a new stack.
vpc.id.apply(lambda _: aws.ec2.SecurityGroup("late", vpc_id=vpc.id))
if pulumi.runtime.is_dry_run() and pulumi.Config().get_bool("failInPreview"):
    raise ValueError("only in preview")
"""


_RUN = """
import json, sys
from pathlib import Path
from scripts.plan import background, runner
runner.PROGRAM = Path(sys.argv[1])
config = {"aws:region": "us-east-1", **json.loads(sys.argv[2])}
out = {"auto": background.available()}
def run(worker):
    try:
        return runner.run_program("t", config, project="p", worker=worker)
    except runner.PlanError as exc:
        return str(exc).splitlines()[0]
# The worker is forked before any run (a fresh process has one thread); then a run alone.
with background.Worker() as worker:
    first = run(worker)
second = run(None)
for key, found in (("first", first), ("second", second)):
    if isinstance(found, str):
        out[key] = {"error": found}
    else:
        out[key] = {"in_child": found.preview_in_worker,
                    "document": runner.preview_document(found)}
print(json.dumps(out))
"""


def _runs(tmp_path: Path, config: dict[str, str]) -> dict:
    program = tmp_path / "__main__.py"
    program.write_text(_PROGRAM)
    found = _python(_RUN, str(program), json.dumps(config))
    if not found["auto"]:
        pytest.skip("this machine offers no second CPU or no fork")
    return found


def test_the_program_runs_the_same_with_its_preview_run_in_a_child(tmp_path: Path):
    found = _runs(tmp_path, {})
    assert [found["first"]["in_child"], found["second"]["in_child"]] == [True, False]
    assert found["first"]["document"] == found["second"]["document"]
    assert found["first"]["document"]["previewAbsent"] == [
        "urn:pulumi:t::p::pulumi:pulumi:Stack$aws:ec2/securityGroup:SecurityGroup::late"
    ]


def test_a_failure_of_the_preview_run_in_a_child_reads_as_in_process(tmp_path: Path):
    found = _runs(tmp_path, {"p:failInPreview": "true"})
    message = "the program failed as a preview of a new stack: ValueError: only in preview"
    assert found["first"] == found["second"] == {"error": message}


def test_the_plan_with_a_worker_writes_the_same_document_as_without():
    """The whole plan of a shipped stack with the preview run and the pack's preview pass in the
    worker (a fresh child, where a fork is safe) against the session's plan of the same stack,
    made in one process (an xdist worker never forks)."""
    found = _python(
        """
        import json
        from scripts.plan import background
        from scripts.plan.__main__ import plan
        from scripts.plan.runner import tune_collector
        tune_collector()
        out = {"auto": background.available()}
        beside, _ = plan("dev")
        out["document"] = beside
        print(json.dumps(out, default=str))
        """
    )
    if not found["auto"]:
        pytest.skip("this machine offers no second CPU or no fork")
    alone = json.loads(json.dumps(shipped_plan("dev")[0], default=str))
    beside = found["document"]
    assert sorted(k for k in alone if beside.get(k) != alone[k]) == []
    assert beside == alone
    assert len(beside["policies"]["preview"]) > 0


def test_the_modules_loaded_before_the_fork_are_those_the_shipped_stacks_register():
    """The plan loads `PROVIDER_MODULES` before it forks, so the worker does not load them again;
    the list is exactly the SDK modules of the shipped stacks' resources and providers (a custom
    resource of a CRD has no SDK class of its own)."""
    from scripts.plan.runner import PROVIDER_MODULES, sdk_class
    from tests.support import STACKS

    used: set[str] = set()
    for stack in STACKS:
        for step in shipped_plan(stack)[0]["steps"]:
            state = step["newState"]
            module, cls = sdk_class(state["type"], state["custom"])
            if module:
                used.add(module)
                assert cls, state["type"]
            else:
                assert not state["custom"] or "." in state["type"].split(":")[1], state["type"]
    assert used == set(PROVIDER_MODULES)
    assert len(PROVIDER_MODULES) == len(set(PROVIDER_MODULES))


def test_loading_the_provider_modules_loads_their_classes_now():
    found = _python(
        """
        import json, sys
        import pulumi_aws
        from scripts.plan.runner import PROVIDER_MODULES, load_provider_modules
        ec2 = sys.modules.get("pulumi_aws.ec2")
        before = ec2 is not None and "Vpc" in vars(ec2)
        load_provider_modules()
        loaded = {name: vars(sys.modules[name]) for name in PROVIDER_MODULES}
        print(json.dumps({
            "before": before,
            "vpc": "Vpc" in loaded["pulumi_aws.ec2"],
            "namespace": "Namespace" in loaded["pulumi_kubernetes.core.v1"],
            "sizes": {name: len(names) for name, names in loaded.items()},
        }))
        """
    )
    assert found["before"] is False
    assert found["vpc"] is True and found["namespace"] is True
    assert all(size > 10 for size in found["sizes"].values()), found["sizes"]
