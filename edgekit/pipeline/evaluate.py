"""The evaluate stage: every artifact judged on the test split by its own runtime.

Keras for .keras, LiteRT (ai-edge-litert) for .tflite, onnxruntime for .onnx. Accuracy is top-1
against the labels; agreement is top-1 agreement with the dense float model's predictions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit._native import captured_stderr
from edgekit.errors import ExportError

# Inputs go through LiteRT in batches of this size (the last one padded), not one sample per invoke.
TFLITE_BATCH = 64


def keras_outputs(model, x: np.ndarray) -> np.ndarray:
    """Outputs of a Keras model."""
    return np.asarray(model.predict(x, batch_size=256, verbose=0), dtype=np.float32)


def tflite_outputs(path: Path, x: np.ndarray, *, threads: int | None = None) -> np.ndarray:
    """Outputs of a .tflite model run with ai-edge-litert, in float.

    Integer inputs are quantized with the input tensor's scale and zero point, integer outputs
    dequantized with the output tensor's: the same arithmetic an app on the device must do.
    """
    from ai_edge_litert.interpreter import Interpreter

    # LiteRT prints "Created TensorFlow Lite XNNPACK delegate for CPU." on fd 2 when tensors are allocated.
    with captured_stderr():
        try:
            interpreter = Interpreter(model_path=str(path), num_threads=threads)
        except ValueError as error:
            raise ExportError(f"{path}: LiteRT cannot load this model: {error}") from None
        input_detail = interpreter.get_input_details()[0]
        batch = min(TFLITE_BATCH, len(x))
        try:
            interpreter.resize_tensor_input(input_detail["index"], [batch, *x.shape[1:]], strict=False)
            interpreter.allocate_tensors()
        except (RuntimeError, ValueError):
            # A graph with a fixed batch of 1 (a reshape to a constant shape, say): one sample per invoke.
            batch = 1
            interpreter = Interpreter(model_path=str(path), num_threads=threads)
            interpreter.allocate_tensors()
    input_detail = interpreter.get_input_details()[0]
    output_detail = interpreter.get_output_details()[0]
    outputs = []
    for start in range(0, len(x), batch):
        chunk = x[start:start + batch]
        padded = chunk if len(chunk) == batch else np.concatenate([chunk, np.repeat(chunk[-1:], batch - len(chunk), 0)])
        interpreter.set_tensor(input_detail["index"], quantize(padded, input_detail))
        interpreter.invoke()
        outputs.append(dequantize(interpreter.get_tensor(output_detail["index"]), output_detail)[:len(chunk)])
    return np.concatenate(outputs)


def quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    """Float inputs as the tensor's dtype: q = round(x / scale) + zero_point, clipped to the dtype's range."""
    dtype = np.dtype(detail["dtype"])
    if dtype.kind == "f":
        return x.astype(dtype)
    scale, zero_point = detail["quantization"]
    if scale == 0:
        raise ExportError(f"input tensor {detail['name']} is {dtype.name} but has no quantization scale")
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero_point, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, detail: dict) -> np.ndarray:
    """Integer outputs back to float: x = (q - zero_point) * scale."""
    if np.dtype(detail["dtype"]).kind == "f":
        return q.astype(np.float32)
    scale, zero_point = detail["quantization"]
    return ((q.astype(np.float32) - zero_point) * scale).astype(np.float32)


def top1_scores(outputs: np.ndarray, labels: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """(accuracy against `labels`, agreement with the `reference` predictions)."""
    predictions = outputs.argmax(axis=1)
    return float(np.mean(predictions == labels)), float(np.mean(predictions == reference))
