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

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, NotRequired, TypedDict

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import iam
from components.cluster import NODE_POOL_LABEL
from components.config import ConfigError
from components.gpu_node_group import GPU_RESOURCE, GPU_TAINT, SPOT_TAINT

TRITON_IMAGE: Final = "nvcr.io/nvidia/tritonserver:26.09-py3"
"""Pinned Triton release (NGC monthly container; 26.09 is CUDA 13.4.1, compute capability >= 7.5,
so T4 and newer). Checked against the release notes index,
https://docs.nvidia.com/deeplearning/triton-inference-server/release-notes/rel-26-09.html.
CUDA 13 needs an R580+ driver on the node: keep the EKS NVIDIA AMI current before bumping."""

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

DEFAULTS: Final[dict[str, Any]] = {
    "image": TRITON_IMAGE,
    "min_replicas": 1,
    "max_replicas": 4,
    "gpus_per_replica": 1,
    "queue_time_target_us": 50_000,
    "model_prefix": "triton",
    "repository_poll_secs": 60,
    "startup_timeout_seconds": 600,
    "cpu_millicores": 2000,
    "memory_gib": 8,
    "shm_size_gib": 1,
    "tolerate_spot": False,
    "service_monitor_labels": {},
}
"""Every default, in one place (documented on the args below)."""

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
MAX_OBJECT_NAME = 40
"""Object names stay short: pod names add a ReplicaSet hash and a suffix to the Deployment's."""
READ_ACTIONS = ("s3:Get", "s3:List")
KEY_ACTIONS = frozenset({"kms:Decrypt", "kms:DescribeKey"})


class TritonServiceArgs(TypedDict):
    """Inputs of a TritonService. Keys marked NotRequired take the default in `DEFAULTS`."""

    provider: k8s.Provider
    """Kubernetes provider of the cluster (every Kubernetes object goes through it)."""
    cluster_name: str
    """Physical EKS cluster name (the Pod Identity association)."""
    region: str
    """Region of the models bucket; Triton's S3 client gets it as AWS_DEFAULT_REGION."""
    namespace: str
    """Namespace the component creates and owns, e.g. `inference`."""
    models_bucket: pulumi.Input[str]
    """Name (not ARN) of the models bucket holding the Triton model repository."""
    models_read_policy: pulumi.Input[str]
    """IAM policy document (JSON) that reads the models bucket, inlined into the service's role,
    e.g. `storage.access_policy(read=[models_bucket_arn], write=[], key_arn=storage_key_arn)`.
    Rejected (when known) if it allows anything but s3:Get*/s3:List* on that bucket and
    kms:Decrypt/DescribeKey."""
    inference_pool: str
    """GPU pool whose nodes serve (value of the `gpu-platform/pool` node label), e.g. `t4-infer`."""
    prometheus_url: pulumi.Input[str]
    """Prometheus query endpoint KEDA reads, e.g.
    `http://kube-prometheus-stack-prometheus.monitoring.svc:9090`."""
    image: NotRequired[str]
    """Triton image with a pinned tag. Default: `TRITON_IMAGE`."""
    min_replicas: NotRequired[int]
    """Fewest replicas KEDA keeps (>= 1: Triton does not scale to zero here). Default: 1."""
    max_replicas: NotRequired[int]
    """Most replicas KEDA may run (>= min_replicas); size the pool's max_size for it. Default: 4."""
    gpus_per_replica: NotRequired[int]
    """`nvidia.com/gpu` per replica (on time-sliced pools, a slice each). Default: 1."""
    queue_time_target_us: NotRequired[int]
    """KEDA threshold: average queue time per request, in microseconds, that one more replica
    should bring back down. Default: 50000 (50 ms)."""
    model_prefix: NotRequired[str]
    """Key prefix of the model repository inside the bucket (`s3://<bucket>/<prefix>`); empty for
    the bucket root. Default: `triton`."""
    repository_poll_secs: NotRequired[int]
    """How often Triton re-reads the repository for added, changed or removed models.
    Default: 60."""
    startup_timeout_seconds: NotRequired[int]
    """How long a starting replica may take to download and load its models. Default: 600."""
    cpu_millicores: NotRequired[int]
    """CPU request per replica (no CPU limit: no throttling of pre/post-processing).
    Default: 2000."""
    memory_gib: NotRequired[int]
    """Memory request and limit per replica, including /dev/shm. Default: 8."""
    shm_size_gib: NotRequired[int]
    """Size of the memory-backed /dev/shm. Default: 1."""
    tolerate_spot: NotRequired[bool]
    """Also tolerate the spot taint (for a spot inference pool). Default: false."""
    service_monitor_labels: NotRequired[Mapping[str, str]]
    """Extra labels on the ServiceMonitor, for a Prometheus that selects monitors by label
    (kube-prometheus-stack's default is `release: <release name>`). Default: none."""


@dataclass(frozen=True)
class ResolvedTriton:
    """Validated settings, defaults applied: everything the manifest builders need."""

    name: str
    """Kubernetes object name (Deployment, Service, ServiceAccount, ...)."""
    namespace: str
    region: str
    inference_pool: str
    image: str
    min_replicas: int
    max_replicas: int
    gpus_per_replica: int
    queue_time_target_us: int
    model_prefix: str
    repository_poll_secs: int
    startup_timeout_seconds: int
    cpu_millicores: int
    memory_gib: int
    shm_size_gib: int
    tolerate_spot: bool
    service_monitor_labels: dict[str, str] = field(default_factory=dict)

    @property
    def service_account(self) -> str:
        return self.name

    @property
    def selector(self) -> dict[str, str]:
        """Labels that select this service's pods."""
        return {"app.kubernetes.io/name": "triton", "app.kubernetes.io/instance": self.name}


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def resolve(args: TritonServiceArgs, name: str = "triton") -> ResolvedTriton:
    """Pure: apply defaults and validate. Raises ConfigError naming every bad key."""
    settings = {**DEFAULTS, **{k: v for k, v in args.items() if k in DEFAULTS}}
    problems: list[tuple[str, str]] = []
    if not DNS_LABEL.match(name) or len(name) > MAX_OBJECT_NAME:
        problems.append(
            ("name", f"{name!r}: a DNS-1123 label of at most {MAX_OBJECT_NAME} characters")
        )
    if not DNS_LABEL.match(args["namespace"]) or len(args["namespace"]) > 63:
        problems.append(("namespace", f"{args['namespace']!r}: not a DNS-1123 label"))
    if not args["region"]:
        problems.append(("region", "required"))
    if not args["cluster_name"]:
        problems.append(("cluster_name", "required"))
    pool = args["inference_pool"]
    if not pool or not LABEL_VALUE.match(pool):
        problems.append(("inference_pool", f"{pool!r}: not a valid node label value"))
    for key in (
        "min_replicas",
        "max_replicas",
        "gpus_per_replica",
        "queue_time_target_us",
        "repository_poll_secs",
        "startup_timeout_seconds",
        "cpu_millicores",
        "memory_gib",
        "shm_size_gib",
    ):
        if not _positive_int(settings[key]):
            problems.append((key, f"{settings[key]!r}: must be an integer >= 1"))
    low, high = settings["min_replicas"], settings["max_replicas"]
    if _positive_int(low) and _positive_int(high) and high < low:
        problems.append(("max_replicas", f"{high} is below min_replicas {low}"))
    memory, shm = settings["memory_gib"], settings["shm_size_gib"]
    if _positive_int(memory) and _positive_int(shm) and shm >= memory:
        problems.append(
            ("shm_size_gib", f"{shm} GiB must be below memory_gib {memory} (it counts against it)")
        )
    image = settings["image"]
    tag = image.rsplit("/", 1)[-1]
    if "@sha256:" not in image and (":" not in tag or tag.endswith(":latest")):
        problems.append(("image", f"{image!r}: pin a tag or digest (not latest)"))
    prefix = settings["model_prefix"].strip("/")
    if "//" in prefix or any(c.isspace() for c in prefix):
        problems.append(("model_prefix", f"{settings['model_prefix']!r}: not an S3 key prefix"))
    prometheus = args["prometheus_url"]
    if isinstance(prometheus, str) and not prometheus.startswith(("http://", "https://")):
        problems.append(("prometheus_url", f"{prometheus!r}: an http(s) URL"))
    if problems:
        raise ConfigError(problems)
    return ResolvedTriton(
        name=name,
        namespace=args["namespace"],
        region=args["region"],
        inference_pool=pool,
        image=image,
        min_replicas=low,
        max_replicas=high,
        gpus_per_replica=settings["gpus_per_replica"],
        queue_time_target_us=settings["queue_time_target_us"],
        model_prefix=prefix,
        repository_poll_secs=settings["repository_poll_secs"],
        startup_timeout_seconds=settings["startup_timeout_seconds"],
        cpu_millicores=settings["cpu_millicores"],
        memory_gib=memory,
        shm_size_gib=shm,
        tolerate_spot=bool(settings["tolerate_spot"]),
        service_monitor_labels=dict(settings["service_monitor_labels"]),
    )


# --------------------------------------------------------------------------- pure builders


def model_repository_url(bucket: str, prefix: str) -> str:
    """`s3://<bucket>` or `s3://<bucket>/<prefix>` (Triton's S3 repository syntax)."""
    return f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"


def triton_args(spec: ResolvedTriton, bucket: str) -> list[str]:
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


def _metadata(spec: ResolvedTriton, **extra_labels: str) -> dict[str, Any]:
    return {
        "name": spec.name,
        "namespace": spec.namespace,
        "labels": {**spec.selector, **extra_labels},
    }


def namespace_manifest(spec: ResolvedTriton) -> dict[str, Any]:
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


def service_account_manifest(spec: ResolvedTriton) -> dict[str, Any]:
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


def deployment_manifest(spec: ResolvedTriton, bucket: str) -> dict[str, Any]:
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


def service_manifest(spec: ResolvedTriton) -> dict[str, Any]:
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


def pod_disruption_budget_manifest(spec: ResolvedTriton) -> dict[str, Any]:
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


def service_monitor_manifest(spec: ResolvedTriton) -> dict[str, Any]:
    """Prometheus operator ServiceMonitor scraping Triton's metrics port."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": _metadata(spec, **spec.service_monitor_labels),
        "spec": {
            "selector": {"matchLabels": spec.selector},
            "namespaceSelector": {"matchNames": [spec.namespace]},
            "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "15s"}],
        },
    }


def queue_time_query(spec: ResolvedTriton) -> str:
    """PromQL: average microseconds a request waited in the queue over the last minute, across
    this Deployment's pods (all models). Requests per second are clamped to >= 1 so an idle
    service reads 0 rather than NaN."""
    scope = f'namespace="{spec.namespace}",pod=~"{spec.name}-[a-z0-9]+-[a-z0-9]+"'
    return (
        f"sum(rate({QUEUE_METRIC}{{{scope}}}[1m]))"
        f" / clamp_min(sum(rate({SUCCESS_METRIC}{{{scope}}}[1m])), 1)"
    )


def scaled_object_manifest(spec: ResolvedTriton, prometheus_url: str) -> dict[str, Any]:
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


def bucket_arn(region: str, bucket: str) -> str:
    return f"arn:{iam.partition(region)}:s3:::{bucket}"


def read_only_problems(policy: str, models_bucket_arn: str) -> list[str]:
    """Pure: why `policy` is more than "read the models bucket" (empty when it is not).

    Allowed: s3:Get*/s3:List* actions (no wildcards) on the bucket and its objects, and
    kms:Decrypt/kms:DescribeKey (SSE-KMS objects). Deny statements only narrow and are ignored.
    """
    try:
        document = json.loads(policy)
    except (TypeError, ValueError):
        return ["not a JSON policy document"]
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    if isinstance(statements, dict):
        statements = [statements]
    allowed_s3 = {models_bucket_arn, f"{models_bucket_arn}/*"}
    problems = []
    for i, statement in enumerate(statements):
        if statement.get("Effect") != "Allow":
            continue
        if "NotAction" in statement or "NotResource" in statement:
            problems.append(f"Statement[{i}]: NotAction/NotResource grant too much")
            continue
        actions = statement.get("Action", [])
        resources = statement.get("Resource", [])
        actions = [actions] if isinstance(actions, str) else list(actions)
        resources = [resources] if isinstance(resources, str) else list(resources)
        s3_actions = [a for a in actions if a.lower().startswith("s3:")]
        other = [a for a in actions if a not in s3_actions]
        for action in s3_actions:
            if "*" in action or not action.startswith(READ_ACTIONS):
                problems.append(f"Statement[{i}]: {action} is not a read action")
        for action in other:
            if action not in KEY_ACTIONS:
                problems.append(f"Statement[{i}]: {action} is not allowed")
        if s3_actions:
            outside = [r for r in resources if r not in allowed_s3]
            if outside:
                problems.append(f"Statement[{i}]: S3 access beyond the models bucket: {outside}")
    return problems


def checked_read_policy(policy: str, models_bucket_arn: str) -> str:
    """`policy` unchanged, or ValueError naming `models_read_policy` and what it grants."""
    problems = read_only_problems(policy, models_bucket_arn)
    if problems:
        raise ValueError("models_read_policy: " + "; ".join(problems))
    return policy


# --------------------------------------------------------------------------- component


class TritonService(pulumi.ComponentResource):
    """Triton on the GPU inference pool: Deployment, Service, PDB, ServiceMonitor, KEDA scaling
    on queue time, and a Pod Identity role that can only read the models bucket."""

    namespace: str
    service_name: str
    http_endpoint: str
    grpc_endpoint: str
    role_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: TritonServiceArgs, opts: pulumi.ResourceOptions | None = None
    ):
        spec = resolve(args, name)  # before registering anything
        super().__init__("gpuplatform:index:TritonService", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        provider = args["provider"]

        # AWS: a role only this service account can assume, reading only the models bucket.
        # Built here rather than with components.helm.pod_identity_role because the Deployment
        # must wait for the association: EKS injects Pod Identity credentials when a pod is
        # created, so pods started before the association exists never get them.
        policy = pulumi.Output.all(args["models_read_policy"], args["models_bucket"]).apply(
            lambda a: checked_read_policy(a[0], bucket_arn(spec.region, a[1]))
        )
        role = aws.iam.Role(
            f"{name}-models-read",
            assume_role_policy=iam.pod_identity_trust(),
            description=f"Triton {spec.namespace}/{spec.service_account}: read the models bucket",
            opts=child,
        )
        aws.iam.RolePolicy(f"{name}-models-read", role=role.id, policy=policy, opts=child)
        association = aws.eks.PodIdentityAssociation(
            f"{name}-models-read",
            cluster_name=args["cluster_name"],
            namespace=spec.namespace,
            service_account=spec.service_account,
            role_arn=role.arn,
            opts=child,
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
        deployment_spec = pulumi.Output.from_input(args["models_bucket"]).apply(
            lambda bucket: deployment_manifest(spec, bucket)["spec"]
        )
        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=metadata,
            spec=deployment_spec,
            opts=k8s_opts(namespace, service_account, association),
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
        scaled_spec = pulumi.Output.from_input(args["prometheus_url"]).apply(
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
        self.role_arn = role.arn
        self.register_outputs(
            {
                "namespace": self.namespace,
                "service_name": self.service_name,
                "http_endpoint": self.http_endpoint,
                "grpc_endpoint": self.grpc_endpoint,
                "role_arn": self.role_arn,
            }
        )
