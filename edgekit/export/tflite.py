"""TFLite export: float32, float16, dynamic-range and full-integer int8."""

from __future__ import annotations

import numpy as np

from edgekit._native import captured_stderr
from edgekit._tf import tf
from edgekit.config.schema import Quantization
from edgekit.errors import ExportError


def convert_tflite(model, quantization: Quantization, representative: np.ndarray | None = None) -> bytes:
    """The .tflite bytes of a Keras model.

    Args:
        model: float model (float32, float16, dynamic), or a QAT or float model (int8).
        quantization: which flavour.
        representative: preprocessed training samples; required for int8. They calibrate the
            activation ranges a QAT model did not learn (and all of them for a float model).

    Raises:
        ExportError: the converter failed; its last lines are in the message.
    """
    converter = make_converter(model, quantization, representative)
    return run_converter(converter, quantization.value)


def make_converter(model, quantization: Quantization, representative: np.ndarray | None = None):
    """The TFLiteConverter edgekit exports `quantization` with (also given to QuantizationDebugger and to the
    int8 recovery, so they calibrate and quantize exactly as the export does).

    Raises:
        ExportError: int8 without representative samples.
    """
    converter = tf().lite.TFLiteConverter.from_keras_model(model)
    if quantization is Quantization.FLOAT16:
        converter.optimizations = [tf().lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf().float16]
    elif quantization is Quantization.DYNAMIC:
        # Weights int8, activations float; no representative data.
        converter.optimizations = [tf().lite.Optimize.DEFAULT]
    elif quantization is Quantization.INT8:
        if representative is None or not len(representative):
            raise ExportError("full-integer int8 export needs representative samples")
        converter.optimizations = [tf().lite.Optimize.DEFAULT]
        converter.representative_dataset = _representative_dataset(representative)
        # Integer-only: an op without an int8 kernel fails the conversion instead of silently staying float,
        # which would break Edge TPU and NPU targets.
        converter.target_spec.supported_ops = [tf().lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf().int8
        converter.inference_output_type = tf().int8
    return converter


def run_converter(converter, what: str) -> bytes:
    """converter.convert(), its failure as an ExportError with the converter's last lines."""
    with captured_stderr() as log:
        try:
            return converter.convert()
        except Exception as error:  # the converter raises ConverterError, RuntimeError, ValueError, ...
            failure = error
    message = " / ".join(str(failure).strip().splitlines()[-3:]) or log.tail()
    raise ExportError(f"TFLite {what} conversion failed: {message}")


def _representative_dataset(samples: np.ndarray):
    def generate():
        for sample in samples:
            yield [sample[np.newaxis].astype(np.float32)]

    return generate


def export_tflite(exporter, quantization: Quantization):
    """FORMATS[tflite]'s converter: full-integer int8 from the QAT model when there is one; everything else (and
    int8 without QAT) from the float model.

    Args:
        exporter: an edgekit.export.exporter.Exporter.

    Returns:
        An Exported with the .tflite bytes and which model it came from.
    """
    from edgekit.export.exporter import Exported

    use_qat = quantization is Quantization.INT8 and exporter.qat_model is not None
    model_bytes = convert_tflite(exporter.qat_model if use_qat else exporter.float_model, quantization,
                                 exporter.representative)
    return Exported(model_bytes, {"source": "qat" if use_qat else exporter.float_stage,
                                  "method": "tflite-converter" + ("+qat" if use_qat else "")})
