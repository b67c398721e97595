"""Stages: checks and reports that read the preview document, one module per stage.

A stage takes the document (from the offline run, or a real `pulumi preview --json` file) and
returns a result: the data stored under its key in the JSON document, lines for the terminal and
for Markdown, and the blocking findings that make the plan exit 1. New stages register in
`scripts/plan/pipeline.py` without touching the runner.

Modules: `integrity`, `changes` (ops against a base, replacements, cost delta), `cost`,
`capacity` (with `storage`), `kubernetes`; the policy stage lives in `scripts/plan/policy_stage.py`.
"""

from scripts.plan.stages.base import PlanContext, Stage, StageResult, is_provider, states
from scripts.plan.stages.integrity import IntegrityStage

__all__ = ["IntegrityStage", "PlanContext", "Stage", "StageResult", "is_provider", "states"]
