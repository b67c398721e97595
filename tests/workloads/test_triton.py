"""TritonService: every manifest valid against Kubernetes 1.36; the seeded repository copied into
each pod by the model-sync init containers under Pod Identity, explicit model control, restricted
APIs, sizing from the inference pool, the PDB and the NetworkPolicies, under recording mocks; and
the Triton settings the stack config validates (`gpu-platform:triton.<key>`)."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components import versions
from components.catalog import get_instance_type
from components.common import iam
from components.config import ConfigError
from components.resolve.workloads import (
    DAEMONSET_CPU_MILLICORES,
    TritonSpec,
    kube_reserved_millicores,
    node_allocatable,
)
from components.software.observability import prometheus_service_url
from components.storage import access_policy
from components.tenancy import PROMETHEUS_POD_LABELS
from scripts.plan.runner import PlanError, run_program
from scripts.plan.stages.kubernetes import check
from tests.conftest import Recorded
from tests.support import config, platform, raw_config, shipped_plan
from workloads.triton import (
    ADMIN_KEY_ENV,
    GRPC_PORT,
    HTTP_PORT,
    METRICS_PORT,
    QUEUE_METRIC,
    RESTRICTED_APIS,
    TritonRefs,
    TritonService,
    admin_secret_manifest,
    deployment_manifest,
    model_source_url,
    namespace_manifest,
    network_policy_manifests,
    pod_disruption_budget_manifest,
    queue_time_query,
    scaled_object_manifest,
    seed_objects,
    service_account_manifest,
    service_manifest,
    service_monitor_manifest,
    sync_args,
    sync_containers,
    triton_args,
)
from workloads.triton_config import EXAMPLE_MODEL_PY, example_model_config

COMPONENT = "gpuplatform:index:TritonService"
STACK = "pulumi:pulumi:Stack"
K8S_PROVIDER = "pulumi:providers:kubernetes"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
NAMESPACE_TYPE = "kubernetes:core/v1:Namespace"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
SECRET = "kubernetes:core/v1:Secret"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
SERVICE_MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"
PASSWORD = "random:index/randomPassword:RandomPassword"

NAME = "triton"
NAMESPACE = "inference"
POOL = "t4-infer"
TARGET_US = 20_000
TRITON = {"minReplicas": 2, "maxReplicas": 6, "queueTimeTargetUs": TARGET_US}
"""prod's Triton, with these `gpu-platform:triton` settings."""
MODELS_BUCKET = "models-bkt"
BUCKET_ARN = f"arn:aws:s3:::{MODELS_BUCKET}"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
STORAGE_ALIAS = "alias/gpu-platform-prod-storage"
READ_POLICY = access_policy(
    "aws", "us-east-1", "123456789012", STORAGE_ALIAS, read=[MODELS_BUCKET], write=[]
)
"""The document the storage component hands Triton (`TieredStorage.models_read_policy`)."""
CLUSTER = "gpu-platform-prod"


def triton_spec(stack: str = "prod", **settings: Any) -> TritonSpec:
    """prod's Triton service with `gpu-platform:triton` settings, resolved as the program does."""
    spec = platform(stack, triton={**TRITON, **settings}).triton
    assert spec is not None
    return spec


def triton_problems(**settings: Any) -> dict[str, str]:
    """The config errors of prod with these `gpu-platform:triton` settings (as given)."""
    with pytest.raises(ConfigError) as caught:
        platform("prod", triton=settings)
    return dict(caught.value.problems)


SPEC = triton_spec()
PROMETHEUS = prometheus_service_url(platform("prod").observability.namespace)  # type: ignore[union-attr]
TWO_MODELS = [{"name": "resnet50", "version": "r7"}, {"name": "bert.base", "version": "2026-11"}]


def all_manifests(spec: TritonSpec) -> list[dict[str, Any]]:
    return [
        namespace_manifest(spec),
        service_account_manifest(spec),
        admin_secret_manifest(spec, "K" * 48),
        deployment_manifest(spec, MODELS_BUCKET),
        service_manifest(spec),
        pod_disruption_budget_manifest(spec),
        *network_policy_manifests(spec),
        service_monitor_manifest(spec),
        scaled_object_manifest(spec, PROMETHEUS),
    ]


# --------------------------------------------------------------------------- manifests


@pytest.mark.parametrize(
    "spec",
    [
        SPEC,
        dataclasses.replace(SPEC, name="resnet-a"),
        triton_spec(tolerateSpot=True, gpusPerReplica=2, modelPrefix="", minReplicas=2),
        triton_spec(models=TWO_MODELS, clientNamespaces=["team-serving"]),
    ],
    ids=["defaults", "renamed", "spot-2gpu", "two-models-clients"],
)
def test_every_manifest_passes_the_kubernetes_stage(spec: TritonSpec):
    manifests = all_manifests(spec)
    assert {m["kind"] for m in manifests} == {
        "Namespace",
        "ServiceAccount",
        "Secret",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ServiceMonitor",
        "ScaledObject",
    }
    for manifest in manifests:
        assert check(manifest, versions.KUBERNETES_VERSION) == [], manifest["kind"]


def test_the_stage_would_catch_a_misspelt_field():
    manifest = deployment_manifest(SPEC, MODELS_BUCKET)
    manifest["spec"]["template"]["spec"]["nodeSelectr"] = {}
    assert check(manifest, versions.KUBERNETES_VERSION)
    policy = network_policy_manifests(SPEC)[1]
    policy["spec"]["ingress"][0]["form"] = policy["spec"]["ingress"][0].pop("from")
    assert check(policy, versions.KUBERNETES_VERSION)


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
    _, clients, metrics = network_policy_manifests(SPEC)
    assert clients["spec"]["podSelector"]["matchLabels"] == pod_labels
    assert metrics["spec"]["podSelector"]["matchLabels"] == pod_labels


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


def test_replicas_prefer_other_zones_and_other_nodes():
    pod = deployment_manifest(SPEC, MODELS_BUCKET)["spec"]["template"]["spec"]
    spread = {c["topologyKey"]: c for c in pod["topologySpreadConstraints"]}
    assert set(spread) == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    assert {c["whenUnsatisfiable"] for c in spread.values()} == {"ScheduleAnyway"}


# --------------------------------------------------------------------------- model control


def flags(args: list[str], flag: str) -> list[str]:
    return [a.split("=", 1)[1] for a in args if a.startswith(f"{flag}=")]


def test_explicit_model_control_loads_exactly_the_configured_models():
    spec = triton_spec(models=TWO_MODELS)
    args = triton_args(spec)
    assert flags(args, "--model-control-mode") == ["explicit"]
    assert flags(args, "--load-model") == ["resnet50", "bert.base"]
    assert "*" not in flags(args, "--load-model")
    # One local repository, the pod's copy: no S3 location reaches Triton.
    assert flags(args, "--model-repository") == ["/models"]
    assert not any("s3://" in a for a in args)
    sources = [c["args"][2:4] for c in sync_containers(spec, MODELS_BUCKET)]
    assert sources == [
        [f"s3://{MODELS_BUCKET}/triton/resnet50/r7/resnet50/", "/models/resnet50/"],
        [f"s3://{MODELS_BUCKET}/triton/bert.base/2026-11/bert.base/", "/models/bert.base/"],
    ]
    # Readiness is all loaded models, and a failed load stops the replica (it never serves).
    assert flags(args, "--strict-readiness") == ["true"]
    assert flags(args, "--exit-on-error") == ["true"]
    assert not any(a.startswith("--repository-poll-secs") for a in args)


def test_a_rollout_is_a_config_change_of_one_model_location():
    before = triton_spec(models=TWO_MODELS)
    promoted = [TWO_MODELS[0], {**TWO_MODELS[1], "version": "2026-12"}]
    after = triton_spec(models=promoted)
    # Triton's own arguments stay; the pod template changes in the second model's sync source,
    # so the Deployment rolls and every new pod copies the new release before Triton starts.
    assert triton_args(before) == triton_args(after)
    old, new = (
        deployment_manifest(s, MODELS_BUCKET)["spec"]["template"]["spec"] for s in (before, after)
    )
    assert old["containers"] == new["containers"]
    assert old["initContainers"][0] == new["initContainers"][0]
    changed = sorted(set(old["initContainers"][1]["args"]) ^ set(new["initContainers"][1]["args"]))
    assert changed == [
        f"s3://{MODELS_BUCKET}/triton/bert.base/2026-11/bert.base/",
        f"s3://{MODELS_BUCKET}/triton/bert.base/2026-12/bert.base/",
    ]


def test_each_model_is_copied_into_the_pod_before_triton_starts():
    spec = triton_spec(models=TWO_MODELS)
    pod = deployment_manifest(spec, MODELS_BUCKET)["spec"]["template"]["spec"]
    syncs = pod["initContainers"]
    assert [c["name"] for c in syncs] == ["model-sync-0", "model-sync-1"]
    (triton,) = pod["containers"]
    (models,) = [v for v in pod["volumes"] if v["name"] == "models"]
    assert models == {"name": "models", "emptyDir": {}}
    assert {"name": "models", "mountPath": "/models", "readOnly": True} in triton["volumeMounts"]
    for sync, model in zip(syncs, spec.models, strict=True):
        assert sync["image"] == spec.model_sync_image == versions.MODEL_SYNC_IMAGE
        assert sync["args"] == sync_args(MODELS_BUCKET, model)
        assert sync["args"][:2] == ["s3", "sync"]  # the image's entrypoint is `aws`
        assert sync["args"][2] == model_source_url(MODELS_BUCKET, model)
        assert sync["args"][3] == f"/models/{model.name}/"
        assert {"name": "models", "mountPath": "/models"} in sync["volumeMounts"]
        env = {e["name"]: e["value"] for e in sync["env"]}
        assert env["AWS_DEFAULT_REGION"] == "us-east-1"
        # Pod Identity only: no static keys, no role annotation, no IMDS fallback.
        assert env["AWS_EC2_METADATA_DISABLED"] == "true"
        assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ROLE_ARN"} & env.keys()
        assert sync["securityContext"] == triton["securityContext"]
        assert sync["resources"]["limits"]["memory"] == sync["resources"]["requests"]["memory"]
        assert "nvidia.com/gpu" not in sync["resources"]["requests"]
    # Triton itself never calls AWS.
    assert not any(e["name"].startswith("AWS_") for e in triton["env"])


def test_the_sync_image_is_an_aws_cli_that_takes_pod_identity_credentials():
    repository, tag = versions.MODEL_SYNC_IMAGE.rsplit(":", 1)
    assert repository == "public.ecr.aws/aws-cli/aws-cli"
    major, minor, _ = (int(p) for p in tag.split("."))
    assert (major, minor) >= (2, 15)  # EKS user guide: Pod Identity needs AWS CLI 2.15.0
    assert triton_spec(modelSyncImage="registry.example/aws-cli:2.36.7").model_sync_image == (
        "registry.example/aws-cli:2.36.7"
    )
    assert triton_problems(modelSyncImage="public.ecr.aws/aws-cli/aws-cli") == {
        "gpu-platform:triton.modelSyncImage": (
            "'public.ecr.aws/aws-cli/aws-cli': pin a tag or digest (not latest)"
        )
    }


def test_readiness_tracks_the_served_models_and_health_stays_open():
    container = deployment_manifest(SPEC, MODELS_BUCKET)["spec"]["template"]["spec"]["containers"][
        0
    ]
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 8000}
    assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": 8000}
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600
    # The probes carry no header, so nothing they call may be restricted.
    assert "health" not in RESTRICTED_APIS
    assert {"model-repository", "shared-memory"} <= set(RESTRICTED_APIS)
    assert not {"inference", "metadata", "model-config"} & set(RESTRICTED_APIS)


def test_restricted_apis_need_the_admin_key_from_the_secret():
    deployment = deployment_manifest(SPEC, MODELS_BUCKET)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    key_ref = f"$({ADMIN_KEY_ENV})"
    expected = f"{','.join(RESTRICTED_APIS)}:triton-admin-key={key_ref}"
    assert flags(container["args"], "--http-restricted-api") == [expected]
    assert flags(container["args"], "--grpc-restricted-protocol") == [expected]
    # The key is expanded by Kubernetes from the env var, which reads the generated Secret.
    (env,) = [e for e in container["env"] if e["name"] == ADMIN_KEY_ENV]
    secret = admin_secret_manifest(SPEC, "x")
    ref = env["valueFrom"]["secretKeyRef"]
    assert ref["name"] == secret["metadata"]["name"] == "triton-admin-key"
    assert ref["key"] in secret["stringData"]
    assert not any(re.search(r"triton-admin-key=[A-Za-z0-9]", a) for a in container["args"])


# --------------------------------------------------------------------------- seeded repository


def test_the_example_model_is_seeded_where_the_default_config_loads_it():
    default = platform("prod").triton
    assert default is not None
    (served,) = default.models
    assert served == default.example
    keys = seed_objects(default)
    assert sorted(keys) == [
        f"triton/echo/v1/{served.name}/1/model.py",
        f"triton/echo/v1/{served.name}/config.pbtxt",
    ]
    (sync,) = sync_containers(default, MODELS_BUCKET)
    assert sync["args"][2] == f"s3://{MODELS_BUCKET}/triton/echo/v1/echo/"
    assert {k.rsplit("/", 1)[0] for k in keys} >= {"triton/echo/v1/echo"}


def test_the_example_model_needs_no_weights_and_its_code_matches_its_config():
    config_text = seed_objects(SPEC)["triton/echo/v1/echo/config.pbtxt"]
    assert 'backend: "python"' in config_text and "kind: KIND_CPU" in config_text
    example = example_model_config("echo")
    (tensor_in,), (tensor_out,) = example.inputs, example.outputs
    source = seed_objects(SPEC)["triton/echo/v1/echo/1/model.py"]
    assert source == EXAMPLE_MODEL_PY
    compile(source, "model.py", "exec")  # valid Python
    assert "class TritonPythonModel" in source and "def execute(self, requests)" in source
    assert f'"{tensor_in.name}"' in source and f'"{tensor_out.name}"' in source
    assert sum(len(t) for t in seed_objects(SPEC).values()) < 4096  # tiny


# --------------------------------------------------------------------------- sizing


def test_requests_and_replica_range_derive_from_the_inference_pool():
    spec = platform("prod").triton
    assert spec is not None
    pool = next(p for p in platform("prod").pools if p.name == POOL)
    (instance,) = pool.instance_types
    assert (instance.name, pool.schedulable_gpus_per_node, pool.max_size) == ("g4dn.xlarge", 2, 12)
    cpu, memory = node_allocatable(instance)
    assert spec.replicas_per_node == 2  # time-slicing 2: two replicas share each T4 node
    assert spec.cpu_millicores == cpu // 2 and spec.memory_mib == memory // 2
    assert 2 * spec.cpu_millicores <= instance.vcpus * 1000 - DAEMONSET_CPU_MILLICORES
    assert 2 * spec.memory_mib < instance.memory_mib
    assert (spec.min_replicas, spec.max_replicas) == (2, 24)  # prod floor; 12 nodes x 2


@pytest.mark.parametrize(("vcpus", "reserved"), [(1, 60), (2, 70), (4, 80), (8, 90), (96, 310)])
def test_kube_reserved_cpu_follows_the_eks_ami_tiers(vcpus, reserved):
    assert kube_reserved_millicores(vcpus) == reserved


@pytest.mark.parametrize(
    ("pool_type", "slicing", "gpus_per_replica"),
    [("g4dn.xlarge", 1, 1), ("g4dn.xlarge", 4, 1), ("g4dn.12xlarge", 2, 2), ("g5.xlarge", 2, 1)],
)
def test_derived_requests_fit_every_replica_a_node_can_hold(pool_type, slicing, gpus_per_replica):
    pools = json.loads(raw_config("prod")["gpu-platform:gpuPools"])
    inference = next(p for p in pools if p["purpose"] == "inference")
    inference.update(instanceTypes=[pool_type], maxSize=4)
    inference.pop("timeSlicingReplicas", None)
    if slicing > 1:  # 1: no time-slicing (one pod per GPU)
        inference["timeSlicingReplicas"] = slicing
    spec = platform("prod", gpuPools=pools, triton={"gpusPerReplica": gpus_per_replica}).triton
    assert spec is not None
    instance = get_instance_type(pool_type)
    cpu, memory = node_allocatable(instance)
    slots = instance.gpu_count * slicing // gpus_per_replica
    assert spec.replicas_per_node == slots
    assert slots * spec.cpu_millicores <= cpu and slots * spec.memory_mib <= memory
    assert spec.max_replicas == slots * inference["maxSize"]


def test_explicit_memory_that_halves_the_node_halves_the_pool():
    spec = triton_spec(memoryGib=7, maxReplicas=None)
    assert spec.replicas_per_node == 1 and spec.max_replicas == 12
    assert spec.memory_mib == 7 * 1024


@pytest.mark.parametrize(
    ("settings", "key", "fragment"),
    [
        ({"cpuMillicores": 4000}, "cpuMillicores", "does not fit one t4-infer node"),
        ({"memoryGib": 16}, "memoryGib", "does not fit one t4-infer node"),
        ({"gpusPerReplica": 4}, "gpusPerReplica", "advertises 2"),
        ({"maxReplicas": 25}, "maxReplicas", "holds 24 replicas at its maxSize 12"),
        ({"minReplicas": 1}, "minReplicas", "at least 2 replicas"),
        ({"minReplicas": 30}, "minReplicas", "above maxReplicas 24"),
        ({"memoryGib": 7, "maxReplicas": 13}, "maxReplicas", "holds 12 replicas"),
        ({"shmSizeGib": 7}, "shmSizeGib", "below the replica's memory"),
    ],
)
def test_sizing_that_cannot_fit_the_pool_names_the_key(settings, key, fragment):
    problems = triton_problems(**settings)
    assert list(problems) == [f"gpu-platform:triton.{key}"]
    assert fragment in problems[f"gpu-platform:triton.{key}"]


def test_outside_prod_one_replica_is_the_default():
    spec = platform("prod", environment="staging").triton
    assert spec is not None and spec.min_replicas == 1


def test_pdb_lets_a_drain_take_one_replica_of_at_least_two():
    pdb = pod_disruption_budget_manifest(SPEC)["spec"]
    assert pdb["maxUnavailable"] == 1 and "minAvailable" not in pdb
    assert pdb["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert SPEC.min_replicas >= 2


# --------------------------------------------------------------------------- network policy


def test_ingress_is_denied_except_clients_and_prometheus():
    deny, clients, metrics = network_policy_manifests(SPEC)
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    assert deny["metadata"]["namespace"] == NAMESPACE
    (rule,) = clients["spec"]["ingress"]
    assert rule["from"] == [{"namespaceSelector": {}}]  # any pod of the cluster
    assert [p["port"] for p in rule["ports"]] == [HTTP_PORT, GRPC_PORT]
    (scrape,) = metrics["spec"]["ingress"]
    assert [p["port"] for p in scrape["ports"]] == [METRICS_PORT]
    (peer,) = scrape["from"]
    monitoring = platform("prod").observability.namespace  # type: ignore[union-attr]
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": monitoring}
    assert peer["podSelector"]["matchLabels"] == PROMETHEUS_POD_LABELS
    assert len({p["metadata"]["name"] for p in (deny, clients, metrics)}) == 3


def test_client_namespaces_narrow_who_calls_triton():
    _, clients, _ = network_policy_manifests(triton_spec(clientNamespaces=["team-serving", "web"]))
    (rule,) = clients["spec"]["ingress"]
    assert rule["from"] == [
        {
            "namespaceSelector": {
                "matchExpressions": [
                    {
                        "key": "kubernetes.io/metadata.name",
                        "operator": "In",
                        "values": ["team-serving", "web"],
                    }
                ]
            }
        }
    ]


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"minReplicas": 5, "maxReplicas": 2}, "maxReplicas"),
        ({"minReplicas": 0}, "minReplicas"),
        ({"gpusPerReplica": 0}, "gpusPerReplica"),
        ({"queueTimeTargetUs": 0}, "queueTimeTargetUs"),
        ({"memoryGib": 2, "shmSizeGib": 2}, "shmSizeGib"),
        ({"image": "nvcr.io/nvidia/tritonserver"}, "image"),
        ({"image": "nvcr.io/nvidia/tritonserver:latest"}, "image"),
        ({"image": "registry.example:5000/tritonserver"}, "image"),
        ({"modelPrefix": "a//b"}, "modelPrefix"),
        ({"modelPrefix": "a b"}, "modelPrefix"),
        ({"minReplicas": "two"}, "minReplicas"),
        ({"models": []}, "models"),
        ({"models": [TWO_MODELS[0], {**TWO_MODELS[0], "version": "r8"}]}, "models"),
        ({"clientNamespaces": []}, "clientNamespaces"),
        ({"clientNamespaces": ["Not_A_Namespace"]}, "clientNamespaces"),
        ({"repositoryPollSecs": 60}, "repositoryPollSecs"),  # poll mode is gone
    ],
)
def test_config_names_the_bad_triton_key(settings, key):
    with pytest.raises(ConfigError) as caught:
        config("prod", triton={**TRITON, **settings})
    assert [path for path, _ in caught.value.problems] == [f"gpu-platform:triton.{key}"]


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ({"name": "a/b", "version": "v1"}, "name"),
        ({"name": ".hidden", "version": "v1"}, "name"),
        ({"name": "ok", "version": "v/1"}, "version"),
        ({"name": "ok", "version": "$(X)"}, "version"),
        ({"name": "ok"}, "version"),
    ],
)
def test_a_bad_model_entry_names_its_key(model, key):
    with pytest.raises(ConfigError) as caught:
        config("prod", triton={"models": [model]})
    assert [path for path, _ in caught.value.problems] == [f"gpu-platform:triton.models[0].{key}"]


def test_config_reports_every_problem_at_once():
    with pytest.raises(ConfigError) as caught:
        config("prod", triton={"minReplicas": 0, "gpusPerReplica": 0, "startupTimeoutSeconds": 0})
    assert {path for path, _ in caught.value.problems} == {
        "gpu-platform:triton.minReplicas",
        "gpu-platform:triton.gpusPerReplica",
        "gpu-platform:triton.startupTimeoutSeconds",
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
    prod = platform("prod")
    (serving,) = [p.name for p in prod.pools if p.purpose.value == "inference"]
    assert SPEC.inference_pool == serving == POOL
    assert SPEC.region == prod.region == config("prod").region
    assert (SPEC.name, SPEC.namespace) == (NAME, NAMESPACE)
    for name in (SPEC.name, SPEC.namespace, SPEC.admin_secret):
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?", name), name
    assert platform("prod", addons={"kubeflow": True}).triton is None  # the add-on is off


def test_resolve_defaults():
    spec = platform("prod").triton
    assert spec is not None
    assert spec.image == versions.TRITON_IMAGE
    assert spec.gpus_per_replica == 1
    assert spec.queue_time_target_us == 50_000
    assert spec.model_prefix == "triton"
    assert [(m.name, m.version) for m in spec.models] == [("echo", "v1")]
    assert spec.tolerate_spot is False
    assert spec.client_namespaces is None
    assert triton_spec(modelPrefix="/models/").models[0].repository == "models/echo/v1"
    assert triton_spec(modelPrefix="").models[0].repository == "echo/v1"


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
        provider = k8s.Provider("k8s", kubeconfig="{}")
        prometheus = k8s.core.v1.ConfigMap("prometheus-release", opts=child(provider))
        keda = k8s.core.v1.ConfigMap("keda-release", opts=child(provider))
        refs: TritonRefs = {
            "provider": provider,
            "models_bucket": MODELS_BUCKET,
            "models_kms_key_arn": KEY_ARN,
            "models_read_policy": READ_POLICY,
            "prometheus_url": PROMETHEUS,
            "prometheus_release": prometheus,
            "keda_release": keda,
        }
        TritonService(NAME, spec, refs)

    return body


def child(provider: k8s.Provider) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(provider=provider)


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
        SECRET,
        PASSWORD,
        DEPLOYMENT,
        SERVICE,
        PDB,
        NETWORK_POLICY,
        SERVICE_MONITOR,
        SCALED_OBJECT,
        ROLE,
        ROLE_POLICY,
        ASSOCIATION,
        OBJECT,
    }
    outside = [
        r
        for r in recorded.registrations
        if r.parent != component.urn
        and r.type not in (COMPONENT, STACK, K8S_PROVIDER)
        and r.name not in ("prometheus-release", "keda-release")
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

    (container,) = pod["containers"]
    assert container["name"] == "tritonserver"
    assert container["image"] == versions.TRITON_IMAGE
    resources = container["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == resources["requests"]["nvidia.com/gpu"] == "1"
    assert resources["requests"]["cpu"] == f"{SPEC.cpu_millicores}m"
    assert (
        resources["requests"]["memory"] == resources["limits"]["memory"] == (f"{SPEC.memory_mib}Mi")
    )
    args = container["args"]
    assert args[0] == "tritonserver"
    assert "--model-repository=/models" in args
    assert "--model-control-mode=explicit" in args and "--load-model=echo" in args
    assert "--metrics-port=8002" in args
    (sync,) = pod["initContainers"]
    assert sync["args"][2] == f"s3://{MODELS_BUCKET}/triton/echo/v1/echo/"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8000, "grpc": 8001, "metrics": 8002}

    shm = next(v for v in pod["volumes"] if v["name"] == "dshm")
    assert shm["emptyDir"]["medium"] == "Memory"
    assert {"name": "dshm", "mountPath": "/dev/shm"} in container["volumeMounts"]


def test_deployment_waits_for_the_seeded_model_credentials_and_key(recorded: Recorded):
    deployment = recorded.one(DEPLOYMENT)
    objects = recorded.of_type(OBJECT)
    assert len(objects) == 2
    for needed in (
        recorded.one(ROLE),
        recorded.one(ROLE_POLICY),
        recorded.one(ASSOCIATION),
        recorded.one(SERVICE_ACCOUNT),
        recorded.one(SECRET),
        *objects,
    ):
        assert needed.urn in deployment.dependencies, needed.type


def test_seeded_objects_are_the_example_model_encrypted_with_the_storage_key(recorded: Recorded):
    objects = {o.inputs["key"]: o.inputs for o in recorded.of_type(OBJECT)}
    assert objects.keys() == seed_objects(SPEC).keys()
    for key, inputs in objects.items():
        assert inputs["bucket"] == MODELS_BUCKET
        assert inputs["content"] == seed_objects(SPEC)[key]
        assert inputs["serverSideEncryption"] == "aws:kms"
        assert inputs["kmsKeyId"] == KEY_ARN
        assert inputs["bucketKeyEnabled"] is True


def test_pod_identity_binds_the_service_account_of_this_cluster(recorded: Recorded):
    role = recorded.one(ROLE)
    association = recorded.one(ASSOCIATION)
    account = recorded.one(SERVICE_ACCOUNT).inputs
    assert role.name == association.name == f"{NAME}-models-read"  # the role keeps its URN
    assert "annotations" not in account["metadata"]  # no IRSA role annotation
    assert account["automountServiceAccountToken"] is False
    assert association.inputs["clusterName"] == CLUSTER == SPEC.cluster_name
    assert association.inputs["namespace"] == NAMESPACE
    assert association.inputs["serviceAccount"] == account["metadata"]["name"] == NAME
    assert association.inputs["roleArn"] == role.outputs["arn"]
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust == json.loads(iam.pod_identity_trust("123456789012", "aws", "us-east-1", CLUSTER))
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert "Federated" not in json.dumps(trust)


def test_role_policy_only_reads_the_models_bucket(recorded: Recorded):
    role_policy = recorded.one(ROLE_POLICY)
    assert role_policy.name == f"{NAME}-models-read"
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
            assert resources == ["arn:aws:kms:us-east-1:123456789012:key/*"]  # by its alias:
            aliases = statement["Condition"]["ForAnyValue:StringEquals"]["kms:ResourceAliases"]
            assert aliases == STORAGE_ALIAS
    assert s3_resources == {BUCKET_ARN, f"{BUCKET_ARN}/*"}


def test_admin_key_is_generated_letters_and_digits(recorded: Recorded):
    password = recorded.one(PASSWORD)
    assert password.inputs["length"] >= 32 and password.inputs["special"] is False
    secret = recorded.one(SECRET).inputs
    assert secret["metadata"]["name"] == SPEC.admin_secret
    assert secret["stringData"] == {"admin-key": "[secret]"}  # never in the document


def test_network_policies_are_in_the_namespace(recorded: Recorded):
    policies = recorded.of_type(NETWORK_POLICY)
    assert sorted(p.name for p in policies) == [
        f"{NAME}-allow-clients",
        f"{NAME}-allow-metrics",
        f"{NAME}-deny-ingress",
    ]
    by_name = {p.inputs["metadata"]["name"]: p.inputs["spec"] for p in policies}
    assert by_name == {m["metadata"]["name"]: m["spec"] for m in network_policy_manifests(SPEC)}


def test_custom_resources_wait_for_what_installs_their_crds(recorded: Recorded):
    monitor = recorded.one(SERVICE_MONITOR)
    scaled = recorded.one(SCALED_OBJECT)
    assert recorded.one("kubernetes:core/v1:ConfigMap", "prometheus-release").urn in (
        monitor.dependencies
    )
    assert recorded.one("kubernetes:core/v1:ConfigMap", "keda-release").urn in scaled.dependencies


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


def test_spot_toleration_and_gpus_per_replica(run_pulumi):
    recorded = run_pulumi(program(tolerateSpot=True, gpusPerReplica=2, minReplicas=2))
    pod = recorded.one(DEPLOYMENT).inputs["spec"]["template"]["spec"]
    assert {
        "key": "gpu-platform/spot",
        "operator": "Equal",
        "value": "true",
        "effect": "NoSchedule",
    } in pod["tolerations"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "2"


# --------------------------------------------------------------------------- the prod plan


def test_prod_plan_serves_the_seeded_model_under_pod_identity_with_no_secret_in_the_document():
    document, _ = shipped_plan("prod")
    states = {s["newState"]["urn"]: s["newState"] for s in document["steps"]}
    (deployment,) = [
        s
        for s in states.values()
        if s["type"] == DEPLOYMENT and s["urn"].endswith("::triton-deployment")
    ]
    objects = [s for s in states.values() if s["type"] == OBJECT and "triton-seed-" in s["urn"]]
    assert objects and all(o["urn"] in deployment["dependencies"] for o in objects)
    (association,) = [
        s for s in states.values() if s["type"] == ASSOCIATION and "triton" in s["urn"]
    ]
    assert association["urn"] in deployment["dependencies"]
    assert association["inputs"]["namespace"] == NAMESPACE
    (secret,) = [s for s in states.values() if s["type"] == SECRET and "triton" in s["urn"]]
    assert secret["inputs"]["stringData"] == {"admin-key": "[secret]"}
    policies = [s for s in states.values() if s["type"] == NETWORK_POLICY and "triton" in s["urn"]]
    assert len(policies) == 3
