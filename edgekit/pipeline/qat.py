"""The QAT stage: int8 quantization-aware training with tfmot; sparsity-preserving (PQAT) after pruning."""

from __future__ import annotations

import re
import warnings
from typing import Any

from edgekit._tf import keras, tfmot
from edgekit.config.schema import QatConfig, Task
from edgekit.config.yamlsource import did_you_mean
from edgekit.data.base import Splits
from edgekit.errors import ConfigError, QuantizationError
from edgekit.models.loading import rebuilding_in_memory
from edgekit.pipeline.precision import make_optimizer
from edgekit.pipeline.prune import copy_model, measure_sparsity
from edgekit.pipeline.training import compile_classifier, fit

_UNSUPPORTED = re.compile(r"Layer (?P<name>[^:\s]+):(?P<cls>\S+) is not supported")


def quantization_scheme(pruned: bool):
    """PQAT keeps the zeros of a pruned model through QAT; plain QAT would fill them in again."""
    if pruned:
        return tfmot().experimental.combine.Default8BitPrunePreserveQuantizeScheme()
    return tfmot().quantization.keras.default_8bit.Default8BitQuantizeScheme()


def unsupported_layers(model, exclude: list[str]) -> list[str]:
    """'name (Class)' of every layer tfmot's 8-bit scheme cannot quantize and `exclude` does not name."""
    tfmot()
    # Not re-exported by tfmot's public API; it is the table quantize_apply consults.
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit.default_8bit_quantize_registry \
        import Default8BitQuantizeRegistry

    registry = Default8BitQuantizeRegistry()
    return [f"{layer.name} ({type(layer).__name__})" for layer in model.layers
            if layer.name not in exclude and not isinstance(layer, keras().layers.InputLayer)
            and not registry.supports(layer)]


def quantize_aware_model(model, config: QatConfig, *, pruned: bool):
    """`model` wrapped with fake-quantization (a copy; `model` is not modified).

    Raises:
        ConfigError: qat.exclude names a layer the model does not have.
        QuantizationError: a layer tfmot cannot quantize, naming it and what to do.
    """
    names = [layer.name for layer in model.layers]
    for name in config.exclude:
        if name not in names:
            raise ConfigError(f"qat.exclude names layer '{name}', which the model does not have"
                              f"{did_you_mean(name, names)}; its layers: {', '.join(names)}")
    blocked = unsupported_layers(model, config.exclude)
    if blocked:
        raise _unsupported_error(blocked)
    quantization = tfmot().quantization.keras
    private = copy_model(model)

    def annotate(layer):
        if layer.name in config.exclude or isinstance(layer, keras().layers.InputLayer):
            return layer
        return quantization.quantize_annotate_layer(layer)

    annotated = keras().models.clone_model(private, clone_function=annotate)
    try:
        with quantization.quantize_scope(), rebuilding_in_memory():
            return quantization.quantize_apply(annotated, quantization_scheme(pruned))
    except (RuntimeError, ValueError) as error:
        match = _UNSUPPORTED.search(str(error))
        if match is None:
            raise
        raise _unsupported_error([f"{match['name']} ({match['cls'].rsplit('.', 1)[-1].rstrip(chr(39) + '>')})"]) \
            from None


def _unsupported_error(layers: list[str]) -> QuantizationError:
    names = ", ".join(layers)
    first = layers[0].split(" ")[0]
    return QuantizationError(
        f"quantization-aware training cannot quantize layer {names}: tfmot's int8 scheme has no rule for it. "
        f"Add it to qat.exclude (e.g. `exclude: [{first}]`) to keep it in float during QAT, or set qat.enabled: false"
    )


def train_quantization_aware(model, data: Splits, config: QatConfig, *, pruned_layers: list[str],
                             batch_size: int, learning_rate: float, from_logits: bool, seed: int,
                             task: Task = Task.CLASSIFICATION) -> tuple[Any, dict[str, Any]]:
    """QAT fine-tuning of `model`; returns the QAT model (with fake-quant wrappers) and its history.

    Runs in float32: the fake-quantization ranges are float32 variables, and tfmot's wrappers are
    neither documented nor tested under mixed precision policies.
    """
    pruned = bool(pruned_layers)
    qat_model = quantize_aware_model(model, config, pruned=pruned)
    compile_classifier(qat_model, make_optimizer(learning_rate, "float32"), from_logits=from_logits, task=task)
    history = fit(qat_model, data, epochs=config.epochs, batch_size=batch_size, label="qat", seed=seed)
    info = {"history": history, "scheme": "pqat" if pruned else "qat", "excluded": list(config.exclude),
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
