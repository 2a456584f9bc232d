"""What a .tflite file is (its quantization, its input/output dtypes, whether it is compiled for the Edge TPU),
read from the flatbuffer alone, and whether a target accepts it. Nothing is pushed before this check passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from edgekit.config.target import Target
from edgekit.errors import ArtifactNotAccepted, ModelFileError

EDGETPU_CUSTOM_OP = "edgetpu-custom-op"

# Activations of these types mean a full-integer model (int16 is the 16x8 variant of it).
_INTEGER_ACTIVATIONS = {"int8", "uint8", "int16"}


@dataclass(frozen=True)
class ModelKind:
    """The facts about a .tflite file that decide whether a target can run it."""

    quantization: str  # float32 | float16 | dynamic | int8
    input_dtypes: tuple[str, ...]
    output_dtypes: tuple[str, ...]
    edgetpu_compiled: bool


def model_kind(path: Path) -> ModelKind:
    """Read a .tflite file's quantization and I/O dtypes from its flatbuffer (no interpreter, so custom ops are fine).

    float32: float weights and activations; float16: float16 constant weights; dynamic: int8 weights with float
    activations; int8: integer activations (full-integer quantization).

    Raises:
        ModelFileError: the file is not a TFLite flatbuffer.
    """
    from ai_edge_litert import schema_py_generated as schema

    data = Path(path).read_bytes()
    try:
        model = schema.Model.GetRootAs(data, 0)
        graph = model.Subgraphs(0)
        type_names = {value: name.lower() for name, value in vars(schema.TensorType).items() if not name.startswith("_")}
        tensors = [graph.Tensors(index) for index in range(graph.TensorsLength())]
        dtypes = [type_names.get(tensor.Type(), str(tensor.Type())) for tensor in tensors]
        constant = [_is_constant(model, tensor) for tensor in tensors]
        custom_codes = {(model.OperatorCodes(index).CustomCode() or b"").decode("utf-8", "replace")
                        for index in range(model.OperatorCodesLength())}
        inputs = tuple(dtypes[index] for index in graph.InputsAsNumpy())
        outputs = tuple(dtypes[index] for index in graph.OutputsAsNumpy())
    except Exception as error:  # a flatbuffer that is not a Model fails anywhere inside the generated code
        raise ModelFileError(f"{path}: cannot read the TFLite flatbuffer: {error}") from None
    compiled = EDGETPU_CUSTOM_OP in custom_codes
    activations = {dtype for dtype, is_constant in zip(dtypes, constant) if not is_constant}
    weights = {dtype for dtype, is_constant in zip(dtypes, constant) if is_constant}
    if compiled or activations & _INTEGER_ACTIVATIONS:
        quantization = "int8"
    elif "int8" in weights:
        quantization = "dynamic"
    elif "float16" in weights:
        quantization = "float16"
    else:
        quantization = "float32"
    return ModelKind(quantization, inputs, outputs, compiled)


def _is_constant(model, tensor) -> bool:
    buffer_index = tensor.Buffer()
    if buffer_index <= 0 or buffer_index >= model.BuffersLength():
        return False  # buffer 0 is the empty sentinel every activation points to
    buffer = model.Buffers(buffer_index)
    return buffer.DataLength() > 0 or buffer.Offset() > 1


def refusal(target: Target, path: Path) -> Optional[str]:
    """Why `target` cannot run the .tflite file at `path`, or None when it can."""
    kind = model_kind(path)
    reason = target.refuses("tflite", kind.quantization)
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
