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
from edgekit.config.formats import Quantization
from edgekit.config.schema import Task
from edgekit.errors import ExportError
# The runner moved to export/runners.py (one runner per format); the name is kept for its users.
from edgekit.export.runners import OnnxRunner, classify, keras_runner, max_abs_difference, predict

INPUT_NAME = "input"
# Float ONNX must reproduce the Keras outputs to this absolute difference (probabilities in [0, 1]); regression
# outputs are unbounded, so there it is relative to the largest output (float32 rounding grows with the value).
ONNX_TOLERANCE = 1e-4


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


def qdq_node_count(model_bytes: bytes) -> int:
    """How many QuantizeLinear/DequantizeLinear nodes an ONNX graph has (0 for a float graph)."""
    import onnx

    graph = onnx.load_from_string(model_bytes).graph
    return sum(node.op_type in ("QuantizeLinear", "DequantizeLinear") for node in graph.node)


def export_onnx(exporter, quantization: Quantization):
    """FORMATS[onnx]'s converter: float32 with tf2onnx (checked against Keras), int8 as QDQ (see int8_onnx).

    Args:
        exporter: an edgekit.export.exporter.Exporter (its memo keeps the float ONNX for the int8 export).
    """
    from edgekit.export.exporter import Exported

    if quantization is Quantization.FLOAT32:
        model_bytes, difference = float_onnx(exporter)
        return Exported(model_bytes, {"source": exporter.float_stage, "method": "tf2onnx", "max_abs_diff": difference})
    return int8_onnx(exporter)


def float_onnx(exporter) -> tuple[bytes, float]:
    """tf2onnx of the float model and its largest difference from Keras on the test split (made once, used twice).

    Raises:
        ExportError: the ONNX model computes something else than the Keras model.
    """
    if "float_onnx" not in exporter.memo:
        model_bytes = convert_onnx(exporter.float_model, exporter.opset)
        difference, magnitude = max_abs_difference(OnnxRunner(model_bytes), keras_runner(exporter.float_model),
                                                   exporter.data, "test")
        tolerance = ONNX_TOLERANCE * (max(1.0, magnitude) if exporter.task is Task.REGRESSION else 1.0)
        if difference > tolerance:
            raise ExportError(f"the float ONNX export differs from the Keras model by up to {difference:.3g} "
                              f"(tolerance {tolerance:.3g}); not writing an artifact that computes something else")
        exporter.memo["float_onnx"] = (model_bytes, difference)
    return exporter.memo["float_onnx"]


def int8_onnx(exporter):
    """int8 QDQ ONNX: tf2onnx of the QAT model, or onnxruntime's static quantization of the float model.

    Both are made when there is a QAT model, and the one more accurate on the validation split is
    kept (on a tie, the smaller file). tf2onnx keeps the ranges QAT learned, but writes the weights
    in float with QuantizeLinear/DequantizeLinear after them (a float-sized file); onnxruntime's
    post-training calibration stores int8 weights (a quarter of the size) but fits its ranges to the
    representative samples only. Which wins depends on the model, so we measure instead of assuming
    (a regression keeps the lower validation MAE);
    the test split is not used for the choice, so it stays an honest estimate.
    """
    from edgekit.export.exporter import Exported

    data = exporter.data
    candidates = {"ort-static": quantize_onnx_static(float_onnx(exporter)[0], exporter.representative)}
    if exporter.qat_model is not None:
        candidates["tf2onnx-qat"] = convert_onnx(exporter.qat_model, exporter.opset)
    details: dict = {}
    if len(candidates) == 1 or not data.size("val"):
        method = "tf2onnx-qat" if "tf2onnx-qat" in candidates else "ort-static"
    elif exporter.task is Task.REGRESSION:
        errors = {name: float(np.mean(np.abs(np.subtract(*predict(OnnxRunner(model_bytes), data, "val")))))
                  for name, model_bytes in candidates.items()}
        method = min(candidates, key=lambda name: (errors[name], len(candidates[name])))
        details["val_mae_by_method"] = errors
    else:
        scores = {name: float(np.mean(np.equal(*classify(OnnxRunner(model_bytes), data, "val"))))
                  for name, model_bytes in candidates.items()}
        method = max(candidates, key=lambda name: (scores[name], -len(candidates[name])))
        details["val_accuracy_by_method"] = scores
    model_bytes = candidates[method]
    source = "qat" if method == "tf2onnx-qat" else exporter.float_stage
    return Exported(model_bytes, {"source": source, "method": method, "qdq_nodes": qdq_node_count(model_bytes),
                                  **details})
