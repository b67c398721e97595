"""Observability, pure parts: alert rules (thresholds and durations read back from the PromQL),
manifests against the Kubernetes schema, dashboard models, chart values and defaults."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from components.catalog.conventions import DEFAULT_STORAGE_CLASS
from components.config import ConfigError
from components.resolve.software import ObservabilitySpec
from components.software import dashboards as boards
from components.software import observability as obs
from scripts.plan.stages.kubernetes import check
from tests.support import config, platform

K8S_VERSION = "1.36"
SYSTEM = {"gpu-platform/pool": "system"}
DCGM_FLEET_METRICS = {
    "DCGM_FI_DEV_GPU_UTIL",
    "DCGM_FI_DEV_FB_USED",
    "DCGM_FI_DEV_FB_FREE",
    "DCGM_FI_DEV_GPU_TEMP",
    "DCGM_FI_DEV_POWER_USAGE",
    "DCGM_FI_DEV_XID_ERRORS",
}
TRITON_METRICS = {
    "nv_inference_request_success",
    "nv_inference_request_failure",
    "nv_inference_queue_duration_us",
    "nv_inference_compute_infer_duration_us",
    "nv_inference_compute_input_duration_us",
    "nv_inference_compute_output_duration_us",
    "nv_inference_count",
    "nv_inference_exec_count",
    "nv_gpu_utilization",
    "DCGM_FI_DEV_GPU_UTIL",
}
DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def prod_spec(**overrides: Any) -> ObservabilitySpec:
    """prod's observability as the program resolves it (with stack config overrides)."""
    spec = platform("prod", **overrides).observability
    assert spec is not None
    return spec


SPEC = prod_spec()


def seconds(duration: str) -> float:
    """A Prometheus duration (e.g. 1h30m) in seconds."""
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", duration)
    assert "".join(n + u for n, u in parts) == duration, duration
    return sum(int(n) * DURATION_UNITS[u] for n, u in parts)


def comparison(expr: str) -> tuple[str, float]:
    """The operator and number of the expression's final comparison (`... > 90`)."""
    match = re.search(r"([<>]=?|==|!=)\s*(\d+(?:\.\d+)?)\s*$", expr)
    assert match, f"no trailing comparison in {expr!r}"
    return match.group(1), float(match.group(2))


def balanced(expr: str) -> bool:
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    in_string = False
    for char in expr:
        if char == '"':
            in_string = not in_string
        elif in_string:
            continue
        elif char in "([{":
            stack.append(char)
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            return False
    return not stack and not in_string


def alerts(target_us: int = SPEC.triton_queue_target_us) -> dict[str, dict[str, Any]]:
    manifest = obs.gpu_alert_rules(target_us, SPEC.namespace, SPEC.inference_namespaces)
    rules = [rule for group in manifest["spec"]["groups"] for rule in group["rules"]]
    by_name = {rule["alert"]: rule for rule in rules}
    assert len(by_name) == len(rules), "alert names must be unique"
    return by_name


# --------------------------------------------------------------------------- alert rules

REQUIRED_ALERTS = [
    # alert, metrics in the expression, operator, threshold, minimum `for`
    ("GpuIdle", ["DCGM_FI_DEV_GPU_UTIL"], "<", 30, 3600),
    ("GpuSaturated", ["DCGM_FI_DEV_GPU_UTIL"], ">", 95, 900),
    ("GpuMemoryHigh", ["DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE"], ">", 90, 0),
    ("GpuTemperatureHigh", ["DCGM_FI_DEV_GPU_TEMP"], ">", 85, 0),
    ("GpuXidError", ["DCGM_EXP_XID_ERRORS_COUNT"], ">", 0, 0),
]


@pytest.mark.parametrize(("name", "metrics", "op", "threshold", "min_for"), REQUIRED_ALERTS)
def test_gpu_alert_has_the_required_threshold_and_duration(name, metrics, op, threshold, min_for):
    rule = alerts()[name]
    expr = rule["expr"]
    for metric in metrics:
        assert metric in expr
    assert comparison(expr) == (op, threshold)
    assert seconds(rule.get("for", "0s")) >= min_for
    assert balanced(expr), expr


def test_utilisation_alerts_last_exactly_one_hour_and_fifteen_minutes():
    found = alerts()
    assert seconds(found["GpuIdle"]["for"]) == 3600
    assert seconds(found["GpuSaturated"]["for"]) == 900


def test_thresholds_are_the_named_constants():
    found = alerts()
    assert comparison(found["GpuIdle"]["expr"])[1] == obs.GPU_IDLE_UTIL_PCT == 30
    assert comparison(found["GpuSaturated"]["expr"])[1] == obs.GPU_SATURATED_UTIL_PCT == 95
    assert comparison(found["GpuMemoryHigh"]["expr"])[1] == obs.GPU_MEMORY_USED_PCT == 90
    assert comparison(found["GpuTemperatureHigh"]["expr"])[1] == obs.GPU_TEMPERATURE_C == 85
    assert found["GpuIdle"]["for"] == obs.GPU_IDLE_FOR
    assert found["GpuSaturated"]["for"] == obs.GPU_SATURATED_FOR


def test_memory_alert_is_used_over_used_plus_free_in_percent():
    expr = alerts()["GpuMemoryHigh"]["expr"]
    used = obs._per_gpu("DCGM_FI_DEV_FB_USED")
    free = obs._per_gpu("DCGM_FI_DEV_FB_FREE")
    assert expr == f"100 * {used} / ({used} + {free}) > 90"


def test_xid_alert_counts_errors_so_a_repeated_identical_xid_keeps_it_firing():
    rule = alerts()["GpuXidError"]
    # The count of XIDs per GPU and code in the exporter's window: the same code repeating
    # raises the count (the last-code gauge would not change, so a change-based alert missed it).
    assert rule["expr"] == (
        "max by (hostname, gpu, UUID, modelName, xid) (DCGM_EXP_XID_ERRORS_COUNT) > 0"
    )
    assert "DCGM_FI_DEV_XID_ERRORS" not in rule["expr"] and "changes(" not in rule["expr"]
    assert "{{ $labels.xid }}" in rule["annotations"]["description"]
    # The exporter collects the count: the GPU Operator installs the counters with it.
    from components.software import dcgm
    from components.software.gpu_operator import values

    spec = platform("prod").gpu_operator
    assert spec is not None
    config = values(spec)["dcgmExporter"]["config"]
    assert config == {"name": dcgm.COUNTERS_CONFIG_MAP, "create": True, "data": dcgm.counters_csv()}
    fields = [line.split(",")[0] for line in dcgm.counters_csv().splitlines()]
    assert "DCGM_EXP_XID_ERRORS_COUNT" in fields
    # Still every default counter the dashboards use.
    assert set(fields) >= DCGM_FLEET_METRICS


def test_saturation_alert_only_watches_inference_gpus():
    expr = alerts()["GpuSaturated"]["expr"]
    assert SPEC.inference_namespaces == ("inference",)  # prod runs Triton
    assert 'DCGM_FI_DEV_GPU_UTIL{exported_namespace=~"inference"}' in expr
    # Idle is fleet-wide (an idle training GPU is waste too).
    assert "exported_namespace" not in alerts()["GpuIdle"]["expr"]
    # Without inference there is nothing to saturate.
    without = obs.gpu_alert_rules(50_000, "monitoring", ())
    names = {r["alert"] for g in without["spec"]["groups"] for r in g["rules"]}
    assert "GpuSaturated" not in names and "GpuIdle" in names


def test_node_health_and_hot_tier_alerts():
    found = alerts()
    node = found["GpuNodeHardwareUnhealthy"]["expr"]
    assert 'condition="AcceleratedHardwareReady"' in node and 'status="false"' in node
    fsx = found["FsxClaimNotBound"]["expr"]
    assert 'persistentvolumeclaim="fsx-lustre"' in fsx and 'phase!="Bound"' in fsx


@pytest.mark.parametrize("target_us", [50_000, 20_000, 1])
def test_triton_queue_alert_uses_average_queue_time_per_request_against_the_target(target_us):
    rule = alerts(target_us)["TritonQueueTimeHigh"]
    expr = rule["expr"]
    numerator, _, denominator = expr.rpartition(" > ")[0].partition(" / ")
    assert "rate(nv_inference_queue_duration_us[5m])" in numerator
    assert "rate(nv_inference_request_success[5m])" in denominator
    for side in (numerator, denominator):
        assert side.startswith("sum by (") and "model" in side.split(")")[0]
    assert comparison(expr) == (">", target_us)
    assert seconds(rule["for"]) > 0
    assert str(target_us) in rule["annotations"]["description"]


def test_every_alert_has_severity_summary_and_description():
    for name, rule in alerts().items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"].strip(), name
        assert rule["annotations"]["description"].strip(), name
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, name


def test_alert_templates_use_prometheus_template_braces_not_python_leftovers():
    for rule in alerts().values():
        text = rule["annotations"]["description"] + rule["annotations"]["summary"]
        assert "{{{" not in text and "}}}" not in text
        assert text.count("{{") == text.count("}}")
        assert re.findall(r"(?<!\{)\{(?!\{)", text) == [], text  # no single braces


@pytest.mark.parametrize("namespace", ["monitoring", "observability"])
def test_rule_manifest_passes_the_kubernetes_stage(namespace):
    manifest = obs.gpu_alert_rules(50_000, namespace)
    assert manifest["apiVersion"] == "monitoring.coreos.com/v1"
    assert manifest["kind"] == "PrometheusRule"
    assert manifest["metadata"]["namespace"] == namespace
    assert manifest["metadata"]["labels"]
    assert check(manifest, K8S_VERSION) == []
    assert {g["name"] for g in manifest["spec"]["groups"]} == {
        "gpu-platform.gpu",
        "gpu-platform.platform",
        "gpu-platform.triton",
    }


# --------------------------------------------------------------------------- dashboards


def all_panels(model: dict[str, Any]) -> list[dict[str, Any]]:
    return model["panels"]


def metrics_of(expr: str) -> set[str]:
    return set(re.findall(r"\b(DCGM_FI_[A-Z_]+|nv_[a-z_]+)\b", expr))


@pytest.fixture(scope="module")
def config_maps() -> list[dict[str, Any]]:
    return obs.dashboards(SPEC.namespace, SPEC.triton_queue_target_us)


@pytest.fixture(scope="module")
def models(config_maps) -> dict[str, dict[str, Any]]:
    parsed = {}
    for config_map in config_maps:
        [(key, text)] = config_map["data"].items()
        assert key.endswith(".json")
        parsed[key.removesuffix(".json")] = json.loads(text)
    return parsed


def test_dashboard_config_maps_pass_the_strict_kubernetes_schema(config_maps):
    assert len(config_maps) == 2
    for config_map in config_maps:
        assert check(config_map, K8S_VERSION) == [], config_map["metadata"]["name"]
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert config_map["metadata"]["namespace"] == "monitoring"
        size = sum(len(v.encode()) for v in config_map["data"].values())
        assert size < 1_000_000  # a ConfigMap holds at most 1 MiB


def test_the_schema_check_is_strict_enough_to_catch_a_misspelt_field(config_maps):
    broken = {**config_maps[0], "dataa": config_maps[0]["data"]}
    assert check(broken, K8S_VERSION)


def test_dashboards_are_the_gpu_fleet_and_triton(models):
    assert {m["title"] for m in models.values()} == {"GPU fleet", "Triton inference"}
    assert len({m["uid"] for m in models.values()}) == 2
    for model in models.values():
        assert isinstance(model["schemaVersion"], int) and model["schemaVersion"] >= 30
        assert model["panels"]


@pytest.mark.parametrize(
    ("short", "allowed"), [("gpu-fleet", DCGM_FLEET_METRICS), ("triton", TRITON_METRICS)]
)
def test_every_panel_queries_prometheus_for_the_dashboards_metrics(models, short, allowed):
    for panel in all_panels(models[short]):
        targets = panel["targets"]
        assert targets, panel["title"]
        assert len({t["refId"] for t in targets}) == len(targets)
        used = set()
        for t in targets:
            assert t["datasource"]["type"] == "prometheus"
            assert balanced(t["expr"]), t["expr"]
            used |= metrics_of(t["expr"])
        assert used and used <= allowed, (panel["title"], used)


def test_gpu_fleet_covers_utilisation_memory_temperature_power_and_xid(models):
    exprs = " ".join(t["expr"] for p in all_panels(models["gpu-fleet"]) for t in p["targets"])
    assert metrics_of(exprs) >= DCGM_FLEET_METRICS
    # By node and GPU.
    util = next(p for p in all_panels(models["gpu-fleet"]) if p["title"] == "GPU utilisation")
    assert "by (hostname, gpu)" in util["targets"][0]["expr"]


def test_triton_covers_requests_queue_compute_and_inference_pod_gpus(models):
    titles = {p["title"]: p for p in all_panels(models["triton"])}
    assert "nv_inference_request_success" in titles["Requests per second"]["targets"][0]["expr"]
    queue = titles["Queue time per request"]["targets"][0]["expr"]
    assert "nv_inference_queue_duration_us" in queue and "nv_inference_request_success" in queue
    compute = titles["Compute time per request"]["targets"][0]["expr"]
    assert "nv_inference_compute_infer_duration_us" in compute
    gpu = titles["GPU utilisation of inference pods"]["targets"]
    assert any("DCGM_FI_DEV_GPU_UTIL" in t["expr"] for t in gpu)


def test_panels_tile_the_24_column_grid_without_overlap(models):
    for model in models.values():
        cells: set[tuple[int, int]] = set()
        for panel in all_panels(model):
            pos = panel["gridPos"]
            assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24
            area = {
                (x, y)
                for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])
            }
            assert not cells & area, panel["title"]
            cells |= area
        assert [p["id"] for p in model["panels"]] == list(range(1, len(model["panels"]) + 1))


def test_every_variable_a_query_uses_is_defined(models):
    for model in models.values():
        defined = {v["name"] for v in model["templating"]["list"]}
        assert "datasource" in defined
        for panel in all_panels(model):
            for t in panel["targets"]:
                used = set(re.findall(r"\$(\w+)", t["expr"]))
                assert used <= defined, (panel["title"], used - defined)


def test_dashboard_threshold_lines_are_the_alert_thresholds():
    def lines(model: dict[str, Any], title: str) -> list[float]:
        panel = next(p for p in model["panels"] if p["title"] == title)
        steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        return [s["value"] for s in steps if s["value"] is not None]

    models = obs.dashboard_models(20_000)
    fleet = models["gpu-fleet"]
    assert lines(fleet, "GPU utilisation") == [obs.GPU_IDLE_UTIL_PCT, obs.GPU_SATURATED_UTIL_PCT]
    assert lines(fleet, "GPU memory used") == [obs.GPU_MEMORY_USED_PCT]
    assert lines(fleet, "GPU temperature") == [obs.GPU_TEMPERATURE_C]
    assert lines(models["triton"], "Queue time per request") == [20_000]


def test_dashboard_json_is_stable_between_runs():
    def build() -> list[dict[str, Any]]:
        return obs.dashboards(SPEC.namespace, SPEC.triton_queue_target_us)

    assert build() == build()
    assert json.loads(build()[0]["data"]["gpu-fleet.json"])["schemaVersion"] == (
        boards.SCHEMA_VERSION
    )


@pytest.mark.parametrize("namespace", ["monitoring", "observability"])
def test_dashboards_go_to_the_given_namespace_with_the_given_queue_target(namespace):
    maps = obs.dashboards(namespace, 20_000)
    assert {m["metadata"]["namespace"] for m in maps} == {namespace}
    triton = next(m for m in maps if "triton.json" in m["data"])
    assert json.loads(triton["data"]["triton.json"]) == obs.dashboard_models(20_000)["triton"]


# --------------------------------------------------------------------------- chart values


def chart_values(spec: ObservabilitySpec = SPEC, **overrides: Any) -> dict[str, Any]:
    """kube-prometheus-stack values for a resolved spec (keyword overrides win)."""
    arguments: dict[str, Any] = {
        "retention": spec.retention,
        "storage_gib": spec.prometheus_storage_gib,
        "node_exporter_namespace": spec.node_exporter_namespace,
    }
    return obs.prometheus_values(**{**arguments, **overrides})


def test_prometheus_selects_monitors_and_rules_without_the_release_label():
    spec = chart_values()["prometheus"]["prometheusSpec"]
    for key in (
        "serviceMonitorSelectorNilUsesHelmValues",
        "podMonitorSelectorNilUsesHelmValues",
        "ruleSelectorNilUsesHelmValues",
    ):
        assert spec[key] is False, key


def test_prometheus_keeps_the_retention_on_an_encrypted_gp3_claim():
    spec = chart_values(retention="30d", storage_gib=200)["prometheus"]["prometheusSpec"]
    assert spec["retention"] == "30d"
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] == DEFAULT_STORAGE_CLASS == "gp3-encrypted"
    assert claim["accessModes"] == ["ReadWriteOnce"]
    assert claim["resources"]["requests"]["storage"] == "200Gi"
    size = int(spec["retentionSize"].removesuffix("GB"))
    assert 0 < size < 200


def test_grafana_loads_labelled_dashboards_from_every_namespace():
    grafana = chart_values()["grafana"]
    assert grafana["sidecar"]["dashboards"] == {
        "enabled": True,
        "label": "grafana_dashboard",
        "labelValue": "1",
        "searchNamespace": "ALL",
    }
    assert grafana["adminPassword"] == ""  # never the chart's well-known default


def test_deployments_and_statefulsets_run_on_the_system_pool():
    values = chart_values()
    paths = [
        ("prometheusOperator",),
        ("prometheusOperator", "admissionWebhooks", "patch"),
        ("prometheusOperator", "admissionWebhooks", "deployment"),
        ("prometheus", "prometheusSpec"),
        ("alertmanager", "alertmanagerSpec"),
        ("grafana",),
        ("kube-state-metrics",),
    ]
    for path in paths:
        node: Any = values
        for key in path:
            node = node[key]
        assert node["nodeSelector"] == SYSTEM, path
    assert obs.keda_values() == {"nodeSelector": SYSTEM}


def test_node_exporter_runs_on_every_node_in_its_own_namespace():
    exporter = chart_values(node_exporter_namespace="mon-node-exporter")["prometheus-node-exporter"]
    assert "nodeSelector" not in exporter
    assert {"operator": "Exists"} in exporter["tolerations"]  # GPU and spot taints too
    assert exporter["namespaceOverride"] == "mon-node-exporter"


def test_managed_control_plane_is_not_scraped():
    values = chart_values()
    for component in ("kubeEtcd", "kubeControllerManager", "kubeScheduler", "kubeProxy"):
        assert values[component] == {"enabled": False}
    rules = values["defaultRules"]["rules"]
    assert not any(rules[k] for k in ("etcd", "kubeControllerManager", "kubeSchedulerAlerting"))


# --------------------------------------------------------------------------- defaults and URL


def test_defaults():
    spec = prod_spec()
    assert spec == ObservabilitySpec(
        namespace="monitoring",
        node_exporter_namespace="monitoring-node-exporter",
        triton_queue_target_us=50_000,
        retention="15d",
        prometheus_storage_gib=100,
        region="us-east-1",
        cluster_name="gpu-platform-prod",
        alerting=spec.alerting,
        inference_namespaces=("inference",),
    )
    assert spec.alerting.configured


def test_the_queue_target_is_the_triton_configs_and_observability_can_be_off():
    assert prod_spec(triton={"queueTimeTargetUs": 20_000}).triton_queue_target_us == 20_000
    assert config("prod").triton.queue_time_target_us == SPEC.triton_queue_target_us
    assert config("dev").addons.observability is False
    assert platform("dev").observability is None


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_resolved_settings_are_valid_for_prometheus_and_kubernetes(stack):
    # What the old resolve refused on input (the settings are no longer stack config): every
    # stack's resolved spec is a DNS-1123 namespace, a Prometheus duration and a real volume.
    spec = platform(stack, addons={"observability": True}).observability
    assert spec is not None
    for namespace in (spec.namespace, spec.node_exporter_namespace):
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", namespace), namespace
    assert spec.node_exporter_namespace != spec.namespace
    assert seconds(spec.retention) >= 86400
    assert spec.prometheus_storage_gib >= 10
    assert int(spec.prometheus_storage_gib * obs.RETENTION_SIZE_FRACTION) > 0


@pytest.mark.parametrize(
    "target",
    [
        0,
        True,
        1.5,
    ],
)
def test_invalid_queue_targets_are_refused_naming_the_key(target):
    with pytest.raises(ConfigError) as caught:
        config("prod", triton={"queueTimeTargetUs": target})
    assert [path for path, _ in caught.value.problems] == ["gpu-platform:triton.queueTimeTargetUs"]


@pytest.mark.parametrize(
    ("namespace", "release", "url"),
    [
        (
            "monitoring",
            "kube-prometheus-stack",
            "http://kube-prometheus-stack-prometheus.monitoring.svc:9090",
        ),
        ("obs", "kube-prometheus-stack", "http://kube-prometheus-stack-prometheus.obs.svc:9090"),
        ("monitoring", "prom", "http://prom-kube-prometheus-stack-prometheus.monitoring.svc:9090"),
        # <release>-kube-prometheus-stack cut to 26 characters, trailing dash trimmed.
        (
            "monitoring",
            "platform",
            "http://platform-kube-prometheus-s-prometheus.monitoring.svc:9090",
        ),
        (
            "monitoring",
            "platforms",
            "http://platforms-kube-prometheus-prometheus.monitoring.svc:9090",
        ),
    ],
)
def test_prometheus_url_follows_the_charts_service_naming(namespace, release, url):
    assert obs.prometheus_service_url(namespace, release) == url
