"""Read a .tflite flatbuffer into plain records, without an interpreter.

The generated schema code shipped with ai-edge-litert (`ai_edge_litert.schema_py_generated`) reads the tables;
this module adds what that code leaves out: every count is checked against the file's size before it is looped
over, every tensor, buffer and opcode index is checked before it is followed, and every buffer's data must lie
inside the file. A truncated, corrupt or random file therefore ends in one `ModelFileError`, never in a hang,
a crash, or numbers read from garbage. No interpreter runs, so models with custom ops (an Edge TPU model, say)
read as well as any other.
"""

from __future__ import annotations

import functools
import struct
from pathlib import Path
from typing import Any, Optional

from edgekit.errors import ModelFileError
from edgekit.inspect.tflite_model import (EDGETPU_CUSTOM_OP, FLOAT_DTYPES, Operator, Quantization, Subgraph, Tensor,
                                          TfliteModel)

# The records are part of this module's API (readers of a model import them from here with read_tflite); they
# are defined in tflite_model.
__all__ = ["EDGETPU_CUSTOM_OP", "FILE_IDENTIFIER", "FLOAT_DTYPES", "Operator", "Quantization", "Subgraph", "Tensor",
           "TfliteModel", "read_model_bytes", "read_tflite"]

FILE_IDENTIFIER = b"TFL3"
# Option fields stored as enums in the schema, shown by name.
_ENUM_FIELDS = {"FusedActivationFunction": "ActivationFunctionType", "Padding": "Padding",
                "WeightsFormat": "FullyConnectedOptionsWeightsFormat"}
# The errors the generated code raises when an offset points outside the file or at garbage.
_READ_ERRORS = (struct.error, IndexError, ValueError, OverflowError, UnicodeDecodeError, TypeError)


def read_tflite(path: Path | str, data: Optional[bytes] = None) -> TfliteModel:
    """Read a .tflite file's flatbuffer (no interpreter, so custom ops and unloadable models read fine).

    Args:
        path: the file.
        data: its bytes, when the caller has read them already.

    Raises:
        ModelFileError: the file is missing, is not a TFLite flatbuffer, or is truncated or corrupt.
    """
    path = Path(path)
    data = read_model_bytes(path) if data is None else data
    if data[4:8] != FILE_IDENTIFIER:
        raise ModelFileError(f"{path} is not a TFLite model: no {FILE_IDENTIFIER.decode()!r} file identifier at "
                             f"byte 4 (it starts with {data[:8].hex(' ')})")
    reader = _Reader(path, data)
    try:
        return reader.model()
    except ModelFileError:
        raise
    except (struct.error, IndexError):
        raise ModelFileError(f"{path} is truncated or corrupt: an offset in {reader.where} points outside "
                             f"its {len(data)} bytes") from None
    except _READ_ERRORS as error:
        raise ModelFileError(f"{path} is truncated or corrupt: {reader.where} cannot be read ({error})") from None


def read_model_bytes(path: Path) -> bytes:
    """The bytes of a model file, refused with a clear message when there is no usable file."""
    if not path.exists():
        raise ModelFileError(f"{path}: no such file")
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder; inspect reads one .tflite or .onnx file")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ModelFileError(f"cannot read {path}: {error.strerror or error}") from None
    if len(data) < 8:
        raise ModelFileError(f"{path} is {len(data)} bytes long: too short to be a model")
    return data


@functools.cache
def _schema():
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


@functools.cache
def _enum_names(enum_name: str) -> dict[int, str]:
    enum = getattr(_schema(), enum_name)
    return {value: name for name, value in vars(enum).items() if not name.startswith("_") and isinstance(value, int)}


@functools.cache
def _option_getters(class_name: str) -> tuple[str, ...]:
    """The scalar fields of an options table (generated methods that take no argument)."""
    cls = getattr(_schema(), class_name, None)
    if cls is None:
        return ()
    skip = ("Init", "GetRootAs")
    return tuple(sorted(
        name for name, member in vars(cls).items()
        if callable(member) and not name.startswith(("_", *skip)) and not name.endswith(("AsNumpy", "Length", "IsNone"))
        and getattr(member, "__code__", None) is not None and member.__code__.co_argcount == 1))


class _Reader:
    """Walks the flatbuffer; `where` names the part being read, for the error message."""

    def __init__(self, path: Path, data: bytes):
        self.path = path
        self.data = data
        self.where = "the model table"

    def model(self) -> TfliteModel:
        schema = _schema()
        model = schema.Model.GetRootAs(self.data, 0)
        self.where = "the buffers"
        spans = tuple(self._buffer_span(model.Buffers(index), index)
                      for index in range(self._count(model.BuffersLength(), "buffers")))
        self.where = "the operator codes"
        opcodes = tuple(self._opcode(model.OperatorCodes(index))
                        for index in range(self._count(model.OperatorCodesLength(), "operator codes")))
        subgraph_count = self._count(model.SubgraphsLength(), "subgraphs")
        if subgraph_count == 0:
            raise ModelFileError(f"{self.path} is not a usable TFLite model: it has no subgraph")
        subgraphs = tuple(self._subgraph(model.Subgraphs(index), index, opcodes, spans)
                          for index in range(subgraph_count))
        self.where = "the metadata"
        metadata = self._metadata(model, spans)
        return TfliteModel(path=self.path, file_bytes=len(self.data), schema_version=int(model.Version()),
                           description=_text(model.Description()), subgraphs=subgraphs, metadata=metadata,
                           _data=self.data, _buffer_spans=spans)

    def _count(self, count: int, what: str) -> int:
        # Every table in a vector takes at least a 4-byte offset: a larger count is corruption, and looping
        # over it would take forever.
        if count < 0 or count * 4 > len(self.data):
            raise ModelFileError(f"{self.path} is corrupt: {self.where} claim {count} {what}, more than a "
                                 f"{len(self.data)}-byte file can hold")
        return count

    def _ints(self, table, name: str) -> tuple[int, ...]:
        if getattr(table, f"{name}IsNone")():
            return ()
        # The generated AsNumpy reads through numpy, which refuses a count that runs past the end of the file.
        return tuple(int(value) for value in getattr(table, f"{name}AsNumpy")())

    def _buffer_span(self, buffer, index: int) -> tuple[int, int]:
        """(start, length) of a buffer's data inside the file; (0, 0) for an empty buffer."""
        external_offset, external_size = int(buffer.Offset()), int(buffer.Size())
        if external_offset > 1:
            # Models over 2 GB keep weights after the flatbuffer, addressed from the start of the file.
            start, length = external_offset, external_size
        elif buffer.DataIsNone():
            return 0, 0
        else:
            slot = buffer._tab.Offset(4)  # Buffer.data: the first field, vtable slot 4
            start, length = buffer._tab.Vector(slot), int(buffer.DataLength())
        if start < 0 or length < 0 or start + length > len(self.data):
            raise ModelFileError(f"{self.path} is truncated or corrupt: buffer {index} holds bytes "
                                 f"{start}..{start + length} but the file has {len(self.data)} bytes")
        return start, length

    def _opcode(self, code) -> tuple[str, int, bool]:
        custom = code.CustomCode()
        builtin = max(int(code.BuiltinCode()), int(code.DeprecatedBuiltinCode()))
        if custom:
            return _text(custom), int(code.Version()), True
        name = _enum_names("BuiltinOperator").get(builtin)
        if name is None:
            raise ModelFileError(f"{self.path} is corrupt or newer than this reader: unknown builtin operator "
                                 f"{builtin}")
        return name, int(code.Version()), False

    def _subgraph(self, graph, index: int, opcodes, spans) -> Subgraph:
        self.where = f"the tensors of subgraph {index}"
        tensors = tuple(self._tensor(graph.Tensors(position), position, spans)
                        for position in range(self._count(graph.TensorsLength(), "tensors")))
        self.where = f"the operators of subgraph {index}"
        operators = tuple(self._operator(graph.Operators(position), position, opcodes, len(tensors))
                          for position in range(self._count(graph.OperatorsLength(), "operators")))
        self.where = f"the inputs and outputs of subgraph {index}"
        inputs, outputs = self._ints(graph, "Inputs"), self._ints(graph, "Outputs")
        self._check_tensor_indices(inputs + outputs, len(tensors), f"subgraph {index}'s inputs/outputs")
        return Subgraph(name=_text(graph.Name()), tensors=tensors, operators=operators, inputs=inputs, outputs=outputs)

    def _tensor(self, tensor, index: int, spans) -> Tensor:
        self.where = f"tensor {index}"
        buffer = int(tensor.Buffer())
        if not 0 <= buffer < max(len(spans), 1):
            raise ModelFileError(f"{self.path} is corrupt: tensor {index} refers to buffer {buffer} of {len(spans)}")
        dtype = _enum_names("TensorType").get(int(tensor.Type()), f"type{tensor.Type()}").lower()
        signature = self._ints(tensor, "ShapeSignature")
        return Tensor(index=index, name=_text(tensor.Name()), dtype=dtype, shape=self._ints(tensor, "Shape"),
                      shape_signature=signature or None, quantization=self._quantization(tensor.Quantization()),
                      buffer=buffer, data_bytes=spans[buffer][1] if spans else 0, is_variable=bool(tensor.IsVariable()))

    def _quantization(self, parameters) -> Optional[Quantization]:
        if parameters is None or parameters.ScaleIsNone():
            return None
        scales = tuple(float(value) for value in parameters.ScaleAsNumpy())
        if not scales:
            return None
        return Quantization(scales=scales, zero_points=self._ints(parameters, "ZeroPoint"),
                            quantized_dimension=int(parameters.QuantizedDimension()))

    def _operator(self, operator, index: int, opcodes, tensor_count: int) -> Operator:
        self.where = f"operator {index}"
        opcode_index = int(operator.OpcodeIndex())
        if not 0 <= opcode_index < len(opcodes):
            raise ModelFileError(f"{self.path} is corrupt: operator {index} has opcode {opcode_index} of "
                                 f"{len(opcodes)}")
        name, version, custom = opcodes[opcode_index]
        inputs, outputs = self._ints(operator, "Inputs"), self._ints(operator, "Outputs")
        self._check_tensor_indices(inputs + outputs, tensor_count, f"operator {index} ({name})", optional=True)
        return Operator(index=index, opcode=name, version=version, custom=custom, inputs=inputs, outputs=outputs,
                        options=self._options(operator))

    def _check_tensor_indices(self, indices, tensor_count: int, what: str, optional: bool = False) -> None:
        lowest = -1 if optional else 0
        for tensor_index in indices:
            if not lowest <= tensor_index < tensor_count:
                raise ModelFileError(f"{self.path} is corrupt: {what} refers to tensor {tensor_index} of "
                                     f"{tensor_count}")

    def _options(self, operator) -> dict[str, Any]:
        class_name = _enum_names("BuiltinOptions").get(int(operator.BuiltinOptionsType()))
        table = operator.BuiltinOptions()
        if not class_name or class_name == "NONE" or table is None:
            return {}
        options = getattr(_schema(), class_name)()
        options.Init(table.Bytes, table.Pos)
        values = {}
        for getter in _option_getters(class_name):
            value = getattr(options, getter)()
            if isinstance(value, (int, float)):
                enum = _ENUM_FIELDS.get(getter)
                values[getter] = _enum_names(enum).get(value, value) if enum else value
        return values

    def _metadata(self, model, spans) -> dict[str, str]:
        """Metadata entries; a short text value (min_runtime_version) is shown, others by size."""
        entries = {}
        for index in range(self._count(model.MetadataLength(), "metadata entries")):
            entry = model.Metadata(index)
            buffer = int(entry.Buffer())
            start, length = spans[buffer] if 0 <= buffer < len(spans) else (0, 0)
            text = self.data[start:start + length].rstrip(b"\0").decode("latin-1")
            entries[_text(entry.Name())] = text if length <= 64 and text.isprintable() else f"{length} bytes"
        return entries


def _text(value: Optional[bytes]) -> str:
    return value.decode("utf-8", "replace") if value else ""
