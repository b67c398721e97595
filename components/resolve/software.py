"""Resolve the cluster software: which add-ons run, and the settings each one needs."""

from __future__ import annotations

from dataclasses import dataclass, replace

from components import versions
from components.catalog.conventions import NODE_POOL_LABEL
from components.config import (
    PROJECT_NAMESPACE,
    REGION_KEY,
    ConfigError,
    Environment,
    PoolPurpose,
    StackConfig,
)
from components.resolve.compute import GpuPoolSpec
from components.resolve.training import TrainingJobSpec, TrainingSpec

DEFAULT_MONITORING_NAMESPACE = "monitoring"
DEFAULT_RETENTION = "15d"
DEFAULT_PROMETHEUS_STORAGE_GIB = 100


@dataclass(frozen=True)
class AutoscalerPool:
    name: str
    spot: bool
    reserved: bool
    """Capacity Block or ODCR: already paid for, so preferred."""


@dataclass(frozen=True)
class AutoscalerSpec:
    cluster_name: str
    region: str
    partition: str
    image_tag: str
    """The autoscaler's minor matches the cluster's."""
    pools: tuple[AutoscalerPool, ...]


@dataclass(frozen=True)
class GpuOperatorSpec:
    time_slicing_replicas: tuple[int, ...]
    """Replica counts the pools use (one device-plugin config each)."""
    mig: bool
    driver_on_node: bool
    """True on EKS NVIDIA AMIs (driver and toolkit preinstalled)."""
    service_monitor: bool


@dataclass(frozen=True)
class EfaPluginSpec:
    instance_types: tuple[str, ...]
    image_repository: str
    """The plugin image in the cluster region's EKS registry (the chart's default pulls from
    us-west-2, over NAT and around the ECR endpoints)."""


@dataclass(frozen=True)
class AlertingSpec:
    """Alertmanager's receivers (from the stack's `alerting:`)."""

    sns_topic_arn: str | None
    """An existing topic to publish to."""
    emails: tuple[str, ...]
    """Subscribed to the alert topic the observability component creates (when non-empty)."""
    webhook_urls: tuple[str, ...]
    send_resolved: bool

    @property
    def configured(self) -> bool:
        return bool(self.sns_topic_arn or self.emails or self.webhook_urls)


@dataclass(frozen=True)
class ObservabilitySpec:
    namespace: str
    node_exporter_namespace: str
    triton_queue_target_us: int
    """The same number Triton's KEDA trigger scales on."""
    retention: str
    prometheus_storage_gib: int
    region: str = ""
    """Where Alertmanager's SNS client signs requests (the stack's region)."""
    cluster_name: str = ""
    """For the Alertmanager Pod Identity association."""
    alerting: AlertingSpec = AlertingSpec(None, (), (), True)
    inference_namespaces: tuple[str, ...] = ()
    """Namespaces of inference pods: the GPU saturation alert only looks at their GPUs (a busy
    training GPU is healthy)."""


@dataclass(frozen=True)
class KubeflowSpec:
    pipelines: bool
    pipelines_ref: str


def resolve_autoscaler(
    config: StackConfig, cluster_name: str, partition: str, pools: tuple[GpuPoolSpec, ...]
) -> AutoscalerSpec:
    return AutoscalerSpec(
        cluster_name=cluster_name,
        region=config.region,
        partition=partition,
        image_tag=versions.CLUSTER_AUTOSCALER_IMAGE_TAG[config.kubernetes_version],
        pools=tuple(AutoscalerPool(p.name, p.spot, p.reserved) for p in pools),
    )


def resolve_gpu_operator(config: StackConfig) -> GpuOperatorSpec:
    pools = config.gpu_pools
    return GpuOperatorSpec(
        time_slicing_replicas=tuple(
            sorted({p.time_slicing_replicas for p in pools if p.time_slicing_replicas})
        ),
        mig=any(p.mig_profile for p in pools),
        driver_on_node=True,  # every GPU AMI type offered ships the NVIDIA driver
        service_monitor=config.addons.observability,
    )


def resolve_efa_plugin(config: StackConfig, pools: tuple[GpuPoolSpec, ...]) -> EfaPluginSpec | None:
    types = tuple(sorted({t.name for p in pools if p.efa for t in p.instance_types}))
    if not types:
        return None
    registry = versions.eks_registry(config.region)
    if registry is None:
        raise ConfigError(
            [
                (
                    REGION_KEY,
                    f"{config.region}: no EKS image registry known for the EFA device plugin "
                    "(components/versions.py EKS_REGISTRY_ACCOUNTS)",
                )
            ]
        )
    return EfaPluginSpec(types, f"{registry}/eks/aws-efa-k8s-device-plugin")


def resolve_observability(
    config: StackConfig, cluster_name: str = "", inference_namespaces: tuple[str, ...] = ()
) -> ObservabilitySpec:
    """Raises ConfigError when a prod stack would send its alerts nowhere."""
    namespace = DEFAULT_MONITORING_NAMESPACE
    a = config.alerting
    alerting = AlertingSpec(
        sns_topic_arn=a.sns_topic_arn,
        emails=tuple(a.emails),
        webhook_urls=tuple(a.webhook_urls),
        send_resolved=a.send_resolved,
    )
    if config.environment is Environment.PROD and not alerting.configured:
        raise ConfigError(
            [
                (
                    f"{PROJECT_NAMESPACE}:alerting",
                    "prod has no alert receiver: set snsTopicArn, emails or webhookUrls "
                    "(without one, Alertmanager routes every alert to its `null` receiver)",
                )
            ]
        )
    return ObservabilitySpec(
        namespace=namespace,
        node_exporter_namespace=f"{namespace}-node-exporter",
        triton_queue_target_us=config.triton.queue_time_target_us,
        retention=DEFAULT_RETENTION,
        prometheus_storage_gib=DEFAULT_PROMETHEUS_STORAGE_GIB,
        region=config.region,
        cluster_name=cluster_name,
        alerting=alerting,
        inference_namespaces=inference_namespaces,
    )


def resolve_kubeflow() -> KubeflowSpec:
    return KubeflowSpec(pipelines=True, pipelines_ref=versions.KUBEFLOW_PIPELINES_REF)


def inference_pool(pools: tuple[GpuPoolSpec, ...]) -> GpuPoolSpec | None:
    return next((p for p in pools if p.purpose is PoolPurpose.INFERENCE), None)


KUEUE_NAMESPACE = "kueue-system"
"""The namespace the chart's README installs into."""
QUEUE_NAME_LABEL = "kueue.x-k8s.io/queue-name"
"""The label that puts a job in a LocalQueue of its namespace."""
KUEUE_COHORT = "gpu-platform"
"""The one cohort every team's ClusterQueue joins: quota a team leaves idle is lent to the others
and reclaimed by preemption when its owner needs it."""
GPU_RESOURCE = "nvidia.com/gpu"
EFA_RESOURCE = "vpc.amazonaws.com/efa"
EFA_TOPOLOGY = "efa-network"
"""The Topology of EFA pools (`kueue.x-k8s.io/v1beta2`), levels widest first."""
EFA_TOPOLOGY_LEVELS = (
    "topology.k8s.aws/network-node-layer-1",
    "topology.k8s.aws/network-node-layer-2",
    "topology.k8s.aws/network-node-layer-3",
    "kubernetes.io/hostname",
)
"""EC2's network topology labels (layer 1 is the widest network node, layer 3 the one the
instance attaches to), then the node: Kueue's topology-aware scheduling places a job's pods
under as few network nodes as it can."""


@dataclass(frozen=True)
class KueueFlavor:
    """A ResourceFlavor: one GPU pool."""

    name: str
    """The pool name (also the ResourceFlavor's name)."""
    node_labels: dict[str, str]
    """`gpu-platform/pool: <pool>`: Kueue adds it to the node selector of the pods it admits."""
    tolerations: tuple[tuple[str, str, str], ...]
    """The pool's taints (GPU, and spot on spot pools) as (key, value, effect): Kueue adds the
    tolerations to the pods it admits on this flavor."""
    gpus: int
    """GPUs the pool holds at its maximum size (schedulable per node x max size)."""
    efa_devices: int
    """EFA devices the pool holds at its maximum size (0 without EFA)."""
    topology: str | None
    """`EFA_TOPOLOGY` for EFA pools, else None."""


@dataclass(frozen=True)
class KueueQueue:
    """A team's ClusterQueue and the LocalQueue in its namespace (same name as the team)."""

    team: str
    gpu_quota: int
    """Nominal `nvidia.com/gpu` on each flavor (the team's `gpuQuota`)."""
    efa_quota: int
    """Nominal `vpc.amazonaws.com/efa` on each EFA flavor (the team's `efaQuota`)."""
    gpu_borrowing_limit: int | None = None
    """`borrowingLimit` of `nvidia.com/gpu` on each flavor (`gpuBorrowingLimit`); None: none
    (the cohort's idle quota)."""
    efa_borrowing_limit: int | None = None
    """`borrowingLimit` of `vpc.amazonaws.com/efa` on each EFA flavor (`efaBorrowingLimit`)."""


@dataclass(frozen=True)
class KueueSpec:
    namespace: str
    cohort: str
    flavors: tuple[KueueFlavor, ...]
    queues: tuple[KueueQueue, ...]
    topology_levels: tuple[str, ...]
    """Levels of `EFA_TOPOLOGY` (created only when a flavor names it)."""

    @property
    def efa(self) -> bool:
        return any(f.efa_devices for f in self.flavors)

    def local_queue(self, namespace: str) -> str | None:
        """The LocalQueue name in `namespace`, or None when the namespace has none."""
        return next((q.team for q in self.queues if q.team == namespace), None)


def resolve_kueue(config: StackConfig, pools: tuple[GpuPoolSpec, ...]) -> KueueSpec | None:
    """Pure: Kueue's flavors (one per GPU pool) and queues (one per team); None when the toggle
    is off or there is no team or no GPU pool (nothing to queue)."""
    if not config.addons.kueue or not config.teams or not pools:
        return None
    flavors = tuple(
        KueueFlavor(
            name=p.name,
            node_labels={NODE_POOL_LABEL: p.name},
            tolerations=tuple(p.taints),
            gpus=p.schedulable_gpus_per_node * p.max_size,
            efa_devices=p.efa_devices * p.max_size,
            topology=EFA_TOPOLOGY if p.efa else None,
        )
        for p in pools
    )
    return KueueSpec(
        namespace=KUEUE_NAMESPACE,
        cohort=KUEUE_COHORT,
        flavors=flavors,
        queues=tuple(
            KueueQueue(
                t.name, t.gpu_quota, t.efa_quota, t.gpu_borrowing_limit, t.efa_borrowing_limit
            )
            for t in config.teams
        ),
        topology_levels=EFA_TOPOLOGY_LEVELS,
    )


def queue_training(training: TrainingSpec, kueue: KueueSpec) -> TrainingSpec:
    """Pure: the training jobs, each with the LocalQueue of its namespace (when it has one)."""

    def queued(job: TrainingJobSpec) -> TrainingJobSpec:
        return replace(job, queue=kueue.local_queue(job.namespace))

    spot = training.spot_example
    return replace(
        training,
        example=queued(training.example),
        acceptance=queued(training.acceptance),
        spot_example=queued(spot) if spot is not None else None,
    )
