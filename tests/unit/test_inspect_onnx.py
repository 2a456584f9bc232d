"""`edgekit inspect` on .onnx files, built with onnx.helper (no converter needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import ModelFileError
from edgekit.inspect import inspect_model


def small_onnx_model(path: Path, quantized: bool = False) -> Path:
    """Conv(3x3, 1→4) + Relu + Flatten + MatMul(64→10); `quantized` puts a QDQ pair before the Conv."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    initializers = [numpy_helper.from_array(rng.normal(size=(4, 1, 3, 3)).astype(np.float32), "conv_w"),
                    numpy_helper.from_array(np.zeros(4, np.float32), "conv_b"),
                    numpy_helper.from_array(rng.normal(size=(64, 10)).astype(np.float32), "fc_w")]
    nodes = [helper.make_node("Conv", ["x", "conv_w", "conv_b"], ["conv"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["conv"], ["relu"]),
             helper.make_node("Flatten", ["relu"], ["flat"]),
             helper.make_node("MatMul", ["flat", "fc_w"], ["y"])]
    if quantized:
        initializers += [numpy_helper.from_array(np.array(0.02, np.float32), "x_scale"),
                         numpy_helper.from_array(np.array(0, np.int8), "x_zero")]
        nodes[0].input[0] = "x_dq"
        nodes[:0] = [helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zero"], ["x_q"]),
                     helper.make_node("DequantizeLinear", ["x_q", "x_scale", "x_zero"], ["x_dq"])]
    graph = helper.make_graph(nodes, "small",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="edgekit-test")
    onnx.save(model, path)
    return path


def test_onnx_opset_io_ops_and_weights(tmp_path):
    record = inspect_model(small_onnx_model(tmp_path / "small.onnx"))
    assert record["format"] == "onnx" and record["opsets"] == {"ai.onnx": 17}
    assert record["producer"] == "edgekit-test"
    assert record["inputs"] == [{"name": "x", "dtype": "float32", "shape": ["batch", 1, 4, 4]}]
    assert record["outputs"] == [{"name": "y", "dtype": "float32", "shape": ["batch", 10]}]
    assert record["operators"] == {"total": 4, "by_type": {"Conv": 1, "Flatten": 1, "MatMul": 1, "Relu": 1},
                                   "quantize_dequantize": 0}
    assert record["weights"] == {"count": 3, "bytes": 4 * (36 + 4 + 640), "by_dtype": {"float32": 4 * (36 + 4 + 640)}}
    assert [t["name"] for t in record["largest_tensors"]] == ["fc_w", "conv_w", "conv_b"]
    assert record["fully_integer"] is False


def test_onnx_qdq_nodes_are_counted(tmp_path):
    record = inspect_model(small_onnx_model(tmp_path / "qdq.onnx", quantized=True))
    assert record["operators"]["quantize_dequantize"] == 2
    assert record["weights"]["by_dtype"]["int8"] == 1


def test_truncated_onnx_is_refused(tmp_path):
    data = small_onnx_model(tmp_path / "full.onnx").read_bytes()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelFileError, match="truncated.onnx is not an ONNX model, or is truncated"):
        inspect_model(truncated)


def test_protobuf_that_is_not_a_model_is_refused(tmp_path):
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"\x08\x01" * 8)  # parses as a ModelProto with only ir_version set
    with pytest.raises(ModelFileError, match="parses as protobuf but has no IR version, opset or graph nodes"):
        inspect_model(bogus)
