"""Real .tflite files for the inspect and Edge TPU tests.

- `keras_models(folder)`: tiny tf_keras models converted by TFLiteConverter (float32, and full-integer int8 with a
  representative data set), written once per session (a few seconds of TensorFlow).
- `synthetic_model(...)`: a flatbuffer written with the schema's object API, for op options the converter never
  writes from a tiny model (a fused activation on a pool, uneven dilation, a reduction over the batch axis, ...).
  It is a valid .tflite file; whether an interpreter could run it does not matter to inspect.
- `as_edgetpu_compiled(path)`: the same model with its ops replaced by Coral's `edgetpu-custom-op`, which no
  interpreter without libedgetpu can load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

KERAS_MODELS = ("cnn-float32", "cnn-int8", "leaky-int8")


def keras_models(folder: Path) -> dict[str, Path]:
    """Convert the tiny Keras models into `folder` (skipped when a previous fixture already did)."""
    paths = {name: folder / f"{name}.tflite" for name in KERAS_MODELS}
    if all(path.exists() for path in paths.values()):
        return paths
    from edgekit._tf import keras, tf

    layers = keras().layers
    keras().utils.set_random_seed(0)
    cnn = keras().Sequential([
        layers.Input((8, 8, 1)), layers.Conv2D(4, 3, activation="relu", padding="same", name="conv1"),
        layers.MaxPooling2D(2), layers.Conv2D(8, 3, activation="relu", name="conv2"), layers.Flatten(),
        layers.Dense(10, name="fc"), layers.Softmax()])
    # LEAKY_RELU is not in Coral's table: it ends the Edge TPU segment after the first convolution.
    leaky = keras().Sequential([
        layers.Input((8, 8, 1)), layers.Conv2D(4, 3, padding="same", name="conv1"), layers.LeakyReLU(0.1),
        layers.Conv2D(8, 3, activation="relu", name="conv2"), layers.Flatten(), layers.Dense(10, name="fc")])
    representative = np.random.default_rng(0).uniform(0, 1, (16, 8, 8, 1)).astype(np.float32)

    def convert(model, integer: bool) -> bytes:
        converter = tf().lite.TFLiteConverter.from_keras_model(model)
        if integer:
            converter.optimizations = [tf().lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([sample[None]] for sample in representative)
            converter.target_spec.supported_ops = [tf().lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf().int8
            converter.inference_output_type = tf().int8
        return converter.convert()

    folder.mkdir(parents=True, exist_ok=True)
    for name, model, integer in (("cnn-float32", cnn, False), ("cnn-int8", cnn, True), ("leaky-int8", leaky, True)):
        temporary = paths[name].with_suffix(".partial")
        temporary.write_bytes(convert(model, integer))
        temporary.rename(paths[name])
    return paths


@dataclass
class T:
    """A tensor of a synthetic model: constant when `data` is given."""

    name: str
    shape: list[int]
    dtype: str = "int8"
    data: Optional[np.ndarray] = None
    signature: Optional[list[int]] = None
    scale: float = 0.05
    zero_point: int = 0


@dataclass
class Op:
    opcode: str
    inputs: list[int]
    outputs: list[int]
    options: Optional[tuple[str, dict[str, Any]]] = None  # ("Conv2DOptions", {"dilationHFactor": 2, ...})
    custom_code: Optional[str] = None


@dataclass
class Graph:
    tensors: list[T]
    ops: list[Op]
    inputs: list[int]
    outputs: list[int]
    extra_subgraphs: list["Graph"] = field(default_factory=list)


def synthetic_model(path: Path, graph: Graph) -> Path:
    """Write `graph` as a .tflite flatbuffer with the schema's object API."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT()
    model.version = 3
    model.description = b"edgekit synthetic test model"
    model.buffers = [schema.BufferT()]
    codes: dict[tuple[str, Optional[str]], int] = {}
    model.operatorCodes = []
    model.subgraphs = [_subgraph(schema, item, model, codes) for item in [graph, *graph.extra_subgraphs]]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path.write_bytes(bytes(builder.Output()))
    return path


def _subgraph(schema, graph: Graph, model, codes) -> Any:
    subgraph = schema.SubGraphT()
    subgraph.tensors = []
    for item in graph.tensors:
        tensor = schema.TensorT()
        tensor.name = item.name.encode()
        tensor.shape = list(item.shape)
        tensor.shapeSignature = item.signature
        tensor.type = getattr(schema.TensorType, item.dtype.upper())
        buffer = schema.BufferT()
        if item.data is not None:
            buffer.data = list(np.asarray(item.data).tobytes())
        model.buffers.append(buffer)
        tensor.buffer = len(model.buffers) - 1
        if item.dtype in ("int8", "uint8"):
            quantization = schema.QuantizationParametersT()
            quantization.scale, quantization.zeroPoint = [item.scale], [item.zero_point]
            tensor.quantization = quantization
        subgraph.tensors.append(tensor)
    subgraph.operators = []
    for item in graph.ops:
        key = (item.opcode, item.custom_code)
        if key not in codes:
            code = schema.OperatorCodeT()
            builtin = getattr(schema.BuiltinOperator, item.opcode)
            code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), 1
            code.customCode = item.custom_code.encode() if item.custom_code else None
            codes[key] = len(model.operatorCodes)
            model.operatorCodes.append(code)
        operator = schema.OperatorT()
        operator.opcodeIndex, operator.inputs, operator.outputs = codes[key], item.inputs, item.outputs
        if item.options:
            class_name, values = item.options
            options = getattr(schema, f"{class_name}T")()
            for key_name, value in values.items():
                setattr(options, key_name, value)
            operator.builtinOptionsType = getattr(schema.BuiltinOptions, class_name)
            operator.builtinOptions = options
        subgraph.operators.append(operator)
    subgraph.inputs, subgraph.outputs = graph.inputs, graph.outputs
    return subgraph


def as_edgetpu_compiled(source: Path, destination: Path) -> Path:
    """Replace every CONV_2D of `source` by Coral's custom op, as edgetpu_compiler's output has it."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(source.read_bytes(), 0)
    for code in model.operatorCodes:
        if max(code.builtinCode, code.deprecatedBuiltinCode) == schema.BuiltinOperator.CONV_2D:
            code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
            code.customCode = b"edgetpu-custom-op"
    for operator in model.subgraphs[0].operators:
        if model.operatorCodes[operator.opcodeIndex].customCode:
            operator.builtinOptionsType, operator.builtinOptions = 0, None
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    destination.write_bytes(bytes(builder.Output()))
    return destination
