"""TritonService: every manifest valid against Kubernetes 1.36, the wiring under recording mocks
(Deployment, KEDA, Pod Identity, the models-read role policy), and the Triton settings the stack
config validates (`gpu-platform:triton.<key>`)."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from typing import Any

import pulumi_kubernetes as k8s
import pytest

from components import versions
from components.config import ConfigError
from components.resolve.workloads import TritonSpec
from components.software.observability import prometheus_service_url
from components.storage import access_policy
from scripts.plan.stages.kubernetes import check
from scripts.plan.runner import PlanError, run_program
from tests.conftest import Recorded
from tests.support import config, platform, raw_config
from workloads.triton import (
    GRPC_PORT,
    HTTP_PORT,
    METRICS_PORT,
    QUEUE_METRIC,
    TritonRefs,
    TritonService,
    deployment_manifest,
    namespace_manifest,
    pod_disruption_budget_manifest,
    queue_time_query,
    scaled_object_manifest,
    service_account_manifest,
    service_manifest,
    service_monitor_manifest,
)

COMPONENT = "gpuplatform:index:TritonService"
STACK = "pulumi:pulumi:Stack"
K8S_PROVIDER = "pulumi:providers:kubernetes"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
NAMESPACE_TYPE = "kubernetes:core/v1:Namespace"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
SERVICE_MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"

NAME = "triton"
NAMESPACE = "inference"
POOL = "t4-infer"
TARGET_US = 20_000
TRITON = {"minReplicas": 2, "maxReplicas": 6, "queueTimeTargetUs": TARGET_US}
"""prod's Triton, with these `gpu-platform:triton` settings."""
MODELS_BUCKET = "models-bkt"
BUCKET_ARN = f"arn:aws:s3:::{MODELS_BUCKET}"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
READ_POLICY = access_policy(read=[BUCKET_ARN], write=[], key_arn=KEY_ARN)
"""The document the storage component hands Triton (`TieredStorage.models_read_policy`)."""


def triton_spec(**settings: Any) -> TritonSpec:
    """prod's Triton service with `gpu-platform:triton` settings, resolved as the program does."""
    spec = platform("prod", triton={**TRITON, **settings}).triton
    assert spec is not None
    return spec


SPEC = triton_spec()
PROMETHEUS = prometheus_service_url(platform("prod").observability.namespace)  # type: ignore[union-attr]
CLUSTER = platform("prod").cluster.name


def all_manifests(spec: TritonSpec) -> list[dict[str, Any]]:
    return [
        namespace_manifest(spec),
        service_account_manifest(spec),
        deployment_manifest(spec, MODELS_BUCKET),
        service_manifest(spec),
        pod_disruption_budget_manifest(spec),
        service_monitor_manifest(spec),
        scaled_object_manifest(spec, PROMETHEUS),
    ]


# --------------------------------------------------------------------------- manifests


@pytest.mark.parametrize(
    "spec",
    [
        SPEC,
        dataclasses.replace(SPEC, name="resnet-a"),
        triton_spec(
            tolerateSpot=True, gpusPerReplica=4, modelPrefix="", minReplicas=1, maxReplicas=1
        ),
    ],
    ids=["defaults", "renamed", "spot-4gpu"],
)
def test_every_manifest_passes_the_kubernetes_stage(spec: TritonSpec):
    manifests = all_manifests(spec)
    assert {m["kind"] for m in manifests} == {
        "Namespace",
        "ServiceAccount",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "ServiceMonitor",
        "ScaledObject",
    }
    for manifest in manifests:
        assert check(manifest, versions.KUBERNETES_VERSION) == [], manifest["kind"]


def test_the_stage_would_catch_a_misspelt_field():
    manifest = deployment_manifest(SPEC, MODELS_BUCKET)
    manifest["spec"]["template"]["spec"]["nodeSelectr"] = {}
    assert check(manifest, versions.KUBERNETES_VERSION)


def test_selectors_line_up():
    deployment = deployment_manifest(SPEC, MODELS_BUCKET)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == pod_labels
    service = service_manifest(SPEC)
    assert service["spec"]["selector"] == pod_labels
    assert pod_disruption_budget_manifest(SPEC)["spec"]["selector"]["matchLabels"] == pod_labels
    monitor = service_monitor_manifest(SPEC)
    selected = monitor["spec"]["selector"]["matchLabels"]
    assert selected.items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [NAMESPACE]
    service_ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    assert service_ports == {"http": HTTP_PORT, "grpc": GRPC_PORT, "metrics": METRICS_PORT}
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]


def test_pod_security_restricted_and_the_pod_complies():
    labels = namespace_manifest(SPEC)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    pod = deployment_manifest(SPEC, MODELS_BUCKET)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    context = container["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert all("hostPath" not in v for v in pod["volumes"])


def test_queue_time_query_scopes_to_the_deployment_pods():
    query = queue_time_query(SPEC)
    assert query.startswith(f"sum(rate({QUEUE_METRIC}{{")
    assert "clamp_min(sum(rate(nv_inference_request_success{" in query
    assert query.count(f'namespace="{NAMESPACE}"') == 2
    assert query.count('pod=~"triton-[a-z0-9]+-[a-z0-9]+"') == 2


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"minReplicas": 5, "maxReplicas": 2}, "maxReplicas"),
        ({"minReplicas": 0}, "minReplicas"),
        ({"gpusPerReplica": 0}, "gpusPerReplica"),
        ({"queueTimeTargetUs": 0}, "queueTimeTargetUs"),
        ({"repositoryPollSecs": -1}, "repositoryPollSecs"),
        ({"memoryGib": 2, "shmSizeGib": 2}, "shmSizeGib"),
        ({"image": "nvcr.io/nvidia/tritonserver"}, "image"),
        ({"image": "nvcr.io/nvidia/tritonserver:latest"}, "image"),
        ({"image": "registry.example:5000/tritonserver"}, "image"),
        ({"modelPrefix": "a//b"}, "modelPrefix"),
        ({"modelPrefix": "a b"}, "modelPrefix"),
        ({"minReplicas": "two"}, "minReplicas"),
    ],
)
def test_config_names_the_bad_triton_key(settings, key):
    with pytest.raises(ConfigError) as caught:
        config("prod", triton={**TRITON, **settings})
    assert [path for path, _ in caught.value.problems] == [f"gpu-platform:triton.{key}"]


def test_config_reports_every_problem_at_once():
    with pytest.raises(ConfigError) as caught:
        config("prod", triton={"minReplicas": 0, "gpusPerReplica": 0, "repositoryPollSecs": 0})
    assert {path for path, _ in caught.value.problems} == {
        "gpu-platform:triton.minReplicas",
        "gpu-platform:triton.gpusPerReplica",
        "gpu-platform:triton.repositoryPollSecs",
    }


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        # Triton needs somewhere to run (was: an empty `inference_pool`) ...
        ({"gpuPools": [{"name": "train", "instanceTypes": ["g4dn.xlarge"], "maxSize": 1}]}, "pool"),
        # ... and a Prometheus to scale on (was: a bad `prometheus_url`).
        ({"addons": {"triton": True, "observability": False}}, "observability"),
    ],
)
def test_triton_without_an_inference_pool_or_prometheus_is_refused(overrides, fragment):
    with pytest.raises(ConfigError) as caught:
        config("prod", **{"addons": {"triton": True}, **overrides})
    problems = dict(caught.value.problems)
    assert fragment in problems["gpu-platform:addons.triton"]


def test_resolved_names_the_inference_pool_and_kubernetes_names():
    # What the old resolve checked on input (name, namespace, region, pool) is now derived.
    prod = platform("prod")
    (serving,) = [p.name for p in prod.pools if p.purpose.value == "inference"]
    assert SPEC.inference_pool == serving == POOL
    assert SPEC.region == prod.region == config("prod").region
    assert (SPEC.name, SPEC.namespace) == (NAME, NAMESPACE)
    for name in (SPEC.name, SPEC.namespace):
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?", name), name
    assert platform("prod", addons={"kubeflow": True}).triton is None  # the add-on is off


def test_resolve_defaults():
    spec = platform("prod").triton
    assert spec is not None
    assert spec.image == versions.TRITON_IMAGE
    assert (spec.min_replicas, spec.max_replicas, spec.gpus_per_replica) == (1, 4, 1)
    assert spec.queue_time_target_us == 50_000
    assert spec.model_prefix == "triton"
    assert spec.repository_poll_secs == 60
    assert spec.tolerate_spot is False
    assert triton_spec(modelPrefix="/models/").model_prefix == "models"


def test_triton_image_is_pinned_to_a_release():
    repository, tag = versions.TRITON_IMAGE.rsplit(":", 1)
    assert repository == "nvcr.io/nvidia/tritonserver"
    year, month = tag.removesuffix("-py3").split(".")
    assert tag.endswith("-py3") and int(year) >= 25 and 1 <= int(month) <= 12


def test_the_program_refuses_bad_triton_settings_before_building():
    with pytest.raises(PlanError) as caught:
        run_program("prod", raw_config("prod", triton={"minReplicas": 5, "maxReplicas": 2}))
    message = str(caught.value)
    assert "invalid stack config" in message
    assert "gpu-platform:triton.maxReplicas" in message


# --------------------------------------------------------------------------- under mocks


def program(**settings: Any) -> Callable[[], None]:
    """TritonService with prod's spec (and `gpu-platform:triton` settings), wired with plain
    values for what the cluster, storage and observability hand it."""
    spec = triton_spec(**settings)

    def body() -> None:
        refs: TritonRefs = {
            "provider": k8s.Provider("k8s", kubeconfig="{}"),
            "cluster_name": CLUSTER,
            "models_bucket": MODELS_BUCKET,
            "models_read_policy": READ_POLICY,
            "prometheus_url": PROMETHEUS,
        }
        TritonService(NAME, spec, refs)

    return body


@pytest.fixture
def recorded(run_pulumi) -> Recorded:
    return run_pulumi(program())


def test_children_are_parented_named_and_use_the_given_provider(recorded: Recorded):
    component = recorded.one(COMPONENT)
    assert component.name == NAME
    children = recorded.children(component.urn)
    assert {c.type for c in children} == {
        NAMESPACE_TYPE,
        SERVICE_ACCOUNT,
        DEPLOYMENT,
        SERVICE,
        PDB,
        SERVICE_MONITOR,
        SCALED_OBJECT,
        ROLE,
        ROLE_POLICY,
        ASSOCIATION,
    }
    outside = [
        r
        for r in recorded.registrations
        if r.parent != component.urn and r.type not in (COMPONENT, STACK, K8S_PROVIDER)
    ]
    assert outside == []
    assert all(c.name.startswith(f"{NAME}-") for c in children), [c.name for c in children]
    namespace = recorded.one(NAMESPACE_TYPE)
    for child in children:
        if child.type.startswith("kubernetes:"):
            assert "pulumi:providers:kubernetes::k8s" in child.provider
            assert check(child.inputs, versions.KUBERNETES_VERSION) == [], child.type
            if child is not namespace:
                assert child.inputs["metadata"]["namespace"] == NAMESPACE
                assert namespace.urn in child.dependencies, child.type


def test_deployment_runs_triton_on_the_inference_pool(recorded: Recorded):
    deployment = recorded.one(DEPLOYMENT).inputs
    assert "replicas" not in deployment["spec"]  # KEDA owns the count
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    pod = deployment["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"gpu-platform/pool": POOL}
    assert {
        "key": "nvidia.com/gpu",
        "operator": "Equal",
        "value": "true",
        "effect": "NoSchedule",
    } in pod["tolerations"]
    assert not any(t["key"] == "gpu-platform/spot" for t in pod["tolerations"])
    assert pod["serviceAccountName"] == recorded.one(SERVICE_ACCOUNT).inputs["metadata"]["name"]
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"

    (container,) = pod["containers"]
    assert container["name"] == "tritonserver"
    assert container["image"] == versions.TRITON_IMAGE
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert container["resources"]["requests"]["nvidia.com/gpu"] == "1"
    args = container["args"]
    assert args[0] == "tritonserver"
    assert f"--model-repository=s3://{MODELS_BUCKET}/triton" in args
    assert "--model-control-mode=poll" in args
    assert "--repository-poll-secs=60" in args
    assert "--metrics-port=8002" in args
    assert {"name": "AWS_DEFAULT_REGION", "value": "us-east-1"} in container["env"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8000, "grpc": 8001, "metrics": 8002}
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 8000}
    assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": 8000}
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600

    shm = next(v for v in pod["volumes"] if v["name"] == "dshm")
    assert shm["emptyDir"]["medium"] == "Memory"
    assert {"name": "dshm", "mountPath": "/dev/shm"} in container["volumeMounts"]


def test_deployment_waits_for_the_pod_identity_role_policy_and_association(recorded: Recorded):
    deployment = recorded.one(DEPLOYMENT)
    for kind in (ROLE, ROLE_POLICY, ASSOCIATION):
        assert recorded.one(kind).urn in deployment.dependencies, kind


def test_scaled_object_targets_the_deployment_on_queue_time(recorded: Recorded):
    deployment = recorded.one(DEPLOYMENT).inputs
    scaled = recorded.one(SCALED_OBJECT).inputs
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert scaled["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (2, 6)
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "prometheus"
    assert trigger["metricType"] == "Value"
    assert trigger["metadata"]["serverAddress"] == PROMETHEUS
    assert PROMETHEUS == "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"
    assert QUEUE_METRIC in trigger["metadata"]["query"]
    assert trigger["metadata"]["threshold"] == str(TARGET_US)


def test_pod_identity_binds_the_service_account_in_the_namespace(recorded: Recorded):
    association = recorded.one(ASSOCIATION).inputs
    account = recorded.one(SERVICE_ACCOUNT).inputs
    role = recorded.one(ROLE)
    assert association["clusterName"] == CLUSTER == "gpu-platform-prod"
    assert association["namespace"] == NAMESPACE == account["metadata"]["namespace"]
    assert association["serviceAccount"] == account["metadata"]["name"]
    assert association["roleArn"] == role.outputs["arn"]
    trust = json.loads(role.inputs["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(statement["Action"]) == ["sts:AssumeRole", "sts:TagSession"]


def test_role_policy_only_reads_the_models_bucket(recorded: Recorded):
    role_policy = recorded.one(ROLE_POLICY)
    assert role_policy.inputs["role"] == recorded.one(ROLE).id
    assert role_policy.inputs["policy"] == READ_POLICY  # storage's document, unchanged
    statements = json.loads(role_policy.inputs["policy"])["Statement"]
    s3_resources: set[str] = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"]
        actions = [actions] if isinstance(actions, str) else actions
        resources = statement["Resource"]
        resources = [resources] if isinstance(resources, str) else resources
        if all(a.startswith("s3:") for a in actions):
            assert all(a.startswith(("s3:Get", "s3:List")) and "*" not in a for a in actions)
            s3_resources.update(resources)
        else:
            assert set(actions) <= {"kms:Decrypt", "kms:DescribeKey"}
            assert resources == [KEY_ARN]
    assert s3_resources == {BUCKET_ARN, f"{BUCKET_ARN}/*"}


def test_spot_toleration_and_gpus_per_replica(run_pulumi):
    recorded = run_pulumi(program(tolerateSpot=True, gpusPerReplica=2))
    pod = recorded.one(DEPLOYMENT).inputs["spec"]["template"]["spec"]
    assert {
        "key": "gpu-platform/spot",
        "operator": "Equal",
        "value": "true",
        "effect": "NoSchedule",
    } in pod["tolerations"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "2"
