"""The stages the offline plan runs on the preview document, in order."""

from __future__ import annotations

from scripts.plan.policy_stage import PolicyStage
from scripts.plan.stages import IntegrityStage, Stage
from scripts.plan.stages.capacity import CapacityStage
from scripts.plan.stages.changes import ChangesStage
from scripts.plan.stages.cost import CostStage
from scripts.plan.stages.kubernetes import KubernetesStage

STAGES: list[Stage] = [
    IntegrityStage(),
    ChangesStage(),
    PolicyStage(),
    CostStage(),
    CapacityStage(),
    KubernetesStage(),
]
