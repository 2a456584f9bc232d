"""What a .tflite file holds, as plain frozen records: the model, its subgraphs, tensors, operators and their
quantization (edgekit.inspect.tflite reads a file into them)."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

EDGETPU_CUSTOM_OP = "edgetpu-custom-op"

# Bytes per element; int4/uint4 pack two values in a byte, int2 four.
_ITEMSIZE = {
    "float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int32": 4, "uint32": 4, "int64": 8, "uint64": 8,
    "int16": 2, "uint16": 2, "int8": 1, "uint8": 1, "bool": 1, "complex64": 8, "complex128": 16,
    "int4": 0.5, "uint4": 0.5, "int2": 0.25, "float8_e4m3fn": 1, "float8_e5m2": 1,
}
FLOAT_DTYPES = frozenset({"float32", "float16", "bfloat16", "float64", "float8_e4m3fn", "float8_e5m2"})
# The most values a constant tensor may hold for `constant_values` to read it (axes, paddings, strides).
_MAX_CONSTANT_VALUES = 4096


@dataclass(frozen=True)
class Quantization:
    """Affine quantization of a tensor: real = scale * (q - zero_point), per tensor or per channel."""

    scales: tuple[float, ...]
    zero_points: tuple[int, ...]
    quantized_dimension: int

    @property
    def per_channel(self) -> bool:
        return len(self.scales) > 1

    def to_json(self) -> dict[str, Any]:
        return {"scale": list(self.scales), "zero_point": list(self.zero_points),
                "quantized_dimension": self.quantized_dimension}


@dataclass(frozen=True)
class Tensor:
    """One tensor of a subgraph. `data_bytes` is the size of its constant data (0 for an activation)."""

    index: int
    name: str
    dtype: str
    shape: tuple[int, ...]
    shape_signature: Optional[tuple[int, ...]]
    quantization: Optional[Quantization]
    buffer: int
    data_bytes: int
    is_variable: bool

    @property
    def is_constant(self) -> bool:
        return self.data_bytes > 0

    @property
    def nbytes(self) -> int:
        """Bytes it takes: its constant data, or (an activation) its elements times the element size."""
        if self.is_constant:
            return self.data_bytes
        return int(math.ceil(math.prod(max(dim, 1) for dim in self.shape) * _ITEMSIZE.get(self.dtype, 1)))

    @property
    def dynamic_dimensions(self) -> tuple[int, ...]:
        """Positions whose size is only known at run time (-1 in the shape signature)."""
        signature = self.shape_signature or ()
        return tuple(position for position, size in enumerate(signature) if size < 0)


@dataclass(frozen=True)
class Operator:
    """One operator: its type (a builtin name, or the custom code of a custom op) and its tensors."""

    index: int
    opcode: str
    version: int
    custom: bool
    inputs: tuple[int, ...]  # -1 marks an omitted optional input
    outputs: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Subgraph:
    name: str
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass(frozen=True)
class TfliteModel:
    """What a .tflite file holds. Subgraph 0 is the one the interpreter runs; others are control-flow bodies."""

    path: Path
    file_bytes: int
    schema_version: int
    description: str
    subgraphs: tuple[Subgraph, ...]
    metadata: dict[str, str]
    _data: bytes = field(repr=False, compare=False)
    _buffer_spans: tuple[tuple[int, int], ...] = field(repr=False, compare=False)

    @property
    def main(self) -> Subgraph:
        return self.subgraphs[0]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self._data).hexdigest()

    def constant_values(self, tensor: Tensor) -> Optional[np.ndarray]:
        """The values of a small integer constant (an axis list, paddings, strides), else None."""
        if not tensor.is_constant or tensor.dtype not in ("int32", "int64"):
            return None
        start, length = self._buffer_spans[tensor.buffer]
        count = length // _ITEMSIZE[tensor.dtype]
        if count > _MAX_CONSTANT_VALUES:
            return None
        return np.frombuffer(self._data, dtype=np.dtype(tensor.dtype).newbyteorder("<"), count=count,
                             offset=start).astype(np.int64)
