"""Triton model configuration (`config.pbtxt`) generator: pure, validated, with a CLI.

A model in a Triton model repository is a directory `<repository>/<name>/` holding
`config.pbtxt` (protobuf text format of `inference.ModelConfig`, see
triton-inference-server/common `protobuf/model_config.proto`) and numbered version directories.
`render()` writes the subset of that message this platform uses: name, platform or backend,
max_batch_size, inputs and outputs, dynamic batching and one instance group.

Rules checked before anything is rendered (each error names its field):
- the name is a usable directory name; platform and backend are exclusive, one is required;
- `max_batch_size >= 0`; 0 means the model does not batch, so dynamic batching, preferred batch
  sizes and a queue delay are errors there;
- preferred batch sizes are positive, unique and never above `max_batch_size`;
- data types are Triton's `TYPE_*` names; dims are positive or -1 (variable); at least one input
  and one output;
- an instance group runs `instance_count >= 1` instances per listed GPU (all GPUs when `gpus` is
  None); CPU groups take no GPU list.

CLI (writes `<DIR>/<name>/config.pbtxt`, or prints it without `--out`):

    python -m workloads.triton_config --name resnet --platform onnxruntime_onnx \\
        --max-batch-size 32 --preferred 8 16 --max-queue-delay-us 100 --instances 2 \\
        --input input:TYPE_FP32:3,224,224 --output output:TYPE_FP32:1000 --out model_repository
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

CONFIG_FILE = "config.pbtxt"
MODEL_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
"""A model name becomes a directory (and a URL path segment): no slashes, no leading dot."""
BACKEND_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class DataType(StrEnum):
    """Tensor data types (`inference.DataType` in model_config.proto, minus TYPE_INVALID)."""

    BOOL = "TYPE_BOOL"
    UINT8 = "TYPE_UINT8"
    UINT16 = "TYPE_UINT16"
    UINT32 = "TYPE_UINT32"
    UINT64 = "TYPE_UINT64"
    INT8 = "TYPE_INT8"
    INT16 = "TYPE_INT16"
    INT32 = "TYPE_INT32"
    INT64 = "TYPE_INT64"
    FP16 = "TYPE_FP16"
    FP32 = "TYPE_FP32"
    FP64 = "TYPE_FP64"
    STRING = "TYPE_STRING"
    BF16 = "TYPE_BF16"


class Platform(StrEnum):
    """Model formats named by `platform` (the other backends are named by `backend`)."""

    TENSORRT_PLAN = "tensorrt_plan"
    ONNXRUNTIME_ONNX = "onnxruntime_onnx"
    PYTORCH_LIBTORCH = "pytorch_libtorch"
    TENSORFLOW_SAVEDMODEL = "tensorflow_savedmodel"
    TENSORFLOW_GRAPHDEF = "tensorflow_graphdef"
    ENSEMBLE = "ensemble"


class InstanceKind(StrEnum):
    """Where model instances run (`ModelInstanceGroup.Kind`)."""

    GPU = "KIND_GPU"
    CPU = "KIND_CPU"


class ModelConfigError(ValueError):
    """An invalid model configuration. `field` names the offending field (e.g. `inputs[0].dims`)."""

    def __init__(self, field_name: str, message: str):
        self.field = field_name
        self.message = message
        super().__init__(f"{field_name}: {message}")


def _check_int(value: object, field_name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ModelConfigError(field_name, f"must be an integer, got {value!r}")
    return value


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output."""

    name: str
    """Tensor name as the model declares it (any text without a newline)."""
    data_type: DataType | str
    """A `TYPE_*` name, e.g. TYPE_FP32."""
    dims: Sequence[int]
    """Shape without the batch dimension; -1 marks a variable dimension."""

    def checked(self, where: str) -> TensorSpec:
        """This tensor with its data type normalised; ModelConfigError names `<where>.<field>`."""
        if not isinstance(self.name, str) or not self.name or "\n" in self.name:
            raise ModelConfigError(f"{where}.name", "must be a non-empty single-line string")
        try:
            data_type = DataType(self.data_type)
        except ValueError:
            known = ", ".join(t.value for t in DataType)
            raise ModelConfigError(
                f"{where}.data_type", f"unknown data type {self.data_type!r} (one of: {known})"
            ) from None
        dims = [_check_int(d, f"{where}.dims") for d in self.dims]
        if not dims:
            raise ModelConfigError(f"{where}.dims", "needs at least one dimension")
        bad = [d for d in dims if d != -1 and d < 1]
        if bad:
            raise ModelConfigError(f"{where}.dims", f"{bad}: dims are positive or -1 (variable)")
        return TensorSpec(self.name, data_type, tuple(dims))


@dataclass(frozen=True)
class ModelConfig:
    """What `config.pbtxt` says about one model. Validated on construction."""

    name: str
    """Model name: the directory under the model repository."""
    inputs: Sequence[TensorSpec]
    """At least one."""
    outputs: Sequence[TensorSpec]
    """At least one."""
    platform: Platform | str | None = None
    """e.g. onnxruntime_onnx, tensorrt_plan, pytorch_libtorch. Give this or `backend`."""
    backend: str | None = None
    """e.g. python, onnxruntime, vllm. Give this or `platform`."""
    max_batch_size: int = 0
    """Largest batch; 0 means the model does not batch (dims are then the full shape)."""
    dynamic_batching: bool | None = None
    """Enable the dynamic batcher. Default: on when `max_batch_size > 0`."""
    preferred_batch_sizes: Sequence[int] = field(default_factory=tuple)
    """Batch sizes the batcher executes at once when it can form them. Default: none."""
    max_queue_delay_us: int = 0
    """Longest a request waits in the queue for a batch to fill, in microseconds. Default: 0."""
    instance_count: int = 1
    """Instances per GPU (KIND_GPU) or in total (KIND_CPU). Default: 1."""
    kind: InstanceKind = InstanceKind.GPU
    """Default: KIND_GPU."""
    gpus: Sequence[int] | None = None
    """GPU indices for the instances. Default: None, every GPU the container sees."""

    def __post_init__(self) -> None:
        self._check_identity()
        max_batch = _check_int(self.max_batch_size, "max_batch_size")
        if max_batch < 0:
            raise ModelConfigError("max_batch_size", f"{max_batch}: must be >= 0")
        self._check_batching(max_batch)
        self._check_instances()
        for label, tensors in (("inputs", self.inputs), ("outputs", self.outputs)):
            if not tensors:
                raise ModelConfigError(label, "needs at least one tensor")
            checked = tuple(t.checked(f"{label}[{i}]") for i, t in enumerate(tensors))
            names = [t.name for t in checked]
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ModelConfigError(label, f"duplicate tensor names {duplicates}")
            object.__setattr__(self, label, checked)
        object.__setattr__(self, "preferred_batch_sizes", tuple(self.preferred_batch_sizes))
        if self.gpus is not None:
            object.__setattr__(self, "gpus", tuple(self.gpus))

    def _check_identity(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ModelConfigError("name", "must not be empty")
        if not MODEL_NAME.match(self.name) or self.name in (".", ".."):
            raise ModelConfigError(
                "name", f"{self.name!r}: letters, digits, '_', '-' and '.' only (a directory name)"
            )
        if (self.platform is None) == (self.backend is None):
            raise ModelConfigError("platform", "give exactly one of platform or backend")
        if self.platform is not None:
            try:
                object.__setattr__(self, "platform", Platform(self.platform))
            except ValueError:
                known = ", ".join(p.value for p in Platform)
                raise ModelConfigError(
                    "platform", f"unknown platform {self.platform!r} (one of: {known})"
                ) from None
        if self.backend is not None and not BACKEND_NAME.match(self.backend):
            raise ModelConfigError("backend", f"{self.backend!r}: lowercase letters, digits, '_'")

    def _check_batching(self, max_batch: int) -> None:
        preferred = [_check_int(p, "preferred_batch_sizes") for p in self.preferred_batch_sizes]
        delay = _check_int(self.max_queue_delay_us, "max_queue_delay_us")
        if delay < 0:
            raise ModelConfigError("max_queue_delay_us", f"{delay}: must be >= 0")
        if any(p < 1 for p in preferred):
            raise ModelConfigError("preferred_batch_sizes", f"{preferred}: sizes must be positive")
        if len(set(preferred)) != len(preferred):
            raise ModelConfigError("preferred_batch_sizes", f"{preferred}: sizes must be unique")
        too_big = [p for p in preferred if p > max_batch]
        if too_big and max_batch > 0:
            raise ModelConfigError(
                "preferred_batch_sizes",
                f"{too_big} above max_batch_size {max_batch}",
            )
        if max_batch == 0:
            if self.dynamic_batching:
                raise ModelConfigError(
                    "dynamic_batching", "needs max_batch_size > 0 (0 means no batching)"
                )
            if preferred:
                raise ModelConfigError(
                    "preferred_batch_sizes", "need max_batch_size > 0 (0 means no batching)"
                )
            if delay:
                raise ModelConfigError(
                    "max_queue_delay_us", "needs max_batch_size > 0 (0 means no batching)"
                )
        elif self.dynamic_batching is False and (preferred or delay):
            raise ModelConfigError(
                "dynamic_batching",
                "is off, so preferred_batch_sizes and max_queue_delay_us would be ignored",
            )

    def _check_instances(self) -> None:
        count = _check_int(self.instance_count, "instance_count")
        if count < 1:
            raise ModelConfigError("instance_count", f"{count}: must be >= 1")
        try:
            object.__setattr__(self, "kind", InstanceKind(self.kind))
        except ValueError:
            raise ModelConfigError("kind", f"unknown instance kind {self.kind!r}") from None
        if self.gpus is None:
            return
        gpus = [_check_int(g, "gpus") for g in self.gpus]
        if self.kind is InstanceKind.CPU:
            raise ModelConfigError("gpus", "KIND_CPU instance groups take no GPU list")
        if not gpus:
            raise ModelConfigError("gpus", "empty list: use None for every GPU")
        if any(g < 0 for g in gpus) or len(set(gpus)) != len(gpus):
            raise ModelConfigError("gpus", f"{gpus}: GPU indices are unique and >= 0")

    @property
    def batching(self) -> bool:
        """Whether the dynamic batcher is on."""
        if self.dynamic_batching is None:
            return self.max_batch_size > 0
        return self.dynamic_batching


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _int_list(values: Sequence[int]) -> str:
    return "[ " + ", ".join(str(v) for v in values) + " ]"


def _tensors(label: str, tensors: Sequence[TensorSpec]) -> list[str]:
    lines = [f"{label} ["]
    for i, tensor in enumerate(tensors):
        lines += [
            "  {",
            f"    name: {_quote(tensor.name)}",
            f"    data_type: {DataType(tensor.data_type).value}",
            f"    dims: {_int_list(tensor.dims)}",
            "  }" + ("," if i < len(tensors) - 1 else ""),
        ]
    lines.append("]")
    return lines


def render(config: ModelConfig) -> str:
    """Pure: the model's `config.pbtxt` (protobuf text format of `inference.ModelConfig`)."""
    lines = [f"name: {_quote(config.name)}"]
    if config.platform is not None:
        lines.append(f"platform: {_quote(Platform(config.platform).value)}")
    else:
        lines.append(f"backend: {_quote(str(config.backend))}")
    lines.append(f"max_batch_size: {config.max_batch_size}")
    lines += _tensors("input", config.inputs)
    lines += _tensors("output", config.outputs)
    if config.batching:
        lines.append("dynamic_batching {")
        if config.preferred_batch_sizes:
            lines.append(f"  preferred_batch_size: {_int_list(config.preferred_batch_sizes)}")
        if config.max_queue_delay_us:
            lines.append(f"  max_queue_delay_microseconds: {config.max_queue_delay_us}")
        lines.append("}")
    group = ["  {", f"    count: {config.instance_count}", f"    kind: {config.kind.value}"]
    if config.gpus is not None:
        group.append(f"    gpus: {_int_list(config.gpus)}")
    lines += ["instance_group [", *group, "  }", "]"]
    return "\n".join(lines) + "\n"


def write(config: ModelConfig, repository: Path) -> Path:
    """Write `<repository>/<name>/config.pbtxt`; returns its path."""
    path = repository / config.name / CONFIG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(config))
    return path


# --------------------------------------------------------------------------- example model

EXAMPLE_INPUT = "INPUT"
EXAMPLE_OUTPUT = "OUTPUT"
EXAMPLE_MODEL_PY = '''\
"""Echo: every response carries the request's INPUT tensor back as OUTPUT.

Written into the model repository by the GPU platform stack, so a new deployment has a model to
load (Triton's explicit model control refuses to start without it) and a smoke test has
something to call. It needs no weights and runs on CPU.
"""

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        return [
            pb_utils.InferenceResponse(
                output_tensors=[
                    pb_utils.Tensor(
                        "OUTPUT", pb_utils.get_input_tensor_by_name(request, "INPUT").as_numpy()
                    )
                ]
            )
            for request in requests
        ]
'''
"""The example's `1/model.py` (the Python backend's default file name in version 1)."""


def example_model_config(name: str) -> ModelConfig:
    """The example model: a Python-backend echo of one variable-length FP32 tensor, one CPU
    instance (the Python backend ships in Triton's `-py3` images; no GPU, no weights)."""
    tensor = [-1]
    return ModelConfig(
        name=name,
        backend="python",
        inputs=[TensorSpec(EXAMPLE_INPUT, DataType.FP32, tensor)],
        outputs=[TensorSpec(EXAMPLE_OUTPUT, DataType.FP32, tensor)],
        kind=InstanceKind.CPU,
    )


def example_model_files(name: str) -> dict[str, str]:
    """Pure: the example model's files, by path relative to the repository root
    (`<name>/config.pbtxt`, `<name>/1/model.py`)."""
    return {
        f"{name}/{CONFIG_FILE}": render(example_model_config(name)),
        f"{name}/1/model.py": EXAMPLE_MODEL_PY,
    }


# --------------------------------------------------------------------------- CLI


def parse_tensor(text: str, where: str = "tensor") -> TensorSpec:
    """`name:TYPE:d1,d2,...` (the name may itself contain ':', e.g. TensorFlow's `input_1:0`)."""
    parts = text.rsplit(":", 2)
    if len(parts) != 3:
        raise ModelConfigError(where, f"{text!r}: expected name:TYPE_X:d1,d2,...")
    name, data_type, dims_text = parts
    try:
        dims = [int(d) for d in dims_text.split(",")]
    except ValueError:
        raise ModelConfigError(
            f"{where}.dims", f"{dims_text!r}: comma-separated integers"
        ) from None
    return TensorSpec(name, data_type, dims)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m workloads.triton_config",
        description="Write a Triton model's config.pbtxt.",
    )
    parser.add_argument("--name", required=True, help="model name (its directory)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--platform", help=f"one of: {', '.join(p.value for p in Platform)}")
    source.add_argument("--backend", help="backend name, e.g. python, onnxruntime, vllm")
    parser.add_argument("--max-batch-size", type=int, default=0, help="0 = no batching")
    parser.add_argument("--preferred", type=int, nargs="*", default=[], help="preferred sizes")
    parser.add_argument("--max-queue-delay-us", type=int, default=0)
    parser.add_argument(
        "--no-dynamic-batching", action="store_true", help="batch only what clients send"
    )
    parser.add_argument("--instances", type=int, default=1, help="instances per GPU")
    parser.add_argument("--kind", choices=["gpu", "cpu"], default="gpu")
    parser.add_argument("--gpus", type=int, nargs="+", help="GPU indices (default: all)")
    parser.add_argument(
        "--input", action="append", default=[], metavar="NAME:TYPE:DIMS", required=True
    )
    parser.add_argument(
        "--output", action="append", default=[], metavar="NAME:TYPE:DIMS", required=True
    )
    parser.add_argument("--out", type=Path, help="model repository directory (default: stdout)")
    return parser


def config_from_args(args: argparse.Namespace) -> ModelConfig:
    return ModelConfig(
        name=args.name,
        platform=args.platform,
        backend=args.backend,
        max_batch_size=args.max_batch_size,
        dynamic_batching=False if args.no_dynamic_batching else None,
        preferred_batch_sizes=args.preferred,
        max_queue_delay_us=args.max_queue_delay_us,
        instance_count=args.instances,
        kind=InstanceKind.CPU if args.kind == "cpu" else InstanceKind.GPU,
        gpus=args.gpus,
        inputs=[parse_tensor(t, f"inputs[{i}]") for i, t in enumerate(args.input)],
        outputs=[parse_tensor(t, f"outputs[{i}]") for i, t in enumerate(args.output)],
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ModelConfigError as exc:
        parser.error(str(exc))  # exits with status 2
    if args.out is None:
        sys.stdout.write(render(config))
    else:
        print(write(config, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
