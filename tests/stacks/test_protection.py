"""What a destroy or a replacement may touch in each shipped stack, read from its offline plan: the
whole stateful set protected in prod, customer-key log groups there, and a README that says so."""

from __future__ import annotations

from typing import Any

import pytest

from components.common.protection import GUARDED_TYPES, RETAINED_TYPES, STATEFUL_TYPES
from scripts.destroy_reference import embed, outcomes, promotion_order
from scripts.plan.runner import STACK_ROOT_TYPE as STACK_ROOT
from scripts.plan.runner import PlanError, run_program
from tests.conftest import ROOT
from tests.support import STACKS, raw_config, shipped_plan

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
LOGS_KEY_PARENT = "gpuplatform:index:LogsKey"


def states(stack: str) -> list[dict[str, Any]]:
    document, _ = shipped_plan(stack)
    return [step["newState"] for step in document["steps"]]


def test_prod_protects_every_stateful_resource_and_retains_its_data() -> None:
    stateful = [s for s in states("prod") if s["type"] in STATEFUL_TYPES]
    # Every kind of the stateful set is there: a type the program stopped creating (or renamed)
    # would otherwise pass unnoticed.
    assert {s["type"] for s in stateful} == set(STATEFUL_TYPES)
    for state in stateful:
        assert state.get("protect") is True, state["urn"]
        retained = state.get("retainOnDelete") is True
        assert retained is (state["type"] in RETAINED_TYPES), state["urn"]


def test_prod_protects_nothing_beyond_the_stateful_set() -> None:
    protected = {s["type"] for s in states("prod") if s.get("protect")}
    assert protected <= set(STATEFUL_TYPES)


@pytest.mark.parametrize("stack", [s for s in STACKS if s != "prod"])
def test_other_stacks_protect_nothing(stack: str) -> None:
    assert not [s["urn"] for s in states(stack) if s.get("protect") or s.get("retainOnDelete")]


def test_every_prod_log_group_is_encrypted_with_the_logs_key_created_before_it() -> None:
    prod = states("prod")
    order = [s["urn"] for s in prod]
    [key] = [
        s
        for s in prod
        if s["type"] == "aws:kms/key:Key" and s["parent"].split("::")[-2].endswith(LOGS_KEY_PARENT)
    ]
    groups = [s for s in prod if s["type"] == LOG_GROUP]
    assert len(groups) >= 3  # control plane, flow logs, FSx
    for group in groups:
        assert group["inputs"].get("kmsKeyId"), group["urn"]
        assert group["propertyDependencies"]["kmsKeyId"] == [key["urn"]], group["urn"]
        assert order.index(key["urn"]) < order.index(group["urn"])


@pytest.mark.parametrize("stack", [s for s in STACKS if s != "prod"])
def test_other_stacks_keep_aws_managed_log_encryption(stack: str) -> None:
    for group in (s for s in states(stack) if s["type"] == LOG_GROUP):
        assert not group["inputs"].get("kmsKeyId"), group["urn"]


def test_the_prod_trail_records_data_events_of_exactly_the_data_buckets() -> None:
    prod = states("prod")
    [trail] = [s for s in prod if s["type"] == "aws:cloudtrail/trail:Trail"]
    data_buckets = {
        s["urn"]
        for s in prod
        if s["type"] == "aws:s3/bucket:Bucket" and s["parent"].endswith("TieredStorage::storage")
    }
    assert len(data_buckets) == 3
    assert set(trail["propertyDependencies"]["advancedEventSelectors"]) == data_buckets
    [policy] = [
        s
        for s in prod
        if s["type"] == "aws:s3/bucketPolicy:BucketPolicy" and s["urn"].endswith("::audit-trail")
    ]
    assert policy["urn"] in trail["dependencies"]


def test_readme_destroy_tables_are_what_the_program_does() -> None:
    documents = {stack: shipped_plan(stack)[0] for stack in promotion_order(STACKS)}
    readme = (ROOT / "README.md").read_text()
    assert embed(readme, documents) == readme, (
        "run: python -m scripts.destroy_reference --write README.md"
    )


def test_a_type_registered_two_ways_is_refused() -> None:
    document = {
        "steps": [
            {"newState": {"type": GUARDED_TYPES[0], "protect": True}},
            {"newState": {"type": GUARDED_TYPES[0], "protect": False}},
        ]
    }
    with pytest.raises(ValueError, match="different options"):
        outcomes(document)


ORG_TRAIL = "arn:aws:cloudtrail:us-east-1:111122223333:trail/organization"


def test_prod_exports_the_trail_that_records_it() -> None:
    document, _ = shipped_plan("prod")
    [root] = [s["newState"] for s in document["steps"] if s["newState"]["type"] == STACK_ROOT]
    [trail] = [s for s in states("prod") if s["type"] == "aws:cloudtrail/trail:Trail"]
    assert root["outputs"]["auditTrailArn"].endswith(f":trail/{trail['inputs']['name']}")


def test_an_organisation_trail_is_recorded_and_none_is_created() -> None:
    run = run_program("prod", raw_config("prod", audit={"organizationTrailArn": ORG_TRAIL}))
    types = {r.type for r in run.registrations}
    assert "aws:cloudtrail/trail:Trail" not in types
    assert "aws:s3/bucketLogging:BucketLogging" in types  # access logs stay on in prod
    assert run.outputs["auditTrailArn"] == ORG_TRAIL


def test_the_program_refuses_a_bad_organisation_trail_naming_key_and_value() -> None:
    with pytest.raises(PlanError) as caught:
        run_program("prod", raw_config("prod", audit={"organizationTrailArn": "arn:aws:s3:::x"}))
    message = str(caught.value)
    assert "invalid stack config" in message
    assert "gpu-platform:audit.organizationTrailArn: 'arn:aws:s3:::x'" in message
