"""Grafana dashboards built in code: the GPU fleet (DCGM exporter) and Triton inference.

Pure functions returning dashboard JSON models (`dict`s ready for `json.dumps`). The Grafana
sidecar of kube-prometheus-stack loads them from labelled ConfigMaps
(see `components.observability.dashboards`).

Label conventions the queries rely on:
- DCGM exporter metric and label names come from components/software/dcgm.py (the exporter
  gpu-operator v26.7.0 pins): `hostname` (the node; `Hostname` before 4.6.0-4.8.3), `gpu` (index
  on the node), `UUID` and `modelName`. The GPU Operator's DCGM ServiceMonitor keeps
  `honorLabels: false` by default, so the workload a GPU is assigned to appears as
  `exported_namespace` / `exported_pod` (the plain `namespace` / `pod` labels name the exporter's
  own pod).
- Triton series carry `model` and `version`; the scrape adds the Triton pod's `namespace` and `pod`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from components.software import dcgm

SCHEMA_VERSION = 39
"""Grafana dashboard JSON schema version the models are written for (Grafana 10.x/11.x)."""
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
"""Every panel queries the Prometheus data source picked in the `datasource` variable."""
RATE_WINDOW = "5m"
GRID_WIDTH = 24

GPU_FLEET_UID = "gpu-platform-gpu-fleet"
TRITON_UID = "gpu-platform-triton"

# Selectors shared by the queries of each dashboard.
_NODE = f'{dcgm.HOSTNAME}=~"$node"'
_TRITON = 'namespace=~"$namespace", model=~"$model"'
_INFERENCE_PODS = f'{dcgm.WORKLOAD_NAMESPACE}=~"$namespace", {dcgm.WORKLOAD_POD}!=""'


def target(expr: str, legend: str, ref_id: str = "A") -> dict[str, Any]:
    """One PromQL query of a panel."""
    return {"refId": ref_id, "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}


def _targets(queries: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    return [target(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(queries)]


def _thresholds(steps: Sequence[tuple[str, float | None]]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in steps]}


def timeseries(
    title: str,
    queries: Sequence[tuple[str, str]],
    *,
    unit: str,
    description: str = "",
    minimum: float | None = None,
    maximum: float | None = None,
    threshold_lines: Sequence[tuple[str, float]] = (),
) -> dict[str, Any]:
    """A time-series panel (position and id are set by `dashboard`). `threshold_lines` draws
    dashed lines, e.g. the alert thresholds."""
    defaults: dict[str, Any] = {
        "unit": unit,
        "custom": {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10,
            "showPoints": "never",
            "spanNulls": False,
            "thresholdsStyle": {"mode": "dashed" if threshold_lines else "off"},
        },
        "thresholds": _thresholds([("green", None), *threshold_lines]),
    }
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "legend": {"displayMode": "table", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": _targets(queries),
    }


def stat(
    title: str,
    expr: str,
    *,
    unit: str,
    description: str = "",
    steps: Sequence[tuple[str, float | None]] = (("green", None),),
) -> dict[str, Any]:
    """A single-number panel, coloured by `steps` (colour from each value up)."""
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {
            "defaults": {"unit": unit, "thresholds": _thresholds(steps)},
            "overrides": [],
        },
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "none",
            "textMode": "value",
        },
        "targets": [target(expr, title)],
    }


def datasource_variable() -> dict[str, Any]:
    return {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
    }


def query_variable(name: str, label: str, query: str) -> dict[str, Any]:
    """A multi-value variable from `label_values(...)`, defaulting to all values."""
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": query,
        "query": {"query": query, "refId": name},
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "refresh": 2,
        "sort": 1,
        "hide": 0,
    }


def dashboard(
    uid: str,
    title: str,
    rows: Sequence[Sequence[tuple[dict[str, Any], int]]],
    variables: Sequence[dict[str, Any]],
    *,
    description: str,
    tags: Sequence[str],
) -> dict[str, Any]:
    """A dashboard whose panels are laid out row by row: each row is a list of
    (panel, height) whose widths split the 24-column grid evenly."""
    panels: list[dict[str, Any]] = []
    y = 0
    for row in rows:
        width = GRID_WIDTH // len(row)
        height = max(h for _, h in row)
        for i, (panel, h) in enumerate(row):
            panels.append(
                {
                    **panel,
                    "id": len(panels) + 1,
                    "gridPos": {"x": i * width, "y": y, "w": width, "h": h},
                }
            )
        y += height
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": list(tags),
        "editable": False,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "1m",
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "browser",
        "annotations": {"list": []},
        "links": [],
        "templating": {"list": [datasource_variable(), *variables]},
        "panels": panels,
    }


# --------------------------------------------------------------------------- GPU fleet


def _per_gpu(metric: str) -> str:
    """One series per physical GPU (time-sliced GPUs repeat a GPU's series once per pod)."""
    return f"max by ({dcgm.HOSTNAME}, {dcgm.GPU}) ({metric}{{{_NODE}}})"


def gpu_fleet(
    *, idle_pct: float, saturated_pct: float, memory_pct: float, temperature_c: float
) -> dict[str, Any]:
    """Utilisation, memory, temperature and power per node and GPU, and XID errors.
    The thresholds are drawn as dashed lines (the alert thresholds)."""
    util = _per_gpu(dcgm.GPU_UTIL)
    used = _per_gpu(dcgm.FB_USED)
    free = _per_gpu(dcgm.FB_FREE)
    xid = _per_gpu(dcgm.XID_ERRORS)
    legend = f"{{{{{dcgm.HOSTNAME}}}}} GPU {{{{{dcgm.GPU}}}}}"
    summary = [
        (
            stat(
                "GPUs reporting",
                f"count({util})",
                unit="short",
                description="GPUs the DCGM exporter reports on (nodes of scaled-to-zero pools "
                "do not exist).",
            ),
            4,
        ),
        (
            stat(
                "Fleet GPU utilisation",
                f"avg({util})",
                unit="percent",
                steps=[("orange", None), ("green", idle_pct), ("red", saturated_pct)],
            ),
            4,
        ),
        (
            stat(
                f"Idle GPUs (< {idle_pct:g}% over 1h)",
                f"count(avg_over_time({util}[1h:1m]) < {idle_pct:g}) or vector(0)",
                unit="short",
                description="GPUs paid for but barely used over the last hour.",
                steps=[("green", None), ("orange", 1)],
            ),
            4,
        ),
        (
            stat(
                "GPUs with an XID error (1h)",
                f"count(changes({xid}[1h:1m]) > 0) or vector(0)",
                unit="short",
                description="GPUs whose last XID error code changed in the last hour.",
                steps=[("green", None), ("red", 1)],
            ),
            4,
        ),
    ]
    usage = [
        (
            timeseries(
                "GPU utilisation",
                [(util, legend)],
                unit="percent",
                minimum=0,
                maximum=100,
                threshold_lines=[("orange", idle_pct), ("red", saturated_pct)],
            ),
            9,
        ),
        (
            timeseries(
                "GPU memory used",
                [(f"100 * {used} / ({used} + {free})", legend)],
                unit="percent",
                minimum=0,
                maximum=100,
                threshold_lines=[("red", memory_pct)],
            ),
            9,
        ),
    ]
    health = [
        (
            timeseries(
                "GPU temperature",
                [(_per_gpu(dcgm.GPU_TEMP), legend)],
                unit="celsius",
                threshold_lines=[("red", temperature_c)],
            ),
            9,
        ),
        (
            timeseries(
                "GPU power draw",
                [(_per_gpu(dcgm.POWER_USAGE), legend)],
                unit="watt",
                minimum=0,
            ),
            9,
        ),
        (
            timeseries(
                "Last XID error code",
                [(xid, legend)],
                unit="none",
                description="DCGM keeps the last XID code until the driver reloads; a change is "
                "a new error (see the NVIDIA XID catalogue for the code).",
            ),
            9,
        ),
    ]
    return dashboard(
        GPU_FLEET_UID,
        "GPU fleet",
        [summary, usage, health],
        [query_variable("node", "Node", f"label_values({dcgm.GPU_UTIL}, {dcgm.HOSTNAME})")],
        description="Every GPU of the cluster from the DCGM exporter: utilisation, memory, "
        "temperature, power and XID errors by node and GPU.",
        tags=["gpu", "dcgm", "gpu-platform"],
    )


# --------------------------------------------------------------------------- Triton


def _per_request(duration_counter: str) -> str:
    """Average microseconds per successful request, per model."""
    return (
        f"sum by (model) (rate({duration_counter}{{{_TRITON}}}[{RATE_WINDOW}]))"
        f" / sum by (model) (rate(nv_inference_request_success{{{_TRITON}}}[{RATE_WINDOW}]))"
    )


def triton(*, queue_target_us: int) -> dict[str, Any]:
    """Requests per second, queue and compute time per request, batching, and the GPU
    utilisation of the inference pods. The queue-time target is drawn as a dashed line."""
    requests = [
        (
            timeseries(
                "Requests per second",
                [
                    (
                        f"sum by (model) (rate(nv_inference_request_success{{{_TRITON}}}"
                        f"[{RATE_WINDOW}]))",
                        "{{model}} ok",
                    ),
                    (
                        f"sum by (model) (rate(nv_inference_request_failure{{{_TRITON}}}"
                        f"[{RATE_WINDOW}]))",
                        "{{model}} failed",
                    ),
                ],
                unit="reqps",
                minimum=0,
            ),
            8,
        ),
        (
            timeseries(
                "Queue time per request",
                [(_per_request("nv_inference_queue_duration_us"), "{{model}}")],
                unit="µs",
                minimum=0,
                description="Time requests wait in the scheduler queue; the autoscaling signal.",
                threshold_lines=[("red", queue_target_us)],
            ),
            8,
        ),
    ]
    compute = [
        (
            timeseries(
                "Compute time per request",
                [
                    (_per_request("nv_inference_compute_infer_duration_us"), "{{model}} infer"),
                    (_per_request("nv_inference_compute_input_duration_us"), "{{model}} input"),
                    (_per_request("nv_inference_compute_output_duration_us"), "{{model}} output"),
                ],
                unit="µs",
                minimum=0,
            ),
            8,
        ),
        (
            timeseries(
                "Inferences per model execution (batching)",
                [
                    (
                        f"sum by (model) (rate(nv_inference_count{{{_TRITON}}}[{RATE_WINDOW}]))"
                        f" / sum by (model) (rate(nv_inference_exec_count{{{_TRITON}}}"
                        f"[{RATE_WINDOW}]))",
                        "{{model}}",
                    )
                ],
                unit="short",
                minimum=0,
            ),
            8,
        ),
    ]
    gpus = [
        (
            timeseries(
                "GPU utilisation of inference pods",
                [
                    (
                        f"avg by ({dcgm.WORKLOAD_POD}) ({dcgm.GPU_UTIL}{{{_INFERENCE_PODS}}})",
                        f"{{{{{dcgm.WORKLOAD_POD}}}}} (DCGM)",
                    ),
                    (
                        'avg by (pod) (nv_gpu_utilization{namespace=~"$namespace"}) * 100',
                        "{{pod}} (Triton)",
                    ),
                ],
                unit="percent",
                minimum=0,
                maximum=100,
            ),
            8,
        ),
    ]
    return dashboard(
        TRITON_UID,
        "Triton inference",
        [requests, compute, gpus],
        [
            query_variable(
                "namespace", "Namespace", "label_values(nv_inference_request_success, namespace)"
            ),
            query_variable(
                "model",
                "Model",
                'label_values(nv_inference_request_success{namespace=~"$namespace"}, model)',
            ),
        ],
        description="Triton Inference Server: throughput, queue and compute time per request, "
        "batching, and the GPUs the inference pods use.",
        tags=["triton", "inference", "gpu-platform"],
    )
