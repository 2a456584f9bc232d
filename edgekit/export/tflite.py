"""TFLite export: float32, float16, dynamic-range and full-integer int8.

The converter reads a SavedModel. `TFLiteConverter.from_keras_model` writes one of a tf_keras model for every
conversion, and tf_keras' SavedModel serialization traces every layer's call functions for reloading as a Keras
model, which the converter never does: 13-15 of its ~17 s per conversion of a MobileNetV2 (width 0.35, 48 px),
measured on 2 cores. `ConverterSource` saves the model once, as the converter sees it (its inference function and
its variables, nothing else), and every quantization reads that: 2.5 s to save, 3-3.5 s per conversion, the same
file sizes and the same outputs on the same inputs (measured for float32, float16, dynamic and int8).
"""

from __future__ import annotations

import tempfile
from typing import Optional

import numpy as np

from edgekit._native import captured_stderr
from edgekit._tf import tf
from edgekit.config.schema import Quantization
from edgekit.errors import ExportError


class ConverterSource:
    """A Keras model saved once for the TFLite converter; `converter()` gives a new converter that reads it.

    The model is saved as it is when the first converter is made (change its weights after that and convert
    from a new source). Use it as a context manager, or `close()` it, to delete the saved copy; a source that is
    neither is deleted when it is garbage-collected (tempfile's finalizer).

    A Keras 3 model, or a tf_keras model this lean save cannot take (an input that is not a tensor, a variable
    the model does not track), is converted with `from_keras_model` as before: `lean_error` says why.
    """

    def __init__(self, model):
        self.model = model
        self.lean_error: Optional[str] = None
        self._saved: Optional[tempfile.TemporaryDirectory] = None

    def converter(self):
        """A new TFLiteConverter (no options set) for the model."""
        if self._saved is None and self.lean_error is None:
            self._saved, self.lean_error = _save_for_converter(self.model)
        if self._saved is not None:
            return tf().lite.TFLiteConverter.from_saved_model(self._saved.name)
        return tf().lite.TFLiteConverter.from_keras_model(self.model)

    def close(self) -> None:
        if self._saved is not None:
            self._saved.cleanup()
            self._saved = None

    def __enter__(self) -> "ConverterSource":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _save_for_converter(model) -> tuple[Optional[tempfile.TemporaryDirectory], Optional[str]]:
    """(the model's inference function and variables saved as a SavedModel, None), or (None, why not).

    The signature is the one `from_keras_model` gives: inputs named as the model's inputs, outputs keyed by the
    model's output names, batch size free."""
    from edgekit.models.keras3 import is_keras3_model

    if is_keras3_model(model):
        return None, "a Keras 3 model: from_keras_model exports it"
    inputs, output_names = getattr(model, "inputs", None), getattr(model, "output_names", None)
    if not inputs or not output_names:
        return None, "the model has no defined inputs or outputs"
    specs = [tf().TensorSpec(tensor.shape, tensor.dtype, name=name)
             for tensor, name in zip(inputs, model.input_names)]

    def serve(*tensors):
        outputs = model(list(tensors) if len(tensors) > 1 else tensors[0], training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return dict(zip(output_names, outputs))

    function = tf().function(serve, input_signature=specs)
    module = tf().Module()
    module.model_variables = list(model.variables)  # what the function reads; saved with it
    module.serve = function
    folder = tempfile.TemporaryDirectory(prefix="edgekit-tflite-")
    try:
        with captured_stderr():
            tf().saved_model.save(module, folder.name, signatures={"serving_default": function.get_concrete_function()})
    except Exception as error:  # tracing or saving: TypeError, ValueError, AssertionError (untracked resources)
        folder.cleanup()
        return None, f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
    return folder, None


def convert_tflite(model, quantization: Quantization, representative: np.ndarray | None = None) -> bytes:
    """The .tflite bytes of a Keras model.

    Args:
        model: float model (float32, float16, dynamic), or a QAT or float model (int8); or a ConverterSource
            of one (to convert one model several times, saving it once).
        quantization: which flavour.
        representative: preprocessed training samples; required for int8. They calibrate the
            activation ranges a QAT model did not learn (and all of them for a float model).

    Raises:
        ExportError: the converter failed; its last lines are in the message.
    """
    if isinstance(model, ConverterSource):
        return run_converter(make_converter(model, quantization, representative), quantization.value)
    with ConverterSource(model) as source:  # deleted as soon as the file is made
        return run_converter(make_converter(source, quantization, representative), quantization.value)


def make_converter(source, quantization: Quantization, representative: np.ndarray | None = None):
    """The TFLiteConverter edgekit exports `quantization` with (also given to QuantizationDebugger and to the
    int8 recovery, so they calibrate and quantize exactly as the export does).

    Args:
        source: a ConverterSource, or a Keras model (saved for this converter alone: the converter holds the
            copy, deleted when the converter is).

    Raises:
        ExportError: int8 without representative samples.
    """
    source = source if isinstance(source, ConverterSource) else ConverterSource(source)
    converter = source.converter()
    converter._edgekit_source = source  # the saved copy must outlive the converter's convert()
    return configure_converter(converter, quantization, representative)


def configure_converter(converter, quantization: Quantization, representative: np.ndarray | None = None):
    """Set `converter`'s options for `quantization` (any TFLiteConverter: the benchmark gives it
    `from_keras_model`'s, to compare the two ways); returns it.

    Raises:
        ExportError: int8 without representative samples.
    """
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
    source = exporter.converter_source("qat" if use_qat else "float")
    model_bytes = convert_tflite(source, quantization, exporter.representative)
    return Exported(model_bytes, {"source": "qat" if use_qat else exporter.float_stage,
                                  "method": "tflite-converter" + ("+qat" if use_qat else "")})
