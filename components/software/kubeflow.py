"""Kubeflow: distributed training (Trainer v2), and Pipelines behind cert-manager.

Training uses Kubeflow Trainer v2 (the `kubeflow-trainer` Helm chart pinned in
components/versions.py; it brings JobSet and needs Kubernetes >= 1.31) rather than the v1
Training Operator: Trainer v2 is where Kubeflow's training work goes, its TrainJob separates the
runtime (how to launch torchrun) from the job (image, nodes, resources), and its `runtimePatches`
place pods on the EFA pool without forking the runtime. The chart installs the default
`torch-distributed` ClusterTrainingRuntime.

Pipelines is the standalone (single-user) Kubeflow Pipelines deployment at a pinned tag, in this
order, each step after the previous:
1. cert-manager (Helm chart pinned in components/versions.py, CRDs from the chart's
   `crds.enabled`). KFP's cache deployer asks for a `kubernetes.io/kubelet-serving` certificate,
   which EKS does not sign for workloads, so cert-manager issues the cache webhook's certificate.
2. The `kubeflow` namespace and the two Secrets KFP reads, from generated values (pulumi-random
   `RandomPassword`, kept in the stack state as secrets): `mysql-secret` (`username`, `password`;
   read by ml-pipeline, cache-server and metadata-grpc) and `mlpipeline-minio-artifact`
   (`accesskey`, `secretkey`; read by ml-pipeline, ml-pipeline-ui, the SeaweedFS object store and
   Argo's artifact repository). Upstream ships an empty MySQL root password and `minio`/
   `minio123`.
3. KFP's CRDs: `env/cert-manager/cluster-scoped-resources` (the cluster-scoped set without the
   cache deployer).
4. Our overlay workloads/kustomize/kubeflow-pipelines: `env/platform-agnostic` plus
   `env/cert-manager/base`, with the cache deployer deleted, cache-server given the TLS files,
   the upstream Secrets deleted (step 2 made them) and MySQL's root password taken from
   `mysql-secret`.

Isolation: standalone Pipelines has no multi-user isolation. Everyone who reaches the
`ml-pipeline` API or UI (port-forward, or any pod the network allows) sees and runs every
pipeline, and every run executes in the `kubeflow` namespace with the same service account and
the same object-store keys. Keep access to the namespace to the platform team; teams that need
isolation run TrainJobs in their own namespaces (components/tenancy.py), or a multi-user Kubeflow
install (profiles, Istio, Dex), which this blueprint does not ship. MySQL reads its root password
when it first initialises its volume: rotating `mysql-secret` later also needs
`ALTER USER` in MySQL.

Team namespaces and their GPU quotas are not Kubeflow's: they are the tenancy component's, and
exist whether or not Kubeflow is on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.catalog.conventions import MANAGED_BY_LABELS, NODE_POOL_LABEL, SYSTEM_POOL
from components.common.helm import chart_release
from components.resolve.software import KubeflowSpec

TRAINER_NAMESPACE: Final = "kubeflow-system"
PIPELINES_NAMESPACE: Final = "kubeflow"
"""The namespace KFP's manifests hard-code (env/platform-agnostic `namespace: kubeflow`)."""
CERT_MANAGER_NAMESPACE: Final = "cert-manager"
PIPELINES_REPO: Final = "https://github.com/kubeflow/pipelines"
"""Kustomize remote form: `<repo>//<path>?ref=<tag>` (never GitHub's browser `/tree/<ref>/`)."""
OVERLAY: Final = Path(__file__).resolve().parents[2] / "workloads/kustomize/kubeflow-pipelines"
"""Our overlay of KFP's platform-agnostic install (see its kustomization.yaml)."""

MYSQL_SECRET: Final = "mysql-secret"
MYSQL_USER: Final = "root"
"""KFP creates its databases (mlpipeline, cachedb, metadb) at start-up, so it connects as root."""
OBJECT_STORE_SECRET: Final = "mlpipeline-minio-artifact"
PASSWORD_LENGTH: Final = 32
ACCESS_KEY_LENGTH: Final = 20
SECRET_KEY_LENGTH: Final = 40
SYSTEM_NODE_SELECTOR: Final = {NODE_POOL_LABEL: SYSTEM_POOL}


def trainer_values() -> dict[str, Any]:
    """Pure: chart values: the default torch runtime on (`torch-distributed`)."""
    return {"runtimes": {"torchDistributed": {"enabled": True}}}


def cert_manager_values() -> dict[str, Any]:
    """Pure: cert-manager values (keys from the chart's values.yaml at the pinned tag): CRDs from
    the chart and kept on uninstall; the controller, webhook, CA injector and start-up check on
    the system pool."""
    system = dict(SYSTEM_NODE_SELECTOR)
    return {
        "crds": {"enabled": True, "keep": True},
        "nodeSelector": system,
        "webhook": {"nodeSelector": system},
        "cainjector": {"nodeSelector": system},
        "startupapicheck": {"nodeSelector": system},
    }


def remote(path: str, ref: str) -> str:
    """Pure: a kustomize remote directory of the KFP repository at `ref`."""
    return f"{PIPELINES_REPO}//manifests/kustomize/{path.strip('/')}?ref={ref}"


def pipelines_directories(ref: str, overlay: Path = OVERLAY) -> list[str]:
    """Pure: the kustomizations of the standalone deployment, in apply order: KFP's CRDs (the
    cert-manager variant, without the cache deployer), then our overlay (a path relative to the
    working directory, which the Kubernetes provider resolves it from)."""
    return [
        remote("env/cert-manager/cluster-scoped-resources", ref),
        os.path.relpath(overlay, Path.cwd()),
    ]


def pipelines_namespace() -> k8s.meta.v1.ObjectMetaArgsDict:
    """Pure: the `kubeflow` namespace (labels as KFP's own namespace.yaml sets them)."""
    return {
        "name": PIPELINES_NAMESPACE,
        "labels": {
            **MANAGED_BY_LABELS,
            "pod-security.kubernetes.io/enforce": "baseline",
            "pod-security.kubernetes.io/warn": "restricted",
        },
    }


class Kubeflow(pulumi.ComponentResource):
    """Kubeflow Trainer v2 and, optionally, Kubeflow Pipelines with cert-manager."""

    trainer: k8s.helm.v3.Release
    """Depend on it for the TrainJob CRD and the `torch-distributed` runtime."""
    cert_manager: k8s.helm.v3.Release | None
    """Depend on it for cert-manager's CRDs (Certificate, Issuer); None without Pipelines."""
    pipelines: k8s.kustomize.v2.Directory | None
    """The KFP overlay (the last step of the install); None without Pipelines."""

    def __init__(
        self,
        name: str,
        spec: KubeflowSpec,
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("gpuplatform:index:Kubeflow", name, {}, opts)
        self.trainer = chart_release(
            f"{name}-trainer",
            "kubeflow-trainer",
            namespace=TRAINER_NAMESPACE,
            create_namespace=True,
            values=trainer_values(),
            provider=provider,
            parent=self,
        )
        self.cert_manager = None
        self.pipelines = None
        if spec.pipelines:
            self._pipelines(name, spec, provider)
        self.register_outputs({})

    def _pipelines(self, name: str, spec: KubeflowSpec, provider: k8s.Provider) -> None:
        def k8s_opts(*depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(
                parent=self, provider=provider, depends_on=list(depends_on)
            )

        self.cert_manager = chart_release(
            f"{name}-cert-manager",
            "cert-manager",
            namespace=CERT_MANAGER_NAMESPACE,
            create_namespace=True,
            values=cert_manager_values(),
            provider=provider,
            parent=self,
        )
        namespace = k8s.core.v1.Namespace(
            f"{name}-pipelines-namespace", metadata=pipelines_namespace(), opts=k8s_opts()
        )
        child = pulumi.ResourceOptions(parent=self)
        password = random.RandomPassword(
            f"{name}-pipelines-mysql-password", length=PASSWORD_LENGTH, special=False, opts=child
        )
        access_key = random.RandomPassword(
            f"{name}-pipelines-object-store-access-key",
            length=ACCESS_KEY_LENGTH,
            special=False,
            lower=False,
            opts=child,
        )
        secret_key = random.RandomPassword(
            f"{name}-pipelines-object-store-secret-key",
            length=SECRET_KEY_LENGTH,
            special=False,
            opts=child,
        )
        mysql = k8s.core.v1.Secret(
            f"{name}-pipelines-mysql-secret",
            metadata={
                "name": MYSQL_SECRET,
                "namespace": PIPELINES_NAMESPACE,
                "labels": MANAGED_BY_LABELS,
            },
            type="Opaque",
            string_data={"username": MYSQL_USER, "password": password.result},
            opts=k8s_opts(namespace),
        )
        object_store = k8s.core.v1.Secret(
            f"{name}-pipelines-object-store-secret",
            metadata={
                "name": OBJECT_STORE_SECRET,
                "namespace": PIPELINES_NAMESPACE,
                "labels": MANAGED_BY_LABELS,
            },
            type="Opaque",
            string_data={"accesskey": access_key.result, "secretkey": secret_key.result},
            opts=k8s_opts(namespace),
        )
        crds_dir, overlay_dir = pipelines_directories(spec.pipelines_ref)
        # Named by apply order (`-0`, `-1`), the names these steps always had.
        crds = k8s.kustomize.v2.Directory(
            f"{name}-pipelines-0", directory=crds_dir, opts=k8s_opts(namespace)
        )
        self.pipelines = k8s.kustomize.v2.Directory(
            f"{name}-pipelines-1",
            directory=overlay_dir,
            # cert-manager's CRDs (Certificate, Issuer) and KFP's CRDs before their resources;
            # the Secrets before the Deployments that read them.
            opts=k8s_opts(self.cert_manager, crds, namespace, mysql, object_store),
        )
