"""NVIDIA Triton Inference Server on the GPU inference pool, scaled by KEDA on queue time.

What one `TritonService` runs, in its own namespace (Pod Security `restricted`):
- A Deployment of `tritonserver` reading the model repository straight from the models bucket
  (`--model-repository=s3://<bucket>/<prefix>`, `--model-control-mode=poll`, so models added to
  the bucket load without a restart). Each replica takes `gpus_per_replica` GPUs, lands only on
  the inference pool's nodes (node selector `gpu-platform/pool`, toleration for the GPU taint),
  spreads over zones, runs as Triton's non-root user 1000 with no privilege escalation and no
  capabilities, and gets a memory-backed `/dev/shm` (the Python backend and DALI pass tensors
  through shared memory; the container default of 64 MiB is too small).
- Probes on Triton's HTTP health API: a startup probe gives model downloads from S3 up to
  `startup_timeout_seconds` (the HTTP endpoint comes up only once models are loaded), then
  liveness (`/v2/health/live`) restarts a hung server and readiness (`/v2/health/ready`) keeps
  traffic away until every model is ready.
- A ClusterIP Service (http 8000, grpc 8001, metrics 8002), a PodDisruptionBudget
  (`maxUnavailable: 1`: node drains go one replica at a time, and never block on a single
  replica), and a ServiceMonitor for the metrics port.
- A KEDA ScaledObject owning the replica count between `min_replicas` and `max_replicas`. It
  scales on the average time a request waits in Triton's queue (`nv_inference_queue_duration_us`
  over `nv_inference_request_success`), not GPU utilisation: a saturated GPU that still keeps up
  is fine, a growing queue is not. The metric is a ratio, so the trigger uses `metricType: Value`
  (the HPA multiplies current replicas by value/target); the default `AverageValue` would divide
  it by the replica count and scale back down as soon as the queue drained. The Deployment sets
  no `replicas` of its own, so a `pulumi up` never resets what KEDA decided, and rolling updates
  surge one pod before removing one (`maxUnavailable: 0`), so serving never drops below the
  current replica count (at least `min_replicas`).
- AWS side: an IAM role for the service account through EKS Pod Identity, with one inline policy:
  the models-read document (`s3:Get*`/`s3:List*` on the models bucket, decrypt with the storage
  key). The component checks the document when its values are known and refuses anything that
  writes, or reads another bucket. With no static keys set, Triton's S3 client falls back to the
  AWS C++ SDK's default credential chain (IRSA is reported working, triton-inference-server/server
  #8090); Pod Identity relies on the chain's container-credentials provider, so confirm a model
  loads from the bucket on a real cluster before relying on a new Triton release.

Kubernetes object names come from the component name (e.g. `triton`), so two services in one
namespace do not collide; the Pulumi resource names are `<component>-<role>`.
"""

from __future__ import annotations

from typing import Any, Final, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from components.catalog.conventions import GPU_RESOURCE, GPU_TAINT, NODE_POOL_LABEL, SPOT_TAINT
from components.common.identity import pod_identity
from components.resolve.workloads import TritonSpec

HTTP_PORT: Final = 8000
GRPC_PORT: Final = 8001
METRICS_PORT: Final = 8002
CONTAINER_NAME: Final = "tritonserver"
TRITON_UID: Final = 1000
"""The image's `triton-server` user (uid and gid 1000, asserted by Triton's build.py)."""
LIVE_PATH: Final = "/v2/health/live"
READY_PATH: Final = "/v2/health/ready"
QUEUE_METRIC: Final = "nv_inference_queue_duration_us"
"""Cumulative microseconds requests spent queued (a counter, per model and version)."""
SUCCESS_METRIC: Final = "nv_inference_request_success"
ZONE_LABEL: Final = "topology.kubernetes.io/zone"
SHM_MOUNT: Final = "/dev/shm"


class TritonRefs(TypedDict):
    """Handles of what the cluster, storage and observability created, for a Triton service."""

    provider: k8s.Provider
    """Kubernetes provider of the cluster (every Kubernetes object goes through it)."""
    cluster_name: pulumi.Input[str]
    """EKS cluster (the Pod Identity association)."""
    models_bucket: pulumi.Input[str]
    """Name (not ARN) of the models bucket holding the Triton model repository."""
    models_read_policy: pulumi.Input[str]
    """IAM policy document (JSON) that reads the models bucket: the storage component's."""
    prometheus_url: pulumi.Input[str]
    """Prometheus query endpoint KEDA reads."""


# --------------------------------------------------------------------------- pure builders


def model_repository_url(bucket: str, prefix: str) -> str:
    """`s3://<bucket>` or `s3://<bucket>/<prefix>` (Triton's S3 repository syntax)."""
    return f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"


def triton_args(spec: TritonSpec, bucket: str) -> list[str]:
    """The container's arguments (the image's entrypoint runs them)."""
    return [
        "tritonserver",
        f"--model-repository={model_repository_url(bucket, spec.model_prefix)}",
        f"--http-port={HTTP_PORT}",
        f"--grpc-port={GRPC_PORT}",
        f"--metrics-port={METRICS_PORT}",
        "--model-control-mode=poll",
        f"--repository-poll-secs={spec.repository_poll_secs}",
    ]


def _metadata(spec: TritonSpec, **extra_labels: str) -> dict[str, Any]:
    return {
        "name": spec.name,
        "namespace": spec.namespace,
        "labels": {**spec.selector, **extra_labels},
    }


def namespace_manifest(spec: TritonSpec) -> dict[str, Any]:
    """The namespace, enforcing the `restricted` Pod Security Standard."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": spec.namespace,
            "labels": {
                f"pod-security.kubernetes.io/{mode}": "restricted"
                for mode in ("enforce", "audit", "warn")
            },
        },
    }


def service_account_manifest(spec: TritonSpec) -> dict[str, Any]:
    """The service account the Pod Identity association binds (no API token: Triton does not
    call the Kubernetes API, and Pod Identity mounts its own token)."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _metadata(spec),
        "automountServiceAccountToken": False,
    }


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": HTTP_PORT},
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def deployment_manifest(spec: TritonSpec, bucket: str) -> dict[str, Any]:
    """The Triton Deployment (no `replicas`: KEDA owns the count)."""
    tolerations = [
        {"key": key, "operator": "Equal", "value": value, "effect": effect}
        for key, value, effect in ([GPU_TAINT] + ([SPOT_TAINT] if spec.tolerate_spot else []))
    ]
    memory = f"{spec.memory_gib}Gi"
    container = {
        "name": CONTAINER_NAME,
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        "args": triton_args(spec, bucket),
        "env": [{"name": "AWS_DEFAULT_REGION", "value": spec.region}],
        "ports": [
            {"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
            {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
        ],
        "resources": {
            "requests": {
                "cpu": f"{spec.cpu_millicores}m",
                "memory": memory,
                GPU_RESOURCE: str(spec.gpus_per_replica),
            },
            "limits": {"memory": memory, GPU_RESOURCE: str(spec.gpus_per_replica)},
        },
        "startupProbe": _probe(LIVE_PATH, 10, max(1, -(-spec.startup_timeout_seconds // 10))),
        "livenessProbe": _probe(LIVE_PATH, 10, 3),
        "readinessProbe": _probe(READY_PATH, 5, 3),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
            "runAsUser": TRITON_UID,
            "runAsGroup": TRITON_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "dshm", "mountPath": SHM_MOUNT}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(spec),
        "spec": {
            "selector": {"matchLabels": spec.selector},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": spec.selector},
                "spec": {
                    "serviceAccountName": spec.service_account,
                    "automountServiceAccountToken": False,
                    "nodeSelector": {NODE_POOL_LABEL: spec.inference_pool},
                    "tolerations": tolerations,
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": ZONE_LABEL,
                            # The pool may span fewer zones than replicas: prefer, never block.
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": spec.selector},
                            "matchLabelKeys": ["pod-template-hash"],
                        }
                    ],
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": TRITON_UID,
                        "runAsGroup": TRITON_UID,
                        "fsGroup": TRITON_UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [
                        {
                            "name": "dshm",
                            "emptyDir": {"medium": "Memory", "sizeLimit": f"{spec.shm_size_gib}Gi"},
                        }
                    ],
                },
            },
        },
    }


def service_manifest(spec: TritonSpec) -> dict[str, Any]:
    """ClusterIP Service for clients (http, grpc) and Prometheus (metrics)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(spec),
        "spec": {
            "type": "ClusterIP",
            "selector": spec.selector,
            "ports": [
                {"name": name, "port": port, "targetPort": name, "protocol": "TCP"}
                for name, port in (
                    ("http", HTTP_PORT),
                    ("grpc", GRPC_PORT),
                    ("metrics", METRICS_PORT),
                )
            ],
        },
    }


def pod_disruption_budget_manifest(spec: TritonSpec) -> dict[str, Any]:
    """Voluntary disruptions (drains, scale-down) take one replica at a time; an unready pod
    never blocks a drain."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(spec),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": spec.selector},
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def service_monitor_manifest(spec: TritonSpec) -> dict[str, Any]:
    """Prometheus operator ServiceMonitor scraping Triton's metrics port."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": _metadata(spec),
        "spec": {
            "selector": {"matchLabels": spec.selector},
            "namespaceSelector": {"matchNames": [spec.namespace]},
            "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "15s"}],
        },
    }


def queue_time_query(spec: TritonSpec) -> str:
    """PromQL: average microseconds a request waited in the queue over the last minute, across
    this Deployment's pods (all models). Requests per second are clamped to >= 1 so an idle
    service reads 0 rather than NaN."""
    scope = f'namespace="{spec.namespace}",pod=~"{spec.name}-[a-z0-9]+-[a-z0-9]+"'
    return (
        f"sum(rate({QUEUE_METRIC}{{{scope}}}[1m]))"
        f" / clamp_min(sum(rate({SUCCESS_METRIC}{{{scope}}}[1m])), 1)"
    )


def scaled_object_manifest(spec: TritonSpec, prometheus_url: str) -> dict[str, Any]:
    """KEDA ScaledObject: replicas follow the average queue time per request."""
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": _metadata(spec),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": spec.name},
            "minReplicaCount": spec.min_replicas,
            "maxReplicaCount": spec.max_replicas,
            "pollingInterval": 15,
            "cooldownPeriod": 300,
            "advanced": {
                "horizontalPodAutoscalerConfig": {
                    "behavior": {
                        # A GPU replica is expensive to start (node, image, model download):
                        # scale down slowly, one replica a minute after five calm minutes.
                        "scaleDown": {
                            "stabilizationWindowSeconds": 300,
                            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
                        }
                    }
                }
            },
            "triggers": [
                {
                    "type": "prometheus",
                    "metricType": "Value",
                    "metadata": {
                        "serverAddress": prometheus_url,
                        "query": queue_time_query(spec),
                        "threshold": str(spec.queue_time_target_us),
                    },
                }
            ],
        },
    }


class TritonService(pulumi.ComponentResource):
    """Triton on the GPU inference pool: Deployment, Service, PDB, ServiceMonitor, KEDA scaling
    on queue time, and a Pod Identity role that can only read the models bucket."""

    namespace: str
    service_name: str
    http_endpoint: str
    grpc_endpoint: str
    role_arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        spec: TritonSpec,
        refs: TritonRefs,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("gpuplatform:index:TritonService", name, {}, opts)
        provider = refs["provider"]

        # AWS: a role only this service account can assume, reading only the models bucket. The
        # Deployment waits for all of it: EKS injects Pod Identity credentials when a pod is
        # created, so pods started before the association exists never get them.
        identity = pod_identity(
            f"{name}-models-read",
            cluster_name=refs["cluster_name"],
            namespace=spec.namespace,
            service_account=spec.service_account,
            policy=refs["models_read_policy"],
            parent=self,
            description=f"Triton {spec.namespace}/{spec.service_account}: read the models bucket",
        )

        def k8s_opts(*depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(
                parent=self, provider=provider, depends_on=list(depends_on)
            )

        ns = namespace_manifest(spec)
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace", metadata=ns["metadata"], opts=k8s_opts()
        )
        sa = service_account_manifest(spec)
        service_account = k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=sa["metadata"],
            automount_service_account_token=sa["automountServiceAccountToken"],
            opts=k8s_opts(namespace),
        )
        metadata: Any = _metadata(spec)  # the Deployment's and the ScaledObject's
        deployment_spec = pulumi.Output.from_input(refs["models_bucket"]).apply(
            lambda bucket: deployment_manifest(spec, bucket)["spec"]
        )
        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=metadata,
            spec=deployment_spec,
            opts=k8s_opts(namespace, service_account, *identity.ready),
        )
        service = service_manifest(spec)
        k8s.core.v1.Service(
            f"{name}-service",
            metadata=service["metadata"],
            spec=service["spec"],
            opts=k8s_opts(namespace),
        )
        pdb = pod_disruption_budget_manifest(spec)
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb", metadata=pdb["metadata"], spec=pdb["spec"], opts=k8s_opts(namespace)
        )
        monitor = service_monitor_manifest(spec)
        k8s.apiextensions.CustomResource(
            f"{name}-service-monitor",
            api_version=monitor["apiVersion"],
            kind=monitor["kind"],
            metadata=monitor["metadata"],
            spec=monitor["spec"],
            opts=k8s_opts(namespace),
        )
        scaled_spec = pulumi.Output.from_input(refs["prometheus_url"]).apply(
            lambda url: scaled_object_manifest(spec, url)["spec"]
        )
        k8s.apiextensions.CustomResource(
            f"{name}-scaled-object",
            api_version="keda.sh/v1alpha1",
            kind="ScaledObject",
            metadata=metadata,
            spec=scaled_spec,
            opts=k8s_opts(namespace, deployment),
        )

        host = f"{spec.name}.{spec.namespace}.svc.cluster.local"
        self.namespace = spec.namespace
        self.service_name = spec.name
        self.http_endpoint = f"http://{host}:{HTTP_PORT}"
        self.grpc_endpoint = f"{host}:{GRPC_PORT}"
        self.role_arn = identity.role.arn
        self.register_outputs(
            {
                "namespace": self.namespace,
                "service_name": self.service_name,
                "http_endpoint": self.http_endpoint,
                "grpc_endpoint": self.grpc_endpoint,
                "role_arn": self.role_arn,
            }
        )
