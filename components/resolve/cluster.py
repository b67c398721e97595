"""Resolve the cluster: add-on builds, endpoint exposure, logs, access, the system node group."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from components import versions
from components.config import AccessPolicy, EndpointAccess, StackConfig
from components.resolve.sizing import WARM_PREFIX_TARGET

ACCESS_POLICIES = {
    AccessPolicy.CLUSTER_ADMIN: "AmazonEKSClusterAdminPolicy",
    AccessPolicy.ADMIN: "AmazonEKSAdminPolicy",
    AccessPolicy.EDIT: "AmazonEKSEditPolicy",
    AccessPolicy.VIEW: "AmazonEKSViewPolicy",
}

SYSTEM_AMI_TYPE = "AL2023_x86_64_STANDARD"


def partition(region: str) -> str:
    """The ARN partition of a region."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


@dataclass(frozen=True)
class AccessGrant:
    principal_arn: str
    policy_arn: str
    namespaces: tuple[str, ...] | None
    """None: cluster-wide."""


@dataclass(frozen=True)
class SystemPoolSpec:
    instance_types: tuple[str, ...]
    min_size: int
    desired_size: int
    max_size: int
    disk_size_gib: int
    ami_type: str = SYSTEM_AMI_TYPE


@dataclass(frozen=True)
class ClusterSpec:
    """EKS control plane, add-ons and the system node group."""

    name: str
    """Physical EKS cluster name."""
    region: str
    partition: str
    kubernetes_version: str
    addons: versions.AddonVersions
    endpoint_public: bool
    public_access_cidrs: tuple[str, ...]
    """Empty with a private endpoint."""
    log_types: tuple[str, ...]
    log_retention_days: int
    access: tuple[AccessGrant, ...]
    """Extra principals (never the deployer)."""
    deployer: AccessGrant
    """The identity `pulumi up` runs as: cluster-admin, the one bootstrap entry."""
    api_source_cidrs: tuple[str, ...]
    """Networks allowed to reach the API on 443 (the extra cluster security group)."""
    api_source_security_groups: tuple[str, ...]
    deletion_protection: bool
    node_managed_policies: tuple[str, ...]
    """AWS-managed policies of the node role (SSM's only with `nodeSsmAccess`)."""
    system_pool: SystemPoolSpec
    custom_networking: bool
    """VPC CNI custom networking (`podNetwork`, or `existingVpc.podSubnetIds`): the vpc-cni
    add-on gets an ENIConfig per AZ (see `vpc_cni_configuration`)."""
    tags: dict[str, str]
    """Stack tags, copied into launch template tag specifications."""
    protect: bool
    """Protect and retain the secrets key (prod)."""
    node_monitoring: bool = False
    """Install the EKS node monitoring agent: it sets the node health conditions
    (`AcceleratedHardwareReady` and others) that node auto repair on the GPU node groups acts on.
    On when there are GPU pools."""


ENI_CONFIG_LABEL = "topology.kubernetes.io/zone"
"""Node label whose value names the node's ENIConfig (`ENI_CONFIG_LABEL_DEF`): every node carries
its AZ there, and the add-on names each ENIConfig after its AZ."""


def vpc_cni_configuration(
    region: str,
    pod_subnets: Mapping[str, str] | None = None,
    security_group_ids: Sequence[str] = (),
) -> str:
    """The vpc-cni add-on's configuration values (JSON): network policy, prefix delegation with
    `WARM_PREFIX_TARGET` spare prefixes, and with `pod_subnets` (AZ -> subnet id) custom
    networking.

    Custom networking (amazon-vpc-cni-k8s v1.23.0 README, pkg/ipamd/ipamd.go,
    pkg/eniconfig/eniconfig.go): `AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG=true` makes ipamd put pods'
    interfaces in the subnet and security groups of the node's ENIConfig, chosen by the node
    label `ENI_CONFIG_LABEL_DEF`; the add-on's `eniConfig` section (charts/aws-vpc-cni
    values.yaml and templates/eniconfig.yaml at v1.23.0: `create`, `region`,
    `subnets.<name>.{id, securityGroups}`) creates one ENIConfig per key, named after it: here
    the AZ, matching the zone label. Pure: the component passes the ids once they exist."""
    env = {"ENABLE_PREFIX_DELEGATION": "true", "WARM_PREFIX_TARGET": str(WARM_PREFIX_TARGET)}
    values: dict[str, object] = {"enableNetworkPolicy": "true", "env": env}
    if pod_subnets:
        env["AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG"] = "true"
        env["ENI_CONFIG_LABEL_DEF"] = ENI_CONFIG_LABEL
        values["eniConfig"] = {
            "create": True,
            "region": region,
            "subnets": {
                az: {"id": subnet, "securityGroups": list(security_group_ids)}
                for az, subnet in pod_subnets.items()
            },
        }
    return json.dumps(values, sort_keys=True)


def resolve_cluster(config: StackConfig, name: str, tags: dict[str, str]) -> ClusterSpec:
    """Pure: add-on versions, endpoint exposure, log types, access policy ARNs, system pool."""
    part = partition(config.region)
    public = config.endpoint_access is EndpointAccess.PUBLIC
    pool = config.system_pool
    return ClusterSpec(
        name=name,
        region=config.region,
        partition=part,
        kubernetes_version=config.kubernetes_version,
        addons=versions.EKS_ADDONS[config.kubernetes_version],
        endpoint_public=public,
        public_access_cidrs=tuple(config.public_access_cidrs) if public else (),
        log_types=tuple(dict.fromkeys(t.value for t in config.cluster_log_types)),
        log_retention_days=config.cluster_log_retention_days,
        access=tuple(
            AccessGrant(
                principal_arn=entry.principal_arn,
                policy_arn=f"arn:{part}:eks::aws:cluster-access-policy/"
                f"{ACCESS_POLICIES[entry.policy]}",
                namespaces=tuple(entry.namespaces) if entry.namespaces else None,
            )
            for entry in config.access_entries
        ),
        deployer=AccessGrant(
            principal_arn=config.deployer.principal_arn,
            policy_arn=f"arn:{part}:eks::aws:cluster-access-policy/"
            f"{ACCESS_POLICIES[AccessPolicy.CLUSTER_ADMIN]}",
            namespaces=None,
        ),
        api_source_cidrs=tuple(config.api_access.source_cidrs),
        api_source_security_groups=tuple(config.api_access.source_security_group_ids),
        deletion_protection=config.cluster_deletion_protection,
        node_managed_policies=(
            "AmazonEKSWorkerNodePolicy",
            "AmazonEC2ContainerRegistryPullOnly",
            *(("AmazonSSMManagedInstanceCore",) if config.node_ssm_access else ()),
        ),
        system_pool=SystemPoolSpec(
            instance_types=tuple(pool.instance_types),
            min_size=pool.min_size,
            desired_size=pool.resolved_desired_size,
            max_size=pool.max_size,
            disk_size_gib=pool.disk_size_gib,
        ),
        custom_networking=config.custom_networking,
        tags=dict(tags),
        protect=config.protect,
        node_monitoring=bool(config.gpu_pools),
    )
