"""Checks that span sections of the stack config (teams against namespaces, add-on prerequisites,
pool AZs against the stack's). Each returns (key path, message) pairs; the loader reports them
all at once."""

from __future__ import annotations

from components.config.choices import PoolPurpose
from components.config.errors import PROJECT_NAMESPACE
from components.config.models import RESERVED_NAMESPACES, StackConfig


def cross_checks(config: StackConfig) -> list[tuple[str, str]]:
    """Checks that span sections (pool AZs against the stack's AZs, add-on prerequisites)."""
    problems: list[tuple[str, str]] = []
    addons = f"{PROJECT_NAMESPACE}:addons"
    seen: set[str] = set()
    for index, team in enumerate(config.teams):
        path = f"{PROJECT_NAMESPACE}:teams[{index}].name"
        if team.name in seen:
            problems.append((path, f"{team.name!r} is listed twice"))
        if team.name in RESERVED_NAMESPACES or team.name.startswith("kube-"):
            problems.append((path, f"{team.name!r} is a namespace the platform or Kubernetes uses"))
        if team.name == config.storage.training_namespace:
            problems.append(
                (path, f"{team.name!r} is the training namespace (storage.trainingNamespace)")
            )
        seen.add(team.name)
    if config.addons.triton:
        if not any(p.purpose is PoolPurpose.INFERENCE for p in config.gpu_pools):
            problems.append((f"{addons}.triton", "Triton needs a GPU pool with purpose: inference"))
        if not config.addons.observability:
            problems.append(
                (f"{addons}.triton", "Triton scales on Prometheus metrics: turn on observability")
            )
    for index, pool in enumerate(config.gpu_pools):
        path = f"{PROJECT_NAMESPACE}:gpuPools[{index}].availabilityZones"
        if pool.availability_zones is None:
            continue
        unknown = [az for az in pool.availability_zones if az not in config.availability_zones]
        if unknown:
            problems.append(
                (
                    path,
                    f"{unknown} not among the stack's availabilityZones "
                    f"{config.availability_zones}",
                )
            )
        if pool.efa and len(pool.availability_zones) != 1:
            problems.append(
                (path, f"an EFA pool lives in exactly one AZ (got {pool.availability_zones})")
            )
        if pool.capacity_reservation_id and len(pool.availability_zones) != 1:
            problems.append(
                (
                    path,
                    "a pool in a capacity reservation lives in the reservation's AZ only "
                    f"(got {pool.availability_zones})",
                )
            )
    return problems
