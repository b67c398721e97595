"""The resolve: the whole platform a stack config describes, worked out once, before anything is
built.

`resolve_platform(config, project, stack)` is pure: no Pulumi resources, no Outputs. It is the one
place that turns a failure into a `gpu-platform:<key path>: ...` error (`ConfigError`), and the one
home of every default and derived fact the builders use (pool types and AZs, EFA layouts, subnet
plan, labels, taints, add-on settings, queue targets). Components take a part of the result.

Layer rule: imports the config and the catalog only (layer 2).
"""

from __future__ import annotations

from dataclasses import dataclass

from components import versions
from components.catalog.conventions import FSX_CLAIM
from components.config import StackConfig
from components.resolve.audit import AuditSpec, resolve_audit
from components.resolve.budget import BudgetSpec, resolve_budget
from components.resolve.cluster import ClusterSpec, resolve_cluster
from components.resolve.compute import GpuPoolSpec, resolve_pool
from components.resolve.mountpoint import MountpointSpec, resolve_mountpoint
from components.resolve.network import NetworkSpec, resolve_network
from components.resolve.pools import training_az
from components.resolve.software import (
    AutoscalerSpec,
    EfaPluginSpec,
    GpuOperatorSpec,
    KubeflowSpec,
    KueueSpec,
    ObservabilitySpec,
    inference_pool,
    resolve_autoscaler,
    resolve_efa_plugin,
    resolve_gpu_operator,
    resolve_kubeflow,
    resolve_kueue,
    resolve_observability,
)
from components.resolve.storage import StorageSpec, resolve_storage
from components.resolve.tenancy import TenancySpec, resolve_tenancy
from components.resolve.training import TrainingSpec, resolve_training
from components.resolve.workloads import TRITON_NAMESPACE, TritonSpec, resolve_triton


@dataclass(frozen=True)
class PlatformSpec:
    """Everything one stack deploys. Optional parts are None when their add-on is off."""

    project: str
    stack: str
    environment: str
    region: str
    tags: dict[str, str]
    """Tags on every taggable resource (the stack's own, plus environment, project, stack)."""
    network: NetworkSpec
    cluster: ClusterSpec
    pools: tuple[GpuPoolSpec, ...]
    storage: StorageSpec
    tenancy: TenancySpec
    budget: BudgetSpec
    autoscaler: AutoscalerSpec | None
    observability: ObservabilitySpec | None
    gpu_operator: GpuOperatorSpec | None
    efa_plugin: EfaPluginSpec | None
    kubeflow: KubeflowSpec | None
    training: TrainingSpec | None
    """The suspended training templates (with Kubeflow, on a stack with an EFA pool)."""
    triton: TritonSpec | None
    audit: AuditSpec | None = None
    """The audit trail, S3 access logs and the logs key (components/resolve/audit.py)."""
    kueue: KueueSpec | None = None
    """Team queues in one cohort (`addons.kueue`, with teams and GPU pools); training jobs in a
    team namespace carry its LocalQueue label."""
    mountpoint: MountpointSpec | None = None
    """S3 buckets mounted in team namespaces by Mountpoint for Amazon S3 (`storage.mountpoint`)."""


def stack_tags(config: StackConfig, project: str, stack: str) -> dict[str, str]:
    return {
        **config.tags,
        "environment": config.environment.value,
        "project": project,
        "stack": stack,
        "managed-by": "pulumi",
    }


def resolve_platform(config: StackConfig, project: str, stack: str) -> PlatformSpec:
    """Pure: the platform `config` describes. Raises ConfigError naming the offending keys."""
    tags = stack_tags(config, project, stack)
    cluster_name = config.cluster_name or f"{project}-{stack}"
    azs = config.availability_zones
    cluster = resolve_cluster(config, cluster_name, tags)
    pools = tuple(
        resolve_pool(p, i, azs, tags, cluster_name, config.region, config.custom_networking)
        for i, p in enumerate(config.gpu_pools)
    )
    network = resolve_network(config, name_prefix=cluster_name)
    storage = resolve_storage(
        config,
        cluster.partition,
        cluster_name,
        training_az(config.gpu_pools, azs, config.region),
        cluster.addons.fsx_csi_driver,
        pools,
    )
    addons = config.addons
    observability = (
        resolve_observability(config, cluster_name, (TRITON_NAMESPACE,) if addons.triton else ())
        if addons.observability
        else None
    )
    kubeflow = resolve_kubeflow() if addons.kubeflow else None
    training = None
    if kubeflow is not None and any(p.efa for p in pools):
        fsx_claim = FSX_CLAIM if storage.fsx is not None else None
        training = resolve_training(config, pools, versions.TRAINING_IMAGE, fsx_claim)
    kueue = resolve_kueue(config, pools)
    # The deployed templates stay out of Kueue: Kueue owns `suspend` on a labelled job and would
    # start a p5 job on the first `pulumi up`. They carry no queue label and stay suspended until
    # resumed; `python -m scripts.training render` writes queued copies to run.
    serving = inference_pool(pools)
    triton = (
        resolve_triton(config, serving, cluster_name)
        if addons.triton and observability is not None and serving is not None
        else None
    )
    return PlatformSpec(
        project=project,
        stack=stack,
        environment=config.environment.value,
        region=config.region,
        tags=tags,
        network=network,
        cluster=cluster,
        pools=pools,
        storage=storage,
        tenancy=resolve_tenancy(config, queued=kueue is not None),
        budget=resolve_budget(config, tags),
        autoscaler=(
            resolve_autoscaler(config, cluster_name, cluster.partition, pools)
            if addons.cluster_autoscaler
            else None
        ),
        observability=observability,
        gpu_operator=resolve_gpu_operator(config) if addons.gpu_operator else None,
        efa_plugin=resolve_efa_plugin(config, pools) if addons.efa_device_plugin else None,
        kubeflow=kubeflow,
        training=training,
        triton=triton,
        kueue=kueue,
        mountpoint=resolve_mountpoint(
            config, cluster_name, cluster.addons.mountpoint_s3_csi_driver
        ),
        audit=resolve_audit(config, cluster_name, cluster.partition),
    )


__all__ = ["PlatformSpec", "resolve_platform", "stack_tags"]
