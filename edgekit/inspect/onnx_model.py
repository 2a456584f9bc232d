"""What `edgekit inspect` says about an .onnx model: opsets, inputs and outputs, ops by type, initializers by dtype.

The protobuf is parsed with the `onnx` package (external data is not loaded, so a model whose weight files are
missing still inspects); nothing is run.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any, Optional

from edgekit.errors import ModelFileError
from edgekit.fsutil import sha256_bytes
from edgekit.inspect.tflite import FLOAT_DTYPES, read_model_bytes

DEFAULT_DOMAIN = "ai.onnx"
LARGEST_TENSORS = 10
# QDQ quantization shows as these node pairs around each quantized op.
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
# ONNX's element type names where they differ from the numpy names .tflite records use.
_NUMPY_NAMES = {"float": "float32", "double": "float64"}


def summarize_onnx(path: Path | str, data: Optional[bytes] = None) -> dict[str, Any]:
    """The inspection record of an .onnx model (JSON-ready); `data` are its bytes when already read.

    Raises:
        ModelFileError: the file is missing, is not an ONNX protobuf, or is truncated.
    """
    path = Path(path)
    data = read_model_bytes(path) if data is None else data
    model = _parse(path, data)
    graph = model.graph
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    nodes = list(graph.node)
    by_type = Counter(_op_name(node) for node in nodes)
    weights = [_initializer_record(tensor) for tensor in graph.initializer]
    weight_bytes: Counter = Counter()
    for record in weights:
        weight_bytes[record["dtype"]] += record["bytes"]
    inputs = [_value_record(value) for value in graph.input if value.name not in initializers]
    outputs = [_value_record(value) for value in graph.output]
    float_names = [record["name"] for record in inputs + outputs + weights if record["dtype"] in FLOAT_DTYPES]
    return {
        "path": str(path),
        "format": "onnx",
        "bytes": len(data),
        "sha256": sha256_bytes(data),
        "ir_version": int(model.ir_version),
        "opsets": {entry.domain or DEFAULT_DOMAIN: int(entry.version) for entry in model.opset_import},
        "producer": " ".join(part for part in (model.producer_name, model.producer_version) if part),
        "graph_name": graph.name,
        "inputs": inputs,
        "outputs": outputs,
        "operators": {"total": len(nodes), "by_type": dict(sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0]))),
                      "quantize_dequantize": sum(by_type.get(name, 0) for name in QDQ_OPS)},
        "weights": {"count": len(weights), "bytes": sum(weight_bytes.values()),
                    "by_dtype": dict(sorted(weight_bytes.items(), key=lambda kv: (-kv[1], kv[0])))},
        # Fully integer: no float input, output or initializer (a QDQ model keeps float scales and I/O, so it is not).
        "fully_integer": not float_names,
        "float_tensor_count": len(float_names),
        "largest_tensors": sorted(weights, key=lambda record: (-record["bytes"], record["name"]))[:LARGEST_TENSORS],
    }


def _parse(path: Path, data: bytes):
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError, UnicodeDecodeError) as error:
        raise ModelFileError(f"{path} is not an ONNX model, or is truncated: the protobuf does not parse "
                             f"({error or type(error).__name__})") from None
    # Protobuf accepts many byte strings as some message; a model has an IR version, an opset and a graph.
    if not model.ir_version or not model.opset_import or not model.graph.node:
        raise ModelFileError(f"{path} is not an ONNX model: it parses as protobuf but has no IR version, opset "
                             f"or graph nodes")
    return model


def _op_name(node) -> str:
    return node.op_type if node.domain in ("", DEFAULT_DOMAIN) else f"{node.domain}.{node.op_type}"


def _dtype(element_type: int) -> str:
    import onnx

    try:
        name = onnx.TensorProto.DataType.Name(element_type).lower()
    except ValueError:
        return f"type{element_type}"
    return _NUMPY_NAMES.get(name, name)


def _value_record(value) -> dict[str, Any]:
    tensor_type = value.type.tensor_type
    shape = [dim.dim_value if dim.HasField("dim_value") else (dim.dim_param or None) for dim in tensor_type.shape.dim]
    return {"name": value.name, "dtype": _dtype(tensor_type.elem_type), "shape": shape}


def _initializer_record(tensor) -> dict[str, Any]:
    import onnx

    dtype = _dtype(tensor.data_type)
    if tensor.HasField("raw_data") and tensor.raw_data:
        size = len(tensor.raw_data)
    else:
        try:
            itemsize = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
        except (KeyError, TypeError, ValueError):
            itemsize = 1
        size = math.prod(tensor.dims) * itemsize
    return {"name": tensor.name, "dtype": dtype, "shape": list(tensor.dims), "bytes": int(size),
            "kind": "weight"}
