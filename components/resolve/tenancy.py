"""Resolve tenancy: team namespaces with Pod Security levels and GPU/EFA quotas.

With Kueue on, a team's GPU jobs are admitted by its ClusterQueue, which may borrow quota the
other teams of the cohort leave idle. The namespace's ResourceQuota is the backstop Kubernetes
enforces at pod creation, whoever created the pod: it is raised to what the team may hold with
borrowing (its own quota plus its borrowing limit, at most the other teams' quota), so pods of a
job Kueue admitted on borrowed quota are not refused. Without Kueue there is nothing to borrow
and the ResourceQuota is the team's quota.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.config import PROJECT_NAMESPACE, ConfigError, StackConfig

DEFAULT_REQUEST = {"cpu": "500m", "memory": "1Gi"}
DEFAULT_LIMIT = {"cpu": "2", "memory": "8Gi"}


@dataclass(frozen=True)
class TeamSpec:
    name: str
    """Namespace name."""
    gpu_quota: int
    """The team's own GPUs (`gpuQuota`; Kueue's nominal quota)."""
    efa_quota: int
    pod_security: str
    gpu_borrowing_limit: int | None = None
    """Kueue `borrowingLimit` for GPUs; None: no limit (the cohort's idle quota)."""
    efa_borrowing_limit: int | None = None
    namespace_gpus: int | None = None
    """`requests.nvidia.com/gpu` of the namespace's ResourceQuota; None: `gpu_quota`."""
    namespace_efa: int | None = None
    """`requests.vpc.amazonaws.com/efa` of the namespace's ResourceQuota; None: `efa_quota`."""

    @property
    def gpu_hard(self) -> int:
        """What the ResourceQuota lets the namespace request at once."""
        return self.gpu_quota if self.namespace_gpus is None else self.namespace_gpus

    @property
    def efa_hard(self) -> int:
        return self.efa_quota if self.namespace_efa is None else self.namespace_efa


@dataclass(frozen=True)
class TenancySpec:
    teams: tuple[TeamSpec, ...]
    queued: bool = False
    """Kueue admits the teams' GPU jobs (namespace quotas include what a team may borrow)."""


def ceiling(own: int, limit: int | None, others: int) -> int:
    """Pure: the most a team may hold with borrowing: its own quota plus what it may borrow,
    which is at most what the other teams of the cohort own (their idle quota is all there is to
    lend)."""
    lendable = others if limit is None else min(limit, others)
    return own + lendable


def resolve_tenancy(config: StackConfig, queued: bool = False) -> TenancySpec:
    """Pure: the team namespaces. `queued` when Kueue admits the teams' jobs (`resolve_kueue`
    returned a spec). Raises ConfigError for a borrowing limit without Kueue, which would limit
    nothing."""
    teams = config.teams
    if not queued:
        problems = [
            (
                f"{PROJECT_NAMESPACE}:teams[{index}].{key}",
                f"{value}: borrowing needs Kueue, which runs only with addons.kueue on and at "
                "least one GPU pool; remove the key",
            )
            for index, team in enumerate(teams)
            for key, value in (
                ("gpuBorrowingLimit", team.gpu_borrowing_limit),
                ("efaBorrowingLimit", team.efa_borrowing_limit),
            )
            if value is not None
        ]
        if problems:
            raise ConfigError(problems)
    gpus = sum(t.gpu_quota for t in teams)
    efa = sum(t.efa_quota for t in teams)
    return TenancySpec(
        tuple(
            TeamSpec(
                t.name,
                t.gpu_quota,
                t.efa_quota,
                t.pod_security,
                gpu_borrowing_limit=t.gpu_borrowing_limit,
                efa_borrowing_limit=t.efa_borrowing_limit,
                namespace_gpus=(
                    ceiling(t.gpu_quota, t.gpu_borrowing_limit, gpus - t.gpu_quota)
                    if queued
                    else None
                ),
                namespace_efa=(
                    ceiling(t.efa_quota, t.efa_borrowing_limit, efa - t.efa_quota)
                    if queued
                    else None
                ),
            )
            for t in teams
        ),
        queued=queued,
    )
