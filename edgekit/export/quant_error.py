"""Per-layer quantization error of a quantized .tflite against its float32 .tflite, with LiteRT alone.

What is measured is what TensorFlow's `tf.lite.experimental.QuantizationDebugger` measures in its default
(layer-by-layer) mode: for every quantized op, the error of that op *alone*. Its float twin is run on the same
input the quantized op saw (the dequantized output of the previous quantized op; the model's float input for
the first op, so input quantization counts toward the first layer), and the two outputs are compared. Errors do
not accumulate down the graph, so a layer ranks high because it quantizes badly, not because it comes late.

How, without the converter (so `edgekit inspect` can do it on any pair of files, without TensorFlow):

1. The quantized model runs in LiteRT with every intermediate tensor kept (`experimental_preserve_all_tensors`,
   default delegates off: a delegate would fuse the intermediate tensors away).
2. The float model is rewritten once into an "isolated" model: each op reads its activation inputs from fresh
   graph inputs of its own instead of from the op before it, and every op output is a graph output. One invoke
   of that model (with LiteRT's default delegate: only graph outputs are read) runs every float op on whatever
   inputs we feed it.
3. Ops are matched by output tensor name and op type (the converter keeps a layer's output name through
   quantization); ops still unmatched are matched by order among ops of the same type. QUANTIZE/DEQUANTIZE ops
   have no float twin, and ops that stayed float in a mixed model have no quantization error: both are left out.
4. For each quantized op, its inputs (dequantized; traced back through QUANTIZE ops to a float tensor when
   there is one) are fed to its float twin, and `error = dequantize(quantized output) - float output`.

Per op, over every element of every sample: RMSE divided by the output's quantization scale (the debugger's
documented "rmse/scale": about 1/sqrt(12) = 0.29 when the error is pure rounding), SNR in dB
(10·log10(Σ float² / Σ error²)), mean absolute error, max absolute error and mean error.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from edgekit._native import captured_stderr
from edgekit.errors import ExportError, InputFileError, ModelFileError
# The graph side (reading, the isolated float model, matching ops) is in quant_graph.
from edgekit.export.quant_graph import (_INTEGER_TYPES, _activation_inputs, _Graph, _is_integer, _read_graph,
                                        isolated_model, match_ops)
from edgekit.export.runners import quantize

# Samples per invoke when the graph allows a batch dimension (most Keras exports do).
BATCH = 32

ModelSource = Union[bytes, Path, str]


class PairMismatch(InputFileError):
    """The two models, or the samples, do not fit together (bad input: exit 2)."""


@dataclass(frozen=True)
class LayerError:
    """The quantization error of one op of the quantized model."""

    op_index: int          # in the quantized model's main subgraph
    op: str                # builtin op name, e.g. CONV_2D
    tensor: str            # the op's output tensor name (the node name Model Explorer and the converter use)
    dtype: str             # of the quantized output: int8, int16, uint8
    scale: float
    zero_point: int
    elements: int          # compared values, over all samples
    rmse_over_scale: float
    snr_db: Optional[float]  # None when the error is exactly zero
    mean_abs_error: float
    max_abs_error: float
    mean_error: float
    matched_by: str        # "name" or "order"
    reference_tensor: str = ""  # the float twin's output tensor name (differs after QAT renamed the layer)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class QuantErrorReport:
    """Every quantized op's error, worst first (by RMSE/scale)."""

    samples: int
    layers: list[LayerError]
    float_ops: list[str] = field(default_factory=list)       # ops of the quantized model that stayed float
    unmatched: list[str] = field(default_factory=list)       # quantized ops without a float twin
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"metric": "rmse_over_scale", "samples": self.samples, "seconds": round(self.seconds, 3),
                "layers": [layer.to_dict() for layer in self.layers], "float_ops": self.float_ops,
                "unmatched": self.unmatched}


# ------------------------------------------------------------------------------------------------ running
class _Interpreter:
    """LiteRT on one model, inputs resized to a batch when the graph allows it.

    `keep_all`: every intermediate tensor stays readable (`experimental_preserve_all_tensors`), with the default
    delegates off (a delegate computes inside itself, and its intermediate tensors are never written). Without it,
    LiteRT's default delegate (XNNPACK) runs the model, and only graph outputs are read.
    """

    def __init__(self, model_bytes: bytes, inputs: list[int], batch: int, what: str, *, keep_all: bool):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        def make():
            if keep_all:
                return Interpreter(model_content=model_bytes, experimental_preserve_all_tensors=True,
                                   experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
            return Interpreter(model_content=model_bytes)

        with captured_stderr() as log:
            try:
                self.interpreter = make()
                details = {detail["index"]: detail for detail in self.interpreter.get_tensor_details()}
                try:
                    for index in inputs:
                        self.interpreter.resize_tensor_input(index, [batch, *details[index]["shape"][1:]],
                                                             strict=False)
                    self.interpreter.allocate_tensors()
                    self.batch = batch
                except (RuntimeError, ValueError):
                    # A graph with a fixed batch of 1 (a reshape to a constant shape): one sample per invoke.
                    self.interpreter = make()
                    self.interpreter.allocate_tensors()
                    self.batch = 1
            except (RuntimeError, ValueError) as error:
                raise ExportError(f"{what}: LiteRT cannot run this model: {error} {log.tail()}".strip()) from None
        self.details = {detail["index"]: detail for detail in self.interpreter.get_tensor_details()}
        self._dequantized: dict[int, np.ndarray] = {}

    def invoke(self) -> None:
        self._dequantized.clear()
        self.interpreter.invoke()

    def quantization(self, tensor: int) -> tuple[float, int]:
        scale, zero_point = self.details[tensor]["quantization"]
        return float(scale), int(zero_point)

    def dequantized(self, tensor: int) -> np.ndarray:
        """A tensor's value after the last invoke, as float (each tensor dequantized once per invoke)."""
        if tensor not in self._dequantized:
            value = self.interpreter.get_tensor(tensor)
            if value.dtype.kind in "iu" and self.details[tensor]["quantization"][0]:
                scale, zero_point = self.quantization(tensor)
                value = (value.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)
            self._dequantized[tensor] = value
        return self._dequantized[tensor]


class _Sums:
    """Running sums of one op's error over every sample (float32 within a batch, float64 across batches)."""

    def __init__(self):
        self.count = 0
        self.squared = self.absolute = self.signed = self.reference_squared = 0.0
        self.maximum = 0.0

    def add(self, error: np.ndarray, reference: np.ndarray) -> None:
        error = error.reshape(-1)
        reference = reference.reshape(-1)
        if not error.size:
            return
        magnitude = np.abs(error)
        self.count += error.size
        self.squared += float(np.dot(error, error))
        self.absolute += float(magnitude.sum(dtype=np.float64))
        self.signed += float(error.sum(dtype=np.float64))
        self.reference_squared += float(np.dot(reference, reference))
        self.maximum = max(self.maximum, float(magnitude.max()))


def _load(source: ModelSource, what: str) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source)
    path = Path(source)
    if not path.is_file():
        raise ModelFileError(f"{what}: no such file: {path}")
    return path.read_bytes()


def measure_quantization_error(quantized: ModelSource, reference: ModelSource, samples: np.ndarray, *,
                               batch: int = BATCH) -> QuantErrorReport:
    """Per-op quantization error of `quantized` against the float model `reference` (see the module docstring).

    Args:
        quantized: the quantized .tflite (int8, 16x8 or mixed), bytes or a path.
        reference: the float32 .tflite of the same model.
        samples: preprocessed inputs, float32, first axis the samples (validation samples, say).

    Raises:
        ModelFileError: a file cannot be read as a .tflite model.
        PairMismatch: the models do not fit together or with the samples (said how).
        ExportError: LiteRT cannot run one of the models.
    """
    started = time.perf_counter()
    quantized_bytes = _load(quantized, "quantized model")
    quantized_graph = _read_graph(quantized_bytes, "quantized model")
    reference_graph = _read_graph(_load(reference, "float model"), "float model")
    if len(quantized_graph.inputs) != 1 or len(reference_graph.inputs) != 1:
        raise PairMismatch(f"per-layer error needs single-input models; got {len(quantized_graph.inputs)} and "
                          f"{len(reference_graph.inputs)} inputs")
    samples = np.asarray(samples, dtype=np.float32)
    if not len(samples):
        raise PairMismatch("per-layer error needs at least one sample; got none")
    pairs, float_ops, unmatched = match_ops(quantized_graph, reference_graph)
    if not pairs:
        raise PairMismatch("no op of the quantized model has a quantized output with a float twin: is the first "
                          "model quantized and the second its float32 export?")
    isolated_bytes, feeds = isolated_model(reference_graph)
    runner_q = _Interpreter(quantized_bytes, quantized_graph.inputs, batch, "quantized model", keep_all=True)
    runner_f = _Interpreter(isolated_bytes, list(feeds.values()), runner_q.batch, "float model", keep_all=False)
    model_input = quantized_graph.inputs[0]
    expected = tuple(int(size) for size in runner_q.details[model_input]["shape"][1:])
    if tuple(samples.shape[1:]) != expected:
        raise PairMismatch(f"samples have shape {tuple(samples.shape[1:])} each, the model expects {expected}")
    sums = {op_index: _Sums() for op_index in pairs}
    step = runner_q.batch
    for start in range(0, len(samples), step):
        chunk = samples[start:start + step]
        count = len(chunk)
        if count < step:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], step - count, 0)])
        _run_pair(quantized_graph, reference_graph, runner_q, runner_f, pairs, feeds, chunk, model_input)
        for op_index, (twin_index, _) in pairs.items():
            q_out = quantized_graph.ops[op_index].outputs[0]
            f_out = reference_graph.ops[twin_index].outputs[0]
            reference_value = runner_f.interpreter.get_tensor(f_out)[:count]
            quantized_value = runner_q.dequantized(q_out)[:count]
            if quantized_value.shape != reference_value.shape:
                raise PairMismatch(f"op {quantized_graph.ops[op_index].name} '{quantized_graph.output_name(quantized_graph.ops[op_index])}' "
                                  f"gives shape {quantized_value.shape}, its float twin {reference_value.shape}")
            sums[op_index].add(quantized_value - reference_value, reference_value)
    layers = [_layer_error(quantized_graph, runner_q, op_index, how, sums[op_index],
                           reference_graph.output_name(reference_graph.ops[twin]))
              for op_index, (twin, how) in pairs.items()]
    layers.sort(key=lambda layer: -layer.rmse_over_scale)
    return QuantErrorReport(samples=len(samples), layers=layers, float_ops=float_ops, unmatched=unmatched,
                            seconds=time.perf_counter() - started)


def _run_pair(quantized: _Graph, reference: _Graph, runner_q: _Interpreter, runner_f: _Interpreter,
              pairs: dict[int, tuple[int, str]], feeds: dict[tuple[int, int], int], chunk: np.ndarray,
              model_input: int) -> None:
    """Invoke the quantized model on `chunk`, then the isolated float model on the quantized ops' inputs."""
    interpreter = runner_q.interpreter
    interpreter.set_tensor(model_input, quantize(chunk, runner_q.details[model_input]))
    runner_q.invoke()
    fed = set()
    for op_index, (twin_index, _) in pairs.items():
        q_op = quantized.ops[op_index]
        for position, _tensor in _activation_inputs(reference, reference.ops[twin_index]):
            if position >= len(q_op.inputs) or q_op.inputs[position] < 0:
                continue
            value = _float_input(quantized, runner_q, q_op.inputs[position], chunk, model_input)
            target = feeds[(twin_index, position)]
            runner_f.interpreter.set_tensor(target, value.astype(runner_f.details[target]["dtype"]))
            fed.add(target)
    for target in set(feeds.values()) - fed:
        # The input of a float op without a quantized twin: its output is never read.
        runner_f.interpreter.set_tensor(target, np.zeros_like(runner_f.interpreter.get_tensor(target)))
    runner_f.invoke()


def _float_input(graph: _Graph, runner: _Interpreter, tensor: int, chunk: np.ndarray, model_input: int) -> np.ndarray:
    """The float value a quantized op's input stands for: the float tensor a QUANTIZE op read, the model's float
    input, else the tensor dequantized."""
    seen = 0
    while tensor in graph.producer and graph.ops[graph.producer[tensor]].name == "QUANTIZE" and seen < 8:
        source = graph.ops[graph.producer[tensor]].inputs[0]
        if not _is_integer(graph.tensor_types[source]):
            return runner.interpreter.get_tensor(source)
        tensor, seen = source, seen + 1
    if tensor == model_input:
        return chunk
    return runner.dequantized(tensor)


def _layer_error(graph: _Graph, runner: _Interpreter, op_index: int, how: str, sums: _Sums,
                 reference_tensor: str) -> LayerError:
    op = graph.ops[op_index]
    output = op.outputs[0]
    scale, zero_point = runner.quantization(output)
    count = max(sums.count, 1)
    rmse = math.sqrt(sums.squared / count)
    snr = None if sums.squared == 0 else (
        10 * math.log10(sums.reference_squared / sums.squared) if sums.reference_squared > 0 else -math.inf)
    return LayerError(
        op_index=op_index, op=op.name, tensor=graph.output_name(op),
        dtype=_INTEGER_TYPES[graph.tensor_types[output]], scale=scale, zero_point=zero_point, elements=sums.count,
        rmse_over_scale=rmse / scale if scale else math.inf, snr_db=None if snr is None or not math.isfinite(snr) else snr,
        mean_abs_error=sums.absolute / count, max_abs_error=sums.maximum, mean_error=sums.signed / count,
        matched_by=how, reference_tensor=reference_tensor)


# ------------------------------------------------------------------------------------------------ samples from a file
# Arrays looked for in an .npz, in order: edgekit's own split names, then a bare `x`.
SAMPLE_KEYS = ("x", "x_val", "x_test", "x_train")


def load_samples(path: Path, limit: Optional[int] = None) -> np.ndarray:
    """Preprocessed model inputs from an .npy file or an .npz file (its `x`, `x_val`, `x_test` or `x_train`
    array, the first present), at most `limit` of them.

    Raises:
        InputFileError: the file is missing, unreadable, or holds no such array.
    """
    from edgekit.errors import InputFileError

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"--data {path}: no such file")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise InputFileError(f"--data {path}: not a .npy or .npz file numpy can read ({error})") from None
    if isinstance(loaded, np.ndarray):
        samples = loaded
    else:
        with loaded:
            key = next((key for key in SAMPLE_KEYS if key in loaded.files), None)
            if key is None:
                raise InputFileError(f"--data {path}: has arrays {', '.join(loaded.files) or 'none'}; expected one of "
                                     f"{', '.join(SAMPLE_KEYS)} (preprocessed inputs, samples first)")
            samples = loaded[key]
    if samples.dtype.kind not in "fiu":
        raise InputFileError(f"--data {path}: holds {samples.dtype} values; expected numbers")
    return samples[:limit] if limit else samples
