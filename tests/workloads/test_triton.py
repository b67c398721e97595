"""TritonService: every manifest valid against Kubernetes 1.36, the wiring under recording mocks
(Deployment, KEDA, Pod Identity, the read-only role policy), and validation before registration."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest

from components.config import ConfigError
from components.storage import access_policy
from scripts.plan.kubernetes_stage import check
from tests.conftest import Recorded
from workloads.triton import (
    GRPC_PORT,
    HTTP_PORT,
    METRICS_PORT,
    QUEUE_METRIC,
    TRITON_IMAGE,
    ResolvedTriton,
    TritonService,
    TritonServiceArgs,
    checked_read_policy,
    deployment_manifest,
    namespace_manifest,
    pod_disruption_budget_manifest,
    queue_time_query,
    read_only_problems,
    resolve,
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
BUCKET = "aws:s3/bucket:Bucket"
KEY = "aws:kms/key:Key"

NAME = "triton"
NAMESPACE = "inference"
POOL = "t4-infer"
PROMETHEUS = "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"
TARGET_US = 20_000
READ_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": "arn:aws:s3:::models-bkt",
            },
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": "arn:aws:s3:::models-bkt/*",
            },
        ],
    }
)


def plain_args(**overrides: Any) -> TritonServiceArgs:
    """Args with plain values (no provider: the pure functions never touch it)."""
    args: dict[str, Any] = {
        "provider": None,
        "cluster_name": "gpu-test",
        "region": "us-east-1",
        "namespace": NAMESPACE,
        "models_bucket": "models-bkt",
        "models_read_policy": READ_POLICY,
        "inference_pool": POOL,
        "prometheus_url": PROMETHEUS,
        "min_replicas": 2,
        "max_replicas": 6,
        "queue_time_target_us": TARGET_US,
    }
    args.update(overrides)
    return TritonServiceArgs(**args)  # type: ignore[typeddict-item]


SPEC = resolve(plain_args())


def all_manifests(spec: ResolvedTriton) -> list[dict[str, Any]]:
    return [
        namespace_manifest(spec),
        service_account_manifest(spec),
        deployment_manifest(spec, "models-bkt"),
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
        resolve(plain_args(), name="resnet-a"),
        resolve(
            plain_args(
                tolerate_spot=True,
                gpus_per_replica=4,
                model_prefix="",
                min_replicas=1,
                max_replicas=1,
                service_monitor_labels={"release": "kube-prometheus-stack"},
            )
        ),
    ],
    ids=["defaults", "renamed", "spot-4gpu"],
)
def test_every_manifest_passes_the_kubernetes_stage(spec: ResolvedTriton):
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
        assert check(manifest, "1.36") == [], manifest["kind"]


def test_the_stage_would_catch_a_misspelt_field():
    manifest = deployment_manifest(SPEC, "models-bkt")
    manifest["spec"]["template"]["spec"]["nodeSelectr"] = {}
    assert check(manifest, "1.36")


def test_selectors_line_up():
    deployment = deployment_manifest(SPEC, "models-bkt")
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
    pod = deployment_manifest(SPEC, "models-bkt")["spec"]["template"]["spec"]
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
    ("overrides", "name", "key"),
    [
        ({"min_replicas": 5, "max_replicas": 2}, NAME, "max_replicas"),
        ({"min_replicas": 0}, NAME, "min_replicas"),
        ({"gpus_per_replica": 0}, NAME, "gpus_per_replica"),
        ({"queue_time_target_us": 0}, NAME, "queue_time_target_us"),
        ({"repository_poll_secs": -1}, NAME, "repository_poll_secs"),
        ({"memory_gib": 2, "shm_size_gib": 2}, NAME, "shm_size_gib"),
        ({"namespace": "Inference"}, NAME, "namespace"),
        ({"inference_pool": ""}, NAME, "inference_pool"),
        ({"region": ""}, NAME, "region"),
        ({"image": "nvcr.io/nvidia/tritonserver"}, NAME, "image"),
        ({"image": "nvcr.io/nvidia/tritonserver:latest"}, NAME, "image"),
        ({"prometheus_url": "prometheus:9090"}, NAME, "prometheus_url"),
        ({"model_prefix": "a//b"}, NAME, "model_prefix"),
        ({}, "Triton_A", "name"),
        ({}, "t" * 41, "name"),
    ],
)
def test_resolve_names_the_bad_key(overrides, name, key):
    with pytest.raises(ConfigError) as caught:
        resolve(plain_args(**overrides), name)
    assert key in [path for path, _ in caught.value.problems]


def test_resolve_reports_every_problem_at_once():
    with pytest.raises(ConfigError) as caught:
        resolve(plain_args(min_replicas=0, gpus_per_replica=0, namespace="Bad"))
    assert {path for path, _ in caught.value.problems} == {
        "min_replicas",
        "gpus_per_replica",
        "namespace",
    }


def test_resolve_defaults():
    spec = resolve(
        plain_args(min_replicas=1, max_replicas=4, queue_time_target_us=50_000)
        | {"models_read_policy": "{}"}
    )
    assert spec.image == TRITON_IMAGE
    assert (spec.min_replicas, spec.max_replicas, spec.gpus_per_replica) == (1, 4, 1)
    assert spec.model_prefix == "triton"
    assert spec.repository_poll_secs == 60
    assert spec.tolerate_spot is False


def test_triton_image_is_pinned_to_a_release():
    repository, tag = TRITON_IMAGE.rsplit(":", 1)
    assert repository == "nvcr.io/nvidia/tritonserver"
    year, month = tag.removesuffix("-py3").split(".")
    assert tag.endswith("-py3") and int(year) >= 25 and 1 <= int(month) <= 12


BUCKET_ARN = "arn:aws:s3:::models-bkt"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.mark.parametrize(
    ("policy", "fragment"),
    [
        (
            _policy({"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"{BUCKET_ARN}/*"}),
            "s3:PutObject",
        ),
        (_policy({"Effect": "Allow", "Action": "s3:*", "Resource": f"{BUCKET_ARN}/*"}), "s3:*"),
        (
            _policy({"Effect": "Allow", "Action": "s3:Get*", "Resource": f"{BUCKET_ARN}/*"}),
            "s3:Get*",
        ),
        (
            _policy(
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::other/*"}
            ),
            "beyond the models bucket",
        ),
        (_policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}), "beyond"),
        (_policy({"Effect": "Allow", "Action": "kms:Encrypt", "Resource": KEY_ARN}), "kms:Encrypt"),
        (_policy({"Effect": "Allow", "NotAction": "s3:PutObject", "Resource": "*"}), "NotAction"),
        ("not json", "not a JSON policy"),
    ],
)
def test_read_only_check_rejects_more_than_reading_the_bucket(policy, fragment):
    problems = read_only_problems(policy, BUCKET_ARN)
    assert any(fragment in p for p in problems), problems
    with pytest.raises(ValueError, match=r"^models_read_policy: "):
        checked_read_policy(policy, BUCKET_ARN)


def test_read_only_check_accepts_the_storage_models_read_policy():
    policy = access_policy(read=[BUCKET_ARN], write=[], key_arn=KEY_ARN)
    assert read_only_problems(policy, BUCKET_ARN) == []
    denied = _policy(
        json.loads(policy)["Statement"][0],
        {"Effect": "Deny", "Action": "s3:*", "Resource": "*"},
    )
    assert read_only_problems(denied, BUCKET_ARN) == []
    # The training policy writes checkpoints: refused.
    assert read_only_problems(access_policy([BUCKET_ARN], [BUCKET_ARN], KEY_ARN), BUCKET_ARN)


# --------------------------------------------------------------------------- under mocks


def program(**overrides: Any) -> Callable[[], None]:
    """A program wired like the stack: a models bucket and key from storage, a k8s provider."""

    def body() -> None:
        provider = k8s.Provider("k8s", kubeconfig="{}")
        bucket = aws.s3.Bucket("models")
        key = aws.kms.Key("storage")
        policy = pulumi.Output.all(bucket.arn, key.arn).apply(
            lambda a: access_policy(read=[a[0]], write=[], key_arn=a[1])
        )
        args = plain_args(
            provider=provider,
            models_bucket=bucket.bucket,
            models_read_policy=policy,
            **overrides,
        )
        TritonService(NAME, args)

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
        if r.parent != component.urn and r.type not in (COMPONENT, STACK, K8S_PROVIDER, BUCKET, KEY)
    ]
    assert outside == []
    assert all(c.name.startswith(f"{NAME}-") for c in children), [c.name for c in children]
    namespace = recorded.one(NAMESPACE_TYPE)
    for child in children:
        if child.type.startswith("kubernetes:"):
            assert "pulumi:providers:kubernetes::k8s" in child.provider
            assert check(child.inputs, "1.36") == [], child.type
            if child is not namespace:
                assert child.inputs["metadata"]["namespace"] == NAMESPACE
                assert namespace.urn in child.dependencies, child.type


def test_deployment_runs_triton_on_the_inference_pool(recorded: Recorded):
    bucket_name = recorded.one(BUCKET).outputs["bucket"]
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
    assert container["image"] == TRITON_IMAGE
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert container["resources"]["requests"]["nvidia.com/gpu"] == "1"
    args = container["args"]
    assert args[0] == "tritonserver"
    assert f"--model-repository=s3://{bucket_name}/triton" in args
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


def test_deployment_waits_for_the_pod_identity_association(recorded: Recorded):
    deployment = recorded.one(DEPLOYMENT)
    assert recorded.one(ASSOCIATION).urn in deployment.dependencies
    assert recorded.one(BUCKET).urn in deployment.dependencies  # the repository URL


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
    assert QUEUE_METRIC in trigger["metadata"]["query"]
    assert trigger["metadata"]["threshold"] == str(TARGET_US)


def test_pod_identity_binds_the_service_account_in_the_namespace(recorded: Recorded):
    association = recorded.one(ASSOCIATION).inputs
    account = recorded.one(SERVICE_ACCOUNT).inputs
    role = recorded.one(ROLE)
    assert association["clusterName"] == "gpu-test"
    assert association["namespace"] == NAMESPACE == account["metadata"]["namespace"]
    assert association["serviceAccount"] == account["metadata"]["name"]
    assert association["roleArn"] == role.outputs["arn"]
    trust = json.loads(role.inputs["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(statement["Action"]) == ["sts:AssumeRole", "sts:TagSession"]


def test_role_policy_only_reads_the_models_bucket(recorded: Recorded):
    bucket_arn = recorded.one(BUCKET).outputs["arn"]
    key_arn = recorded.one(KEY).outputs["arn"]
    role_policy = recorded.one(ROLE_POLICY)
    assert role_policy.inputs["role"] == recorded.one(ROLE).id
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
            assert resources == [key_arn]
    assert s3_resources == {bucket_arn, f"{bucket_arn}/*"}


def test_spot_toleration_and_gpus_per_replica(run_pulumi):
    recorded = run_pulumi(program(tolerate_spot=True, gpus_per_replica=2))
    pod = recorded.one(DEPLOYMENT).inputs["spec"]["template"]["spec"]
    assert {
        "key": "gpu-platform/spot",
        "operator": "Equal",
        "value": "true",
        "effect": "NoSchedule",
    } in pod["tolerations"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "2"


def test_bad_input_raises_naming_the_key_before_anything_registers(run_pulumi):
    raised: list[ConfigError] = []

    def body() -> None:
        provider = k8s.Provider("k8s", kubeconfig="{}")
        with pytest.raises(ConfigError) as caught:
            TritonService(NAME, plain_args(provider=provider, min_replicas=5, max_replicas=2))
        raised.append(caught.value)

    recorded = run_pulumi(body)
    (error,) = raised
    assert [path for path, _ in error.problems] == ["max_replicas"]
    assert "max_replicas" in str(error)
    assert {r.type for r in recorded.registrations} == {STACK, K8S_PROVIDER}


def test_a_policy_that_writes_fails_the_program(run_pulumi):
    def body() -> None:
        provider = k8s.Provider("k8s", kubeconfig="{}")
        writes = _policy(
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"{BUCKET_ARN}/*"}
        )
        TritonService(NAME, plain_args(provider=provider, models_read_policy=writes))

    with pytest.raises(ValueError, match=r"models_read_policy: .*s3:PutObject is not a read"):
        run_pulumi(body)
