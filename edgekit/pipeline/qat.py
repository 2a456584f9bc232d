"""The QAT stage: int8 quantization-aware training with tfmot; sparsity-preserving (PQAT) after pruning."""

from __future__ import annotations

import warnings
from typing import Any

from edgekit import console
from edgekit._tf import keras, tfmot
from edgekit.config.schema import QatConfig, Task, UnsupportedLayers
from edgekit.config.yamlsource import did_you_mean
from edgekit.data.base import Splits
from edgekit.errors import ConfigError, QuantizationError
from edgekit.pipeline.precision import make_optimizer
from edgekit.pipeline.prune import measure_sparsity
from edgekit.pipeline.qat_layers import (ConsistentScheme, QuantizationPlan, apply_plan, describe_classes,
                                         plan_quantization)
from edgekit.pipeline.training import compile_classifier, fit


def quantization_scheme(pruned: bool):
    """PQAT keeps the zeros of a pruned model through QAT; plain QAT would fill them in again."""
    if pruned:
        return ConsistentScheme(tfmot().experimental.combine.Default8BitPrunePreserveQuantizeScheme())
    return ConsistentScheme(tfmot().quantization.keras.default_8bit.Default8BitQuantizeScheme())


def quantize_aware_model(model, config: QatConfig, *, pruned: bool) -> tuple[Any, QuantizationPlan]:
    """`model` wrapped with fake-quantization (a copy; `model` is not modified), and which layers are.

    Whether a layer can be quantized is decided by tfmot itself, after its transforms (which give every
    BatchNormalization after a convolution its config). With qat.unsupported: float, the layers it has no
    rule for stay float during QAT and the int8 converter calibrates them.

    Raises:
        ConfigError: qat.exclude names a layer the model does not have.
        QuantizationError: qat.unsupported is fail and tfmot cannot quantize some layers (named once per
            class, with what to do), or no layer is left to quantize.
    """
    names = [layer.name for layer in model.layers]
    for name in config.exclude:
        if name not in names:
            raise ConfigError(f"qat.exclude names layer '{name}', which the model does not have"
                              f"{did_you_mean(name, names)}; its layers: {', '.join(names)}")
    scheme = quantization_scheme(pruned)
    plan = plan_quantization(model, config.exclude, scheme)
    if plan.unsupported and config.unsupported is UnsupportedLayers.FAIL:
        raise _unsupported_error(plan.unsupported)
    if not plan.quantized:
        raise QuantizationError("quantization-aware training has no layer left to quantize: tfmot has no rule for "
                                f"{describe_classes(plan.unsupported) or 'any of them'}"
                                f"{' and qat.exclude names the rest' if plan.excluded else ''}; "
                                "set qat.enabled: false (int8 is then calibrated post-training)")
    try:
        return apply_plan(model, plan, scheme)
    except (RuntimeError, ValueError) as error:
        raise QuantizationError(f"tfmot could not prepare the model for quantization-aware training: "
                                f"{type(error).__name__}: {error}; set qat.enabled: false to calibrate int8 "
                                "post-training instead") from None


def _unsupported_error(unsupported: dict[str, list[str]]) -> QuantizationError:
    count = sum(len(names) for names in unsupported.values())
    return QuantizationError(
        f"quantization-aware training cannot quantize {count} layer{'s' if count != 1 else ''}: "
        f"{describe_classes(unsupported)}: tfmot's int8 scheme has no rule for "
        f"{'these classes' if len(unsupported) > 1 else 'this class'}. Set qat.unsupported: float to keep them "
        "float during QAT (the int8 converter calibrates them with the representative samples), or set "
        "qat.enabled: false"
    )


def layer_record(plan: QuantizationPlan, model) -> dict[str, Any]:
    """What the manifest says about QAT's layers: those trained quantization-aware and those only calibrated."""
    classes = {layer.name: type(layer).__name__ for layer in model.layers}
    calibrated = [{"name": name, "class": cls, "reason": "no tfmot rule"}
                  for cls, names in plan.unsupported.items() for name in names]
    calibrated += [{"name": name, "class": classes.get(name, "?"), "reason": "qat.exclude"} for name in plan.excluded]
    return {"quantization_aware": list(plan.quantized), "calibrated_only": calibrated}


def train_quantization_aware(model, data: Splits, config: QatConfig, *, pruned_layers: list[str],
                             batch_size: int, learning_rate: float, from_logits: bool, seed: int,
                             task: Task = Task.CLASSIFICATION) -> tuple[Any, dict[str, Any]]:
    """QAT fine-tuning of `model`; returns the QAT model (with fake-quant wrappers) and its history.

    Runs in float32: the fake-quantization ranges are float32 variables, and tfmot's wrappers are
    neither documented nor tested under mixed precision policies.
    """
    pruned = bool(pruned_layers)
    qat_model, plan = quantize_aware_model(model, config, pruned=pruned)
    if plan.unsupported:
        console.info(f"  qat: left float during QAT (no tfmot rule; the int8 converter calibrates them): "
                     f"{describe_classes(plan.unsupported)}")
    compile_classifier(qat_model, make_optimizer(learning_rate, "float32"), from_logits=from_logits, task=task)
    history = fit(qat_model, data, epochs=config.epochs, batch_size=batch_size, label="qat", seed=seed)
    info = {"history": history, "scheme": "pqat" if pruned else "qat", "excluded": list(config.exclude),
            "layers": layer_record(plan, model),
            "kernel_sparsity": measure_sparsity(qat_model)["overall"]}
    if pruned_layers:
        # What PQAT is for: the pruned layers keep their zeros through QAT.
        info["sparsity_pruned_layers"] = measure_sparsity(qat_model, pruned_layers)["overall"]
    return qat_model, info


def save_qat_model(model, path) -> None:
    """Save a QAT model (its wrappers need tfmot's custom objects to load again)."""
    with tfmot().quantization.keras.quantize_scope(), warnings.catch_warnings():
        # HDF5 on purpose (see stages.qat_stage); Keras warns that the format is legacy.
        warnings.filterwarnings("ignore", message=".*HDF5 file.*")
        model.save(path, include_optimizer=False)  # HDF5 takes this flag; .keras does not


def load_qat_model(path):
    """Load a model written by `save_qat_model`."""
    with tfmot().quantization.keras.quantize_scope():
        return keras().models.load_model(path, compile=False)
