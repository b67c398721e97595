"""Triton config.pbtxt generator: exact rendering, validation naming its field, protobuf text
format, the CLI, and properties over any valid configuration."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format
from hypothesis import given
from hypothesis import strategies as st

from workloads.triton_config import (
    DataType,
    InstanceKind,
    ModelConfig,
    ModelConfigError,
    Platform,
    TensorSpec,
    example_model_config,
    example_model_files,
    main,
    parse_tensor,
    render,
)

IMAGE_IN = TensorSpec("input", "TYPE_FP32", [3, 224, 224])
LOGITS_OUT = TensorSpec("output", DataType.FP32, [1000])

RESNET = ModelConfig(
    name="resnet",
    platform="onnxruntime_onnx",
    max_batch_size=32,
    preferred_batch_sizes=[8, 16],
    max_queue_delay_us=100,
    instance_count=2,
    inputs=[IMAGE_IN],
    outputs=[LOGITS_OUT],
)

RESNET_TEXT = """\
name: "resnet"
platform: "onnxruntime_onnx"
max_batch_size: 32
input [
  {
    name: "input"
    data_type: TYPE_FP32
    dims: [ 3, 224, 224 ]
  }
]
output [
  {
    name: "output"
    data_type: TYPE_FP32
    dims: [ 1000 ]
  }
]
dynamic_batching {
  preferred_batch_size: [ 8, 16 ]
  max_queue_delay_microseconds: 100
}
instance_group [
  {
    count: 2
    kind: KIND_GPU
  }
]
"""


def config(**overrides: Any) -> ModelConfig:
    fields: dict[str, Any] = {
        "name": "m",
        "platform": "tensorrt_plan",
        "max_batch_size": 8,
        "inputs": [IMAGE_IN],
        "outputs": [LOGITS_OUT],
    }
    fields.update(overrides)
    return ModelConfig(**fields)


# --------------------------------------------------------------------------- a schema to parse with


def _model_config_class() -> Any:
    """A message class for the subset of `inference.ModelConfig` that render() writes, with the
    field names, numbers and enums of triton-inference-server/common protobuf/model_config.proto,
    so the rendered text is checked by protobuf's own text-format parser."""
    f = descriptor_pb2.FieldDescriptorProto
    optional, repeated = f.LABEL_OPTIONAL, f.LABEL_REPEATED

    def field(name, number, kind, label=optional, type_name=None):
        proto = f(name=name, number=number, type=kind, label=label)
        if type_name:
            proto.type_name = type_name
        return proto

    file = descriptor_pb2.FileDescriptorProto(name="model_config_subset.proto", package="inference")
    file.enum_type.add(
        name="DataType",
        value=[
            descriptor_pb2.EnumValueDescriptorProto(name=name, number=number)
            for number, name in enumerate(["TYPE_INVALID", *(t.value for t in DataType)])
        ],
    )
    group = file.message_type.add(name="ModelInstanceGroup")
    group.enum_type.add(
        name="Kind",
        value=[
            descriptor_pb2.EnumValueDescriptorProto(name=name, number=number)
            for number, name in enumerate(["KIND_AUTO", "KIND_GPU", "KIND_CPU", "KIND_MODEL"])
        ],
    )
    group.field.extend(
        [
            field("count", 2, f.TYPE_INT32),
            field("gpus", 3, f.TYPE_INT32, repeated),
            field("kind", 4, f.TYPE_ENUM, type_name=".inference.ModelInstanceGroup.Kind"),
        ]
    )
    for message in ("ModelInput", "ModelOutput"):
        tensor = file.message_type.add(name=message)
        tensor.field.extend(
            [
                field("name", 1, f.TYPE_STRING),
                field("data_type", 2, f.TYPE_ENUM, type_name=".inference.DataType"),
                field("dims", 4 if message == "ModelInput" else 3, f.TYPE_INT64, repeated),
            ]
        )
    batching = file.message_type.add(name="ModelDynamicBatching")
    batching.field.extend(
        [
            field("preferred_batch_size", 1, f.TYPE_INT32, repeated),
            field("max_queue_delay_microseconds", 2, f.TYPE_UINT64),
        ]
    )
    model = file.message_type.add(name="ModelConfig")
    model.field.extend(
        [
            field("name", 1, f.TYPE_STRING),
            field("platform", 2, f.TYPE_STRING),
            field("max_batch_size", 4, f.TYPE_INT32),
            field("input", 5, f.TYPE_MESSAGE, repeated, ".inference.ModelInput"),
            field("output", 6, f.TYPE_MESSAGE, repeated, ".inference.ModelOutput"),
            field("instance_group", 7, f.TYPE_MESSAGE, repeated, ".inference.ModelInstanceGroup"),
            field(
                "dynamic_batching", 11, f.TYPE_MESSAGE, type_name=".inference.ModelDynamicBatching"
            ),
            field("backend", 17, f.TYPE_STRING),
        ]
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("inference.ModelConfig"))


MODEL_CONFIG = _model_config_class()


def parse(text: str) -> Any:
    return text_format.Parse(text, MODEL_CONFIG())


# --------------------------------------------------------------------------- rendering


def test_full_example_renders_exactly():
    assert render(RESNET) == RESNET_TEXT


def test_full_example_is_valid_protobuf_text_format():
    message = parse(render(RESNET))
    assert message.name == "resnet"
    assert message.platform == "onnxruntime_onnx"
    assert message.max_batch_size == 32
    assert list(message.input[0].dims) == [3, 224, 224]
    assert list(message.output[0].dims) == [1000]
    assert list(message.dynamic_batching.preferred_batch_size) == [8, 16]
    assert message.dynamic_batching.max_queue_delay_microseconds == 100
    assert message.instance_group[0].count == 2
    assert not message.instance_group[0].gpus


@pytest.mark.parametrize(
    ("overrides", "present", "absent"),
    [
        # No batching: no dynamic_batching block at all.
        ({"max_batch_size": 0}, ["max_batch_size: 0"], ["dynamic_batching"]),
        # Batching with defaults: an empty block turns the batcher on.
        ({}, ["dynamic_batching {\n}"], ["preferred_batch_size", "max_queue_delay"]),
        # Batching switched off explicitly.
        ({"dynamic_batching": False}, ["max_batch_size: 8"], ["dynamic_batching"]),
        # Python backend instead of a platform.
        (
            {"platform": None, "backend": "python"},
            ['backend: "python"'],
            ["platform:"],
        ),
        # Pinned GPUs.
        ({"gpus": [0, 1]}, ["gpus: [ 0, 1 ]", "kind: KIND_GPU"], []),
        # CPU instances.
        ({"kind": InstanceKind.CPU, "instance_count": 4}, ["count: 4", "kind: KIND_CPU"], ["gpus"]),
        # Variable dims and two inputs (comma between list entries).
        (
            {
                "inputs": [
                    TensorSpec("ids", "TYPE_INT64", [-1]),
                    TensorSpec("mask", "TYPE_INT64", [-1]),
                ]
            },
            ["dims: [ -1 ]", '  },\n  {\n    name: "mask"'],
            [],
        ),
        # Names are quoted and escaped.
        (
            {"outputs": [TensorSpec('out"1\\x', "TYPE_STRING", [1])]},
            ['name: "out\\"1\\\\x"', "data_type: TYPE_STRING"],
            [],
        ),
    ],
)
def test_render_table(overrides, present, absent):
    text = render(config(**overrides))
    for fragment in present:
        assert fragment in text
    for fragment in absent:
        assert fragment not in text
    parse(text)  # always valid text format


def test_escaped_names_round_trip_through_the_parser():
    odd = 'out"1\\x'
    message = parse(render(config(outputs=[TensorSpec(odd, "TYPE_STRING", [1])])))
    assert message.output[0].name == odd


def test_platform_accepts_the_enum_and_its_value():
    assert config(platform=Platform.PYTORCH_LIBTORCH).platform is Platform.PYTORCH_LIBTORCH
    assert config(platform="pytorch_libtorch").platform is Platform.PYTORCH_LIBTORCH


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "a/b"}, "name"),
        ({"name": ".."}, "name"),
        ({"platform": None}, "platform"),  # neither platform nor backend
        ({"backend": "python"}, "platform"),  # both
        ({"platform": "caffe2_netdef"}, "platform"),
        ({"platform": None, "backend": "Py Thon"}, "backend"),
        ({"max_batch_size": -1}, "max_batch_size"),
        ({"max_batch_size": 8, "preferred_batch_sizes": [4, 16]}, "preferred_batch_sizes"),
        ({"preferred_batch_sizes": [0, 4]}, "preferred_batch_sizes"),
        ({"preferred_batch_sizes": [-2]}, "preferred_batch_sizes"),
        ({"preferred_batch_sizes": [4, 4]}, "preferred_batch_sizes"),
        ({"max_batch_size": 0, "preferred_batch_sizes": [1]}, "preferred_batch_sizes"),
        ({"max_batch_size": 0, "dynamic_batching": True}, "dynamic_batching"),
        ({"max_batch_size": 0, "max_queue_delay_us": 100}, "max_queue_delay_us"),
        ({"dynamic_batching": False, "preferred_batch_sizes": [4]}, "dynamic_batching"),
        ({"max_queue_delay_us": -1}, "max_queue_delay_us"),
        ({"instance_count": 0}, "instance_count"),
        ({"gpus": []}, "gpus"),
        ({"gpus": [0, 0]}, "gpus"),
        ({"gpus": [-1]}, "gpus"),
        ({"kind": InstanceKind.CPU, "gpus": [0]}, "gpus"),
        ({"inputs": []}, "inputs"),
        ({"outputs": []}, "outputs"),
        ({"inputs": [TensorSpec("x", "TYPE_FLOAT", [1])]}, "inputs[0].data_type"),
        ({"inputs": [IMAGE_IN, TensorSpec("y", "fp32", [1])]}, "inputs[1].data_type"),
        ({"outputs": [TensorSpec("", "TYPE_FP32", [1])]}, "outputs[0].name"),
        ({"outputs": [TensorSpec("o", "TYPE_FP32", [])]}, "outputs[0].dims"),
        ({"outputs": [TensorSpec("o", "TYPE_FP32", [0])]}, "outputs[0].dims"),
        ({"inputs": [IMAGE_IN, IMAGE_IN]}, "inputs"),
        ({"max_batch_size": True}, "max_batch_size"),
    ],
)
def test_each_validation_error_names_its_field(overrides, field):
    with pytest.raises(ModelConfigError) as caught:
        config(**overrides)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert isinstance(caught.value, ValueError)


def test_preferred_size_above_max_names_the_offending_sizes():
    with pytest.raises(ModelConfigError, match=r"\[16\] above max_batch_size 8"):
        config(max_batch_size=8, preferred_batch_sizes=[4, 16])


# --------------------------------------------------------------------------- CLI


CLI_ARGS = [
    "--name",
    "resnet",
    "--platform",
    "onnxruntime_onnx",
    "--max-batch-size",
    "32",
    "--preferred",
    "8",
    "16",
    "--max-queue-delay-us",
    "100",
    "--instances",
    "2",
    "--input",
    "input:TYPE_FP32:3,224,224",
    "--output",
    "output:TYPE_FP32:1000",
]


def test_cli_writes_the_model_directory(tmp_path: Path, capsys):
    assert main([*CLI_ARGS, "--out", str(tmp_path)]) == 0
    written = tmp_path / "resnet" / "config.pbtxt"
    assert written.read_text() == RESNET_TEXT
    assert str(written) in capsys.readouterr().out


def test_cli_prints_without_out(capsys):
    assert main(CLI_ARGS) == 0
    assert capsys.readouterr().out == RESNET_TEXT


def test_cli_rejects_bad_input_naming_the_field(capsys):
    with pytest.raises(SystemExit) as caught:
        main([*CLI_ARGS[:-2], "--output", "output:TYPE_FP33:1000"])
    assert caught.value.code == 2
    assert "outputs[0].data_type" in capsys.readouterr().err


def test_tensor_names_may_contain_colons():
    spec = parse_tensor("input_1:0:TYPE_FP32:-1,128")
    assert (spec.name, spec.data_type, list(spec.dims)) == ("input_1:0", "TYPE_FP32", [-1, 128])
    with pytest.raises(ModelConfigError, match=r"^x\.dims"):
        parse_tensor("a:TYPE_FP32:3,x", "x")
    with pytest.raises(ModelConfigError, match=r"^x: "):
        parse_tensor("a,TYPE_FP32", "x")


# --------------------------------------------------------------------------- properties

MAX_BATCH = re.compile(r"^max_batch_size: (\d+)$", re.MULTILINE)
PREFERRED = re.compile(r"^  preferred_batch_size: \[ ([\d, ]+) \]$", re.MULTILINE)


@st.composite
def valid_configs(draw: st.DrawFn) -> ModelConfig:
    max_batch = draw(st.integers(min_value=0, max_value=4096))
    preferred: list[int] = []
    delay = 0
    if max_batch:
        preferred = draw(
            st.lists(st.integers(min_value=1, max_value=max_batch), unique=True, max_size=8)
        )
        delay = draw(st.integers(min_value=0, max_value=10_000_000))
    tensor = st.builds(
        TensorSpec,
        name=st.from_regex(r"[A-Za-z_][A-Za-z0-9_:.]{0,15}", fullmatch=True),
        data_type=st.sampled_from(list(DataType)),
        dims=st.lists(
            st.one_of(st.just(-1), st.integers(min_value=1, max_value=4096)),
            min_size=1,
            max_size=4,
        ),
    )
    source = draw(st.sampled_from(["platform", "backend"]))
    return ModelConfig(
        name=draw(st.from_regex(r"[a-z][a-z0-9_-]{0,30}", fullmatch=True)),
        platform=draw(st.sampled_from(list(Platform))) if source == "platform" else None,
        backend=draw(st.sampled_from(["python", "onnxruntime", "vllm"]))
        if source == "backend"
        else None,
        max_batch_size=max_batch,
        preferred_batch_sizes=preferred,
        max_queue_delay_us=delay,
        instance_count=draw(st.integers(min_value=1, max_value=8)),
        gpus=draw(st.one_of(st.none(), st.lists(st.integers(0, 7), min_size=1, unique=True))),
        inputs=draw(st.lists(tensor, min_size=1, max_size=3, unique_by=lambda t: t.name)),
        outputs=draw(st.lists(tensor, min_size=1, max_size=3, unique_by=lambda t: t.name)),
    )


@given(valid_configs())
def test_rendered_numbers_round_trip(model: ModelConfig):
    text = render(model)
    assert [int(m) for m in MAX_BATCH.findall(text)] == [model.max_batch_size]
    found = PREFERRED.findall(text)
    sizes = [int(s) for s in found[0].split(",")] if found else []
    assert sizes == list(model.preferred_batch_sizes)
    assert all(size <= model.max_batch_size for size in sizes)
    assert ("dynamic_batching {" in text) == (model.max_batch_size > 0)


@given(valid_configs())
def test_any_valid_config_parses_as_model_config(model: ModelConfig):
    message = parse(render(model))
    assert message.name == model.name
    assert message.max_batch_size == model.max_batch_size
    assert list(message.dynamic_batching.preferred_batch_size) == list(model.preferred_batch_sizes)
    assert [t.name for t in message.input] == [t.name for t in model.inputs]
    assert [list(t.dims) for t in message.output] == [list(t.dims) for t in model.outputs]


@given(
    max_batch=st.integers(min_value=1, max_value=512),
    extra=st.integers(min_value=1, max_value=512),
)
def test_a_preferred_size_above_max_is_always_rejected(max_batch: int, extra: int):
    with pytest.raises(ModelConfigError) as caught:
        config(max_batch_size=max_batch, preferred_batch_sizes=[max_batch + extra])
    assert caught.value.field == "preferred_batch_sizes"


# --------------------------------------------------------------------------- example model


def test_the_example_model_is_a_valid_python_backend_cpu_model():
    files = example_model_files("echo")
    assert sorted(files) == ["echo/1/model.py", "echo/config.pbtxt"]
    parsed = parse(files["echo/config.pbtxt"])  # valid inference.ModelConfig text format
    assert (parsed.name, parsed.backend, parsed.max_batch_size) == ("echo", "python", 0)
    (group,) = parsed.instance_group
    assert group.count == 1 and "kind: KIND_CPU" in files["echo/config.pbtxt"]  # no GPU needed
    assert [t.name for t in parsed.input] == ["INPUT"] and [t.name for t in parsed.output] == [
        "OUTPUT"
    ]
    assert files["echo/config.pbtxt"] == render(example_model_config("echo"))
    compile(files["echo/1/model.py"], "model.py", "exec")
