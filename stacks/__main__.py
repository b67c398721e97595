"""The Pulumi program: load the stack config, resolve every component, then build them.

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

from components import network as network_mod
from components.autoscaler import ClusterAutoscaler, PoolRef
from components.budget import Budget
from components.cluster import Cluster, ClusterArgs
from components.cluster import resolve as resolve_cluster
from components.config import (
    CapacityType,
    ConfigError,
    PoolPurpose,
    StackConfig,
    load_stack_config,
)
from components.efa_device_plugin import EfaDevicePlugin
from components.gpu_node_group import GpuNodeGroup, GpuNodeGroupArgs, SpotPool, resolve_spot
from components.gpu_node_group import resolve as resolve_gpu_pool
from components.gpu_operator import GpuOperator
from components.kubeflow import Kubeflow
from components.network import Network, NetworkArgs
from components.observability import Observability
from components.pools import footprints, training_az
from components.storage import TieredStorage, access_policy
from components.tagging import auto_tag
from workloads.training import DEFAULT_BUSBW_FLOOR_GBPS, TrainingWorkloads
from workloads.training import render as render_training
from workloads.triton import TritonService


def raw_config() -> dict[str, str]:
    """Every config key the engine passed (namespaced), as the engine passed it."""
    return {**get_config_env(), **CONFIG.get()}


def stack_tags(config: StackConfig) -> dict[str, str]:
    return {
        **config.tags,
        "environment": config.environment.value,
        "project": pulumi.get_project(),
        "stack": pulumi.get_stack(),
        "managed-by": "pulumi",
    }


def main() -> None:
    try:
        config = load_stack_config(raw_config())
        cluster_name = config.cluster_name or f"{pulumi.get_project()}-{pulumi.get_stack()}"
        tags = stack_tags(config)
        network_args = NetworkArgs(
            region=config.region,
            availability_zones=config.availability_zones,
            vpc_cidr=config.vpc_cidr,
            pools=footprints(config.system_pool, config.gpu_pools, config.availability_zones),
            nat_gateways=config.nat_gateways,
            interface_endpoints=config.interface_endpoints,
            flow_logs=config.flow_logs.enabled,
            flow_log_retention_days=config.flow_logs.retention_days,
            flow_log_traffic_type=config.flow_logs.traffic_type,
            name_prefix=cluster_name,
        )
        network_mod.resolve(network_args)
        cluster_args = ClusterArgs(
            cluster_name=cluster_name,
            region=config.region,
            kubernetes_version=config.kubernetes_version,
            subnet_ids=[],
            endpoint_access=config.endpoint_access,
            public_access_cidrs=config.public_access_cidrs,
            log_types=config.cluster_log_types,
            log_retention_days=config.cluster_log_retention_days,
            access_entries=config.access_entries,
            system_pool=config.system_pool,
            tags=tags,
            protect=config.protect,
        )
        resolve_cluster(cluster_args)
        pool_args = [
            GpuNodeGroupArgs(
                pool=pool,
                config_path=f"gpuPools[{index}]",
                stack_azs=config.availability_zones,
                cluster_name="",
                subnet_ids_by_az={},
                node_role_arn="",
                cluster_security_group_id="",
                vpc_id="",
                tags=tags,
            )
            for index, pool in enumerate(config.gpu_pools)
        ]
        pool_specs = [
            (resolve_spot if a["pool"].capacity_type is CapacityType.SPOT else resolve_gpu_pool)(a)
            for a in pool_args
        ]
    except ConfigError as exc:
        raise pulumi.RunError(f"invalid stack config:\n{exc}") from None

    # Nothing is registered above this line.
    pulumi.runtime.register_stack_transformation(auto_tag(tags))

    network = Network("network", network_args)
    cluster = Cluster("cluster", {**cluster_args, "subnet_ids": network.private_subnet_ids})

    after_cluster = pulumi.ResourceOptions(depends_on=[cluster])
    for args, spec in zip(pool_args, pool_specs, strict=True):
        wired = GpuNodeGroupArgs(
            **{
                **args,
                "cluster_name": cluster.cluster_name,
                "subnet_ids_by_az": network.private_subnet_ids_by_az,
                "node_role_arn": cluster.node_role_arn,
                "cluster_security_group_id": cluster.cluster_security_group_id,
                "vpc_id": network.vpc_id,
            }
        )
        kind = SpotPool if spec.capacity_type is CapacityType.SPOT else GpuNodeGroup
        kind(f"pool-{spec.name}", wired, after_cluster)

    storage = TieredStorage(
        "storage",
        {
            "config": config.storage,
            "region": config.region,
            "cluster_name": cluster_name,
            "kubernetes_version": config.kubernetes_version,
            "vpc_id": network.vpc_id,
            "fsx_subnet_id": network.private_subnet_ids_by_az[
                training_az(config.gpu_pools, config.availability_zones)
            ],
            "client_security_group_ids": [cluster.cluster_security_group_id],
            "provider": cluster.provider,
            "protect": config.protect,
        },
        after_cluster,
    )

    if config.addons.cluster_autoscaler:
        ClusterAutoscaler(
            "autoscaler",
            {
                "cluster_name": cluster_name,
                "region": config.region,
                "kubernetes_version": config.kubernetes_version,
                "pools": [
                    PoolRef(s.name, s.capacity_type, reserved=s.reservation_id is not None)
                    for s in pool_specs
                ],
                "provider": cluster.provider,
            },
            after_cluster,
        )
    observability = None
    if config.addons.observability:
        observability = Observability(
            "observability",
            {"provider": cluster.provider, "depends_on": [storage.default_storage_class]},
            after_cluster,
        )
    after_monitoring = pulumi.ResourceOptions(
        depends_on=[cluster, *([observability.prometheus_release] if observability else [])]
    )

    if config.addons.gpu_operator:
        GpuOperator(
            "gpu-operator",
            {
                "time_slicing_replicas": [
                    p.time_slicing_replicas for p in config.gpu_pools if p.time_slicing_replicas
                ],
                "mig": any(p.mig_profile for p in config.gpu_pools),
                "driver_on_node": True,  # every GPU AMI type offered ships the NVIDIA driver
                "service_monitor": observability is not None,
                "provider": cluster.provider,
            },
            after_monitoring,
        )
    if config.addons.kubeflow:
        kubeflow = Kubeflow(
            "kubeflow",
            {"teams": config.teams, "pipelines": True, "provider": cluster.provider},
            after_cluster,
        )
        efa_pools = [p for p in config.gpu_pools if p.efa]
        if efa_pools:
            rendered = render_training(
                config, min(2, efa_pools[0].max_size), DEFAULT_BUSBW_FLOOR_GBPS, suspend=True
            )
            TrainingWorkloads(
                "training",
                {
                    "manifests": [obj for objs in rendered.values() for obj in objs],
                    "provider": cluster.provider,
                    "depends_on": [kubeflow.trainer, storage],
                },
                after_cluster,
            )

    if config.addons.triton and observability is not None:
        inference_pool = next(p for p in config.gpu_pools if p.purpose is PoolPurpose.INFERENCE)
        TritonService(
            "triton",
            {
                "provider": cluster.provider,
                "cluster_name": cluster_name,
                "region": config.region,
                "namespace": "inference",
                "models_bucket": storage.bucket_names["models"],
                "models_read_policy": pulumi.Output.all(
                    storage.bucket_arns["models"], storage.kms_key_arn
                ).apply(lambda a: access_policy(read=[a[0]], write=[], key_arn=a[1])),
                "inference_pool": inference_pool.name,
                "prometheus_url": observability.prometheus_url,
            },
            after_monitoring,
        )

    efa_types = sorted({t.name for s in pool_specs if s.efa for t in s.instance_types})
    if config.addons.efa_device_plugin and efa_types:
        EfaDevicePlugin(
            "efa-device-plugin",
            {"instance_types": efa_types, "provider": cluster.provider},
            after_cluster,
        )

    Budget(
        "budget",
        {
            "environment": config.environment.value,
            "monthly_limit_usd": config.monthly_budget_usd,
            "alert_emails": config.budget_alert_emails,
            "cost_allocation_tags": sorted(tags) if config.activate_cost_allocation_tags else [],
        },
    )

    pulumi.export("environment", config.environment.value)
    pulumi.export("region", config.region)
    pulumi.export("vpcId", network.vpc_id)
    pulumi.export("privateSubnetIds", network.private_subnet_ids)
    pulumi.export("clusterName", cluster.cluster_name)
    pulumi.export("clusterEndpoint", cluster.endpoint)
    pulumi.export("oidcProviderArn", cluster.oidc_provider_arn)
    pulumi.export("buckets", storage.bucket_names)
    if storage.file_system_id is not None:
        pulumi.export("fsxFileSystemId", storage.file_system_id)
    pulumi.export(
        "kubeconfigCommand",
        pulumi.Output.concat(
            "aws eks update-kubeconfig --region ", config.region, " --name ", cluster.cluster_name
        ),
    )


main()
