"""How the runner drives the SDK under mocks (scripts/plan/runner.py): the monitor's calls are
answered in the event loop's own thread, and its answers are serialized as the SDK serializes them.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st
from pulumi.runtime import rpc
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from scripts.plan import runner
from scripts.plan.mocks import PlanMocks


class _ThreadNoting(PlanMocks):
    """PlanMocks that note the thread of every answer."""

    def __init__(self) -> None:
        super().__init__(region="us-east-1")
        self.threads: set[int] = set()

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        self.threads.add(threading.get_ident())
        return super().new_resource(args)

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        self.threads.add(threading.get_ident())
        return super().call(args)


def test_the_monitor_answers_in_the_loops_thread_and_no_thread_is_started():
    def program() -> None:
        vpc = aws.ec2.Vpc("vpc", cidr_block="10.0.0.0/16")
        aws.ec2.Subnet("subnet", vpc_id=vpc.id, cidr_block="10.0.1.0/24")
        region = aws.get_region_output()
        pulumi.export("region", region.region)
        pulumi.export("vpc", vpc.id)

    mocks = _ThreadNoting()
    before = threading.active_count()
    registrations, outputs = runner.run_function(
        program, stack="t", project="p", config={"aws:region": "us-east-1"}, mocks=mocks
    )
    assert mocks.threads == {threading.get_ident()}
    assert threading.active_count() == before
    assert [r.name for r in registrations if r.custom] == ["vpc", "subnet"]
    subnet = next(r for r in registrations if r.name == "subnet")
    assert subnet.inputs["vpcId"] == outputs["vpc"]  # the answer reached the program
    assert outputs["region"] == "us-east-1"  # and the invoke's


def test_a_failure_in_an_answer_reaches_the_program_as_its_error():
    class Failing(PlanMocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
            if args.name == "bad":
                raise ValueError("refused")
            return super().new_resource(args)

    def program() -> None:
        aws.ec2.Vpc("bad", cidr_block="10.0.0.0/16")

    with pytest.raises(Exception, match="refused"):
        runner.run_function(
            program, stack="t", project="p", config={}, mocks=Failing(region="us-east-1")
        )


_PLAIN = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**31), 2**31)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(max_size=6), _PLAIN, max_size=5))
def test_a_plain_answer_serializes_as_the_sdk_serializes_it(state: dict[str, Any]):
    mine = runner._serialized(state)
    sdks = _sync_await(rpc.serialize_properties(state, {}))
    assert json_format.MessageToDict(mine) == json_format.MessageToDict(sdks)


def test_an_answer_that_is_not_plain_is_serialized_the_sdks_way():
    later = asyncio.ensure_future(asyncio.sleep(0, result="later"), loop=_ensure_event_loop())
    found = json_format.MessageToDict(runner._serialized({"a": later, "b": 2}))
    assert found == {"a": "later", "b": 2.0}


def test_an_answer_without_an_id_is_kept_as_the_sdks_monitor_keeps_it(
    monkeypatch: pytest.MonkeyPatch,
):
    class NoId(PlanMocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
            return None, super().new_resource(args)[1]

    def program() -> None:
        aws.ec2.Vpc("vpc", cidr_block="10.0.0.0/16")

    mocks = NoId(region="us-east-1")
    monitor_ids: list[Any] = []
    real = runner.RecordingMonitor.RegisterResource

    def noting(self: runner.RecordingMonitor, request: Any) -> Any:
        response = real(self, request)
        monitor_ids.extend(r.id for r in self.resources.values())
        return response

    monkeypatch.setattr(runner.RecordingMonitor, "RegisterResource", noting)
    registrations, _ = runner.run_function(program, stack="t", project="p", config={}, mocks=mocks)
    vpc = next(r for r in registrations if r.name == "vpc")
    assert vpc.id == ""
    assert None in monitor_ids
    assert vpc.inputs["cidrBlock"] == "10.0.0.0/16"
