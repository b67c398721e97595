"""The URNs of every shipped stack are the committed ones: a change that moves a URN replaces live
infrastructure unless it adds an alias, so it must be a deliberate edit of tests/stacks/urns/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import STACKS, shipped_plan

URNS = Path(__file__).parent / "urns"


@pytest.mark.parametrize("stack", STACKS)
def test_urns_are_the_committed_ones(stack: str) -> None:
    document, _ = shipped_plan(stack)
    planned = {step["urn"] for step in document["steps"]}
    committed = set((URNS / f"{stack}.txt").read_text().split())

    added, removed = sorted(planned - committed), sorted(committed - planned)

    assert not (added or removed), (
        f"{stack}: URNs moved (added {added}, removed {removed}). A moved URN replaces the "
        "resource on a live stack: give it an alias (pulumi.ResourceOptions(aliases=...)) and "
        f"then update {URNS / (stack + '.txt')} on purpose."
    )


def test_every_shipped_stack_has_a_committed_urn_list() -> None:
    assert sorted(p.stem for p in URNS.glob("*.txt")) == STACKS
