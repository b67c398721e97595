"""Tenancy: a namespace per team, with Pod Security Admission labels, a ResourceQuota on
`requests.nvidia.com/gpu` (and EFA devices), a LimitRange giving containers default requests, and
NetworkPolicies denying ingress except from the namespace's own pods and Prometheus.

Teams exist whether or not Kubeflow is on: a team can run plain Jobs, TrainJobs or pipelines in
its namespace, always under its quota.
"""

from __future__ import annotations

from typing import Any, TypedDict

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.catalog.conventions import FSX_CLAIM, TEAM_LABEL, TRAINING_SERVICE_ACCOUNT
from components.cluster import Cluster
from components.resolve.software import DEFAULT_MONITORING_NAMESPACE
from components.resolve.tenancy import DEFAULT_LIMIT, DEFAULT_REQUEST, TeamSpec, TenancySpec
from components.storage import TieredStorage

LEGACY_PARENT = "gpuplatform:index:Kubeflow"
"""Team objects were first created under the Kubeflow component (named `kubeflow`): each is
aliased to its old URN, so moving them here replaces nothing on a live stack."""


NAMESPACE_TYPE = "kubernetes:core/v1:Namespace"
QUOTA_TYPE = "kubernetes:core/v1:ResourceQuota"
LIMITS_TYPE = "kubernetes:core/v1:LimitRange"


def legacy_urn(stack: str, project: str, type_token: str, name: str) -> str:
    """Pure: the URN a team object had under the Kubeflow component, e.g.
    `urn:pulumi:prod::gpu-platform::gpuplatform:index:Kubeflow$kubernetes:core/v1:Namespace::
    kubeflow-team-research`."""
    return f"urn:pulumi:{stack}::{project}::{LEGACY_PARENT}${type_token}::kubeflow-{name}"


NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
"""Label Kubernetes sets on every namespace: its name."""
PROMETHEUS_POD_LABELS = {
    "app.kubernetes.io/name": "prometheus",
    "app.kubernetes.io/managed-by": "prometheus-operator",
}
"""Labels the Prometheus operator puts on every Prometheus server pod."""


def prometheus_peer(monitoring_namespace: str = DEFAULT_MONITORING_NAMESPACE) -> dict[str, Any]:
    """Pure: a NetworkPolicy peer matching the Prometheus server pods of the monitoring
    namespace."""
    return {
        "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: monitoring_namespace}},
        "podSelector": {"matchLabels": dict(PROMETHEUS_POD_LABELS)},
    }


def deny_ingress_manifest(namespace: str) -> dict[str, Any]:
    """Pure: a NetworkPolicy selecting every pod of the namespace and admitting nothing (other
    policies of the namespace add what is allowed; the VPC CNI always admits the node itself, so
    kubelet probes still work)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "default-deny-ingress", "namespace": namespace},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }


def team_network_policies(team: TeamSpec) -> list[dict[str, Any]]:
    """Pure: default deny ingress in the team namespace; its own pods (multi-node jobs: torchrun
    rendezvous, NCCL bootstrap) and the monitoring namespace's Prometheus may still connect."""
    return [
        deny_ingress_manifest(team.name),
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "allow-namespace-and-prometheus", "namespace": team.name},
            "spec": {
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"podSelector": {}}, prometheus_peer()]}],
            },
        },
    ]


class HotTier(TypedDict):
    """The FSx for Lustre file system a team namespace mounts (storage component's outputs)."""

    file_system_id: pulumi.Input[str]
    dns_name: pulumi.Input[str]
    mount_name: pulumi.Input[str]
    capacity_gib: int


class TeamRefs(TypedDict):
    """What team namespaces use of other components: the training role and the hot tier."""

    cluster_name: pulumi.Input[str]
    training_role_arn: pulumi.Input[str]
    """The storage component's training role (datasets read, checkpoints write)."""
    hot_tier: HotTier | None
    """None when the stack has no FSx file system."""


def team_refs(cluster: Cluster, storage: TieredStorage) -> TeamRefs:
    """What team namespaces take from the cluster and the storage tiers."""
    fsx, file_system = storage.spec.fsx, storage.file_system
    hot_tier: HotTier | None = None
    if fsx is not None and file_system is not None:
        hot_tier = {
            "file_system_id": file_system.id,
            "dns_name": file_system.dns_name,
            "mount_name": file_system.mount_name,
            "capacity_gib": fsx.capacity_gib,
        }
    return {
        "cluster_name": cluster.cluster_name,
        "training_role_arn": storage.training_role_arn,
        "hot_tier": hot_tier,
    }


def fsx_volume_name(team: str) -> str:
    """Pure: the cluster-scoped PersistentVolume of one team's FSx claim."""
    return f"{FSX_CLAIM}-{team}"


def team_storage_manifests(team: str, hot_tier: HotTier) -> list[dict[str, Any]]:
    """Pure: the static PersistentVolume and its claim `fsx-lustre` that mount the whole FSx file
    system in a team namespace (a PERSISTENT_2 file system linked to S3 cannot be provisioned
    dynamically, so each namespace gets a static PV of the same file system). The PV is reserved
    for the team's claim (`claimRef`) and retained when the claim goes: deleting it never touches
    the file system. Every team sees the whole file system (/datasets, /checkpoints, ...): keep
    team data apart with directories and POSIX permissions."""
    capacity = f"{hot_tier['capacity_gib']}Gi"
    return [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": fsx_volume_name(team), "labels": {TEAM_LABEL: team}},
            "spec": {
                "capacity": {"storage": capacity},
                "volumeMode": "Filesystem",
                "accessModes": ["ReadWriteMany"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": "",
                "mountOptions": ["flock"],
                "claimRef": {"namespace": team, "name": FSX_CLAIM},
                "csi": {
                    "driver": "fsx.csi.aws.com",
                    "volumeHandle": hot_tier["file_system_id"],
                    "volumeAttributes": {
                        "dnsname": hot_tier["dns_name"],
                        "mountname": hot_tier["mount_name"],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": FSX_CLAIM, "namespace": team},
            "spec": {
                "accessModes": ["ReadWriteMany"],
                "storageClassName": "",
                "volumeName": fsx_volume_name(team),
                "resources": {"requests": {"storage": capacity}},
            },
        },
    ]


def team_manifests(team: TeamSpec) -> list[dict[str, Any]]:
    """Pure: namespace, quota and limit range of one team. The quota caps what the namespace
    requests at once, through Kueue or not: the team's quota, or with Kueue what it may hold
    with borrowing (`TeamSpec.gpu_hard`, `efa_hard`), so Kueue enforces the nominal quota and
    admits borrowed quota the namespace can then take."""
    level = team.pod_security
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": team.name,
                "labels": {
                    "pod-security.kubernetes.io/enforce": level,
                    "pod-security.kubernetes.io/warn": "restricted",
                    "pod-security.kubernetes.io/audit": "restricted",
                    TEAM_LABEL: team.name,
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "gpu-quota", "namespace": team.name},
            "spec": {
                "hard": {
                    "requests.nvidia.com/gpu": str(team.gpu_hard),
                    "requests.vpc.amazonaws.com/efa": str(team.efa_hard),
                }
            },
        },
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": {"name": "container-defaults", "namespace": team.name},
            "spec": {
                "limits": [
                    {
                        "type": "Container",
                        "defaultRequest": dict(DEFAULT_REQUEST),
                        "default": dict(DEFAULT_LIMIT),
                    }
                ]
            },
        },
    ]


class Tenancy(pulumi.ComponentResource):
    """Every configured team's namespace, GPU/EFA quota and container defaults."""

    namespaces: dict[str, k8s.core.v1.Namespace]

    def __init__(
        self,
        name: str,
        spec: TenancySpec,
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
        *,
        refs: TeamRefs | None = None,
    ):
        super().__init__("gpuplatform:index:Tenancy", name, {}, opts)
        stack, project = pulumi.get_stack(), pulumi.get_project()

        def options(kind: str, stem: str, *depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(
                parent=self,
                provider=provider,
                depends_on=list(depends_on),
                aliases=[legacy_urn(stack, project, kind, stem)],
            )

        self.namespaces = {}
        for team in spec.teams:
            namespace, quota, limits = team_manifests(team)
            stem = f"team-{team.name}"
            ns = k8s.core.v1.Namespace(
                f"{name}-{stem}",
                metadata=namespace["metadata"],
                opts=options(NAMESPACE_TYPE, stem),
            )
            k8s.core.v1.ResourceQuota(
                f"{name}-{stem}-quota",
                metadata=quota["metadata"],
                spec=quota["spec"],
                opts=options(QUOTA_TYPE, f"{stem}-quota", ns),
            )
            k8s.core.v1.LimitRange(
                f"{name}-{stem}-limits",
                metadata=limits["metadata"],
                spec=limits["spec"],
                opts=options(LIMITS_TYPE, f"{stem}-limits", ns),
            )
            for policy, role in zip(
                team_network_policies(team), ("deny-ingress", "allow-ingress"), strict=True
            ):
                k8s.networking.v1.NetworkPolicy(
                    f"{name}-{stem}-{role}",
                    metadata=policy["metadata"],
                    spec=policy["spec"],
                    opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[ns]),
                )
            if refs is not None:
                self._team_training(name, stem, team.name, refs, provider, ns)
            self.namespaces[team.name] = ns
        self.register_outputs({"namespaces": sorted(self.namespaces)})

    def _team_training(
        self,
        name: str,
        stem: str,
        team: str,
        refs: TeamRefs,
        provider: k8s.Provider,
        namespace: k8s.core.v1.Namespace,
    ) -> None:
        """The `training-runner` service account with the training role (Pod Identity), and with
        the hot tier on, the team's `fsx-lustre` claim: what the shipped TrainJobs use."""
        in_namespace = pulumi.ResourceOptions(
            parent=self, provider=provider, depends_on=[namespace]
        )
        account = k8s.core.v1.ServiceAccount(
            f"{name}-{stem}-training-sa",
            metadata={"name": TRAINING_SERVICE_ACCOUNT, "namespace": team},
            opts=in_namespace,
        )
        aws.eks.PodIdentityAssociation(
            f"{name}-{stem}-training",
            cluster_name=refs["cluster_name"],
            namespace=team,
            service_account=TRAINING_SERVICE_ACCOUNT,
            role_arn=refs["training_role_arn"],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account]),
        )
        if refs["hot_tier"] is None:
            return
        volume, claim = team_storage_manifests(team, refs["hot_tier"])
        pv = k8s.core.v1.PersistentVolume(
            f"{name}-{stem}-fsx-pv",
            metadata=volume["metadata"],
            spec=volume["spec"],
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )
        k8s.core.v1.PersistentVolumeClaim(
            f"{name}-{stem}-fsx-pvc",
            metadata=claim["metadata"],
            spec=claim["spec"],
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[namespace, pv]),
        )
