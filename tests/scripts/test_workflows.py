"""The GitHub workflows: valid against GitHub's workflow schema, and wired the way the README says.

The schema is the one `check-jsonschema` vendors (`vendor.github-workflows`), so this runs offline.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from check_jsonschema import main as check_jsonschema
from click.testing import CliRunner

from components import versions
from components.config import load_stack_config, read_stack_file, stack_file
from tests.conftest import ROOT, STACKS

WORKFLOWS = ROOT / ".github" / "workflows"
PREVIEW = WORKFLOWS / "preview.yml"
DEPLOY = WORKFLOWS / "deploy.yml"
PROMOTION = ["dev", "staging", "prod"]
PREVIEW_ROLE = (
    "${{ fromJSON(vars.AWS_PREVIEW_ROLE_ARNS || '{}')[matrix.stack] || vars.AWS_PREVIEW_ROLE_ARN }}"
)
"""The read-only preview role, per stack (a JSON map) or one for all."""
DEPLOY_ROLE = "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
"""The deploy role, an environment variable of each GitHub environment."""


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


def needs(job: dict[str, Any]) -> list[str]:
    value = job.get("needs", [])
    return list(value) if isinstance(value, list) else [value]


def test_workflows_match_the_github_workflow_schema() -> None:
    result = CliRunner().invoke(
        check_jsonschema,
        ["--builtin-schema", "vendor.github-workflows", str(PREVIEW), str(DEPLOY)],
    )
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("path", [PREVIEW, DEPLOY], ids=lambda p: p.name)
def test_every_action_is_pinned_by_commit_with_its_version_beside_it(path: Path) -> None:
    text = path.read_text()
    for job in load(path)["jobs"].values():
        for step in job.get("steps", []):
            if "uses" not in step:
                continue
            _, _, ref = step["uses"].partition("@")
            assert re.fullmatch(r"[0-9a-f]{40}", ref), step["uses"]
            # The version the commit stands for is written beside it, for readers and updates.
            assert re.search(re.escape(step["uses"]) + r" # v\d+\.\d+\.\d+\n", text), step["uses"]


@pytest.mark.parametrize("path", [PREVIEW, DEPLOY], ids=lambda p: p.name)
def test_pulumi_actions_is_the_commit_of_the_release_versions_py_confirms(path: Path) -> None:
    pin = versions.PULUMI_ACTIONS
    text = path.read_text()
    uses = re.findall(r"uses: (pulumi/actions@\S+)( # \S+)?", text)
    assert uses, path.name
    assert set(uses) == {(f"pulumi/actions@{pin.commit}", f" # {pin.tag}")}


@pytest.mark.parametrize("path", [PREVIEW, DEPLOY], ids=lambda p: p.name)
def test_one_action_is_pinned_to_one_ref_everywhere(path: Path) -> None:
    pins: dict[str, set[str]] = {}
    for job in load(path)["jobs"].values():
        for step in job.get("steps", []):
            if "uses" in step:
                action, _, ref = step["uses"].partition("@")
                pins.setdefault(action, set()).add(ref)
    assert all(len(refs) == 1 for refs in pins.values()), pins


def test_the_stack_matrix_is_derived_from_the_stack_files() -> None:
    jobs = load(PREVIEW)["jobs"]
    stacks = jobs["stacks"]
    assert "python3 -m scripts.plan.stacks" in runs(stacks)
    assert stacks["outputs"]["stacks"] == "${{ steps.list.outputs.stacks }}"
    for name in ("offline-plan", "pulumi-preview"):
        job = jobs[name]
        assert "stacks" in needs(job)
        assert job["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.stacks) }}"
    text = PREVIEW.read_text()
    for stack in STACKS:  # no list of stack names in the workflow itself
        assert not re.search(rf"\[[^\]\n]*\b{stack}\b[^\]\n]*\]", text), stack


def test_the_stacks_job_lists_what_the_test_suite_sees() -> None:
    from scripts.plan.stacks import main as list_stacks

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert list_stacks([]) == 0
    assert json.loads(out.getvalue()) == STACKS


def test_preview_runs_checks_and_plans_every_stack_against_the_target_branch() -> None:
    workflow = load(PREVIEW)
    assert "pull_request" in workflow["on"]
    jobs = workflow["jobs"]
    assert "make lint" in runs(jobs["checks"]) and "make test" in runs(jobs["checks"])
    assert steps_using(jobs["checks"], "actions/setup-python")[0]["with"]["python-version"] == (
        "3.11"
    )

    plan = jobs["offline-plan"]
    checkouts = steps_using(plan, "actions/checkout")
    assert [c.get("with", {}).get("ref") for c in checkouts] == [None, "${{ github.base_ref }}"]
    base_dir = checkouts[1]["with"]["path"]
    script = runs(plan)
    # The base is the target branch's own plan, made in the same job from its own checkout ...
    assert (
        f'make -C {base_dir} plan STACK="$STACK" JSON="$GITHUB_WORKSPACE/base-$STACK.json"'
        in script
    )
    # ... and the pull request's plan is made against it.
    assert 'base="BASE=base-$STACK.json"' in script
    assert (
        'make plan STACK="$STACK" $base MARKDOWN="plan-$STACK.md" JSON="plan-$STACK.json"' in script
    )
    assert plan["env"]["STACK"] == "${{ matrix.stack }}"  # names reach the shell as data
    assert "${{ matrix.stack }}" not in script
    assert steps_using(plan, "actions/upload-artifact")


def test_preview_plans_against_the_live_stack_where_aws_is_configured() -> None:
    plan = load(PREVIEW)["jobs"]["offline-plan"]
    assert "vars.AWS_PREVIEW_ROLE_ARN != ''" in plan["env"]["LIVE"]
    live_steps = [s for s in plan["steps"] if s.get("if") == "${{ env.LIVE == 'true' }}"]
    (credentials,) = steps_using({"steps": live_steps}, "aws-actions/configure-aws-credentials")
    assert credentials["with"]["role-to-assume"] == PREVIEW_ROLE
    assert 'pulumi stack export --stack "$STACK" --file "live-$STACK.json"' in runs(plan)
    assert 'BASE="live-$STACK.json"' in runs(plan)
    assert plan["permissions"]["id-token"] == "write"


def test_preview_posts_one_sticky_comment_with_every_plan() -> None:
    jobs = load(PREVIEW)["jobs"]
    comment = jobs["plan-comment"]
    assert needs(comment) == ["stacks", "offline-plan"]
    assert comment["permissions"] == {"pull-requests": "write"}
    (sticky,) = steps_using(comment, "marocchino/sticky-pull-request-comment")
    assert sticky["with"]["header"]
    assert sticky["with"]["path"] == "plan-comment.md"
    script = runs(comment)
    assert 'json.loads(os.environ["STACKS"])' in script
    assert "head -c" not in script  # never cut inside a table or <details>
    assert "github.sha" not in PREVIEW.read_text() and "head.sha" not in PREVIEW.read_text()
    # Each report is written to its share of the comment limit.
    assert jobs["offline-plan"]["env"]["MARKDOWN_LIMIT"] == (
        "${{ needs.stacks.outputs.markdown-limit }}"
    )
    assert 'MARKDOWN_LIMIT="$MARKDOWN_LIMIT"' in runs(jobs["offline-plan"])


def test_preview_runs_pulumi_preview_with_the_policy_pack_when_aws_is_configured() -> None:
    job = load(PREVIEW)["jobs"]["pulumi-preview"]
    assert "vars.AWS_PREVIEW_ROLE_ARN != ''" in job["if"]
    assert job["permissions"]["id-token"] == "write"
    # No environment: GitHub's OIDC subject is then repo:<org>/<repo>:pull_request, the only one
    # the preview role trusts.
    assert "environment" not in job
    (credentials,) = steps_using(job, "aws-actions/configure-aws-credentials")
    assert credentials["with"]["role-to-assume"] == PREVIEW_ROLE
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
    assert jobs["staging"]["needs"] == ["checks", "dev"]
    assert jobs["prod"]["needs"] == ["checks", "staging"]
    # Each stack deploys from the runners it declares as its deployer (deployer.runnerLabels).
    assert "--runners" in " ".join(s.get("run", "") for s in jobs["checks"]["steps"])
    for stack in PROMOTION:
        job = jobs[stack]
        assert job["runs-on"] == f"${{{{ fromJSON(needs.checks.outputs.runners).{stack} }}}}"
        assert job["environment"] == stack
        assert job["concurrency"] == {"group": f"deploy-{stack}", "cancel-in-progress": False}
        assert job["permissions"]["id-token"] == "write"
        # The environment's own deploy role (subject repo:<org>/<repo>:environment:<stack>),
        # checked before any AWS step.
        (credentials,) = steps_using(job, "aws-actions/configure-aws-credentials")
        assert credentials["with"]["role-to-assume"] == DEPLOY_ROLE
        check = next(s for s in job["steps"] if s.get("env", {}).get("ROLE") == DEPLOY_ROLE)
        assert job["steps"].index(check) < job["steps"].index(credentials)
        assert 'if [ -z "$ROLE" ]' in check["run"]
        (pulumi,) = steps_using(job, "pulumi/actions")
        assert pulumi["with"]["command"] == "up"
        assert pulumi["with"]["stack-name"] == stack
        assert pulumi["with"]["policyPacks"] == "policies"
        assert pulumi["with"]["policyPackConfigs"] == f"policies/config/{stack}.json"


def test_every_shipped_stack_declares_where_it_is_deployed_from() -> None:
    from scripts.plan.stacks import runner_labels

    labels = runner_labels(STACKS)
    for stack in STACKS:
        config = load_stack_config(read_stack_file(stack_file(stack)))
        assert labels[stack] == config.deployer.runner_labels
        # Self-hosted runners whose egress the stack admits to its API: never hosted ones.
        assert "self-hosted" in labels[stack]
        assert config.deployer.egress_cidrs


def test_previews_run_on_each_stacks_declared_runners() -> None:
    job = load(PREVIEW)["jobs"]["pulumi-preview"]
    assert job["runs-on"] == "${{ fromJSON(needs.checks.outputs.runners)[matrix.stack] }}"
    assert "checks" in job["needs"]


def test_preview_and_deploy_never_share_a_role() -> None:
    preview, deploy = PREVIEW.read_text(), DEPLOY.read_text()
    assert "AWS_DEPLOY_ROLE_ARN" not in preview
    assert "AWS_PREVIEW_ROLE_ARN" not in deploy
    assert "vars.AWS_ROLE_ARN" not in preview + deploy
    assert load(DEPLOY)["jobs"]["dev"]["if"] == "${{ vars.AWS_DEPLOY_ENABLED == 'true' }}"


def test_readme_documents_both_roles_with_their_oidc_subjects() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = [
        json.loads(block)
        for block in re.findall(r"```json\n(.*?)```", readme, flags=re.DOTALL)
        if "token.actions.githubusercontent.com" in block
    ]
    subjects = {}
    for trust in blocks:
        [statement] = trust["Statement"]
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        condition = statement["Condition"]["StringEquals"]
        assert condition["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
        subjects[condition["token.actions.githubusercontent.com:sub"]] = statement
    assert set(subjects) == {
        "repo:<org>/<repo>:pull_request",
        "repo:<org>/<repo>:environment:<env>",
    }
    for variable in ("AWS_PREVIEW_ROLE_ARN", "AWS_PREVIEW_ROLE_ARNS", "AWS_DEPLOY_ROLE_ARN"):
        assert variable in readme, variable
