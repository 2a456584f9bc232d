"""Mixed-precision variants of an int8 export, for when full int8 loses too much accuracy.

Two levers, both from TensorFlow's own quantizer, so the quantized part is calibrated and quantized exactly as
edgekit's int8 export is (same converter, same representative samples):

- keep ops in float: the converter's denylist (`QuantizationDebugOptions(denylisted_nodes=...)` and
  `QuantizationDebugger.get_nondebug_quantized_model()`); the ops are named by their output tensor, the name
  the per-layer error report uses. Their inputs are dequantized and their outputs quantized again around them.
- int16 activations with int8 weights ("16x8", `EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8`):
  every op stays integer, with 256 times finer activations. It cannot help an op whose weights are the problem.

The candidates come in the order of the per-layer error (worst op first): the worst 1, 2, 4, ... ops in float,
then 16x8. The caller evaluates each against the accuracy gate and stops at the first that holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from edgekit.errors import ExportError
from edgekit.export.quant_error import QuantErrorReport

# Candidates tried at most: each is converted, evaluated on the test split and profiled on the target.
MAX_CANDIDATES = 6
# An op whose RMSE/scale is below this only rounds (pure rounding gives 1/sqrt(12) = 0.29): keeping it in
# float cannot be what recovers the accuracy, so it is never a candidate.
ROUNDING_ONLY = 0.3


class RecoveryMethod(str, Enum):
    FLOAT_OPS = "float-ops"        # the converter's denylist: these ops stay float
    INT16_ACTIVATIONS = "16x8"     # int16 activations, int8 weights; every op integer


@dataclass
class CandidatePlan:
    """One mixed variant to try."""

    name: str
    method: RecoveryMethod
    float_ops: list[str] = field(default_factory=list)
    # Why these ops: their rank and RMSE/scale in the per-layer report.
    reasons: list[str] = field(default_factory=list)


def plan_candidates(report: QuantErrorReport, limit: int = MAX_CANDIDATES) -> list[CandidatePlan]:
    """The variants to try, in order: the worst 1, 2, 4, ... ops kept in float, then int16 activations."""
    ranked = [layer for layer in report.layers if layer.rmse_over_scale > ROUNDING_ONLY]
    plans = []
    count = 1
    while ranked and count <= len(ranked) and len(plans) < limit - 1:
        chosen = ranked[:count]
        plans.append(CandidatePlan(
            # Named as in the float model the variants are built from (QAT renames layers: quant_conv2d).
            name=f"float-{count}", method=RecoveryMethod.FLOAT_OPS,
            float_ops=[layer.reference_tensor or layer.tensor for layer in chosen],
            reasons=[f"#{rank} by per-layer error: {layer.op} RMSE/scale {layer.rmse_over_scale:.3g}, "
                     f"SNR {_snr(layer.snr_db)}" for rank, layer in enumerate(chosen, start=1)]))
        if count == len(ranked):
            break
        count = min(count * 2, len(ranked))
    plans.append(CandidatePlan(name="int16-activations", method=RecoveryMethod.INT16_ACTIVATIONS,
                               reasons=["every op integer, activations int16, weights int8"]))
    return plans[:limit]


def _snr(value) -> str:
    return "exact" if value is None else f"{value:.1f} dB"


class MixedBuilder:
    """Builds the candidates of one Keras model; calibrates once (the converter's slowest step). A context manager:
    leaving it deletes the model's saved copy."""

    def __init__(self, model, representative: np.ndarray):
        from edgekit.export.tflite import ConverterSource

        self.model = model
        self.source = ConverterSource(model)  # saved once for the calibration and the 16x8 conversion
        self.representative = representative
        self._debugger = None
        self._calibration_error: ExportError | None = None

    def __enter__(self) -> "MixedBuilder":
        return self

    def __exit__(self, *exc_info) -> None:
        self.source.close()

    def build(self, plan: CandidatePlan) -> bytes:
        """The .tflite bytes of `plan`.

        Raises:
            ExportError: the converter failed, or a named op is not in the model.
        """
        if plan.method is RecoveryMethod.INT16_ACTIVATIONS:
            return self._int16_activations()
        return self._with_float_ops(plan.float_ops)

    def _with_float_ops(self, names: list[str]) -> bytes:
        from edgekit._native import captured_stderr
        from edgekit._tf import tf

        debugger = self._calibrated()
        with captured_stderr() as log:
            try:
                # fully_quantize: the int8 ops' inputs and outputs are integer as in the full int8 export; the
                # model's own input and output stay float (the debugger's quantizer gives no int8 interface).
                debugger.options = tf().lite.experimental.QuantizationDebugOptions(denylisted_nodes=list(names),
                                                                                   fully_quantize=True)
                return debugger.get_nondebug_quantized_model()
            except Exception as error:  # the quantizer raises RuntimeError, ValueError, ConverterError
                detail = " / ".join(str(error).strip().splitlines()[-2:]) or log.tail()
        raise ExportError(f"int8 with {', '.join(names)} in float: the quantizer failed: {detail}")

    def _calibrated(self):
        if self._calibration_error is not None:
            raise self._calibration_error  # calibrating again would fail again, as slowly
        if self._debugger is None:
            from edgekit._native import captured_stderr
            from edgekit._tf import tf
            from edgekit.config.schema import Quantization
            from edgekit.export.tflite import make_converter

            converter = make_converter(self.source, Quantization.INT8, self.representative)
            samples = self.representative[:1]
            with captured_stderr() as log:
                try:
                    self._debugger = tf().lite.experimental.QuantizationDebugger(
                        converter=converter, debug_dataset=lambda: ([sample[np.newaxis]] for sample in samples))
                except Exception as error:
                    detail = " / ".join(str(error).strip().splitlines()[-2:]) or log.tail()
                    self._calibration_error = ExportError(f"int8 calibration for the mixed variants failed: {detail}")
                    raise self._calibration_error from None
        return self._debugger

    def _int16_activations(self) -> bytes:
        from edgekit._tf import tf
        from edgekit.config.schema import Quantization
        from edgekit.export.tflite import make_converter, run_converter

        converter = make_converter(self.source, Quantization.INT8, self.representative)
        converter.target_spec.supported_ops = [
            tf().lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        # Float input and output (quantized inside the model): targets take float32, int8 or uint8 interfaces,
        # not int16 ones, and the variant must be profiled there.
        converter.inference_input_type = tf().float32
        converter.inference_output_type = tf().float32
        return run_converter(converter, "16x8 (int16 activations)")
