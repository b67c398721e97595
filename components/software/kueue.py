"""Kueue: GPU jobs of every team admitted against the team's quota, idle quota lent within one
cohort and reclaimed by preemption.

What it builds (field names checked against kubernetes-sigs/kueue tag v0.19.2,
`apis/kueue/v1beta2/*_types.go` and `charts/kueue/templates/crd/`):
- The `kueue` chart (pinned in components/versions.py) on the system pool. Its values replace the
  chart's `managerConfig.controllerManagerConfigYaml` (charts/kueue/values.yaml): the default
  Configuration (`config.kueue.x-k8s.io/v1beta2`) with the frameworks the platform runs
  (`trainer.kubeflow.org/trainjob`, `jobset.x-k8s.io/jobset`, `batch/job`; not `pod`,
  `deployment` or `statefulset`, whose webhooks would sit in the path of every pod the cluster
  creates outside kube-system and kueue-system) and
  `resources.quotaCheckStrategy: IgnoreUndeclared` (apis/config/v1beta2/configuration_types.go;
  feature gate QuotaCheckStrategy, Beta and on since 0.19): Kueue only counts the resources a
  ClusterQueue covers (GPUs, EFA devices), so CPU and memory requests do not block admission.
- A ResourceFlavor per GPU pool: `nodeLabels` (the pool label) and `tolerations` (the pool's
  taints), which Kueue adds to the pods it admits on the flavor; on EFA pools `topologyName`
  names a Topology (`kueue.x-k8s.io/v1beta2`, `spec.levels[].nodeLabel`) from EC2's network
  topology labels, for topology-aware scheduling (Beta, on by default since 0.14).
- A ClusterQueue per team, every one in the cohort (`spec.cohortName`), with one resource group
  covering `nvidia.com/gpu` (and `vpc.amazonaws.com/efa` when a pool has EFA): each flavor's
  nominal quota is the team's quota (capped by what the pool holds at its maximum size), a
  `borrowingLimit` where the team sets one (else none: the cohort's idle quota; ResourceQuota
  `borrowingLimit` in clusterqueue_types.go), `preemption.reclaimWithinCohort: Any` (a team gets
  its lent quota back by preempting borrowers) and `withinClusterQueue: LowerPriority`.
- A LocalQueue named after the team in the team's namespace (`spec.clusterQueue`).

Every custom resource depends on the release, which installs the CRDs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.catalog.conventions import MANAGED_BY_LABELS, NODE_POOL_LABEL, SYSTEM_POOL
from components.common.helm import chart_release
from components.resolve.software import (
    EFA_RESOURCE,
    EFA_TOPOLOGY,
    GPU_RESOURCE,
    KueueFlavor,
    KueueQueue,
    KueueSpec,
)

API_VERSION: Final = "kueue.x-k8s.io/v1beta2"
"""Served and storage version of every Kueue CRD used here at v0.19.2 (v1beta1 is deprecated)."""
FRAMEWORKS: Final = (
    "batch/job",
    "jobset.x-k8s.io/jobset",
    "trainer.kubeflow.org/trainjob",
)
"""Integrations on (spelled as in the chart's default `integrations.frameworks`). Jobs, JobSets and
TrainJobs without the queue label are left alone (`manageJobsWithoutQueueName` stays false)."""
LOCAL_QUEUE_IMMUTABLE: Final = ("spec.clusterQueue",)
TOPOLOGY_IMMUTABLE: Final = ("spec.levels",)
FLAVOR_IMMUTABLE: Final = ("spec.nodeLabels", "spec.tolerations", "spec.topologyName")
"""Immutable once `topologyName` is set (the ResourceFlavor CRD's CEL rules)."""


def manager_config() -> str:
    """Pure: the controller's Configuration, the chart's default at 0.19.2 with the frameworks and
    the quota check strategy above."""
    config: dict[str, Any] = {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "health": {"healthProbeBindAddress": ":8081"},
        "metrics": {"bindAddress": ":8443"},
        "webhook": {"port": 9443},
        "leaderElection": {"leaderElect": True, "resourceName": "c1f6bfd2.kueue.x-k8s.io"},
        "controller": {
            "groupKindConcurrency": {
                "Job.batch": 5,
                "Pod": 5,
                "Workload.kueue.x-k8s.io": 10,
                "LocalQueue.kueue.x-k8s.io": 5,
                "ClusterQueue.kueue.x-k8s.io": 5,
                "ResourceFlavor.kueue.x-k8s.io": 1,
            }
        },
        "clientConnection": {"qps": 300, "burst": 500},
        "integrations": {"frameworks": list(FRAMEWORKS)},
        "resources": {"quotaCheckStrategy": "IgnoreUndeclared"},
    }
    return yaml.safe_dump(config, sort_keys=False)


def values() -> dict[str, Any]:
    """Pure: chart values (keys from charts/kueue/values.yaml at v0.19.2)."""
    return {
        "controllerManager": {"nodeSelector": {NODE_POOL_LABEL: SYSTEM_POOL}},
        "managerConfig": {"controllerManagerConfigYaml": manager_config()},
    }


def topology_manifest(name: str, levels: tuple[str, ...]) -> dict[str, Any]:
    """Pure: a Topology, levels widest first."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Topology",
        "metadata": {"name": name, "labels": dict(MANAGED_BY_LABELS)},
        "spec": {"levels": [{"nodeLabel": level} for level in levels]},
    }


def flavor_manifest(flavor: KueueFlavor) -> dict[str, Any]:
    """Pure: the ResourceFlavor of one GPU pool."""
    spec: dict[str, Any] = {
        "nodeLabels": dict(flavor.node_labels),
        "tolerations": [
            {"key": key, "operator": "Equal", "value": value, "effect": effect}
            for key, value, effect in flavor.tolerations
        ],
    }
    if flavor.topology is not None:
        spec["topologyName"] = flavor.topology
    return {
        "apiVersion": API_VERSION,
        "kind": "ResourceFlavor",
        "metadata": {"name": flavor.name, "labels": dict(MANAGED_BY_LABELS)},
        "spec": spec,
    }


def cluster_queue_manifest(queue: KueueQueue, spec: KueueSpec) -> dict[str, Any]:
    """Pure: a team's ClusterQueue. Every flavor lists every covered resource, in the same order
    (the CRD requires it); a flavor without EFA gets an EFA quota of 0."""
    covered = [GPU_RESOURCE, *([EFA_RESOURCE] if spec.efa else [])]

    def quotas(flavor: KueueFlavor) -> list[dict[str, Any]]:
        gpus = min(queue.gpu_quota, flavor.gpus)
        items: list[dict[str, Any]] = [{"name": GPU_RESOURCE, "nominalQuota": str(gpus)}]
        if queue.gpu_borrowing_limit is not None:
            items[0]["borrowingLimit"] = str(queue.gpu_borrowing_limit)
        if spec.efa:
            efa = min(queue.efa_quota, flavor.efa_devices)
            items.append({"name": EFA_RESOURCE, "nominalQuota": str(efa)})
            if queue.efa_borrowing_limit is not None:
                items[-1]["borrowingLimit"] = str(queue.efa_borrowing_limit)
        return items

    return {
        "apiVersion": API_VERSION,
        "kind": "ClusterQueue",
        "metadata": {"name": queue.team, "labels": dict(MANAGED_BY_LABELS)},
        "spec": {
            "cohortName": spec.cohort,
            "namespaceSelector": {
                "matchLabels": {"kubernetes.io/metadata.name": queue.team},
            },
            "resourceGroups": [
                {
                    "coveredResources": covered,
                    "flavors": [{"name": f.name, "resources": quotas(f)} for f in spec.flavors],
                }
            ],
            "preemption": {
                "reclaimWithinCohort": "Any",
                "withinClusterQueue": "LowerPriority",
            },
        },
    }


def local_queue_manifest(queue: KueueQueue) -> dict[str, Any]:
    """Pure: the LocalQueue of a team's namespace, named after the team."""
    return {
        "apiVersion": API_VERSION,
        "kind": "LocalQueue",
        "metadata": {
            "name": queue.team,
            "namespace": queue.team,
            "labels": dict(MANAGED_BY_LABELS),
        },
        "spec": {"clusterQueue": queue.team},
    }


class Kueue(pulumi.ComponentResource):
    """The Kueue release, a ResourceFlavor per GPU pool (and the EFA Topology), a ClusterQueue
    per team in one cohort and a LocalQueue in each team namespace."""

    def __init__(
        self,
        name: str,
        spec: KueueSpec,
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
        *,
        namespaces: Mapping[str, pulumi.Resource],
    ):
        super().__init__("gpuplatform:index:Kueue", name, {}, opts)
        self.release = chart_release(
            f"{name}-release",
            "kueue",
            namespace=spec.namespace,
            values=values(),
            provider=provider,
            parent=self,
            create_namespace=True,
        )

        def custom(
            child: str,
            manifest: dict[str, Any],
            immutable: tuple[str, ...] = (),
            *depends_on: pulumi.Resource,
        ) -> k8s.apiextensions.CustomResource:
            return k8s.apiextensions.CustomResource(
                child,
                api_version=manifest["apiVersion"],
                kind=manifest["kind"],
                metadata=manifest["metadata"],
                spec=manifest["spec"],
                opts=pulumi.ResourceOptions(
                    parent=self,
                    provider=provider,
                    depends_on=[self.release, *depends_on],
                    replace_on_changes=list(immutable),
                    delete_before_replace=bool(immutable),
                ),
            )

        topology = None
        if any(f.topology for f in spec.flavors):
            topology = custom(
                f"{name}-topology-{EFA_TOPOLOGY}",
                topology_manifest(EFA_TOPOLOGY, spec.topology_levels),
                TOPOLOGY_IMMUTABLE,
            )
        flavors = [
            custom(
                f"{name}-flavor-{f.name}",
                flavor_manifest(f),
                FLAVOR_IMMUTABLE if f.topology else (),
                *([topology] if f.topology and topology else []),
            )
            for f in spec.flavors
        ]
        self.cluster_queues: dict[str, k8s.apiextensions.CustomResource] = {}
        self.local_queues: dict[str, k8s.apiextensions.CustomResource] = {}
        for queue in spec.queues:
            cq = custom(
                f"{name}-cq-{queue.team}", cluster_queue_manifest(queue, spec), (), *flavors
            )
            self.cluster_queues[queue.team] = cq
            self.local_queues[queue.team] = custom(
                f"{name}-lq-{queue.team}",
                local_queue_manifest(queue),
                LOCAL_QUEUE_IMMUTABLE,
                cq,
                namespaces[queue.team],
            )
        self.register_outputs(
            {
                "cluster_queues": sorted(self.cluster_queues),
                "local_queues": sorted(self.local_queues),
            }
        )
