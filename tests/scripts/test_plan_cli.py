"""The offline plan's command line: exit codes, files written, and bad config."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from scripts.plan.__main__ import main
from tests.conftest import ROOT


def test_plan_writes_a_preview_shaped_document_and_markdown(tmp_path: Path, capsys):
    out, md = tmp_path / "plan.json", tmp_path / "plan.md"
    assert main(["--stack", "dev", "--json", str(out), "--markdown", str(md)]) == 0
    document = json.loads(out.read_text())
    assert document["changeSummary"] == {"create": len(document["steps"])}
    for step in document["steps"]:
        assert step["op"] == "create"
        assert step["urn"] == step["newState"]["urn"]
        assert set(step["newState"]) >= {
            "urn",
            "type",
            "custom",
            "parent",
            "inputs",
            "dependencies",
            "provider",
        }
    types = {s["newState"]["type"] for s in document["steps"]}
    assert {
        "pulumi:pulumi:Stack",
        "pulumi:providers:aws",
        "aws:ec2/vpc:Vpc",
        "aws:eks/cluster:Cluster",
    } <= types
    # Dependencies come before dependents, as in a real preview.
    seen: set[str] = set()
    for step in document["steps"]:
        state = step["newState"]
        assert all(dep in seen for dep in state["dependencies"]), state["urn"]
        seen.add(state["urn"])
    summary = md.read_text()
    assert summary.startswith("### Offline plan: `dev` (ok)")
    assert "aws:eks/cluster:Cluster" in summary
    terminal = capsys.readouterr().out
    assert "└─ " in terminal and "RESULT: ok" in terminal


def _dev_config_with(tmp_path: Path, key: str, value: object) -> Path:
    data = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    data["config"][key] = value
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_unknown_key_exits_non_zero_names_it_and_writes_nothing(tmp_path: Path, capsys):
    config = _dev_config_with(tmp_path, "gpu-platform:monthlyBudgetUSD", 10)
    out = tmp_path / "plan.json"
    assert main(["--stack", "dev", "--config-file", str(config), "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert "gpu-platform:monthlyBudgetUSD: unknown key" in err
    assert "monthlyBudgetUsd" in err  # the did-you-mean hint
    assert not out.exists()


def test_an_error_found_by_a_component_also_exits_2(tmp_path: Path, capsys):
    config = _dev_config_with(tmp_path, "gpu-platform:vpcCidr", "10.40.0.0/24")
    out = tmp_path / "plan.json"
    assert main(["--stack", "dev", "--config-file", str(config), "--json", str(out)]) == 2
    assert "gpu-platform:vpcCidr" in capsys.readouterr().err
    assert not out.exists()


def test_stages_run_on_an_existing_preview_document(tmp_path: Path):
    out = tmp_path / "plan.json"
    assert main(["--stack", "prod", "--json", str(out), "--quiet"]) == 0
    document = json.loads(out.read_text())
    # Break the document the way a hand-edited or foreign preview could be broken.
    orphan = next(s for s in document["steps"] if s["newState"]["type"] == "aws:ec2/vpc:Vpc")
    orphan["newState"]["parent"] = ""
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(document))
    assert main(["--stack", "prod", "--preview-json", str(broken), "--quiet"]) == 1


def test_make_plan_interface_unknown_stack(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "scripts.plan", "--stack", "nosuchstack"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "Pulumi.nosuchstack.yaml" in result.stderr


def test_a_duplicate_resource_is_a_plan_error_not_a_silent_merge():
    from scripts.plan.runner import PlanError, ProgramRun, Registration, preview_document

    reg = Registration(
        urn="urn:pulumi:s::p::aws:ec2/vpc:Vpc::vpc",
        type="aws:ec2/vpc:Vpc",
        name="vpc",
        custom=True,
        parent="",
        inputs={},
        dependencies=[],
        property_dependencies={},
        provider="",
        protect=False,
        retain_on_delete=False,
        version="",
    )
    run = ProgramRun(stack="s", project="p", config={}, registrations=[reg, reg], outputs={})
    try:
        preview_document(run)
    except PlanError as exc:
        assert "duplicate URN" in str(exc) and reg.urn in str(exc)
    else:
        raise AssertionError("a duplicate URN was accepted")
