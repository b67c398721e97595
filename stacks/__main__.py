"""The Pulumi program, and the platform's table of contents: load the stack config, resolve the
whole platform once, then build each concern in order and export what operators need.

`pulumi up` runs this file; so does the offline plan (`make plan`), under the SDK's mocks. It is the
only place that reads stack config. Everything that can reject the config runs before the first
resource is registered.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi
from pulumi.runtime.config import CONFIG, get_config_env

from components.cluster import Cluster, ClusterRefs
from components.compute import node_group_class, pool_refs
from components.compute.autoscaler import ClusterAutoscaler
from components.config import ConfigError, load_stack_config
from components.guardrails.audit import AuditTrail, LogsKey
from components.guardrails.budget import Budget
from components.guardrails.tagging import auto_tag
from components.network import Network
from components.resolve import PlatformSpec, resolve_platform
from components.software.efa_device_plugin import EfaDevicePlugin
from components.software.gpu_operator import GpuOperator
from components.software.kubeflow import Kubeflow
from components.software.kueue import Kueue
from components.software.observability import Observability
from components.storage import TieredStorage, storage_refs
from components.storage.mountpoint import MountpointS3
from components.tenancy import Tenancy, team_refs
from workloads.training import TrainingWorkloads
from workloads.triton import TritonService, triton_refs


def load() -> PlatformSpec:
    """The stack's config as the engine passed it, resolved (nothing is registered yet)."""
    raw = {**get_config_env(), **CONFIG.get()}
    try:
        return resolve_platform(load_stack_config(raw), pulumi.get_project(), pulumi.get_stack())
    except ConfigError as exc:
        raise pulumi.RunError(f"invalid stack config:\n{exc}") from None


def build(spec: PlatformSpec) -> None:
    pulumi.runtime.register_stack_transformation(auto_tag(spec.tags))

    audit = spec.audit
    # The logs key comes first: every log group of the stack is created under it.
    logs_key = LogsKey("logs-key", audit) if audit and audit.log_group_kms else None
    log_key_arn = logs_key.key_arn if logs_key else None

    network = Network("network", spec.network, {"log_kms_key_arn": log_key_arn})
    subnets: ClusterRefs = {
        "subnet_ids": network.private_subnet_ids,
        "vpc_id": network.vpc_id,
        "log_kms_key_arn": log_key_arn,
        "control_plane_subnet_ids": network.control_plane_subnet_ids,
        "pod_subnet_ids_by_az": network.pod_subnet_ids_by_az,
    }
    cluster = Cluster("cluster", spec.cluster, subnets)
    after_cluster = pulumi.ResourceOptions(depends_on=[cluster])
    provider = cluster.provider

    nodes = pool_refs(cluster, network)
    pools = [node_group_class(p)(f"pool-{p.name}", p, nodes, after_cluster) for p in spec.pools]
    stores = storage_refs(cluster, network, pools, log_key_arn)
    storage = TieredStorage("storage", spec.storage, stores, after_cluster)
    trail = None
    if audit and (audit.trail or audit.access_logs):
        trail = AuditTrail(
            "audit",
            audit,
            {
                "bucket_names": storage.bucket_names,
                "bucket_arns": storage.bucket_arns,
                "log_kms_key_arn": log_key_arn,
            },
        )
    teams = team_refs(cluster, storage)
    tenancy = Tenancy("tenancy", spec.tenancy, provider, after_cluster, refs=teams)
    data_writers = []
    if spec.mountpoint:
        mountpoint = MountpointS3(
            "mountpoint",
            spec.mountpoint,
            {
                "cluster_name": cluster.cluster_name,
                "provider": provider,
                "bucket_names": storage.bucket_names,
                "bucket_arns": storage.bucket_arns,
                "partition": spec.cluster.partition,
                "key_alias": storage.key_alias,
                "namespaces": tenancy.namespaces,
                "nodes": [cluster],
            },
            after_cluster,
        )
        data_writers.append(mountpoint.identity.role)
    if spec.kueue:
        Kueue("kueue", spec.kueue, provider, after_cluster, namespaces=tenancy.namespaces)
    if spec.autoscaler:
        ClusterAutoscaler("autoscaler", spec.autoscaler, provider, after_cluster)

    observability = None
    if spec.observability:
        observability = Observability(
            "observability",
            spec.observability,
            {"provider": provider, "prometheus_depends_on": [storage.default_storage_class]},
            after_cluster,
        )
    monitoring = [observability.prometheus_release] if observability else []
    after_monitoring = pulumi.ResourceOptions(depends_on=[cluster, *monitoring])

    if spec.gpu_operator:
        GpuOperator("gpu-operator", spec.gpu_operator, provider, after_monitoring)
    if spec.kubeflow:
        kubeflow = Kubeflow("kubeflow", spec.kubeflow, provider, after_cluster)
        if spec.training:
            TrainingWorkloads(
                "training",
                spec.training,
                {"provider": provider, "depends_on": [kubeflow.trainer, storage, tenancy]},
                after_cluster,
            )
    model_readers = []
    if spec.triton and observability:
        triton = triton_refs(cluster, storage, observability)
        model_readers.append(TritonService("triton", spec.triton, triton, after_monitoring).role)
    # Once every role that reads with the storage key exists: the key policy names them.
    storage.grant_key_use(model_readers, data_writers)
    if spec.efa_plugin:
        EfaDevicePlugin("efa-device-plugin", spec.efa_plugin, provider, after_cluster)
    Budget("budget", spec.budget)

    exports = {
        "environment": spec.environment,
        "region": spec.region,
        "vpcId": network.vpc_id,
        "privateSubnetIds": network.private_subnet_ids,
        "clusterName": cluster.cluster_name,
        "clusterEndpoint": cluster.endpoint,
        "oidcProviderArn": cluster.oidc_provider_arn,
        "buckets": storage.bucket_names,
        "fsxFileSystemId": storage.file_system_id,
        # The trail that records this stack: its own, or the organisation's it relies on.
        "auditTrailArn": (trail.trail_arn if trail else None)
        or (audit.organization_trail_arn if audit else None),
        "kubeconfigCommand": pulumi.Output.concat(
            "aws eks update-kubeconfig --region ", spec.region, " --name ", cluster.cluster_name
        ),
    }
    for key, value in exports.items():
        if value is not None:
            pulumi.export(key, value)


build(load())
