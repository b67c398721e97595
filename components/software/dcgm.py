"""The DCGM exporter's metric and label names: every GPU alert and dashboard query takes its names
from here, so a rename upstream is fixed in one place (and a test checks every query against it).

Exporter version: the one gpu-operator v26.7.0 pins, `nvcr.io/nvidia/k8s/dcgm-exporter:
4.6.0-4.8.3-distroless` (NVIDIA/gpu-operator@v26.7.0 deployments/gpu-operator/values.yaml,
`dcgmExporter.version`). Sources of the names:
- metrics: NVIDIA/dcgm-exporter etc/default-counters.csv (the fields collected by default; ECC,
  retired pages and NVLink error counters are commented out there) and
  internal/pkg/counters/const.go (`DCGM_EXP_XID_ERRORS_COUNT`);
- labels: internal/pkg/rendermetrics/render_metrics.go (`gpu`, `UUID`, `pci_bus_id`, `device`,
  `modelName`, the host label), internal/pkg/collector/gpu_collector.go (XID attributes
  `err_code`, `err_msg`) and xid_collector.go (`xid`, `window_size_in_ms`);
- the host label is `hostname` from NVIDIA/dcgm-exporter#655 ("Rename Hostname label to
  hostname", merged after tag 4.5.3-4.8.2, so first released in 4.6.0-4.8.3); it was `Hostname`
  before.
The GPU Operator's ServiceMonitor keeps `honorLabels: false`, so the pod a GPU is assigned to
appears as `exported_namespace` / `exported_pod` (the scrape's own `namespace` / `pod` name the
exporter pod).

`DCGM_EXP_XID_ERRORS_COUNT` (XIDs per GPU and code within the last window, default 5 minutes,
`--xid-count-window-size`) is not collected by default: `counters_csv()` is the exporter's
default list plus it, which the GPU Operator installs as the exporter's ConfigMap
(`dcgmExporter.config`), so repeated identical XIDs are visible (the `DCGM_FI_DEV_XID_ERRORS`
gauge only holds the last code, which does not change when the same error repeats).
"""

from __future__ import annotations

from typing import Final

EXPORTER_VERSION: Final = "4.6.0-4.8.3"
"""The exporter the names are for: gpu-operator v26.7.0's `dcgmExporter.version`."""
GPU_OPERATOR_VERSION: Final = "v26.7.0"

# --------------------------------------------------------------------------- metrics
GPU_UTIL: Final = "DCGM_FI_DEV_GPU_UTIL"
"""GPU utilisation, percent (not reported for MIG instances)."""
FB_USED: Final = "DCGM_FI_DEV_FB_USED"
"""Frame buffer memory used, MiB."""
FB_FREE: Final = "DCGM_FI_DEV_FB_FREE"
"""Frame buffer memory free, MiB."""
GPU_TEMP: Final = "DCGM_FI_DEV_GPU_TEMP"
"""GPU temperature, C."""
POWER_USAGE: Final = "DCGM_FI_DEV_POWER_USAGE"
"""Power draw, W."""
XID_ERRORS: Final = "DCGM_FI_DEV_XID_ERRORS"
"""The last XID error code (a gauge: unchanged when the same error repeats)."""
XID_ERRORS_COUNT: Final = "DCGM_EXP_XID_ERRORS_COUNT"
"""XID errors per GPU and code within the last window (label `xid`); collected through
`counters_csv()`."""

METRICS: Final = frozenset(
    {GPU_UTIL, FB_USED, FB_FREE, GPU_TEMP, POWER_USAGE, XID_ERRORS, XID_ERRORS_COUNT}
)

# --------------------------------------------------------------------------- labels
HOSTNAME: Final = "hostname"
"""The node (was `Hostname` before 4.6.0-4.8.3)."""
GPU: Final = "gpu"
"""GPU index on the node."""
UUID: Final = "UUID"
MODEL_NAME: Final = "modelName"
PCI_BUS_ID: Final = "pci_bus_id"
DEVICE: Final = "device"
XID: Final = "xid"
"""The XID code, on `DCGM_EXP_XID_ERRORS_COUNT`."""
ERR_CODE: Final = "err_code"
ERR_MSG: Final = "err_msg"
WORKLOAD_NAMESPACE: Final = "exported_namespace"
WORKLOAD_POD: Final = "exported_pod"

LABELS: Final = frozenset(
    {
        HOSTNAME,
        GPU,
        UUID,
        MODEL_NAME,
        PCI_BUS_ID,
        DEVICE,
        XID,
        ERR_CODE,
        ERR_MSG,
        WORKLOAD_NAMESPACE,
        WORKLOAD_POD,
    }
)
"""Every label a DCGM query may use."""
PER_GPU: Final = (HOSTNAME, GPU, UUID, MODEL_NAME)
"""One series per physical GPU: time-sliced GPUs repeat a GPU's series once per pod, and the XID
series carry `err_code`/`err_msg`."""

_DEFAULT_COUNTERS: Final = (
    ("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz)."),
    ("DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (in MHz)."),
    ("DCGM_FI_DEV_MEMORY_TEMP", "gauge", "Memory temperature (in C)."),
    (GPU_TEMP, "gauge", "GPU temperature (in C)."),
    (POWER_USAGE, "gauge", "Power draw (in W)."),
    ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter", "Total energy since boot (in mJ)."),
    ("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "counter", "Total number of PCIe retries."),
    (GPU_UTIL, "gauge", "GPU utilization (in %)."),
    ("DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory utilization (in %)."),
    ("DCGM_FI_DEV_ENC_UTIL", "gauge", "Encoder utilization (in %)."),
    ("DCGM_FI_DEV_DEC_UTIL", "gauge", "Decoder utilization (in %)."),
    (XID_ERRORS, "gauge", "Value of the last XID error encountered."),
    (FB_FREE, "gauge", "Framebuffer memory free (in MiB)."),
    (FB_USED, "gauge", "Framebuffer memory used (in MiB)."),
    ("DCGM_FI_DEV_FB_RESERVED", "gauge", "Framebuffer memory reserved (in MiB)."),
    ("DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL", "counter", "Total NVLink bandwidth counters."),
    ("DCGM_FI_DEV_VGPU_LICENSE_STATUS", "gauge", "vGPU License status"),
    ("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "counter", "Remapped rows, uncorrectable errors"),
    ("DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", "counter", "Remapped rows, correctable errors"),
    ("DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", "Whether remapping of rows has failed"),
    ("DCGM_FI_DRIVER_VERSION", "label", "Driver Version"),
    ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "gauge", "Ratio of time the graphics engine is active."),
    ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "gauge", "Ratio of cycles the tensor pipe is active."),
    ("DCGM_FI_PROF_DRAM_ACTIVE", "gauge", "Ratio of cycles device memory is active."),
    ("DCGM_FI_PROF_PCIE_TX_BYTES", "gauge", "PCIe bytes transmitted per second."),
    ("DCGM_FI_PROF_PCIE_RX_BYTES", "gauge", "PCIe bytes received per second."),
)
"""The exporter's default-counters.csv fields (its descriptions shortened)."""

COUNTERS_CONFIG_MAP: Final = "gpu-platform-dcgm-metrics"


def counters_csv() -> str:
    """Pure: the exporter's counters: its default list plus `DCGM_EXP_XID_ERRORS_COUNT`."""
    rows = [*_DEFAULT_COUNTERS, (XID_ERRORS_COUNT, "counter", "XIDs reported during the window")]
    return "".join(f"{field}, {kind}, {help_text}\n" for field, kind, help_text in rows)


def exporter_config() -> dict[str, object]:
    """Pure: gpu-operator `dcgmExporter.config` (name, create, data; values.yaml at v26.7.0): the
    operator creates the ConfigMap and points the exporter at it."""
    return {"name": COUNTERS_CONFIG_MAP, "create": True, "data": counters_csv()}
