"""Integrity stage: structural checks on the preview document."""

from __future__ import annotations

from collections import Counter

from scripts.plan.stages.base import PlanContext, StageResult, is_provider, states


class IntegrityStage:
    """Structural checks on the document: unique URNs, every resource parented to a known
    resource (except the stack root and providers), every provider reference resolvable."""

    key = "integrity"
    title = "Document integrity"

    def run(self, context: PlanContext) -> StageResult:
        all_states = states(context.document)
        urns = [s["urn"] for s in all_states]
        known = set(urns)
        problems: list[str] = []
        for urn, count in Counter(urns).items():
            if count > 1:
                problems.append(f"{urn} appears {count} times")
        for state in all_states:
            kind = state["type"]
            if kind == "pulumi:pulumi:Stack" or is_provider(state):
                continue
            parent = state.get("parent") or ""
            if not parent:
                problems.append(f"{state['urn']} has no parent")
            elif parent not in known:
                problems.append(f"{state['urn']} has unknown parent {parent}")
            provider = state.get("provider") or ""
            if state.get("custom") and provider and provider.rsplit("::", 1)[0] not in known:
                problems.append(f"{state['urn']} uses unknown provider {provider}")
        data = {"resources": len(all_states), "problems": problems}
        line = (
            "every resource parented and its provider known"
            if not problems
            else f"{len(problems)} problem" + ("" if len(problems) == 1 else "s")
        )
        return StageResult(
            data=data,
            terminal=[line, *(f"  ! {p}" for p in problems)],
            markdown=[line, *(f"- {p}" for p in problems)],
            blocking=problems,
        )
