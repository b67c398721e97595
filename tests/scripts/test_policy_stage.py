"""The policy and cost stages of the offline plan on the shipped stacks and on broken variants."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.catalog import get_instance_type
from policies import pack, pricing
from policies.inputs import UNKNOWN_STRING
from scripts.plan.__main__ import main, plan
from scripts.plan.policy_stage import (
    CONFIG_DIR,
    PolicyStage,
    analyze,
    preview_semantics,
    preview_verdicts,
)
from scripts.plan.runner import PlanError
from scripts.plan.stages import PlanContext, StageResult, states
from tests.conftest import ROOT, STACKS
from tests.policies import TAGS, doc, state, urn, write_config
from tests.support import shipped_plan


def planned(stack: str) -> tuple[dict[str, Any], dict[str, tuple[str, StageResult]]]:
    """The shipped stack's plan, computed once per session with the other test files (a copy)."""
    return shipped_plan(stack)


def document_of(stack: str) -> dict[str, Any]:
    """A private copy of the stack's planned document (tests may edit it)."""
    return planned(stack)[0]


def stack_yaml(stack: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())


def dev_config_file(tmp_path: Path, edit) -> Path:
    data = stack_yaml("dev")
    edit(data["config"])
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def usd(amount: float) -> str:
    return f"${amount:,.2f}"


# ------------------------------------------------------------------------- shipped stacks


@pytest.mark.parametrize("stack", STACKS)
def test_every_shipped_stack_passes_every_policy(stack: str):
    document, results = planned(stack)
    policies = document["policies"]
    assert policies["config"] == f"policies/config/{stack}.json"
    assert [p["name"] for p in policies["policies"]] == [p.name for p in pack.policies()]
    assert len(policies["policies"]) == 14
    assert all(p["enforcementLevel"] == "mandatory" for p in policies["policies"])
    assert [p for p in policies["policies"] if p["violations"]] == []
    assert [v for v in policies["violations"] if v["enforcementLevel"] == "mandatory"] == []
    assert results["policies"][1].blocking == []
    # Under preview semantics every mandatory rule reaches a verdict, except on the properties
    # acknowledged in policies/preview-gaps.json (none on any shipped stack).
    gaps = json.loads((ROOT / "policies" / "preview-gaps.json").read_text()).get(stack, {})
    for verdict in policies["preview"]:
        assert verdict["onlyInPreview"] == [], verdict
        assert verdict["unacknowledged"] == [], verdict
        assert verdict["staleAcknowledgements"] == [], verdict
        assert verdict["verdict"] == ("none" if verdict["name"] in gaps else "pass"), verdict
        assert sorted(verdict["acknowledged"]) == sorted(gaps.get(verdict["name"], []))


@pytest.mark.parametrize("stack", STACKS)
def test_every_shipped_stack_has_ordered_cost_totals_within_its_budget(stack: str):
    document, _ = planned(stack)
    cost = document["cost"]
    totals = cost["totals"]
    assert 0 < totals["idle"] <= totals["expected"] <= totals["worst"]
    budget = float(stack_yaml(stack)["config"]["gpu-platform:monthlyBudgetUsd"])
    assert cost["budgetUsd"] == budget
    assert cost["worstCasePercentOfBudget"] == round(100 * totals["worst"] / budget, 1)
    assert totals["worst"] <= budget
    assert cost["unpriced"] == []
    for scale in ("idle", "expected", "worst"):
        assert sum(cost["byTier"][scale].values()) == pytest.approx(totals[scale], abs=0.05)


@pytest.mark.parametrize("stack", STACKS)
def test_the_cost_stage_shows_the_figures_the_policy_enforces(stack: str):
    document, _ = planned(stack)
    est = pricing.estimate(
        pricing.Res(
            type=s["type"],
            urn=s["urn"],
            props=s.get("inputs") or {},
            property_dependencies=s.get("propertyDependencies") or {},
        )
        for s in states(document)
    )
    assert document["cost"]["totals"] == {s: est.total(s) for s in pricing.SCALES}
    assert document["cost"]["budgetUsd"] == min(est.budgets_usd)


def test_prod_prices_its_p5_pool_at_the_catalog_rate():
    document, _ = planned("prod")
    lines = {r["name"]: r for r in document["cost"]["resources"]}
    h100 = lines["h100-train"]
    max_size = next(
        p["maxSize"]
        for p in stack_yaml("prod")["config"]["gpu-platform:gpuPools"]
        if p["name"] == "h100-train"
    )
    rate = get_instance_type("p5.48xlarge").on_demand_usd_per_hour
    assert h100["monthlyUsd"]["worst"] == round(max_size * rate * 730, 2)
    assert h100["tier"] == "compute-gpu"


# ------------------------------------------------------------------------- the CLI blocks


def test_a_dev_pool_scaled_past_the_budget_exits_1_and_names_the_figures(tmp_path: Path, capsys):
    def grow(config: dict[str, Any]) -> None:
        (pool,) = [p for p in config["gpu-platform:gpuPools"] if p["name"] == "t4-spot"]
        pool["maxSize"] = 40

    out = tmp_path / "plan.json"
    path = dev_config_file(tmp_path, grow)
    assert main(["--stack", "dev", "--config-file", str(path), "--json", str(out)]) == 1
    printed = capsys.readouterr().out
    document = json.loads(out.read_text())
    worst = document["cost"]["totals"]["worst"]
    assert worst > 3000
    assert "cost-limits" in printed
    assert f"worst-case monthly cost {usd(worst)} exceeds the budget {usd(3000)}" in printed
    messages = [v["message"] for v in document["policies"]["violations"]]
    assert any(m.startswith("pool t4-spot reaches 40 GPUs") for m in messages)  # dev's cap: 8
    assert "RESULT: blocked" in printed


def test_a_dev_p5_pool_exits_1_and_names_the_instance_type(tmp_path: Path, capsys):
    def add_p5(config: dict[str, Any]) -> None:
        config["gpu-platform:gpuPools"].append(
            {
                "name": "h100",
                "purpose": "training",
                "capacityType": "ON_DEMAND",
                "instanceTypes": ["p5.48xlarge"],
                "minSize": 0,
                "maxSize": 1,
            }
        )

    path = dev_config_file(tmp_path, add_p5)
    assert main(["--stack", "dev", "--config-file", str(path)]) == 1
    printed = capsys.readouterr().out
    assert "cost-limits" in printed
    assert "h100: p5.48xlarge is not allowed here" in printed


def test_a_resource_missing_a_required_tag_is_reported(tmp_path: Path):
    document = document_of("dev")
    (vpc,) = [s for s in states(document) if s["type"] == "aws:ec2/vpc:Vpc"]
    del vpc["inputs"]["tags"]["owner"]
    result = analyze(document, CONFIG_DIR / "dev.json")
    (violation,) = result["violations"]
    assert violation["policy"] == "required-tags"
    assert violation["enforcementLevel"] == "mandatory"
    assert violation["urn"] == vpc["urn"]
    assert violation["message"].endswith("lacks required tags: owner")
    counts = {p["name"]: p["violations"] for p in result["policies"]}
    assert counts["required-tags"] == 1
    assert sum(counts.values()) == 1


def test_an_edited_preview_document_is_blocked_through_the_cli(tmp_path: Path, capsys):
    document = document_of("dev")
    (vpc,) = [s for s in states(document) if s["type"] == "aws:ec2/vpc:Vpc"]
    del vpc["inputs"]["tags"]["owner"]
    preview = tmp_path / "preview.json"
    preview.write_text(json.dumps(document))
    assert main(["--stack", "dev", "--preview-json", str(preview)]) == 1
    printed = capsys.readouterr().out
    assert "required-tags" in printed
    assert "lacks required tags: owner" in printed


def test_the_policy_stage_blocks_only_on_mandatory_findings(tmp_path: Path):
    document = document_of("dev")
    (vpc,) = [s for s in states(document) if s["type"] == "aws:ec2/vpc:Vpc"]
    del vpc["inputs"]["tags"]["owner"]
    context = PlanContext(stack="dev", document=document)
    (blocking,) = PolicyStage().run(context).blocking
    assert blocking.startswith("required-tags: ")


def test_a_stack_without_a_policy_config_fails_the_plan_with_a_clear_message(tmp_path: Path):
    document = document_of("dev")
    with pytest.raises(PlanError) as raised:
        PolicyStage(config_dir=tmp_path).run(PlanContext(stack="dev", document=document))
    message = str(raised.value)
    assert f"stack 'dev' has no policy config {tmp_path / 'dev.json'}" in message
    assert "holds just {}" in message


def test_the_cli_exits_2_for_a_stack_without_a_policy_config(tmp_path: Path, capsys, monkeypatch):
    document = document_of("dev")
    preview = tmp_path / "preview.json"
    preview.write_text(json.dumps(document))
    monkeypatch.setattr(PolicyStage, "config_path", PolicyStage(tmp_path).config_path)
    assert main(["--stack", "dev", "--preview-json", str(preview)]) == 2
    assert "has no policy config" in capsys.readouterr().err


def test_an_empty_policy_config_opts_in_to_the_pack_defaults(tmp_path: Path):
    write_config(tmp_path, {}, name="dev.json")
    document = document_of("dev")
    result = PolicyStage(config_dir=tmp_path).run(PlanContext(stack="dev", document=document))
    assert result.data["config"] == str(tmp_path / "dev.json")
    # On the defaults every rule is mandatory and the default security group must be locked,
    # which the program does: the shipped dev stack passes the pack's defaults too.
    assert result.blocking == []
    levels = {p["name"]: p["enforcementLevel"] for p in result.data["policies"]}
    assert set(levels.values()) == {"mandatory"}


def test_a_config_file_outside_the_repository_is_accepted(tmp_path: Path):
    path = write_config(tmp_path, {"required-tags": "advisory"})
    vpc = state("aws:ec2/vpc:Vpc", "vpc", {"tags": {}})
    result = analyze(doc(vpc), path)
    assert result["config"] == str(path)
    assert [
        v["enforcementLevel"] for v in result["violations"] if v["policy"] == "required-tags"
    ] == ["advisory"]


def test_a_policy_stage_reads_its_stack_config_from_its_config_dir(tmp_path: Path):
    write_config(
        tmp_path,
        {
            "required-tags": "advisory",
            "default-security-group": {"requireLockedDefaultSecurityGroup": False},
        },
        name="dev.json",
    )
    document = document_of("dev")
    (vpc,) = [s for s in states(document) if s["type"] == "aws:ec2/vpc:Vpc"]
    del vpc["inputs"]["tags"]["owner"]
    result = PolicyStage(config_dir=tmp_path).run(PlanContext(stack="dev", document=document))
    assert result.data["config"] == str(tmp_path / "dev.json")
    assert [v["enforcementLevel"] for v in result.data["violations"]] == ["advisory"]
    assert result.blocking == []  # advisory findings do not block


# ------------------------------------------------------------------------- preview semantics

KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/0f1e2d3c-aaaa-bbbb-cccc-0123456789ab"
ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/ABCDEF0123456789"


def test_preview_semantics_makes_unknown_what_the_mocks_computed():
    key = state("aws:kms/key:Key", "key", {"description": "k"})
    lt = state("aws:ec2/launchTemplate:LaunchTemplate", "lt", {"name": "lt-given"})
    user = state(
        "aws:iam/rolePolicy:RolePolicy",
        "use",
        {
            "policy": json.dumps({"Statement": [{"Action": "kms:Decrypt", "Resource": KEY_ARN}]}),
            "subnets": ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"],
            "nested": {"known": "yes", "key": KEY_ARN},
            "trust": f"{ISSUER.removeprefix('https://')}:sub",
            "launchTemplate": {"id": "lt-0123456789abcdef0", "version": "1"},
            "otherVersion": "1",
            "plain": "arn:aws:s3:::given-bucket",
        },
        {"launchTemplate": [lt["urn"]]},
    )
    document = doc(key, lt, user)
    document["computedOutputs"] = {
        key["urn"]: {"id": "0f1e2d3c-aaaa", "arn": KEY_ARN},
        lt["urn"]: {"id": "lt-0123456789abcdef0", "latestVersion": 1},
        urn("aws:ec2/subnet:Subnet", "a"): {"id": "subnet-0123456789abcdef0"},
        urn("aws:ec2/subnet:Subnet", "b"): {"id": "subnet-0fedcba9876543210"},
        urn("aws:eks/cluster:Cluster", "eks"): {"identities[0].oidcs[0].issuer": ISSUER},
    }
    preview = preview_semantics(document)
    assert "computedOutputs" not in preview
    assert "computedOutputs" in document  # the original is untouched
    inputs = {s["urn"]: s["inputs"] for s in states(preview)}[user["urn"]]
    assert inputs == {
        "policy": UNKNOWN_STRING,  # an apply-computed string holding an ARN is wholly unknown
        "subnets": [UNKNOWN_STRING, UNKNOWN_STRING],
        "nested": {"known": "yes", "key": UNKNOWN_STRING},
        "trust": UNKNOWN_STRING,  # the issuer without its scheme
        "launchTemplate": {"id": UNKNOWN_STRING, "version": UNKNOWN_STRING},
        "otherVersion": "1",  # a short value is unknown only where it depends on its resource
        "plain": "arn:aws:s3:::given-bucket",
    }


def test_the_recorded_document_says_what_the_mocks_computed():
    document, _ = planned("dev")
    computed = document["computedOutputs"]
    by_type = {}
    for state_ in states(document):
        if state_["urn"] in computed:
            by_type.setdefault(state_["type"], computed[state_["urn"]])
    assert set(by_type["aws:kms/key:Key"]) >= {"id", "arn", "keyId"}
    assert "bucket" not in by_type["aws:s3/bucket:Bucket"]  # autonamed: known in preview
    assert "tagsAll" not in by_type["aws:s3/bucket:Bucket"]
    assert by_type["aws:s3/bucket:Bucket"]["arn"].startswith("arn:aws:s3:::")


@pytest.mark.parametrize("stack", STACKS)
def test_every_mandatory_rule_reaches_a_verdict_in_a_preview_of_a_new_stack(stack: str):
    """Without any acknowledgement, the pack decides every property of every shipped stack in a
    preview of a new stack (Triton's role trusts the cluster through Pod Identity, known before
    the cluster exists), and preview-gaps.json acknowledges nothing."""
    document = document_of(stack)
    result = PolicyStage(gaps=None).run(PlanContext(stack=stack, document=document))
    gaps = json.loads((ROOT / "policies" / "preview-gaps.json").read_text())
    expected = gaps.get(stack, {})
    undecided = {
        v["name"]: v["undecided"]
        for v in result.data["preview"]
        if v["enforcementLevel"] == "mandatory" and v["verdict"] != "pass"
    }
    assert undecided == expected == {}
    assert gaps["_reasons"] == {}
    (trust,) = [v for v in result.data["preview"] if v["name"] == "iam-trust-policies"]
    assert trust["verdict"] == "pass"
    # With the acknowledgements the shipped plan is not blocked.
    assert PolicyStage().run(PlanContext(stack=stack, document=document)).blocking == []


def test_dev_with_the_hot_tier_reaches_every_verdict_in_a_preview(tmp_path: Path):
    def hot(config: dict[str, Any]) -> None:
        config["gpu-platform:storage"].setdefault("fsx", {})["enabled"] = True

    path = dev_config_file(tmp_path, hot)
    document, results = plan("dev", config_file=path)
    preview = results["policies"][1].data["preview"]
    assert [v for v in preview if v["undecided"]] == []
    assert any(
        s["newState"]["type"] == "aws:fsx/lustreFileSystem:LustreFileSystem"
        for s in document["steps"]
    )


def test_a_new_input_built_from_an_unknown_arn_blocks_and_a_stale_gap_is_shown(tmp_path: Path):
    document = document_of("dev")
    key = next(s for s in states(document) if s["type"] == "aws:kms/key:Key")
    key_arn = document["computedOutputs"][key["urn"]]["arn"]
    policy = state(
        "aws:iam/policy:Policy",
        "extra",
        {
            "tags": TAGS,
            "policy": json.dumps(
                {"Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key_arn}]}
            ),
        },
        {"policy": [key["urn"]]},
    )
    document["steps"].append({"op": "create", "urn": policy["urn"], "newState": policy})
    gaps = json.loads((ROOT / "policies" / "preview-gaps.json").read_text())
    gaps["dev"] = {"iam-least-privilege": ["gone.policy"]}
    gaps_path = tmp_path / "gaps.json"
    gaps_path.write_text(json.dumps(gaps))
    result = PolicyStage(gaps=gaps_path).run(PlanContext(stack="dev", document=document))
    assert result.blocking == [
        "iam-least-privilege: no verdict under preview semantics: extra.policy can't be known "
        "during preview"
    ]
    (verdict,) = [v for v in result.data["preview"] if v["name"] == "iam-least-privilege"]
    assert verdict["verdict"] == "none"
    assert verdict["staleAcknowledgements"] == ["gone.policy"]
    assert any("stale acknowledgement" in line for line in result.terminal)
    # The same document, judged with every value known, passes.
    assert [v for v in result.data["violations"] if v["enforcementLevel"] == "mandatory"] == []


def test_a_real_preview_document_is_judged_as_it_is(tmp_path: Path):
    eks = state(
        "aws:eks/cluster:Cluster",
        "eks",
        {
            "tags": TAGS,
            "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": UNKNOWN_STRING}},
            "enabledClusterLogTypes": UNKNOWN_STRING,
            "vpcConfig": {"endpointPublicAccess": False},
        },
    )
    write_config(
        tmp_path,
        {
            "default-security-group": {"requireLockedDefaultSecurityGroup": False},
            "cost-limits": {"maxMonthlyUsd": 1000},
        },
        name="t.json",
    )
    result = PolicyStage(config_dir=tmp_path, gaps=None).run(
        PlanContext(stack="t", document=doc(eks))
    )
    assert result.blocking == [
        "eks-baseline: no verdict under preview semantics: eks.enabledClusterLogTypes can't be "
        "known during preview"
    ]


def test_a_violation_seen_only_under_preview_semantics_is_reported():
    full = {"violations": [], "policies": []}
    preview = {
        "policies": [{"name": "r", "enforcementLevel": "mandatory"}],
        "violations": [
            {"policy": "r", "urn": "u", "message": "m", "enforcementLevel": "mandatory"}
        ],
    }
    (verdict,) = preview_verdicts(full, preview, True)
    assert verdict["verdict"] == "fail" and verdict["onlyInPreview"] == ["m"]
    (verdict,) = preview_verdicts(full, preview, False)  # a real preview: nothing to compare
    assert verdict["onlyInPreview"] == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{not json", "cannot read"),
        ('{"dev": ["iam-least-privilege"]}', "dev must map policy names to lists of properties"),
        ('{"dev": {"iam-least-privilege": "x.policy"}}', "dev must map policy names"),
    ],
)
def test_a_bad_gaps_file_is_a_clear_error(tmp_path: Path, text: str, fragment: str):
    gaps = tmp_path / "gaps.json"
    gaps.write_text(text)
    with pytest.raises(PlanError) as raised:
        PolicyStage(gaps=gaps).run(PlanContext(stack="dev", document=document_of("dev")))
    assert fragment in str(raised.value)


@pytest.mark.parametrize("text", ["[]", '"all"', "3"])
def test_a_policy_config_that_is_not_an_object_is_a_clear_error(tmp_path: Path, text: str):
    path = tmp_path / "dev.json"
    path.write_text(text)
    with pytest.raises(PlanError) as raised:
        analyze(document_of("dev"), path)
    assert "a policy config is a JSON object" in str(raised.value)


def test_the_preview_run_knows_what_is_built_from_known_names_not_what_is_read_back():
    """An ARN built from a bucket's autonamed name is known in a preview; the same ARN read from
    the bucket's `arn` output is not, although both strings are equal under the mocks."""
    import pulumi
    import pulumi_aws as aws

    from scripts.plan.runner import UNKNOWN_SENTINEL, run_function

    def program() -> None:
        bucket = aws.s3.Bucket("b")
        aws.s3.BucketPolicy("built", bucket="x", policy=bucket.bucket.apply(lambda n: n))
        aws.s3.BucketPolicy("read", bucket="x", policy=bucket.arn.apply(lambda a: a))
        aws.s3.BucketPolicy(
            "arn", bucket="x", policy=bucket.bucket.apply(lambda n: f"arn:aws:s3:::{n}")
        )
        pulumi.export("arn", bucket.arn)

    runs = {
        preview: {
            r.name: r.inputs
            for r in run_function(program, stack="dev", project="p", config={}, preview=preview)[0]
        }
        for preview in (False, True)
    }
    full, preview = runs[False], runs[True]
    assert full["read"]["policy"] == full["arn"]["policy"]  # equal values ...
    assert preview["read"]["policy"] == UNKNOWN_SENTINEL  # ... different provenance
    assert preview["arn"]["policy"] == full["arn"]["policy"]
    assert preview["built"]["policy"].startswith("b-")


def test_the_plan_records_the_preview_run():
    document = document_of("dev")
    assert set(document["previewInputs"]) <= {s["urn"] for s in states(document)}
    preview = preview_semantics(document)
    cluster = next(s for s in states(preview) if s["type"] == "aws:eks/cluster:Cluster")
    assert cluster["inputs"]["roleArn"] == UNKNOWN_STRING  # the role's arn output
    provider = next(s for s in states(preview) if s["type"] == "pulumi:providers:kubernetes")
    assert provider["inputs"]["kubeconfig"] == UNKNOWN_STRING  # built from the endpoint


# ------------------------------------------------------------------------- driving the analyzer


def test_one_analyzer_session_for_both_passes_judges_as_a_fresh_unmemoised_analyzer_each(
    monkeypatch: pytest.MonkeyPatch,
):
    from google.protobuf import json_format
    from pulumi_policy import policy as policy_module

    from scripts.plan import policy_stage

    document = document_of("dev")
    # a resource that violates a rule in both passes
    untagged = state("aws:ec2/vpc:Vpc", "untagged", {"tags": {}, "cidrBlock": "10.9.0.0/16"})
    document["steps"].append({"op": "create", "urn": untagged["urn"], "newState": untagged})
    path = CONFIG_DIR / "dev.json"
    preview_view = preview_semantics(document)

    session = policy_stage.AnalyzerSession(path)
    shared = [
        policy_stage.analyze(document, path, session),
        policy_stage.analyze(preview_view, path, session),
    ]
    assert policy_module.json_format is json_format  # restored after every call
    assert session.answers and session.conversions.memo

    # The reference: a new servicer per pass, every conversion done by json_format itself.
    monkeypatch.setattr(policy_stage.AnalyzerSession, "_conversions", lambda self: _nothing())
    monkeypatch.setattr(
        policy_stage.AnalyzerSession,
        "analyze",
        lambda self, request: _fresh_answer(self, request),
    )
    fresh = [policy_stage.analyze(document, path), policy_stage.analyze(preview_view, path)]
    assert shared == fresh
    assert any(v["policy"] == "required-tags" for v in shared[0]["violations"])


def _nothing():
    import contextlib

    return contextlib.nullcontext()


def _fresh_answer(session: Any, request: Any) -> list[Any]:
    diagnostics = list(session.analyzer.Analyze(request, None).diagnostics)
    for diagnostic in diagnostics:
        if not diagnostic.urn:
            diagnostic.urn = request.urn
    return diagnostics


def test_the_memoised_conversion_is_json_formats_own_in_value_and_key_order():
    from google.protobuf import json_format, struct_pb2

    from scripts.plan.policy_stage import _MemoisedJsonFormat

    conversions = _MemoisedJsonFormat()
    for step in document_of("staging")["steps"]:
        inputs = step["newState"]["inputs"]
        struct = json_format.ParseDict(inputs, struct_pb2.Struct())
        expected = json_format.MessageToDict(struct)
        for _ in range(2):  # a miss, then a hit
            got = conversions.MessageToDict(struct)
            assert got == expected
            assert json.dumps(got) == json.dumps(expected)  # same key order, nested too
    # same content inserted in another order: its own entry, in its own order
    first = json_format.ParseDict({"a": 1, "b": {"c": [1, "x"], "d": None}}, struct_pb2.Struct())
    second = json_format.ParseDict({"b": {"d": None, "c": [1, "x"]}, "a": 1}, struct_pb2.Struct())
    for struct in (first, second, first):
        assert json.dumps(conversions.MessageToDict(struct)) == json.dumps(
            json_format.MessageToDict(struct)
        )
    # anything but a bare Struct goes to json_format untouched
    value = struct_pb2.Value(string_value="x")
    assert conversions.MessageToDict(value) == json_format.MessageToDict(value)
