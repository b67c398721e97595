"""The stages the offline plan runs on the preview document, in order."""

from __future__ import annotations

from scripts.plan.capacity import CapacityStage
from scripts.plan.stages import IntegrityStage, Stage

STAGES: list[Stage] = [IntegrityStage(), CapacityStage()]
