"""Tiny ONNX models made with onnx.helper (no TensorFlow): what the profiler tests run with onnxruntime."""

from pathlib import Path

import numpy as np

# IR 8 / opset 17: loadable by every onnxruntime since 1.14, the oldest a board is likely to carry.
IR_VERSION = 8
OPSET = 17


def write_mlp_onnx(path: Path, features: int = 16, hidden: int = 32, classes: int = 4, seed: int = 0) -> Path:
    """A float32 MLP (MatMul, Add, Relu, MatMul, Softmax) with a dynamic batch dimension, written to `path`."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    weights = {
        "w1": rng.normal(size=(features, hidden)).astype(np.float32),
        "b1": rng.normal(size=(hidden,)).astype(np.float32),
        "w2": rng.normal(size=(hidden, classes)).astype(np.float32),
    }
    nodes = [
        helper.make_node("MatMul", ["input", "w1"], ["h0"], name="dense_1/MatMul"),
        helper.make_node("Add", ["h0", "b1"], ["h1"], name="dense_1/BiasAdd"),
        helper.make_node("Relu", ["h1"], ["h2"], name="dense_1/Relu"),
        helper.make_node("MatMul", ["h2", "w2"], ["logits"], name="dense_2/MatMul"),
        helper.make_node("Softmax", ["logits"], ["probabilities"], name="softmax", axis=-1),
    ]
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", features])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", classes])],
        [numpy_helper.from_array(value, name) for name, value in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="edgekit-tests")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path
