"""What `edgekit inspect` says about a .tflite model: inputs and outputs with their quantization, ops by type,
tensors by dtype, weight bytes by dtype, whether it is fully integer, and its largest tensors."""

from __future__ import annotations

from collections import Counter
from typing import Any

from edgekit.inspect.tflite import FLOAT_DTYPES, Tensor, TfliteModel

LARGEST_TENSORS = 10


def summarize_tflite(model: TfliteModel) -> dict[str, Any]:
    """The inspection record of a .tflite model (JSON-ready)."""
    main = model.main
    tensors = [tensor for subgraph in model.subgraphs for tensor in subgraph.tensors]
    operators = [operator for subgraph in model.subgraphs for operator in subgraph.operators]
    float_tensors = [tensor.name for tensor in tensors if tensor.dtype in FLOAT_DTYPES]
    return {
        "path": str(model.path),
        "format": "tflite",
        "bytes": model.file_bytes,
        "sha256": model.sha256,
        "schema_version": model.schema_version,
        "description": model.description,
        "metadata": model.metadata,
        "subgraphs": len(model.subgraphs),
        "inputs": [tensor_record(main.tensors[index]) for index in main.inputs],
        "outputs": [tensor_record(main.tensors[index]) for index in main.outputs],
        "operators": {"total": len(operators), "by_type": _by_count(Counter(op.opcode for op in operators)),
                      "custom": sorted({op.opcode for op in operators if op.custom})},
        "tensors": {"total": len(tensors), "by_dtype": _tensors_by_dtype(tensors)},
        "weights": _weights(model),
        # Fully integer: no float tensor anywhere, weights or activations (an int8 model with float I/O is not).
        "fully_integer": not float_tensors,
        "float_tensors": float_tensors[:LARGEST_TENSORS],
        "float_tensor_count": len(float_tensors),
        "largest_tensors": [
            {**tensor_record(tensor, quantization=False), "bytes": tensor.nbytes,
             "kind": "weight" if tensor.is_constant else "activation"}
            for tensor in sorted(main.tensors, key=lambda tensor: (-tensor.nbytes, tensor.index))[:LARGEST_TENSORS]
        ],
    }


def tensor_record(tensor: Tensor, quantization: bool = True) -> dict[str, Any]:
    """A tensor as JSON: name, index, dtype, shape (and the shape signature when it has dynamic sizes)."""
    record: dict[str, Any] = {"name": tensor.name, "index": tensor.index, "dtype": tensor.dtype,
                              "shape": list(tensor.shape)}
    if tensor.dynamic_dimensions:
        record["shape_signature"] = list(tensor.shape_signature or ())
    if quantization:
        record["quantization"] = tensor.quantization.to_json() if tensor.quantization else None
    return record


def _by_count(counter: Counter) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))


def _tensors_by_dtype(tensors: list[Tensor]) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for tensor in tensors:
        row = table.setdefault(tensor.dtype, {"count": 0, "weights": 0, "activations": 0})
        row["count"] += 1
        row["weights" if tensor.is_constant else "activations"] += 1
    return dict(sorted(table.items(), key=lambda item: (-item[1]["count"], item[0])))


def _weights(model: TfliteModel) -> dict[str, Any]:
    """Bytes of constant data by dtype; a buffer shared by several tensors counts once."""
    by_dtype: Counter = Counter()
    seen: set[int] = set()
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            if tensor.is_constant and tensor.buffer not in seen:
                seen.add(tensor.buffer)
                by_dtype[tensor.dtype] += tensor.data_bytes
    return {"bytes": sum(by_dtype.values()), "by_dtype": _by_count(by_dtype)}
