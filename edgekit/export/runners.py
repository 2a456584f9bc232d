"""One runner per format that this machine can run, each taking and giving float arrays (found through
edgekit.config.formats.FORMATS[...].evaluator), and the batch helpers that read a split through a runner.

Keras for the train/prune models, LiteRT (ai-edge-litert) for .tflite, onnxruntime for .onnx.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from edgekit._native import captured_stderr
from edgekit.data.base import Splits
from edgekit.errors import ExportError

# Samples per invoke when LiteRT evaluates (the last batch is padded), instead of one sample per invoke.
TFLITE_BATCH = 64
# Samples read from the data set at a time.
EVALUATION_BATCH = 256

Runner = Callable[[np.ndarray], np.ndarray]


def keras_runner(model) -> Runner:
    """Outputs of a Keras model, in float32."""
    return lambda x: np.asarray(model.predict(x, batch_size=EVALUATION_BATCH, verbose=0), dtype=np.float32)



class TFLiteRunner:
    """A .tflite model run with ai-edge-litert, taking and giving float.

    Integer inputs are quantized with the input tensor's scale and zero point, integer outputs
    dequantized with the output tensor's: the same arithmetic an app on the device must do.
    """

    def __init__(self, path: Path, *, threads: int | None = None, batch: int = TFLITE_BATCH):
        from ai_edge_litert.interpreter import Interpreter

        self.path = path
        # LiteRT prints "Created TensorFlow Lite XNNPACK delegate for CPU." on fd 2 when tensors are allocated.
        with captured_stderr():
            try:
                self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
            except ValueError as error:
                raise ExportError(f"{path}: LiteRT cannot load this model: {error}") from None
            detail = self.interpreter.get_input_details()[0]
            try:
                shape = [batch, *detail["shape"][1:]]
                self.interpreter.resize_tensor_input(detail["index"], shape, strict=False)
                self.interpreter.allocate_tensors()
                self.batch = batch
            except (RuntimeError, ValueError):
                # A graph with a fixed batch of 1 (a reshape to a constant shape, say): one sample per invoke.
                self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
                self.interpreter.allocate_tensors()
                self.batch = 1
        self.input_detail = self.interpreter.get_input_details()[0]
        self.output_detail = self.interpreter.get_output_details()[0]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        outputs = []
        for start in range(0, len(x), self.batch):
            chunk = x[start:start + self.batch]
            missing = self.batch - len(chunk)
            padded = chunk if not missing else np.concatenate([chunk, np.repeat(chunk[-1:], missing, 0)])
            self.interpreter.set_tensor(self.input_detail["index"], quantize(padded, self.input_detail))
            self.interpreter.invoke()
            output = self.interpreter.get_tensor(self.output_detail["index"])
            outputs.append(dequantize(output, self.output_detail)[:len(chunk)])
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


class OnnxRunner:
    """An ONNX model run with onnxruntime on the CPU, one session for many batches (bytes, or a path)."""

    def __init__(self, model_bytes: bytes | Path):
        if isinstance(model_bytes, Path):
            model_bytes = model_bytes.read_bytes()
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(model_bytes, sess_options=options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: x.astype(np.float32)})[0]

    @classmethod
    def from_file(cls, path: Path) -> "OnnxRunner":
        return cls(Path(path).read_bytes())


def classify(run: Runner, data: Splits, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(predicted class, label) of every sample of `split`, in the split's fixed order."""
    predicted, labels = [], []
    for x, y in data.batches(split, EVALUATION_BATCH):
        predicted.append(run(x).argmax(axis=1))
        labels.append(y)
    if not predicted:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(predicted), np.concatenate(labels)


def predict(run: Runner, data: Splits, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(outputs, targets) of every sample of `split` for a regression, both float32 of shape (N, k)."""
    outputs, targets = [], []
    for x, y in data.batches(split, EVALUATION_BATCH):
        outputs.append(np.asarray(run(x), dtype=np.float32).reshape(len(y), -1))
        targets.append(y)
    if not outputs:
        return np.empty((0, data.num_outputs), np.float32), np.empty((0, data.num_outputs), np.float32)
    return np.concatenate(outputs), np.concatenate(targets)


def max_abs_difference(first: Runner, second: Runner, data: Splits, split: str) -> tuple[float, float]:
    """(the largest absolute difference between two models' outputs over `split`, the largest absolute output
    of `second`)."""
    difference = magnitude = 0.0
    for x, _ in data.batches(split, EVALUATION_BATCH):
        expected = second(x)
        difference = max(difference, float(np.max(np.abs(first(x) - expected))))
        magnitude = max(magnitude, float(np.max(np.abs(expected))))
    return difference, magnitude
