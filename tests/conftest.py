"""Shared fixtures: run code as a Pulumi program under recording mocks; query what it registered."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.plan.runner import Registration, run_function

ROOT = Path(__file__).resolve().parents[1]
STACKS = sorted(
    p.name.removeprefix("Pulumi.").removesuffix(".yaml")
    for p in (ROOT / "stacks").glob("Pulumi.*.yaml")
)


@dataclass
class Recorded:
    """What a program registered, with the queries tests need."""

    registrations: list[Registration]
    outputs: dict[str, Any]

    def of_type(self, type_token: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_token]

    def one(self, type_token: str, name: str | None = None) -> Registration:
        found = [r for r in self.of_type(type_token) if name is None or r.name == name]
        assert len(found) == 1, (
            f"expected one {type_token} {name or ''}, got {[r.name for r in found]}"
        )
        return found[0]

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.registrations if r.urn == urn)

    def children(self, parent_urn: str) -> list[Registration]:
        return [r for r in self.registrations if r.parent == parent_urn]


@pytest.fixture
def run_pulumi() -> Iterator[Callable[..., Recorded]]:
    """`run_pulumi(fn, config={...})` runs `fn` as a program (preview=False) and records it."""

    def run(
        function: Callable[[], Any], config: dict[str, str] | None = None, stack: str = "test"
    ) -> Recorded:
        registrations, outputs = run_function(
            function,
            stack=stack,
            project="gpu-platform",
            config=config or {"aws:region": "us-east-1"},
        )
        return Recorded(registrations, outputs)

    yield run


def stack_raw_config(stack: str) -> dict[str, str]:
    """A shipped stack's config as the engine passes it."""
    data = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}


@pytest.fixture(autouse=True, scope="session")
def _program_runs_once_per_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The program is deterministic: one run per (stack, config) serves every test that plans it.

    Many tests plan the same shipped stack through the CLI to check the stages, reports and
    options; the program's registrations for one config are the same every time, so they are
    computed once per session (a copy each time, so no test sees another's changes). Under xdist
    the workers share them too: the first worker to need a config runs it (both the run under
    mocks and the preview run, `run_program`) and stores it beside the session's temporary
    directories, under a lock; the others read it. Tests of the runner itself call
    `run_function` and are not affected."""
    import copy
    import hashlib
    import os
    import pickle

    from filelock import FileLock

    from scripts.plan import __main__ as plan_cli
    from scripts.plan import runner

    real = runner.run_program
    runs: dict[tuple[str, str, str | None], Any] = {}
    shared: Path | None = None
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = tmp_path_factory.getbasetemp().parent / "program-runs"
        shared.mkdir(exist_ok=True)

    def computed(
        key: tuple[str, str, str | None], stack: str, raw_config: Any, project: Any
    ) -> Any:
        if shared is None:
            return real(stack, raw_config, project=project)
        path = shared / hashlib.sha256(json.dumps(key).encode()).hexdigest()
        with FileLock(f"{path}.lock"):
            if path.exists():
                return pickle.loads(path.read_bytes())
            run = real(stack, raw_config, project=project)
            path.write_bytes(pickle.dumps(run))
            return run

    def run_program(stack: str, raw_config: Any, *, project: str | None = None, **_: Any) -> Any:
        key = (stack, json.dumps(dict(raw_config), sort_keys=True), project)
        if key not in runs:
            runs[key] = computed(key, stack, raw_config, project)
        return copy.deepcopy(runs[key])

    from scripts.plan import policy_stage

    real_analyze = policy_stage.analyze
    verdicts: dict[tuple[str, str | None, float | None], Any] = {}

    def analyze(document: dict[str, Any], config_path: Any, session: Any = None) -> Any:
        """The pack's verdict on one document under one policy config is as deterministic as
        the program: analysed once per (document, config file and its content)."""
        stamp = config_path.stat().st_mtime if config_path and config_path.exists() else None
        key = (json.dumps(document, sort_keys=True, default=str), str(config_path), stamp)
        if key not in verdicts:
            verdicts[key] = real_analyze(document, config_path, session)
        return copy.deepcopy(verdicts[key])

    patch = pytest.MonkeyPatch()
    patch.setattr(plan_cli, "run_program", run_program)
    patch.setattr(policy_stage, "analyze", analyze)
    yield
    patch.undo()


def pytest_configure(config: pytest.Config) -> None:
    """The collector set as the plan's command line sets it, once per test process (each xdist
    worker runs this too): the suite runs hundreds of programs under mocks."""
    from scripts.plan.runner import tune_collector

    tune_collector()
