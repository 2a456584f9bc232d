"""ONNX export: float32 with tf2onnx, int8 as QDQ (QuantizeLinear/DequantizeLinear)."""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from pathlib import Path

import numpy as np

from edgekit._native import captured_stderr

from edgekit._tf import tf
from edgekit.errors import ExportError

INPUT_NAME = "input"


def convert_onnx(model, opset: int) -> bytes:
    """Serialized ONNX of a Keras model (float, or QAT: tf2onnx turns fake-quant into QDQ pairs).

    Raises:
        ExportError: tf2onnx failed.
    """
    import tf2onnx

    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    spec = (tf().TensorSpec((None, *model.inputs[0].shape[1:]), tf().float32, name=INPUT_NAME),)
    try:
        # tf2onnx prints its progress on stdout; edgekit's stdout is for tables and JSON.
        with contextlib.redirect_stdout(io.StringIO()), captured_stderr():
            proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset)
    except Exception as error:  # tf2onnx raises many kinds
        raise ExportError(f"tf2onnx could not convert the model (opset {opset}): {type(error).__name__}: {error}") \
            from None
    return proto.SerializeToString()


def quantize_onnx_static(float_onnx: bytes, representative: np.ndarray) -> bytes:
    """int8 QDQ ONNX made by onnxruntime's static quantization, calibrated on `representative`.

    The only int8 ONNX when there is no QAT model; otherwise a candidate beside tf2onnx's QDQ of the QAT model.
    """
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._samples = iter(representative)

        def get_next(self):
            sample = next(self._samples, None)
            return None if sample is None else {INPUT_NAME: sample[np.newaxis].astype(np.float32)}

    with tempfile.TemporaryDirectory(prefix="edgekit-onnx-") as folder:
        source = Path(folder) / "float.onnx"
        target = Path(folder) / "int8.onnx"
        source.write_bytes(float_onnx)
        try:
            # quantize_static logs advice about pre-processing at WARNING on the root logger.
            with captured_stderr():
                quantize_static(str(source), str(target), Reader(), quant_format=QuantFormat.QDQ,
                                activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True)
        except Exception as error:
            raise ExportError(f"onnxruntime static quantization failed: {type(error).__name__}: {error}") from None
        return target.read_bytes()


class OnnxRunner:
    """An ONNX model run with onnxruntime on the CPU, one session for many batches."""

    def __init__(self, model_bytes: bytes):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(model_bytes, sess_options=options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: x.astype(np.float32)})[0]



def qdq_node_count(model_bytes: bytes) -> int:
    """How many QuantizeLinear/DequantizeLinear nodes an ONNX graph has (0 for a float graph)."""
    import onnx

    graph = onnx.load_from_string(model_bytes).graph
    return sum(node.op_type in ("QuantizeLinear", "DequantizeLinear") for node in graph.node)
