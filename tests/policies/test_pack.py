"""The pack as a whole: its policies, its per-stack config files, its entry point and version."""

from __future__ import annotations

import ast
import json
import selectors
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import json_format
from pulumi_policy import EnforcementLevel, PolicyPack, StackValidationPolicy

from policies import cost, iam, network, pack, security, tagging
from scripts.plan.policy_stage import CONFIG_DIR, LEVELS, policy_config, servicer
from scripts.plan.runner import PlanError
from tests.conftest import ROOT, STACKS
from tests.policies import write_config

CONFIG_FILES = sorted(CONFIG_DIR.glob("*.json"))
NAMES = [p.name for p in pack.policies()]


def properties(config: Any) -> dict[str, Any]:
    return json_format.MessageToDict(config.properties)


def read(path: Path | None) -> dict[str, Any]:
    return policy_config(servicer(), path)


# ------------------------------------------------------------------------- policies


def test_every_policy_has_a_unique_name_a_description_and_is_mandatory():
    policies = pack.policies()
    assert len(NAMES) == len(set(NAMES)) == 14
    for policy in policies:
        assert policy.name and policy.name == policy.name.lower(), policy.name
        assert policy.description and policy.description.strip(), policy.name
        assert policy.enforcement_level == EnforcementLevel.MANDATORY, policy.name
    assert pack.ENFORCEMENT_LEVEL == EnforcementLevel.MANDATORY


def test_the_pack_is_the_modules_policies_in_order():
    assert pack.policies() == [
        *tagging.POLICIES,
        *cost.POLICIES,
        *security.POLICIES,
        *iam.POLICIES,
        *network.POLICIES,
    ]
    stack_policies = {p.name for p in pack.policies() if isinstance(p, StackValidationPolicy)}
    assert stack_policies == {
        "cost-limits",
        "bucket-baseline",
        "launch-template-baseline",
        "no-open-ingress",
        "default-security-group",
        "resource-policies",
    }


def test_the_analyzer_reports_the_packs_name_version_and_policies():
    info = servicer().GetAnalyzerInfo(None, None)
    assert (info.name, info.version) == (pack.PACK_NAME, pack.PACK_VERSION)
    assert [p.name for p in info.policies] == NAMES
    assert all(p.enforcementLevel == LEVELS["mandatory"] for p in info.policies)


def test_every_policy_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    for name in NAMES:
        assert f"| `{name}` |" in readme, name


# ------------------------------------------------------------------------- config files


def test_every_stack_has_a_policy_config_and_every_config_a_stack():
    assert STACKS == ["dev", "prod", "staging"]
    assert [p.stem for p in CONFIG_FILES] == STACKS


@pytest.mark.parametrize("path", CONFIG_FILES, ids=[p.stem for p in CONFIG_FILES])
def test_every_shipped_config_validates_and_keeps_every_policy_mandatory(path: Path):
    configured = read(path)
    assert list(configured) == NAMES
    assert all(c.enforcementLevel == LEVELS["mandatory"] for c in configured.values())
    raw = json.loads(path.read_text())
    for name, entry in raw.items():
        assert name in NAMES
        for key, value in entry.items():
            assert properties(configured[name])[key] == value, (name, key)


def test_the_shipped_configs_tighten_with_the_environment():
    dev, staging, prod = (
        properties(read(CONFIG_DIR / f"{s}.json")["cost-limits"])
        for s in ("dev", "staging", "prod")
    )
    assert dev["maxGpusPerPool"] <= staging["maxGpusPerPool"] <= prod["maxGpusPerPool"]
    assert not any(p.startswith("p") for p in dev["allowedGpuInstanceTypes"])
    assert prod["requireCapacityBlockForP5"] is True
    assert properties(read(CONFIG_DIR / "prod.json")["eks-baseline"])["requirePrivateEndpoint"]


def test_schema_defaults_are_filled_in(tmp_path: Path):
    configured = read(write_config(tmp_path, {}))
    assert properties(configured["cost-limits"]) == {
        "maxGpusPerPool": 64,
        "allowedGpuInstanceTypes": ["*"],
        "minSpotGpuShare": 0,
        "requireCapacityBlockForP5": False,
        "allowOnDemandP5Pools": [],
    }
    assert properties(configured["required-tags"]) == {
        "requiredTags": tagging.DEFAULT_REQUIRED_TAGS
    }
    assert properties(configured["eks-baseline"]) == {
        "requirePrivateEndpoint": False,
        "allowPublicEndpointFromAnywhere": False,
    }
    assert properties(configured["no-open-ingress"]) == {"allowedOpenIngressPorts": []}
    for name in ("launch-template-baseline", "storage-encrypted", "bucket-baseline"):
        assert properties(configured[name]) == {}


def test_given_values_win_over_defaults_and_the_rest_are_filled(tmp_path: Path):
    path = write_config(tmp_path, {"cost-limits": {"maxGpusPerPool": 8, "maxMonthlyUsd": 100}})
    limits = properties(read(path)["cost-limits"])
    assert (limits["maxGpusPerPool"], limits["maxMonthlyUsd"]) == (8, 100)
    assert limits["allowedGpuInstanceTypes"] == ["*"]


def test_no_config_file_means_defaults_at_the_packs_level():
    configured = read(None)
    assert all(c.enforcementLevel == LEVELS["mandatory"] for c in configured.values())
    assert properties(configured["cost-limits"])["maxGpusPerPool"] == 64


def test_levels_from_all_and_per_policy(tmp_path: Path):
    path = write_config(
        tmp_path,
        {
            "all": "advisory",
            "cost-limits": {"enforcementLevel": "mandatory", "maxGpusPerPool": 4},
            "bucket-baseline": "disabled",
        },
    )
    levels = {name: c.enforcementLevel for name, c in read(path).items()}
    assert levels.pop("cost-limits") == LEVELS["mandatory"]
    assert levels.pop("bucket-baseline") == LEVELS["disabled"]
    assert set(levels.values()) == {LEVELS["advisory"]}


@pytest.mark.parametrize(
    ("config", "fragments"),
    [
        ({"required-tag": {"requiredTags": ["owner"]}}, ["unknown policies", "required-tag"]),
        ({"cost-limits": "blocking"}, ["cost-limits", "unknown enforcement level", "blocking"]),
        (
            {"cost-limits": {"enforcementLevel": "strict"}},
            ["cost-limits", "unknown enforcement level", "strict"],
        ),
        ({"cost-limits": {"minSpotGpuShare": 2}}, ["cost-limits.minSpotGpuShare", "2"]),
        ({"cost-limits": {"maxGpusPerPool": -1}}, ["cost-limits.maxGpusPerPool"]),
        ({"cost-limits": {"maxGpusPerPool": 2.5}}, ["cost-limits.maxGpusPerPool"]),
        ({"cost-limits": {"maxMonthlyUsd": 0}}, ["cost-limits.maxMonthlyUsd"]),
        (
            {"cost-limits": {"allowedGpuInstanceTypes": "g4dn.*"}},
            ["cost-limits.allowedGpuInstanceTypes"],
        ),
        (
            {"cost-limits": {"requireCapacityBlockForP5": "yes"}},
            ["cost-limits.requireCapacityBlockForP5"],
        ),
        ({"cost-limits": {"maxGpus": 8}}, ["cost-limits", "maxGpus"]),
        ({"required-tags": {"requiredTags": []}}, ["required-tags.requiredTags"]),
        ({"required-tags": {"requiredTags": ["owner", "owner"]}}, ["required-tags.requiredTags"]),
        ({"required-tags": {"requiredTags": [""]}}, ["required-tags.requiredTags.0"]),
        (
            {"eks-baseline": {"requirePrivateEndpoint": "true"}},
            ["eks-baseline.requirePrivateEndpoint"],
        ),
        (
            {"no-open-ingress": {"allowedOpenIngressPorts": [443, 70000]}},
            ["no-open-ingress.allowedOpenIngressPorts.1", "70000"],
        ),
        (
            {"storage-encrypted": {"strict": True}},
            ["storage-encrypted", "takes no configuration", "strict"],
        ),
    ],
)
def test_a_bad_config_raises_plan_error_naming_the_policy_and_key(
    tmp_path: Path, config: dict[str, Any], fragments: list[str]
):
    path = write_config(tmp_path, config)
    with pytest.raises(PlanError) as raised:
        read(path)
    message = str(raised.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message


def test_all_sets_the_level_of_a_policy_configured_only_by_properties(tmp_path: Path):
    path = write_config(tmp_path, {"all": "advisory", "cost-limits": {"maxGpusPerPool": 4}})
    assert read(path)["cost-limits"].enforcementLevel == LEVELS["advisory"]


@pytest.mark.parametrize("entry", [5, ["maxGpusPerPool", 8]])
def test_an_entry_that_is_neither_a_level_nor_an_object_raises(tmp_path: Path, entry: Any):
    with pytest.raises(PlanError, match="cost-limits"):
        read(write_config(tmp_path, {"cost-limits": entry}))


@pytest.mark.parametrize("text", ["{not json", ""])
def test_an_unreadable_config_raises_plan_error(tmp_path: Path, text: str):
    path = tmp_path / "broken.json"
    path.write_text(text)
    with pytest.raises(PlanError, match="cannot read policy config"):
        read(path)


def test_a_missing_config_file_raises_plan_error(tmp_path: Path):
    with pytest.raises(PlanError, match="cannot read policy config"):
        read(tmp_path / "absent.json")


# ------------------------------------------------------------------------- entry point, version


def test_the_entry_point_builds_the_policy_pack_from_pack_policies():
    tree = ast.parse((ROOT / "policies" / "__main__.py").read_text())
    imports = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "policies.pack"
        for alias in node.names
    }
    assert {"policies", "PACK_NAME", "ENFORCEMENT_LEVEL"} <= imports
    (call,) = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == PolicyPack.__name__
    ]
    keywords = {k.arg: k.value for k in call.keywords}
    assert ast.unparse(keywords["policies"]) == "policies()"
    assert ast.unparse(keywords["name"]) == "PACK_NAME"
    assert ast.unparse(keywords["enforcement_level"]) == "ENFORCEMENT_LEVEL"


def test_the_entry_point_starts_an_analyzer_server(tmp_path: Path):
    """Run as the CLI does (from another directory): it must print the port it serves on."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "policies" / "__main__.py")],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            ready = selector.select(timeout=10)
        assert ready, "the policy pack printed no port within 10 s"
        line = process.stdout.readline().strip()
        assert line.isdigit() and 0 < int(line) < 65536, (line, process.poll())
        assert process.poll() is None  # still serving
    finally:
        process.kill()
        process.wait(timeout=10)


def test_pulumi_policy_yaml_version_matches_the_pack():
    manifest = yaml.safe_load((ROOT / "policies" / "PulumiPolicy.yaml").read_text())
    assert str(manifest["version"]) == pack.PACK_VERSION
    assert manifest["runtime"]["name"] == "python"
    assert manifest["description"]
