"""Observability under recording mocks: children, the pinned Helm releases and their namespaces,
the PrometheusRule waiting for the operator's CRDs, dashboard ConfigMaps and the outputs."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components import versions
from components.catalog.conventions import DEFAULT_STORAGE_CLASS
from components.resolve.software import ObservabilitySpec
from components.software import observability as obs
from scripts.plan.stages.kubernetes import check, manifest
from tests.conftest import Recorded
from tests.support import platform

COMPONENT = "gpuplatform:index:Observability"
RELEASE = "kubernetes:helm.sh/v3:Release"
NAMESPACE = "kubernetes:core/v1:Namespace"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
PROVIDER = "pulumi:providers:kubernetes"
ALERT_TYPES = {
    "aws:sns/topic:Topic",
    "aws:sns/topicSubscription:TopicSubscription",
    "aws:iam/role:Role",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:eks/podIdentityAssociation:PodIdentityAssociation",
}
"""prod's alerting: an existing topic and emails (so a topic of the component's own), published
to through Pod Identity."""
NAME = "obs"
CUSTOM_TARGET_US = 20_000


def default_spec() -> ObservabilitySpec:
    """prod's observability, as the program resolves it."""
    spec = platform("prod").observability
    assert spec is not None
    return spec


def custom_spec() -> ObservabilitySpec:
    """prod with another Triton queue target (stack config), and a spec whose namespaces,
    retention and volume differ from the defaults: the component must read every field."""
    spec = platform("prod", triton={"queueTimeTargetUs": CUSTOM_TARGET_US}).observability
    assert spec is not None
    return dataclasses.replace(
        spec,
        namespace="observability",
        node_exporter_namespace="observability-node-exporter",
        retention="30d",
        prometheus_storage_gib=250,
    )


SPECS: dict[str, Callable[[], ObservabilitySpec]] = {
    "default": default_spec,
    "custom": custom_spec,
}


def program(spec: ObservabilitySpec) -> Callable[[], None]:
    def body() -> None:
        provider = k8s.Provider("k8s", kubeconfig="{}")
        storage_class = k8s.storage.v1.StorageClass(
            "gp3",
            metadata={"name": DEFAULT_STORAGE_CLASS},
            provisioner="ebs.csi.aws.com",
            opts=pulumi.ResourceOptions(provider=provider),
        )
        component = obs.Observability(
            NAME, spec, {"provider": provider, "prometheus_depends_on": [storage_class]}
        )
        pulumi.export("namespace", component.namespace)
        pulumi.export("prometheusUrl", component.prometheus_url)
        pulumi.export("prometheusRelease", component.prometheus_release.name)
        pulumi.export("kedaRelease", component.keda_release.name)

    return body


@pytest.fixture
def default(run_pulumi) -> Recorded:
    return run_pulumi(program(default_spec()))


@pytest.fixture
def custom(run_pulumi) -> Recorded:
    return run_pulumi(program(custom_spec()))


def release(recorded: Recorded, role: str) -> Any:
    return recorded.one(RELEASE, f"{NAME}-{role}")


def namespace_named(recorded: Recorded, name: str) -> Any:
    [found] = [n for n in recorded.of_type(NAMESPACE) if n.inputs["metadata"]["name"] == name]
    return found


# --------------------------------------------------------------------------- structure


@pytest.mark.parametrize("variant", ["default", "custom"])
def test_every_child_is_parented_to_the_component_and_named_from_it(variant, request):
    recorded: Recorded = request.getfixturevalue(variant)
    component = recorded.one(COMPONENT, NAME)
    children = recorded.children(component.urn)
    others = [
        r
        for r in recorded.registrations
        if r.type not in ("pulumi:pulumi:Stack", PROVIDER, COMPONENT)
        and r.name != "gp3"  # the program's stand-in StorageClass
    ]
    assert children == others
    assert {r.type for r in children} == {NAMESPACE, RELEASE, RULE, CONFIG_MAP, *ALERT_TYPES}
    assert all(r.name.startswith(f"{NAME}-") for r in children), [r.name for r in children]
    provider = recorded.one(PROVIDER, "k8s")
    kubernetes = [r for r in children if r.type.startswith("kubernetes:")]
    assert all(r.provider.startswith(provider.urn) for r in kubernetes)


@pytest.mark.parametrize("variant", ["default", "custom"])
def test_every_kubernetes_object_passes_the_plans_schema_check(variant, request):
    recorded: Recorded = request.getfixturevalue(variant)
    objects = [
        (r.name, obj)
        for r in recorded.registrations
        if (obj := manifest({"type": r.type, "inputs": r.inputs})) is not None
    ]
    assert {obj["kind"] for _, obj in objects} >= {"Namespace", "ConfigMap", "PrometheusRule"}
    for name, obj in objects:
        assert check(obj, versions.KUBERNETES_VERSION) == [], name


# --------------------------------------------------------------------------- releases


@pytest.mark.parametrize(
    ("role", "chart_key", "namespace"),
    [("prometheus", "kube-prometheus-stack", "monitoring"), ("keda", "keda", "keda")],
)
def test_releases_are_the_pinned_charts_in_their_own_namespaces(
    default, role, chart_key, namespace
):
    found = release(default, role)
    chart = versions.CHARTS[chart_key]
    assert found.inputs["chart"] == chart.chart
    assert found.inputs["version"] == chart.version
    assert found.inputs["repositoryOpts"]["repo"] == chart.repo
    assert found.inputs["name"] == chart.chart
    assert found.inputs["namespace"] == namespace
    # The component owns the namespace (with Pod Security labels); the release waits for it.
    assert found.inputs["createNamespace"] is False
    assert namespace_named(default, namespace).urn in found.dependencies
    assert len(default.of_type(RELEASE)) == 2


def test_release_values_are_the_pure_functions_output(custom):
    prometheus = release(custom, "prometheus")
    assert prometheus.inputs["namespace"] == "observability"
    values = dict(prometheus.inputs["values"])
    alertmanager = dict(values.pop("alertmanager"))
    config = alertmanager.pop("config")
    expected = obs.prometheus_values(
        retention="30d", storage_gib=250, node_exporter_namespace="observability-node-exporter"
    )
    assert alertmanager == expected.pop("alertmanager")
    assert values == expected
    topic = custom.one("aws:sns/topic:Topic", f"{NAME}-alerts")
    spec = custom_spec()
    assert config == obs.alertmanager_config(
        spec.alerting, spec.region, [spec.alerting.sns_topic_arn, topic.outputs["arn"]]
    )
    spec = prometheus.inputs["values"]["prometheus"]["prometheusSpec"]
    assert spec["ruleSelectorNilUsesHelmValues"] is False
    assert spec["retention"] == "30d"
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] == "gp3-encrypted"
    assert claim["resources"]["requests"]["storage"] == "250Gi"
    assert release(custom, "keda").inputs["values"] == obs.keda_values()


def test_prometheus_waits_for_the_storage_class_and_node_exporter_namespace(default):
    prometheus = release(default, "prometheus")
    storage_class = default.one("kubernetes:storage.k8s.io/v1:StorageClass", "gp3")
    assert storage_class.urn in prometheus.dependencies
    exporter_ns = prometheus.inputs["values"]["prometheus-node-exporter"]["namespaceOverride"]
    assert exporter_ns == default_spec().node_exporter_namespace
    assert namespace_named(default, exporter_ns).urn in prometheus.dependencies


def test_namespaces_enforce_pod_security_and_only_node_exporter_is_privileged(default):
    levels = {
        n.inputs["metadata"]["name"]: n.inputs["metadata"]["labels"][
            "pod-security.kubernetes.io/enforce"
        ]
        for n in default.of_type(NAMESPACE)
    }
    assert levels == {
        "monitoring": "baseline",
        "monitoring-node-exporter": "privileged",
        "keda": "baseline",
    }
    # Warnings flag what would break the restricted level (not node-exporter's known needs).
    warn = {
        n.inputs["metadata"]["name"]: n.inputs["metadata"]["labels"][
            "pod-security.kubernetes.io/warn"
        ]
        for n in default.of_type(NAMESPACE)
    }
    assert warn == {
        "monitoring": "restricted",
        "monitoring-node-exporter": "privileged",
        "keda": "restricted",
    }


# --------------------------------------------------------------------------- rules and dashboards


@pytest.mark.parametrize(
    ("variant", "target", "namespace"),
    [("default", 50_000, "monitoring"), ("custom", CUSTOM_TARGET_US, "observability")],
)
def test_rule_is_a_custom_resource_that_waits_for_the_operator_crds(
    variant, target, namespace, request
):
    recorded: Recorded = request.getfixturevalue(variant)
    assert SPECS[variant]().triton_queue_target_us == target  # from the stack's triton config
    rule = recorded.one(RULE, f"{NAME}-gpu-alerts")
    assert release(recorded, "prometheus").urn in rule.dependencies
    expected = obs.gpu_alert_rules(target, namespace, SPECS[variant]().inference_namespaces)
    assert rule.inputs["apiVersion"] == expected["apiVersion"]
    assert rule.inputs["kind"] == expected["kind"]
    assert rule.inputs["metadata"] == expected["metadata"]
    assert rule.inputs["spec"] == expected["spec"]
    triton = next(g for g in rule.inputs["spec"]["groups"] if g["name"] == "gpu-platform.triton")
    assert triton["rules"][0]["expr"].endswith(f"> {target}")


@pytest.mark.parametrize(
    ("variant", "namespace"), [("default", "monitoring"), ("custom", "observability")]
)
def test_dashboard_config_maps_carry_the_grafana_label(variant, namespace, request):
    recorded: Recorded = request.getfixturevalue(variant)
    maps = recorded.of_type(CONFIG_MAP)
    assert {m.name for m in maps} == {f"{NAME}-dashboard-gpu-fleet", f"{NAME}-dashboard-triton"}
    titles = set()
    for config_map in maps:
        metadata = config_map.inputs["metadata"]
        assert metadata["labels"]["grafana_dashboard"] == "1"
        assert metadata["namespace"] == namespace
        assert namespace_named(recorded, namespace).urn in config_map.dependencies
        [text] = config_map.inputs["data"].values()
        titles.add(json.loads(text)["title"])
    assert titles == {"GPU fleet", "Triton inference"}


# --------------------------------------------------------------------------- outputs


def test_outputs_name_the_namespace_prometheus_service_and_releases(default, custom):
    assert default.outputs["namespace"] == "monitoring"
    assert default.outputs["prometheusUrl"] == (
        "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"
    )
    assert default.outputs["prometheusRelease"] == "kube-prometheus-stack"
    assert default.outputs["kedaRelease"] == "keda"
    assert custom.outputs["namespace"] == "observability"
    assert custom.outputs["prometheusUrl"] == (
        "http://kube-prometheus-stack-prometheus.observability.svc:9090"
    )


# --------------------------------------------------------------------------- alert routing


def test_prod_routes_alerts_to_its_topics_and_keeps_the_watchdog_on_null(default):
    prometheus = release(default, "prometheus")
    config = prometheus.inputs["values"]["alertmanager"]["config"]
    route = config["route"]
    assert route["receiver"] == obs.PLATFORM_RECEIVER
    assert route["routes"] == [{"receiver": "null", "matchers": ['alertname = "Watchdog"']}]
    receivers = {r["name"]: r for r in config["receivers"]}
    assert set(receivers) == {"null", obs.PLATFORM_RECEIVER}
    topic = default.one("aws:sns/topic:Topic", f"{NAME}-alerts")
    sns = receivers[obs.PLATFORM_RECEIVER]["sns_configs"]
    assert [c["topic_arn"] for c in sns] == [
        "arn:aws:sns:us-east-1:111122223333:ml-platform-oncall",  # prod's stack file
        topic.outputs["arn"],
    ]
    assert all(c["sigv4"] == {"region": "us-east-1"} for c in sns)
    subscription = default.one("aws:sns/topicSubscription:TopicSubscription", f"{NAME}-alerts-0")
    assert subscription.inputs["protocol"] == "email"
    assert subscription.inputs["endpoint"] == "ml-platform-alerts@example.com"


def test_alertmanager_publishes_through_pod_identity_before_it_starts(default):
    association = default.one("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert association.inputs["namespace"] == "monitoring"
    assert association.inputs["serviceAccount"] == obs.ALERTMANAGER_SERVICE_ACCOUNT
    prometheus = release(default, "prometheus")
    account = prometheus.inputs["values"]["alertmanager"]["serviceAccount"]
    assert account == {"create": True, "name": obs.ALERTMANAGER_SERVICE_ACCOUNT}
    assert association.urn in prometheus.dependencies
    policy = json.loads(default.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    (statement,) = policy["Statement"]
    assert statement["Action"] == ["sns:Publish"]
    topic = default.one("aws:sns/topic:Topic", f"{NAME}-alerts")
    assert topic.inputs["name"] == obs.alert_topic_name("gpu-platform-prod")
    # The topic's ARN built from the account and its name: decided in a preview too.
    assert statement["Resource"] == [
        "arn:aws:sns:us-east-1:111122223333:ml-platform-oncall",
        f"arn:aws:sns:us-east-1:123456789012:{topic.inputs['name']}",
    ]


@pytest.mark.parametrize(
    ("alerting", "receiver", "kinds"),
    [
        ({}, "null", set()),
        ({"webhookUrls": ["https://hooks.example.com/alerts"]}, "platform", {"webhook_configs"}),
        (
            {"snsTopicArn": "arn:aws:sns:us-east-1:111122223333:t", "sendResolved": False},
            "platform",
            {"sns_configs"},
        ),
    ],
)
def test_alertmanager_config_follows_the_stack_config(alerting, receiver, kinds):
    spec = platform("staging", alerting=alerting).observability
    assert spec is not None
    topics = [spec.alerting.sns_topic_arn] if spec.alerting.sns_topic_arn else []
    config = obs.alertmanager_config(spec.alerting, spec.region, topics)
    assert config["route"]["receiver"] == receiver
    platform_receiver = next((r for r in config["receivers"] if r["name"] == "platform"), {})
    assert set(platform_receiver) - {"name"} == kinds
    for entries in (platform_receiver.get(k, []) for k in kinds):
        assert all(e["send_resolved"] is alerting.get("sendResolved", True) for e in entries)


def test_prod_refuses_to_send_alerts_nowhere():
    from components.config import ConfigError

    with pytest.raises(ConfigError, match="alerting"):
        platform("prod", alerting=None)
    assert platform("prod", alerting=None, addons={"observability": False}).observability is None


@pytest.mark.parametrize(
    ("alerting", "fragment"),
    [
        ({"snsTopicArn": "arn:aws:s3:::bucket"}, "not an SNS topic ARN"),
        ({"emails": ["nobody"]}, "not email addresses"),
        ({"webhookUrls": ["http://plain.example.com"]}, "https://"),
    ],
)
def test_alerting_config_is_checked(alerting, fragment):
    from components.config import ConfigError

    with pytest.raises(ConfigError, match=fragment):
        platform("dev", alerting=alerting)
