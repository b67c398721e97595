"""Cluster: the EKS control plane and what every node and add-on relies on.

KMS envelope encryption of Secrets, control-plane logs with a retention, access entries (API
authentication mode), an OIDC provider for IRSA plus the Pod Identity agent, the managed add-ons
pinned in components/versions.py (with GPU pools also the EKS node monitoring agent, which node
auto repair acts on), a small on-demand system node group and a Kubernetes provider for the
components that deploy into the cluster.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import versions
from components.catalog.conventions import NODE_POOL_LABEL, SYSTEM_POOL
from components.common import iam, kms, launch_template
from components.common.identity import pod_identity_trust_output
from components.common.protection import guard, keep
from components.resolve.cluster import ClusterSpec, vpc_cni_configuration

NODE_MONITORING_CONFIGURATION = json.dumps(
    {"dcgmAgent": {"tolerations": [{"operator": "Exists"}]}}, sort_keys=True
)
"""`eks-node-monitoring-agent` configuration values (the add-on's schema,
charts/configuration.schema.json: `dcgmAgent.tolerations`). Without a toleration the DCGM host
engine skips GPU nodes tainted `nvidia.com/gpu`, and the agent then sees no GPUs to check."""


CLUSTER_KEY_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey")
"""What the cluster role does with the secrets key (EKS user guide, "Encrypt Kubernetes secrets
with KMS": Encrypt, Decrypt, ListGrants, DescribeKey). The principal creating the cluster also
needs CreateGrant and DescribeKey: the deployer has them as key administrator."""


def secrets_key_policy(
    partition: str, account_id: str, deployer_arn: str, cluster_role_name: str
) -> str:
    """Pure: the secrets key's policy: the account root and the deployer administer it; only the
    cluster role (by the ARN built from its name) uses it."""
    return kms.key_policy(
        [kms.account_root(partition, account_id), deployer_arn],
        [
            kms.users(
                "ClusterEncryptsSecrets",
                [kms.role_arn(partition, account_id, cluster_role_name)],
                CLUSTER_KEY_ACTIONS,
            )
        ],
    )


EBS_CSI_CONFIGURATION = json.dumps(
    {"node": {"hostNetwork": True, "metadataSources": "imds"}}, sort_keys=True
)
"""`aws-ebs-csi-driver` configuration values (the add-on takes the chart's values; chart
values.schema.json at kubernetes-sigs/aws-ebs-csi-driver tag v1.64.0, chart 2.63.1:
`node.hostNetwork` boolean, `node.metadataSources` string; templates/_node.tpl renders them as
the node pod's `hostNetwork` and `--metadata-sources`).

Every node here has an IMDS hop limit of 1 (components/common/launch_template.py), so a node pod
in its own network namespace cannot reach IMDS and the driver falls back to Kubernetes metadata,
which "does not provide information about the number of ENIs or EBS volumes attached" and
assumes one of each (docs/install.md, "Kubernetes Metadata"). The node's volume limit is then
wrong wherever ENIs share the attachment limit (g4dn, g5: `shared` in
pkg/cloud/limits/volume_limits_table.go) and VPC CNI has added ENIs. On the host network the
node pod reaches IMDS with hop limit 1 (docs/install.md: "it either must be run in host
networking mode, or with a hop limit of at least 2") and counts the attached ENIs and block
devices (pkg/driver/node.go getVolumesLimit: limit minus reserved attachments minus ENIs beyond
the first on a shared limit; p5.48xlarge is `dedicated` 64, so its EFA interfaces never count).
IMDS as the only source (docs/faq.md, "MutableCSINodeAllocatableCount": "IMDS must be the only
enabled or preferred metadata source") lets kubelet refresh the limit every 10 s on EKS 1.34+ as
ENIs come and go, and makes a node pod that cannot reach IMDS fail visibly instead of reporting
a guessed limit. A fixed `node.volumeAttachLimit` or `reservedVolumeAttachments` would apply to
every node of every pool alike, so neither is set."""


class ClusterRefs(TypedDict):
    """Handles of what the network created, for the cluster."""

    subnet_ids: Sequence[pulumi.Input[str]]
    """Private subnets for the system node group (and the control-plane ENIs without
    `control_plane_subnet_ids`)."""
    vpc_id: pulumi.Input[str]
    """The VPC (for the API security group)."""
    log_kms_key_arn: NotRequired[pulumi.Input[str] | None]
    """The stack's logs key (`LogsKey.key_arn`), for the control-plane log group; None or absent:
    AWS-managed encryption."""
    control_plane_subnet_ids: NotRequired[Sequence[pulumi.Input[str]]]
    """Dedicated subnets for the control plane's network interfaces. Default: `subnet_ids`."""
    pod_subnet_ids_by_az: NotRequired[Mapping[str, pulumi.Input[str]]]
    """Pod subnet per AZ, with custom networking (the spec's `custom_networking`)."""


def kubeconfig(cluster_name: str, endpoint: str, ca_data: str, region: str) -> str:
    """A kubeconfig that authenticates with `aws eks get-token` (the deployer's AWS identity)."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": cluster_name,
                    "cluster": {"server": endpoint, "certificate-authority-data": ca_data},
                }
            ],
            "contexts": [
                {"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}
            ],
            "current-context": cluster_name,
            "users": [
                {
                    "name": cluster_name,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "aws",
                            "args": [
                                "eks",
                                "get-token",
                                "--cluster-name",
                                cluster_name,
                                "--region",
                                region,
                                "--output",
                                "json",
                            ],
                        }
                    },
                }
            ],
        }
    )


class Cluster(pulumi.ComponentResource):
    """EKS control plane, add-ons, system node group and a Kubernetes provider."""

    cluster_name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    oidc_issuer: pulumi.Output[str]
    cluster_security_group_id: pulumi.Output[str]
    node_role_arn: pulumi.Output[str]
    provider: k8s.Provider
    vpc_cni: aws.eks.Addon
    """The vpc-cni add-on: node groups depend on it (pod networking before the first node)."""

    def __init__(
        self,
        name: str,
        spec: ClusterSpec,
        refs: ClusterRefs,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("gpuplatform:index:Cluster", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        region = spec.region
        part = spec.partition
        cluster_name = spec.name

        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane",
            name=f"/aws/eks/{cluster_name}/cluster",
            retention_in_days=spec.log_retention_days,
            kms_key_id=refs.get("log_kms_key_arn"),
            opts=keep(self, spec.protect),
        )

        role = aws.iam.Role(
            f"{name}-control-plane",
            assume_role_policy=iam.service_trust("eks.amazonaws.com", tag_session=True),
            opts=child,
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-control-plane-eks",
            role=role.name,
            policy_arn=iam.managed_policy_arn(part, "AmazonEKSClusterPolicy"),
            opts=child,
        )

        # The key's policy names the cluster role by its ARN (built from its name), so the role
        # exists before the key (KMS refuses a policy naming an unknown principal).
        key = aws.kms.Key(
            f"{name}-secrets",
            description=f"EKS secrets envelope encryption for {cluster_name}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.all(account.account_id, role.name).apply(
                lambda v: secrets_key_policy(part, v[0], spec.deployer.principal_arn, str(v[1]))
            ),
            opts=keep(self, spec.protect),
        )
        secrets_alias = f"alias/{cluster_name}-eks-secrets"
        aws.kms.Alias(
            f"{name}-secrets",
            name=secrets_alias,
            target_key_id=key.key_id,
            opts=keep(self, spec.protect),
        )
        aws.iam.RolePolicy(
            f"{name}-control-plane-kms",
            role=role.id,
            policy=account.account_id.apply(
                lambda account_id: iam.document(
                    [
                        kms.alias_scoped(
                            CLUSTER_KEY_ACTIONS,
                            part,
                            region,
                            account_id,
                            secrets_alias,
                            sid="UseSecretsKey",
                        )
                    ]
                )
            ),
            opts=child,
        )

        # The security group EKS creates admits only itself: whoever else must reach the API
        # (the deployer above all, with a private endpoint) comes in through this one.
        api_group = aws.ec2.SecurityGroup(
            f"{name}-api",
            vpc_id=refs["vpc_id"],
            description=f"HTTPS to the Kubernetes API of {cluster_name} from the deployer",
            tags={"Name": f"{cluster_name}-api"},
            opts=child,
        )
        for index, cidr in enumerate(spec.api_source_cidrs):
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-api-cidr-{index}",
                security_group_id=api_group.id,
                cidr_ipv4=cidr,
                ip_protocol="tcp",
                from_port=443,
                to_port=443,
                description="Kubernetes API from a deployer network",
                opts=child,
            )
        for index, group in enumerate(spec.api_source_security_groups):
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-api-sg-{index}",
                security_group_id=api_group.id,
                referenced_security_group_id=group,
                ip_protocol="tcp",
                from_port=443,
                to_port=443,
                description="Kubernetes API from a deployer security group",
                opts=child,
            )
        self.api_security_group_id = api_group.id

        vpc_config: aws.eks.ClusterVpcConfigArgsDict = {
            # EKS updates the subnets of a live cluster in place (UpdateClusterConfig), within the
            # AZs the cluster was created in.
            "subnet_ids": list(refs.get("control_plane_subnet_ids") or refs["subnet_ids"]),
            "security_group_ids": [api_group.id],
            "endpoint_private_access": True,
            "endpoint_public_access": spec.endpoint_public,
        }
        if spec.endpoint_public:
            vpc_config["public_access_cidrs"] = list(spec.public_access_cidrs)
        cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=cluster_name,
            version=spec.kubernetes_version,
            role_arn=role.arn,
            vpc_config=vpc_config,
            encryption_config={"provider": {"key_arn": key.arn}, "resources": ["secrets"]},
            enabled_cluster_log_types=list(spec.log_types),
            # No implicit entry for the creator: the deployer's entry is created below, once
            # (an implicit one plus an explicit one for the same principal is a 409).
            access_config={
                "authentication_mode": "API",
                "bootstrap_cluster_creator_admin_permissions": False,
            },
            deletion_protection=spec.deletion_protection,
            upgrade_policy={"support_type": versions.EKS_SUPPORT_TYPE},
            bootstrap_self_managed_addons=False,
            opts=guard(self, spec.protect, depends_on=[log_group]),
        )

        issuer = cluster.identities.apply(lambda ids: ids[0].oidcs[0].issuer)  # type: ignore[index]
        oidc = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc", url=issuer, client_id_lists=["sts.amazonaws.com"], opts=child
        )

        grants = [(f"{name}-deployer", spec.deployer)]
        grants += [(f"{name}-access-{index}", grant) for index, grant in enumerate(spec.access)]
        associations: dict[str, aws.eks.AccessPolicyAssociation] = {}
        for child_name, grant in grants:
            entry = aws.eks.AccessEntry(
                child_name,
                cluster_name=cluster.name,
                principal_arn=grant.principal_arn,
                type="STANDARD",
                opts=child,
            )
            associations[child_name] = aws.eks.AccessPolicyAssociation(
                child_name,
                cluster_name=cluster.name,
                principal_arn=entry.principal_arn,
                policy_arn=grant.policy_arn,
                access_scope=(
                    {"type": "namespace", "namespaces": list(grant.namespaces)}
                    if grant.namespaces
                    else {"type": "cluster"}
                ),
                opts=child,
            )

        def addon(
            short: str,
            addon_name: str,
            version: str | None,
            *,
            configuration: pulumi.Input[str] | None = None,
            service_account: str | None = None,
            policies: Sequence[str] = (),
            after: Sequence[pulumi.Resource] = (),
        ) -> aws.eks.Addon:
            extra: dict[str, Any] = {}
            if service_account:
                addon_role = aws.iam.Role(
                    f"{name}-{short}",
                    assume_role_policy=pod_identity_trust_output(cluster_name, self),
                    opts=child,
                )
                for policy in policies:
                    aws.iam.RolePolicyAttachment(
                        f"{name}-{short}-{policy.rsplit('/', 1)[-1]}",
                        role=addon_role.name,
                        policy_arn=iam.managed_policy_arn(part, policy),
                        opts=child,
                    )
                extra["pod_identity_associations"] = [
                    {"role_arn": addon_role.arn, "service_account": service_account}
                ]
            return aws.eks.Addon(
                f"{name}-{short}",
                cluster_name=cluster.name,
                addon_name=addon_name,
                addon_version=version,
                configuration_values=configuration,
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="OVERWRITE",
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(after)),
                **extra,
            )

        # Before nodes: networking and credentials must be there when the first node joins. With
        # custom networking above all: a node that joins before the ENIConfigs and the CNI's
        # environment exist puts its pods on the node subnet until it is replaced, so every node
        # group depends on this add-on (`self.vpc_cni`).
        pod_identity = addon(
            "pod-identity-agent", "eks-pod-identity-agent", spec.addons.pod_identity_agent
        )
        cni_values: pulumi.Input[str] = vpc_cni_configuration(region)
        if spec.custom_networking:
            pod_subnets = dict(refs.get("pod_subnet_ids_by_az") or {})
            if not pod_subnets:
                raise ValueError("custom networking needs the pod subnets (pod_subnet_ids_by_az)")
            azs = list(pod_subnets)
            # Pods' interfaces carry the cluster security group, as the nodes' do.
            cni_values = pulumi.Output.all(
                cluster.vpc_config.cluster_security_group_id, *pod_subnets.values()
            ).apply(
                lambda v: vpc_cni_configuration(region, dict(zip(azs, v[1:], strict=True)), [v[0]])
            )
        vpc_cni = addon(
            "vpc-cni",
            "vpc-cni",
            spec.addons.vpc_cni,
            configuration=cni_values,
            service_account="aws-node",
            policies=["AmazonEKS_CNI_Policy"],
            after=[pod_identity],
        )
        kube_proxy = addon("kube-proxy", "kube-proxy", spec.addons.kube_proxy)

        node_role = aws.iam.Role(
            f"{name}-node", assume_role_policy=iam.service_trust("ec2.amazonaws.com"), opts=child
        )
        for policy in spec.node_managed_policies:
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{policy}",
                role=node_role.name,
                policy_arn=iam.managed_policy_arn(part, policy),
                opts=child,
            )

        pool = spec.system_pool
        system_lt = aws.ec2.LaunchTemplate(
            f"{name}-system",
            description=f"System node group of {cluster_name}",
            metadata_options=launch_template.metadata_options(),
            block_device_mappings=[launch_template.root_volume(pool.disk_size_gib)],
            tag_specifications=launch_template.tag_specifications(
                spec.tags, f"{cluster_name}-system"
            ),
            update_default_version=True,
            opts=child,
        )
        system = aws.eks.NodeGroup(
            f"{name}-system",
            cluster_name=cluster.name,
            node_role_arn=node_role.arn,
            subnet_ids=list(refs["subnet_ids"]),
            instance_types=list(pool.instance_types),
            ami_type=pool.ami_type,
            capacity_type="ON_DEMAND",
            scaling_config={
                "min_size": pool.min_size,
                "desired_size": pool.desired_size,
                "max_size": pool.max_size,
            },
            update_config={"max_unavailable": 1},
            launch_template={"id": system_lt.id, "version": system_lt.latest_version.apply(str)},
            labels={NODE_POOL_LABEL: SYSTEM_POOL},
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[vpc_cni, kube_proxy, pod_identity],
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )

        # After nodes: these run pods and report DEGRADED until a node can schedule them.
        addon("coredns", "coredns", spec.addons.coredns, after=[system])
        addon(
            "ebs-csi",
            "aws-ebs-csi-driver",
            spec.addons.ebs_csi_driver,
            configuration=EBS_CSI_CONFIGURATION,
            service_account="ebs-csi-controller-sa",
            policies=["service-role/AmazonEBSCSIDriverPolicy"],
            after=[system],
        )
        if spec.node_monitoring:
            # Node health for node auto repair on the GPU node groups. The agent's DaemonSet
            # tolerates every taint; its DCGM host engine (GPU health, XIDs) tolerates none by
            # default and would stay off the tainted GPU nodes, so it is given the same.
            addon(
                "node-monitoring-agent",
                "eks-node-monitoring-agent",
                spec.addons.node_monitoring_agent,
                configuration=NODE_MONITORING_CONFIGURATION,
                after=[system],
            )

        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=pulumi.Output.all(
                cluster.name, cluster.endpoint, cluster.certificate_authority.data
            ).apply(lambda v: kubeconfig(v[0], v[1], v[2], region)),
            enable_server_side_apply=True,
            # The deployer can use the API only once its access entry is associated.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[system, associations[f"{name}-deployer"]]
            ),
        )

        self.cluster_name = cluster.name
        self.endpoint = cluster.endpoint
        self.oidc_provider_arn = oidc.arn
        self.oidc_issuer = issuer
        self.cluster_security_group_id = cluster.vpc_config.cluster_security_group_id
        self.node_role_arn = node_role.arn
        self.vpc_cni = vpc_cni
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "endpoint": self.endpoint,
                "oidc_provider_arn": self.oidc_provider_arn,
                "node_role_arn": self.node_role_arn,
            }
        )
