"""The GitHub workflows: valid against GitHub's workflow schema, and wired the way the README says.

The schema is the one `check-jsonschema` vendors (`vendor.github-workflows`), so this runs offline.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from check_jsonschema import main as check_jsonschema
from click.testing import CliRunner

from tests.conftest import ROOT, STACKS

WORKFLOWS = ROOT / ".github" / "workflows"
PREVIEW = WORKFLOWS / "preview.yml"
DEPLOY = WORKFLOWS / "deploy.yml"
PROMOTION = ["dev", "staging", "prod"]


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    # YAML 1.1 (PyYAML) reads the key `on` as True; GitHub reads it as "on".
    if True in data:
        data["on"] = data.pop(True)
    return data


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job.get("steps", []) if str(s.get("uses", "")).startswith(action + "@")]


def runs(job: dict[str, Any]) -> str:
    return "\n".join(str(s.get("run", "")) for s in job.get("steps", []))


def test_workflows_match_the_github_workflow_schema() -> None:
    result = CliRunner().invoke(
        check_jsonschema,
        ["--builtin-schema", "vendor.github-workflows", str(PREVIEW), str(DEPLOY)],
    )
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("path", [PREVIEW, DEPLOY], ids=lambda p: p.name)
def test_every_action_is_pinned(path: Path) -> None:
    for job in load(path)["jobs"].values():
        for step in job.get("steps", []):
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@v\d+(\.\d+)*", step["uses"]), step["uses"]


def test_preview_runs_checks_and_the_offline_plan_of_every_stack() -> None:
    workflow = load(PREVIEW)
    assert "pull_request" in workflow["on"]
    jobs = workflow["jobs"]
    assert "make lint" in runs(jobs["checks"]) and "make test" in runs(jobs["checks"])
    assert steps_using(jobs["checks"], "actions/setup-python")[0]["with"]["python-version"] == (
        "3.11"
    )

    plan = jobs["offline-plan"]
    assert sorted(plan["strategy"]["matrix"]["stack"]) == sorted(STACKS)
    assert (
        "make plan STACK=${{ matrix.stack }} MARKDOWN=plan-${{ matrix.stack }}.md "
        "JSON=plan-${{ matrix.stack }}.json"
    ) in runs(plan)
    assert steps_using(plan, "actions/upload-artifact")


def test_preview_posts_one_sticky_comment_with_every_plan() -> None:
    jobs = load(PREVIEW)["jobs"]
    comment = jobs["plan-comment"]
    assert comment["needs"] == "offline-plan"
    assert comment["permissions"] == {"pull-requests": "write"}
    (sticky,) = steps_using(comment, "marocchino/sticky-pull-request-comment")
    assert sticky["with"]["header"]
    assert sticky["with"]["path"] == "plan-comment.md"
    for stack in STACKS:  # the combining step lists the stacks in promotion order
        assert stack in runs(comment)


def test_preview_runs_pulumi_preview_with_the_policy_pack_when_aws_is_configured() -> None:
    job = load(PREVIEW)["jobs"]["pulumi-preview"]
    assert "vars.AWS_ROLE_ARN != ''" in job["if"]
    assert job["permissions"]["id-token"] == "write"
    assert sorted(job["strategy"]["matrix"]["stack"]) == sorted(STACKS)
    (credentials,) = steps_using(job, "aws-actions/configure-aws-credentials")
    assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"
    (pulumi,) = steps_using(job, "pulumi/actions")
    assert pulumi["with"] == {
        "command": "preview",
        "stack-name": "${{ matrix.stack }}",
        "cloud-url": "${{ vars.PULUMI_BACKEND_URL }}",
        "policyPacks": "policies",
        "policyPackConfigs": "policies/config/${{ matrix.stack }}.json",
        "comment-on-pr": True,
        "diff": True,
    }
    assert "PULUMI_ACCESS_TOKEN" in job["env"]


def test_deploy_promotes_dev_then_staging_then_prod() -> None:
    workflow = load(DEPLOY)
    assert workflow["on"]["push"]["branches"] == ["main"]
    assert "workflow_dispatch" in workflow["on"]
    jobs = workflow["jobs"]
    assert sorted(PROMOTION) == sorted(STACKS)
    assert jobs["dev"]["needs"] == "checks"
    assert jobs["staging"]["needs"] == "dev"
    assert jobs["prod"]["needs"] == "staging"
    for stack in PROMOTION:
        job = jobs[stack]
        assert job["environment"] == stack
        assert job["concurrency"] == {"group": f"deploy-{stack}", "cancel-in-progress": False}
        assert job["permissions"]["id-token"] == "write"
        (credentials,) = steps_using(job, "aws-actions/configure-aws-credentials")
        assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"
        (pulumi,) = steps_using(job, "pulumi/actions")
        assert pulumi["with"]["command"] == "up"
        assert pulumi["with"]["stack-name"] == stack
        assert pulumi["with"]["policyPacks"] == "policies"
        assert pulumi["with"]["policyPackConfigs"] == f"policies/config/{stack}.json"
