"""What every stage shares: the context it reads, the result it returns, document helpers.

A stage takes the document (from the offline run, or a real `pulumi preview --json` file) and
returns a result: the data stored under its key in the JSON document, lines for the terminal and
for Markdown, and the blocking findings that make the plan exit 1. New stages (policies, cost,
capacity, Kubernetes schemas) register in `scripts/plan/pipeline.py` without touching the runner.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from components.config import StackConfig
from scripts.plan.background import Worker


@dataclass(frozen=True)
class PlanContext:
    stack: str
    document: dict[str, Any]
    config: StackConfig | None = None
    """The validated stack config when the plan ran the program; None for a real preview file."""
    worker: Worker | None = None
    """A forked worker a stage may hand an independent half of its work to (None: do it all
    here; scripts/plan/background.py)."""


@dataclass
class StageResult:
    data: Any
    terminal: list[str] = field(default_factory=list)
    markdown: list[str] = field(default_factory=list)
    blocking: list[str] = field(default_factory=list)
    """Mandatory findings: any makes the plan exit 1."""

    @classmethod
    def rendered(
        cls, data: Any, render: Callable[[Any, Any], list[str]], blocking: list[str] | None = None
    ) -> StageResult:
        """A result whose terminal and Markdown lines come from one `render(data, table)`."""
        from scripts.plan.tables import markdown_table, text_table

        return cls(
            data=data,
            terminal=render(data, text_table),
            markdown=render(data, markdown_table),
            blocking=list(blocking or []),
        )


class Stage(Protocol):
    key: str
    """Top-level key of the JSON document this stage writes."""
    title: str

    def run(self, context: PlanContext) -> StageResult: ...


def states(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Every step's new state (the resources the preview would create or keep)."""
    return [step["newState"] for step in document.get("steps", []) if step.get("newState")]


def is_provider(state: dict[str, Any]) -> bool:
    return str(state.get("type", "")).startswith("pulumi:providers:")
