"""The structure side of the per-layer quantization error (edgekit.export.quant_error): a .tflite's main
subgraph read as plain lists, the "isolated" float model (each op fed from graph inputs of its own), and the
matching of quantized ops to their float twins. No interpreter runs here.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from edgekit.errors import ModelFileError

# Ops that only convert between float and integer: they have no float twin to compare with.
CONVERSION_OPS = frozenset({"QUANTIZE", "DEQUANTIZE"})
# A float op's input has no quantized counterpart (an unmatched op): it is fed zeros, and its output ignored.
ISOLATED_PREFIX = "edgekit-isolated"


# ------------------------------------------------------------------------------------------------ structure
@dataclass
class _Op:
    index: int
    name: str                 # builtin op name
    inputs: list[int]
    outputs: list[int]


@dataclass
class _Graph:
    """The main subgraph of a .tflite, as plain lists."""

    model_bytes: bytes
    ops: list[_Op]
    tensor_names: list[str]
    tensor_types: list[int]
    inputs: list[int]
    constant: set[int]        # tensors that hold data in the file (weights, shapes)
    producer: dict[int, int]  # tensor -> op index

    def output_name(self, op: _Op) -> str:
        return self.tensor_names[op.outputs[0]] if op.outputs else ""


def _read_graph(model_bytes: bytes, what: str) -> _Graph:
    """The structure of the main subgraph, read lazily (weights are never unpacked)."""
    from ai_edge_litert import schema_py_generated as schema

    try:
        if len(model_bytes) < 8 or model_bytes[4:8] != b"TFL3":
            raise ValueError("no TFL3 file identifier")
        model = schema.Model.GetRootAs(model_bytes, 0)
        if not model.SubgraphsLength():
            raise ModelFileError(f"{what}: the model has no subgraph")
        subgraph = model.Subgraphs(0)
        codes = []
        for index in range(model.OperatorCodesLength()):
            code = model.OperatorCodes(index)
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            codes.append(_BUILTIN_NAMES.get(builtin, "CUSTOM"))
        ops = []
        for index in range(subgraph.OperatorsLength()):
            operator = subgraph.Operators(index)
            ops.append(_Op(index, codes[operator.OpcodeIndex()],
                           [int(t) for t in operator.InputsAsNumpy()] if operator.InputsLength() else [],
                           [int(t) for t in operator.OutputsAsNumpy()] if operator.OutputsLength() else []))
        names, types, constant = [], [], set()
        buffers = model.BuffersLength()
        for index in range(subgraph.TensorsLength()):
            tensor = subgraph.Tensors(index)
            names.append(_decode(tensor.Name()))
            types.append(int(tensor.Type()))
            buffer_index = tensor.Buffer()
            if 0 < buffer_index < buffers:
                buffer = model.Buffers(buffer_index)
                if buffer.DataLength() or buffer.Size():
                    constant.add(index)
        inputs = [int(t) for t in subgraph.InputsAsNumpy()] if subgraph.InputsLength() else []
    except ModelFileError:
        raise
    except Exception as error:  # the generated reader raises struct.error, IndexError, ...
        raise ModelFileError(f"{what}: not a readable .tflite model ({type(error).__name__}: {error})") from None
    producer = {tensor: op.index for op in ops for tensor in op.outputs}
    return _Graph(bytes(model_bytes), ops, names, types, inputs, constant, producer)


def _builtin_names() -> dict[int, str]:
    from ai_edge_litert import schema_py_generated as schema

    return {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}


_BUILTIN_NAMES = _builtin_names()


def _decode(name) -> str:
    return name.decode("utf-8", "replace") if isinstance(name, (bytes, bytearray)) else str(name or "")


def _activation_inputs(graph: _Graph, op: _Op) -> list[tuple[int, int]]:
    """(position, tensor) of an op's inputs that are computed at run time (not weights, not absent)."""
    return [(position, tensor) for position, tensor in enumerate(op.inputs)
            if tensor >= 0 and tensor not in graph.constant and (tensor in graph.producer or tensor in graph.inputs)]


def isolated_model(reference: _Graph) -> tuple[bytes, dict[tuple[int, int], int]]:
    """The float model rewritten so that every op reads its activation inputs from graph inputs of its own.

    Returns:
        The model's bytes, and for each (op index, input position) the index of the graph input feeding it.
    """
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(reference.model_bytes))
    subgraph = model.subgraphs[0]
    feeds: dict[tuple[int, int], int] = {}
    for op in reference.ops:
        operator = subgraph.operators[op.index]
        rewired = list(op.inputs)
        for position, tensor in _activation_inputs(reference, op):
            twin = copy.copy(subgraph.tensors[tensor])
            twin.name = f"{ISOLATED_PREFIX}/{op.index}/{position}".encode()
            twin.buffer = 0  # buffer 0 is the empty sentinel every activation may point at
            subgraph.tensors.append(twin)
            rewired[position] = len(subgraph.tensors) - 1
            feeds[(op.index, position)] = rewired[position]
        operator.inputs = rewired
    subgraph.inputs = list(feeds.values())
    subgraph.outputs = [tensor for op in reference.ops for tensor in op.outputs]
    model.signatureDefs = []  # they name the original inputs and outputs
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), feeds


# ------------------------------------------------------------------------------------------------ matching
def match_ops(quantized: _Graph, reference: _Graph) -> tuple[dict[int, tuple[int, str]], list[str], list[str]]:
    """Pair each quantized op with its float twin.

    Returns:
        {quantized op index: (reference op index, "name" | "order")}, the quantized ops that stayed float, and
        the quantized ops (not conversions) left without a twin.
    """
    by_name: dict[tuple[str, str], int] = {}
    for op in reference.ops:
        by_name.setdefault((op.name, reference.output_name(op)), op.index)
    pairs: dict[int, tuple[int, str]] = {}
    float_ops, candidates = [], []
    for op in quantized.ops:
        if op.name in CONVERSION_OPS or not op.outputs:
            continue
        if not _is_integer(quantized.tensor_types[op.outputs[0]]):
            float_ops.append(quantized.output_name(op))
            continue
        candidates.append(op)
    taken = set()
    for op in candidates:
        twin = by_name.get((op.name, quantized.output_name(op)))
        if twin is not None and twin not in taken:
            pairs[op.index] = (twin, "name")
            taken.add(twin)
    # By order among ops of the same type, for names the converter changed.
    for op_type in {op.name for op in candidates if op.index not in pairs}:
        left = [op for op in candidates if op.name == op_type and op.index not in pairs]
        twins = [op for op in reference.ops if op.name == op_type and op.index not in taken]
        for op, twin in zip(left, twins):
            pairs[op.index] = (twin.index, "order")
            taken.add(twin.index)
    unmatched = [quantized.output_name(op) for op in candidates if op.index not in pairs]
    return pairs, float_ops, unmatched


# TensorType values of the schema: INT8 9, UINT8 3, INT16 7.
_INTEGER_TYPES = {9: "int8", 3: "uint8", 7: "int16"}


def _is_integer(tensor_type: int) -> bool:
    return tensor_type in _INTEGER_TYPES
