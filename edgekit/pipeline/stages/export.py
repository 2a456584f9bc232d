"""The export stage: every (format, quantization) artifact of the float and QAT models, each checked as made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgekit import console, fsutil
from edgekit.config.schema import ExportFormat, Quantization, Task
from edgekit.data.base import Splits
from edgekit.errors import ExportError
from edgekit.pipeline.cache import StageResult
from edgekit.pipeline.context import BuildContext
from edgekit.pipeline.evaluate import classify, keras_runner, max_abs_difference, predict
from edgekit.pipeline.graph import StageSpec
from edgekit.pipeline.results import ExportOutput
from edgekit.pipeline.stages.common import build_task, dataset, float_source, load_keras, run_declared

# Float ONNX must reproduce the Keras outputs to this absolute difference (probabilities in [0, 1]); regression
# outputs are unbounded, so there it is relative to the largest output (float32 rounding grows with the value).
ONNX_TOLERANCE = 1e-4


def export_stage(ctx: BuildContext) -> StageResult:
    config = ctx.config
    float_stage, float_key = float_source(ctx)
    has_qat = ctx.results.qat is not None

    def produce(work: Path) -> dict[str, Any]:
        data = dataset(ctx)
        representative = data.representative_samples(config.export.representative_samples, ctx.seed)
        if len(representative) < config.export.representative_samples:
            console.warn(f"export.representative_samples is {config.export.representative_samples}, but the "
                         f"training split has {len(representative)} samples: calibrating int8 on all of them")
        exporter = Exporter(float_model=load_keras(ctx, float_stage, float_key), float_stage=float_stage,
                            qat_model=load_keras(ctx, "qat", "qat") if has_qat else None,
                            representative=representative, data=data, opset=config.export.onnx_opset,
                            task=build_task(ctx))
        combinations = config.export.combinations()
        artifacts = []
        with console.steps("export", len(combinations)) as progress:
            for fmt, quantization in combinations:
                file_name = f"{config.name}-{quantization.value}.{fmt.value}"
                model_bytes, details = exporter.export(fmt, quantization)
                fsutil.write_bytes(work / file_name, model_bytes)
                artifacts.append({"name": f"{fmt.value}-{quantization.value}", "format": fmt.value,
                                  "quantization": quantization.value, "file": file_name, **details})
                progress.advance(description=f"export: {fmt.value}-{quantization.value}")
        return {"artifacts": artifacts, "representative_samples": int(len(representative))}

    return run_declared(ctx, EXPORT, produce)


class Exporter:
    """Turns the float and QAT models into each (format, quantization) artifact; returns bytes and details
    (which model it came from, how it was made, and what was checked)."""

    def __init__(self, *, float_model, float_stage: str, qat_model, representative: np.ndarray, data: Splits,
                 opset: int, task: Task = Task.CLASSIFICATION):
        self.float_model = float_model
        self.float_stage = float_stage
        self.qat_model = qat_model
        self.representative = representative
        self.data = data
        self.opset = opset
        self.task = task
        self._float_onnx: bytes | None = None
        self._onnx_difference: float | None = None

    def export(self, fmt: ExportFormat, quantization: Quantization) -> tuple[bytes, dict[str, Any]]:
        if fmt is ExportFormat.TFLITE:
            return self.tflite(quantization)
        if quantization is Quantization.FLOAT32:
            model_bytes = self.float_onnx()
            return model_bytes, {"source": self.float_stage, "method": "tf2onnx", "max_abs_diff": self._onnx_difference}
        return self.int8_onnx()

    def tflite(self, quantization: Quantization) -> tuple[bytes, dict[str, Any]]:
        from edgekit.export.tflite import convert_tflite

        # Full-integer int8 comes from the QAT model when there is one; everything else from the float model.
        use_qat = quantization is Quantization.INT8 and self.qat_model is not None
        model_bytes = convert_tflite(self.qat_model if use_qat else self.float_model, quantization,
                                     self.representative)
        return model_bytes, {"source": "qat" if use_qat else self.float_stage,
                             "method": "tflite-converter" + ("+qat" if use_qat else "")}

    def float_onnx(self) -> bytes:
        """tf2onnx of the float model, checked against Keras on the test split (made once, used twice)."""
        from edgekit.export.onnx import OnnxRunner, convert_onnx

        if self._float_onnx is None:
            model_bytes = convert_onnx(self.float_model, self.opset)
            difference, magnitude = max_abs_difference(OnnxRunner(model_bytes), keras_runner(self.float_model),
                                                       self.data, "test")
            tolerance = ONNX_TOLERANCE * (max(1.0, magnitude) if self.task is Task.REGRESSION else 1.0)
            if difference > tolerance:
                raise ExportError(f"the float ONNX export differs from the Keras model by up to {difference:.3g} "
                                  f"(tolerance {tolerance:.3g}); not writing an artifact that computes something else")
            self._float_onnx, self._onnx_difference = model_bytes, difference
        return self._float_onnx

    def int8_onnx(self) -> tuple[bytes, dict[str, Any]]:
        """int8 QDQ ONNX: tf2onnx of the QAT model, or onnxruntime's static quantization of the float model.

        Both are made when there is a QAT model, and the one more accurate on the validation split is
        kept (on a tie, the smaller file). tf2onnx keeps the ranges QAT learned, but writes the weights
        in float with QuantizeLinear/DequantizeLinear after them (a float-sized file); onnxruntime's
        post-training calibration stores int8 weights (a quarter of the size) but fits its ranges to the
        representative samples only. Which wins depends on the model, so we measure instead of assuming
        (a regression keeps the lower validation MAE);
        the test split is not used for the choice, so it stays an honest estimate.
        """
        from edgekit.export.onnx import OnnxRunner, convert_onnx, qdq_node_count, quantize_onnx_static

        candidates = {"ort-static": quantize_onnx_static(self.float_onnx(), self.representative)}
        if self.qat_model is not None:
            candidates["tf2onnx-qat"] = convert_onnx(self.qat_model, self.opset)
        details: dict[str, Any] = {}
        if len(candidates) == 1 or not self.data.size("val"):
            method = "tf2onnx-qat" if "tf2onnx-qat" in candidates else "ort-static"
        elif self.task is Task.REGRESSION:
            errors = {name: float(np.mean(np.abs(np.subtract(*predict(OnnxRunner(model_bytes), self.data, "val")))))
                      for name, model_bytes in candidates.items()}
            method = min(candidates, key=lambda name: (errors[name], len(candidates[name])))
            details["val_mae_by_method"] = errors
        else:
            scores = {name: float(np.mean(np.equal(*classify(OnnxRunner(model_bytes), self.data, "val"))))
                      for name, model_bytes in candidates.items()}
            method = max(candidates, key=lambda name: (scores[name], -len(candidates[name])))
            details["val_accuracy_by_method"] = scores
        model_bytes = candidates[method]
        source = "qat" if method == "tf2onnx-qat" else self.float_stage
        return model_bytes, {"source": source, "method": method, "qdq_nodes": qdq_node_count(model_bytes), **details}


EXPORT = StageSpec(
    name="export", run=export_stage, output=ExportOutput, upstream=("data", "train", "prune", "qat"),
    # int8_recovery shapes the diagnose stage only: changing it must not export again.
    reads=("export", "name", "data.seed", "model"), ignores=("export.int8_recovery",), inputs=("tools",))
