"""The Edge TPU rules one by one, on synthetic .tflite files that hold exactly the case each rule is about."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.inspect import inspect_model
from edgekit.inspect.edgetpu import SUPPORTED_OPS
from tests.unit.inspect_models import Graph, Op, T, synthetic_model

WEIGHTS = np.ones((4, 3, 3, 4), np.int8)
BIAS = np.zeros(4, np.int32)


def _conv(options: dict | None = None, weights: T | None = None) -> Graph:
    return Graph(tensors=[T("in", [1, 8, 8, 4]), weights or T("w", [4, 3, 3, 4], data=WEIGHTS),
                          T("b", [4], "int32", data=BIAS), T("out", [1, 8, 8, 4])],
                 ops=[Op("CONV_2D", [0, 1, 2], [3], ("Conv2DOptions", options or {}))], inputs=[0], outputs=[3])


def _single(opcode: str, tensors: list[T], inputs: list[int], options=None) -> Graph:
    return Graph(tensors=tensors, ops=[Op(opcode, inputs, [len(tensors) - 1], options)], inputs=[0],
                 outputs=[len(tensors) - 1])


CASES = {
    "fused activation on a pool": (
        _single("AVERAGE_POOL_2D", [T("in", [1, 8, 8, 4]), T("out", [1, 4, 4, 4])], [0],
                ("Pool2DOptions", {"fusedActivationFunction": 1, "filterHeight": 2, "filterWidth": 2})),
        "has a fused RELU activation; Coral allows no fused activation function on AVERAGE_POOL_2D"),
    "uneven dilation": (
        _conv({"dilationHFactor": 2, "dilationWFactor": 1}),
        "dilation is 2 in y and 1 in x; Coral requires the same dilation in x and y"),
    "weights computed at run time": (
        Graph(tensors=[T("in", [1, 8, 8, 4]), T("w", [4, 3, 3, 4]), T("b", [4], "int32", data=BIAS),
                       T("out", [1, 8, 8, 4])],
              ops=[Op("CONV_2D", [0, 1, 2], [3], ("Conv2DOptions", {}))], inputs=[0, 1], outputs=[3]),
        "parameter 'w' is computed at run time; weights and biases must be constant at compile time"),
    "float weights": (
        _conv(weights=T("w", [4, 3, 3, 4], "float32", data=np.ones((4, 3, 3, 4), np.float32))),
        "constant 'w' is float32; weights must be quantized to 8 bits"),
    "a large fourth dimension": (
        _single("RELU", [T("in", [2, 4, 4, 8]), T("out", [2, 4, 4, 8])], [0]),
        "input 'in' has shape [2, 4, 4, 8]; with more than 3 dimensions only the 3 innermost may be larger than 1"),
    "a dynamic height": (
        _single("RELU", [T("in", [1, 4, 4, 8], signature=[1, -1, 4, 8]), T("out", [1, 4, 4, 8])], [0]),
        "input 'in' has a dynamic size in dimension 1 (shape signature [1, -1, 4, 8]); the Edge TPU needs sizes fixed"),
    "mean over the batch": (
        _single("MEAN", [T("in", [1, 4, 4, 8]), T("axes", [1], "int32", data=np.array([0], np.int32)),
                         T("out", [4, 4, 8])], [0, 1]),
        "works along the batch dimension (axes [0]); Coral: not on the batch dimension"),
    "mean over a depth of 6": (
        _single("MEAN", [T("in", [1, 4, 4, 6]), T("axes", [1], "int32", data=np.array([-1], np.int32)),
                         T("out", [1, 4, 4])], [0, 1]),
        "reduces over a depth of 6; Coral requires a z-reduction depth that is a multiple of 4"),
    "2-D softmax": (
        _single("SOFTMAX", [T("in", [1, 4, 10]), T("out", [1, 4, 10])], [0], ("SoftmaxOptions", {"beta": 1.0})),
        "input has shape [1, 4, 10]; Coral's Softmax takes only a 1-D input"),
    "huge softmax": (
        _single("SOFTMAX", [T("in", [1, 20000]), T("out", [1, 20000])], [0], ("SoftmaxOptions", {"beta": 1.0})),
        "input has 20000 elements; Coral's Softmax takes at most 16000"),
    "strided slice with stride 2": (
        _single("STRIDED_SLICE", [T("in", [1, 8, 8, 4])] + [
            T(name, [4], "int32", data=np.array(values, np.int32))
            for name, values in (("begin", [0, 0, 0, 0]), ("end", [1, 8, 8, 4]), ("strides", [1, 2, 2, 1]))
        ] + [T("out", [1, 4, 4, 4])], [0, 1, 2, 3], ("StridedSliceOptions", {})),
        "strides are not all 1; Coral supports StridedSlice only with unit strides"),
    "padding the batch": (
        _single("PAD", [T("in", [1, 4, 4, 4]),
                        T("pads", [4, 2], "int32", data=np.array([[1, 0], [1, 1], [1, 1], [0, 0]], np.int32)),
                        T("out", [2, 6, 6, 4])], [0, 1]),
        "pads the batch dimension; Coral: no padding in the batch dimension"),
    "an op not in the table": (
        _single("HARD_SWISH", [T("in", [1, 8]), T("out", [1, 8])], [0]),
        "HARD_SWISH is not in Coral's list of Edge TPU operations"),
    "a custom op": (
        Graph(tensors=[T("in", [1, 8]), T("out", [1, 8])],
              ops=[Op("CUSTOM", [0], [1], custom_code="MyOp")], inputs=[0], outputs=[1]),
        "custom op 'MyOp': the Edge TPU runs only builtin ops from Coral's table"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_documented_rule_sends_the_op_to_the_cpu(case, tmp_path):
    graph, reason = CASES[case]
    mapping = inspect_model(synthetic_model(tmp_path / "case.tflite", graph), edgetpu=True)["edgetpu"]
    (op,) = mapping["operators"]
    assert (op["supported"], op["placement"], mapping["ops_on_edgetpu"]) == (False, "cpu", 0)
    assert any(reason in text for text in op["reasons"]), op["reasons"]


def test_a_plain_quantized_conv_maps(tmp_path):
    mapping = inspect_model(synthetic_model(tmp_path / "conv.tflite", _conv()), edgetpu=True)["edgetpu"]
    assert (mapping["ops_on_edgetpu"], mapping["ops_on_cpu"]) == (1, 0)
    assert mapping["operators"][0]["reasons"] == []


def test_a_float_input_quantize_stays_on_the_cpu_before_the_segment(tmp_path):
    graph = Graph(tensors=[T("image", [1, 8], "float32"), T("q", [1, 8]), T("r", [1, 8]), T("out", [1, 8], "float32")],
                  ops=[Op("QUANTIZE", [0], [1]), Op("RELU", [1], [2]), Op("DEQUANTIZE", [2], [3])],
                  inputs=[0], outputs=[3])
    mapping = inspect_model(synthetic_model(tmp_path / "io.tflite", graph), edgetpu=True)["edgetpu"]
    assert [op["placement"] for op in mapping["operators"]] == ["cpu", "edgetpu", "cpu"]
    assert mapping["segment"]["start"] == 1 and mapping["segment"]["ended_by"]["op"] == "DEQUANTIZE"


def test_ops_of_control_flow_subgraphs_count_on_the_cpu(tmp_path):
    body = Graph(tensors=[T("a", [1, 8]), T("b", [1, 8])], ops=[Op("RELU", [0], [1]), Op("RELU", [1], [0])],
                 inputs=[0], outputs=[1])
    graph = _single("RELU", [T("in", [1, 8]), T("out", [1, 8])], [0])
    graph.extra_subgraphs = [body]
    mapping = inspect_model(synthetic_model(tmp_path / "flow.tflite", graph), edgetpu=True)["edgetpu"]
    assert (mapping["ops_on_edgetpu"], mapping["ops_on_cpu"]) == (1, 2)
    assert "2 ops in 1 control-flow subgraph(s) run on the CPU" in mapping["notes"]


def test_the_table_lists_coral_operations_by_tflite_name():
    from ai_edge_litert import schema_py_generated as schema

    assert all(hasattr(schema.BuiltinOperator, name) for name in SUPPORTED_OPS)
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX", "QUANTIZE"} <= set(SUPPORTED_OPS)
    assert not {"DEQUANTIZE", "LEAKY_RELU", "HARD_SWISH", "BIDIRECTIONAL_SEQUENCE_LSTM"} & set(SUPPORTED_OPS)
