"""Resolve tenancy: team namespaces with Pod Security levels and GPU/EFA quotas."""

from __future__ import annotations

from dataclasses import dataclass

from components.config import StackConfig

DEFAULT_REQUEST = {"cpu": "500m", "memory": "1Gi"}
DEFAULT_LIMIT = {"cpu": "2", "memory": "8Gi"}


@dataclass(frozen=True)
class TeamSpec:
    name: str
    """Namespace name."""
    gpu_quota: int
    efa_quota: int
    pod_security: str


@dataclass(frozen=True)
class TenancySpec:
    teams: tuple[TeamSpec, ...]


def resolve_tenancy(config: StackConfig) -> TenancySpec:
    return TenancySpec(
        tuple(TeamSpec(t.name, t.gpu_quota, t.efa_quota, t.pod_security) for t in config.teams)
    )
