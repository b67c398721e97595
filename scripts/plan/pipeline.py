"""The stages the offline plan runs on the preview document, in order."""

from __future__ import annotations

from scripts.plan.capacity import CapacityStage
from scripts.plan.cost_stage import CostStage
from scripts.plan.kubernetes_stage import KubernetesStage
from scripts.plan.policy_stage import PolicyStage
from scripts.plan.stages import IntegrityStage, Stage

STAGES: list[Stage] = [
    IntegrityStage(),
    PolicyStage(),
    CostStage(),
    CapacityStage(),
    KubernetesStage(),
]
