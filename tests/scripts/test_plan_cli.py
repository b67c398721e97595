"""The offline plan's command line: exit codes, files written, and bad config."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
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


def test_the_hot_tier_with_its_defaults_plans_with_a_price(tmp_path: Path):
    data = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    data["config"]["gpu-platform:storage"]["fsx"] = {"enabled": True}
    config = tmp_path / "Pulumi.dev.yaml"
    config.write_text(yaml.safe_dump(data))
    out = tmp_path / "plan.json"
    assert main(["--stack", "dev", "--config-file", str(config), "--json", str(out)]) == 0
    cost = json.loads(out.read_text())["cost"]
    assert cost["unpriced"] == []
    lustre = [r for r in cost["resources"] if "LustreFileSystem" in json.dumps(r)]
    assert len(lustre) == 1, cost["resources"]
    # 1200 GiB at the default 125 MB/s/TiB, at the snapshot's price.
    assert lustre[0]["detail"] == "1200 GiB at fsx_lustre_persistent2_125_gb_month"
    assert lustre[0]["monthlyUsd"]["worst"] > 0


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


# --------------------------------------------------------------------------- preview documents


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("plan: error:")]
    assert len(errors) == 1 and "Traceback" not in "\n".join(err), err
    return errors[0]


@pytest.fixture(scope="module")
def prod_document(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("prod") / "prod.json"
    assert main(["--stack", "prod", "--json", str(path), "--quiet"]) == 0
    return path


def test_preview_json_takes_the_stack_from_the_document(prod_document: Path, tmp_path: Path):
    out = tmp_path / "again.json"
    assert main(["--preview-json", str(prod_document), "--json", str(out), "--quiet"]) == 0
    document = json.loads(out.read_text())
    assert document["stack"] == "prod"
    assert document["policies"]["config"].endswith("policies/config/prod.json")


def test_preview_json_without_a_stack_key_reads_it_from_the_urns(
    prod_document: Path, tmp_path: Path
):
    document = json.loads(prod_document.read_text())
    del document["stack"]
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(document))
    out = tmp_path / "out.json"
    assert main(["--preview-json", str(bare), "--json", str(out), "--quiet"]) == 0
    assert json.loads(out.read_text())["stack"] == "prod"


def test_preview_json_refuses_a_different_stack(prod_document: Path, capsys):
    assert main(["--stack", "dev", "--preview-json", str(prod_document)]) == 2
    assert "is of stack 'prod', not 'dev'" in _one_line_error(capsys)


def test_preview_json_with_config_file_is_an_error(prod_document: Path, tmp_path: Path, capsys):
    config = _dev_config_with(tmp_path, "gpu-platform:natGateways", "single")
    assert main(["--preview-json", str(prod_document), "--config-file", str(config)]) == 2
    assert "--config-file cannot be used with --preview-json" in _one_line_error(capsys)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1, 2]", "is not a JSON object"),
        ('"steps"', "is not a JSON object"),
        ("{", "cannot read preview document"),
        ('{"steps": {}}', "steps: must be a list (got {})"),
        ('{"steps": [1]}', "steps[0]: must be an object (got 1)"),
        ('{"steps": [{"op": "create", "newState": {}}]}', "steps[0].newState.urn: must be a URN"),
        (
            '{"steps": [{"op": "same", "newState": {"urn": "urn:pulumi:dev::p::t::a", "type": "t",'
            ' "inputs": "x"}}]}',
            'steps[0].newState.inputs: must be an object (got "x")',
        ),
        ('{"stack": "dev", "previewAbsent": "all"}', "previewAbsent: must be a list of URNs"),
        ("{}", "names no stack"),
    ],
)
def test_a_bad_preview_document_is_one_line_exit_2(
    tmp_path: Path, capsys, content: str, message: str
):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    assert main(["--preview-json", str(bad)]) == 2
    assert message in _one_line_error(capsys)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[]", "is not a JSON object"),
        ('{"version": 3}', "neither a preview document"),
        ("\xff", "cannot read base"),
    ],
)
def test_a_bad_base_is_one_line_exit_2(tmp_path: Path, capsys, content: str, message: str):
    bad = tmp_path / "base.json"
    bad.write_bytes(content.encode("latin-1"))
    assert main(["--stack", "dev", "--base", str(bad)]) == 2
    assert message in _one_line_error(capsys)


def test_a_base_of_another_stack_is_refused(prod_document: Path, capsys):
    assert main(["--stack", "dev", "--base", str(prod_document)]) == 2
    assert "is of stack 'prod', not 'dev'" in _one_line_error(capsys)


def test_an_unwritable_output_is_one_line_exit_2(tmp_path: Path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["--stack", "dev", "--json", str(blocker / "plan.json"), "--quiet"]) == 2
    assert "cannot write" in _one_line_error(capsys)


# --------------------------------------------------------------------------- plan-all


def test_plan_all_prints_each_failing_stacks_error_and_a_summary(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
):
    import contextlib
    import io

    from scripts.plan import all as plan_all

    real_run = subprocess.run
    commands: list[list[str]] = []

    def run(command: list[str], **kwargs: Any) -> Any:
        """The failing stacks in their own process, as plan-all runs them; the dev plan (the same
        command line) in this one, where the session already holds dev's program run."""
        commands.append(command)
        if command[-3:] != ["--stack", "dev", "--quiet"]:
            return real_run(command, **kwargs)
        assert command[:3] == [sys.executable, "-m", "scripts.plan"]
        assert kwargs["cwd"] == ROOT and kwargs["capture_output"] and kwargs["text"]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(command[3:])
        return subprocess.CompletedProcess(command, code, out.getvalue(), err.getvalue())

    monkeypatch.setattr(plan_all.subprocess, "run", run)
    code = plan_all.main(["dev", "nosuchstack", "alsomissing"])
    assert [c[-2] for c in commands] == ["dev", "nosuchstack", "alsomissing"]
    out = capsys.readouterr().out
    assert code == 2
    lines = out.splitlines()
    assert lines[0].startswith("dev") and lines[0].endswith("RESULT: ok")
    assert any("Pulumi.nosuchstack.yaml" in line for line in lines)
    assert any("Pulumi.alsomissing.yaml" in line for line in lines)
    assert lines[-1] == (
        "plan-all: 2 of 3 stacks failed: nosuchstack (exit 2), alsomissing (exit 2)"
    )


# --------------------------------------------------------------------------- the PR comment


def test_markdown_leads_with_the_verdict_then_the_change_summary(tmp_path: Path, capsys):
    base = tmp_path / "base.json"
    assert main(["--stack", "dev", "--json", str(base), "--quiet"]) == 0
    config = _dev_config_with(tmp_path, "gpu-platform:vpcCidr", "10.41.0.0/16")
    md = tmp_path / "plan.md"
    args = ["--stack", "dev", "--config-file", str(config), "--base", str(base)]
    assert main([*args, "--markdown", str(md), "--quiet"]) == 1
    lines = md.read_text().splitlines()
    assert lines[0] == "### Offline plan: `dev` (blocked)"
    assert re.fullmatch(
        r"\*\*\+0 ~\d+ ±\d+ -0; 5 replacements blocked; worst case .*\*\*", lines[2]
    )
    # Blocking violations come before any detail section, and name what the change destroys.
    first_details = next(i for i, line in enumerate(lines) if line.startswith("<details>"))
    blocking = [i for i, line in enumerate(lines) if line.startswith("- Changes against")]
    assert blocking and max(blocking) < first_details
    assert "destroying the VPC and everything in it" in lines[blocking[0]]
    assert not re.search(r"\b[0-9a-f]{7,40}\b", "\n".join(lines[:first_details]))


def test_markdown_counts_resources_once_with_the_right_plural(tmp_path: Path):
    md = tmp_path / "plan.md"
    assert main(["--stack", "dev", "--markdown", str(md), "--quiet"]) == 0
    text = md.read_text()
    counts = re.findall(r"(\d+) cloud resources?\b", text)
    assert len(counts) == 1
    assert "1 cloud resources" not in text and "1 blocking violations" not in text


def test_a_long_report_drops_whole_sections_never_cutting_one(tmp_path: Path):
    from scripts.plan.__main__ import plan
    from scripts.plan.report import markdown_report

    document, results = plan("prod")
    full = markdown_report(document, results)
    for limit in (len(full) - 1, len(full) // 2, 3000):
        text = markdown_report(document, results, limit=limit)
        assert len(text) <= limit, limit
        assert text.count("<details>") == text.count("</details>")
        assert text.count("```") % 2 == 0
        assert "Left out to fit" in text
        for line in text.splitlines():  # every table row that starts also ends
            if line.startswith("|"):
                assert line.endswith("|"), line
    assert markdown_report(document, results, limit=len(full)) == full


def test_the_command_line_sets_the_collector_before_it_plans():
    """`python -m scripts.plan` freezes what its imports made and raises the collector's
    thresholds (scripts/plan/runner.py, tune_collector) before anything runs."""
    from scripts.plan.runner import COLLECTOR_THRESHOLDS

    code = (
        "import gc, runpy, sys\n"
        "sys.argv = ['scripts.plan', '--help']\n"
        "try:\n"
        "    runpy.run_module('scripts.plan', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('COLLECTOR', list(gc.get_threshold()), gc.get_freeze_count())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    line = next(x for x in result.stdout.splitlines() if x.startswith("COLLECTOR "))
    thresholds, frozen = line.removeprefix("COLLECTOR ").rsplit(" ", 1)
    assert json.loads(thresholds) == list(COLLECTOR_THRESHOLDS) != [700, 10, 10]
    assert int(frozen) > 10_000  # the SDKs' modules and types, out of the collector's reach


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--stack", ""], "'' is not a stack name"),
        (["--stack", "../prod"], "'../prod' is not a stack name"),
        (["--stack", "dev", "--markdown-limit", "0"], "--markdown-limit must be a positive"),
        (["--stack", "dev", "--markdown-limit", "-5"], "(got -5)"),
    ],
)
def test_a_bad_argument_is_one_line_exit_2(argv: list[str], message: str, capsys):
    """An empty stack name is not the default stack, a path is not a stack name (it would name
    files outside stacks/ and policies/config/), and a report cannot be shorter than nothing."""
    assert main([*argv, "--quiet"]) == 2
    assert message in _one_line_error(capsys)


def test_a_preview_document_of_a_stack_that_is_no_stack_name_is_refused(
    prod_document: Path, tmp_path: Path, capsys
):
    document = json.loads(prod_document.read_text())
    document["stack"] = "../../etc"
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(document))
    assert main(["--preview-json", str(path), "--quiet"]) == 2
    assert "'../../etc' is not a stack name" in _one_line_error(capsys)


def test_a_preview_document_with_a_mistyped_input_is_one_line_naming_the_stage(
    prod_document: Path, tmp_path: Path, capsys
):
    """A hand-edited document whose subnet CIDRs are not CIDRs: the stage that reads them fails,
    and the failure is the document's, named as such (never a traceback)."""
    document = json.loads(prod_document.read_text())
    for step in document["steps"]:
        if step["newState"]["type"] == "aws:ec2/subnet:Subnet":
            step["newState"]["inputs"]["cidrBlock"] = "10.0.0.0/99"
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(document))
    assert main(["--preview-json", str(path), "--quiet"]) == 2
    line = _one_line_error(capsys)
    assert f"cannot read preview document {path}" in line
    assert "stage capacity" in line


def test_a_failure_of_a_stage_on_the_plans_own_document_is_not_blamed_on_an_input(monkeypatch):
    """Without a document from outside, a stage that fails has a bug: it surfaces as itself."""
    from scripts.plan import pipeline
    from scripts.plan.__main__ import plan

    class Broken:
        key, title = "broken", "Broken"

        def run(self, context):
            raise ZeroDivisionError("a bug")

    monkeypatch.setattr("scripts.plan.__main__.STAGES", [*pipeline.STAGES[:1], Broken()])
    with pytest.raises(ZeroDivisionError, match="a bug"):
        plan("dev", parallel=False)
