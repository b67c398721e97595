"""Every DCGM query (alert rules and dashboards) uses only the metric and label names of the
exporter version the platform pins, as components/software/dcgm.py lists them."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from components import versions
from components.software import dcgm
from components.software import observability as obs
from tests.support import platform

METRIC = re.compile(r"\b(DCGM_[A-Z0-9_]+)\b")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)\s*\"")
LABEL_VALUES = re.compile(r"label_values\(\s*([^,()]+(?:\{[^}]*\})?)\s*,\s*([A-Za-z_]\w*)\s*\)")
TEMPLATE_LABEL = re.compile(r"\$labels\.([A-Za-z_]\w*)")
LEGEND_LABEL = re.compile(r"\{\{\s*([A-Za-z_]\w*)\s*\}\}")


def labels_in(expr: str) -> set[str]:
    found = {m.group(1) for m in MATCHER.finditer(expr)}
    for group in GROUPING.finditer(expr):
        found |= {name.strip() for name in group.group(1).split(",") if name.strip()}
    found |= {m.group(2) for m in LABEL_VALUES.finditer(expr)}
    return found


def spec():
    observability = platform("prod").observability
    assert observability is not None
    return observability


def rules() -> list[dict[str, Any]]:
    s = spec()
    manifest = obs.gpu_alert_rules(s.triton_queue_target_us, s.namespace, s.inference_namespaces)
    return [rule for group in manifest["spec"]["groups"] for rule in group["rules"]]


def dashboard_queries() -> list[tuple[str, str, str]]:
    """(dashboard, query, legend) for every panel target and query variable."""
    out = []
    for short, model in obs.dashboard_models(spec().triton_queue_target_us).items():
        for panel in model["panels"]:
            for t in panel["targets"]:
                out.append((short, t["expr"], t.get("legendFormat", "")))
        for variable in model["templating"]["list"]:
            if variable["type"] == "query":
                out.append((short, variable["query"]["query"], ""))
    return out


def dcgm_exprs() -> list[tuple[str, str, set[str]]]:
    """(where, expression, labels its templates use) of every DCGM query."""
    found = []
    for rule in rules():
        if METRIC.search(rule["expr"]):
            text = " ".join(rule["annotations"].values())
            found.append((rule["alert"], rule["expr"], set(TEMPLATE_LABEL.findall(text))))
    for short, expr, legend in dashboard_queries():
        if METRIC.search(expr):
            found.append((short, expr, set(LEGEND_LABEL.findall(legend))))
    return found


def test_there_are_dcgm_queries_to_check():
    wheres = {where for where, _, _ in dcgm_exprs()}
    assert {"GpuIdle", "GpuXidError", "gpu-fleet", "triton"} <= wheres


@pytest.mark.parametrize(("where", "expr", "templated"), dcgm_exprs())
def test_every_dcgm_query_uses_the_pinned_exporters_names(where, expr, templated):
    assert set(METRIC.findall(expr)) <= dcgm.METRICS, where
    assert labels_in(expr) <= dcgm.LABELS, (where, labels_in(expr) - dcgm.LABELS)
    # Annotation and legend templates name labels the query keeps (`$value` is no label).
    assert templated <= dcgm.LABELS, (where, templated - dcgm.LABELS)


def test_the_extractors_see_labels_and_templates():
    assert labels_in('max by (hostname, gpu) (X{exported_namespace=~"a", xid!=""})') == {
        "hostname",
        "gpu",
        "exported_namespace",
        "xid",
    }
    assert labels_in("label_values(DCGM_FI_DEV_GPU_UTIL, hostname)") == {"hostname"}
    assert TEMPLATE_LABEL.findall("on {{ $labels.Hostname }}") == ["Hostname"]


def test_the_old_host_label_is_used_nowhere():
    s = spec()
    rule = obs.gpu_alert_rules(s.triton_queue_target_us, s.namespace, s.inference_namespaces)
    text = json.dumps([rule, *obs.dashboard_models(s.triton_queue_target_us).values()])
    assert "Hostname" not in text
    assert "Hostname" not in dcgm.LABELS


def test_the_names_are_for_the_exporter_the_pinned_gpu_operator_ships():
    # Bumping the GPU Operator means re-reading the exporter's names (and this module).
    assert versions.CHARTS["gpu-operator"].version == dcgm.GPU_OPERATOR_VERSION
    assert dcgm.EXPORTER_VERSION == "4.6.0-4.8.3"
    assert set(dcgm.PER_GPU) <= dcgm.LABELS
