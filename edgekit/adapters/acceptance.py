"""What a .tflite or .onnx file is (its quantization, its input/output dtypes, whether it is compiled for the
Edge TPU), read from the file alone, and whether a target accepts it. Nothing is pushed before this check passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from edgekit.config.formats import FORMATS, Format, Quantization
from edgekit.config.target import Target
from edgekit.errors import ArtifactNotAccepted

EDGETPU_CUSTOM_OP = "edgetpu-custom-op"

# Activations of these types mean a full-integer model (int16 is the 16x8 variant of it).
_INTEGER_ACTIVATIONS = {"int8", "uint8", "int16"}
ONNX_SUFFIX = ".onnx"


@dataclass(frozen=True)
class ModelKind:
    """The facts about a .tflite file that decide whether a target can run it."""

    quantization: str  # float32 | float16 | dynamic | int8
    input_dtypes: tuple[str, ...]
    output_dtypes: tuple[str, ...]
    edgetpu_compiled: bool
    format: str = "tflite"  # tflite | onnx | edgetpu (a .tflite compiled by edgetpu_compiler)


def model_kind(path: Path) -> ModelKind:
    """Read a .tflite file's quantization and I/O dtypes from its flatbuffer (no interpreter, so custom ops are fine).

    float32: float weights and activations; float16: float16 constant weights; dynamic: int8 weights with float
    activations; int8: integer activations (full-integer quantization).

    Raises:
        ModelFileError: the file is not a TFLite flatbuffer, or is truncated or corrupt (edgekit inspect's
            bounds-checked reader, so a damaged file fails here instead of hanging the generated code).
        An .onnx file is read by onnx_kind instead.
    """
    if is_onnx_file(path):
        return onnx_kind(path)
    from edgekit.inspect.tflite import read_tflite

    graph = read_tflite(path).main
    dtypes = [tensor.dtype.lower() for tensor in graph.tensors]
    compiled = any(op.custom and op.opcode == EDGETPU_CUSTOM_OP for op in graph.operators)
    activations = {tensor.dtype.lower() for tensor in graph.tensors if not tensor.is_constant}
    weights = {tensor.dtype.lower() for tensor in graph.tensors if tensor.is_constant}
    if compiled or activations & _INTEGER_ACTIVATIONS:
        quantization = "int8"
    elif "int8" in weights:
        quantization = "dynamic"
    elif "float16" in weights:
        quantization = "float16"
    else:
        quantization = "float32"
    return ModelKind(quantization, tuple(dtypes[index] for index in graph.inputs),
                     tuple(dtypes[index] for index in graph.outputs), compiled,
                     format=(Format.EDGETPU if compiled or _named_compiled(path) else Format.TFLITE).value)


def _named_compiled(path: Path) -> bool:
    """Whether the file has the name edgetpu_compiler gives its output (FORMATS[edgetpu].suffix): a model none of
    whose ops was mapped has no edgetpu-custom-op, yet it is the compiler's output, to be run with libedgetpu."""
    return Path(path).name.endswith(FORMATS[Format.EDGETPU].suffix)


def is_onnx_file(path: Path) -> bool:
    return Path(path).suffix.lower() == ONNX_SUFFIX


def onnx_kind(path: Path) -> ModelKind:
    """An .onnx file's quantization and I/O dtypes: int8 when it has QuantizeLinear/DequantizeLinear nodes or int8
    weights (QDQ and QOperator models), float16 with float16 weights, else float32.

    Raises:
        ModelFileError: not an ONNX model, or truncated.
    """
    from edgekit.inspect.onnx_model import summarize_onnx

    summary = summarize_onnx(path)
    weights = summary["weights"]["by_dtype"]
    if summary["operators"]["quantize_dequantize"] or "int8" in weights or "uint8" in weights:
        quantization = "int8"
    elif "float16" in weights:
        quantization = "float16"
    else:
        quantization = "float32"
    return ModelKind(quantization, tuple(record["dtype"] for record in summary["inputs"]),
                     tuple(record["dtype"] for record in summary["outputs"]), False, format="onnx")


def refusal(target: Target, path: Path) -> Optional[str]:
    """Why `target` cannot run the .tflite or .onnx file at `path`, or None when it can."""
    kind = model_kind(path)
    reason = target.refuses(Format(kind.format), Quantization(kind.quantization))
    if reason is None:
        allowed = set(target.accepts.io_dtypes)
        wrong = [dtype for dtype in kind.input_dtypes + kind.output_dtypes if dtype not in allowed]
        if wrong:
            reason = (f"target {target.name} takes only {', '.join(target.accepts.io_dtypes)} inputs and outputs; "
                      f"this model has inputs {', '.join(kind.input_dtypes)} and outputs {', '.join(kind.output_dtypes)}")
    if reason is None:
        return None
    why = f" ({target.accepts.reason})" if target.accepts.reason else ""
    return f"{Path(path).name} is {kind.quantization}: {reason}{why}"


def check_accepted(target: Target, path: Path) -> None:
    """Refuse, before anything is pushed, a .tflite file the target cannot run.

    Raises:
        ArtifactNotAccepted: with the reason (e.g. a float model for the Edge TPU).
    """
    reason = refusal(target, path)
    if reason is not None:
        raise ArtifactNotAccepted(f"{reason}; nothing was sent to the device")
