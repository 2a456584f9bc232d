"""The prune stage: tfmot magnitude pruning with a schedule computed from the data, then the wrappers stripped."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edgekit import console
from edgekit._tf import keras, tfmot
from edgekit.config.schema import PruneConfig, PruneStructure, Task
from edgekit.data.base import Splits
from edgekit.errors import ConfigError
from edgekit.pipeline.precision import make_optimizer
from edgekit.pipeline.training import compile_classifier, fit, steps_per_epoch
from edgekit.config.yamlsource import did_you_mean
from edgekit.models.loading import rebuilding_in_memory

# Sparsity ramps up over this share of the pruning steps; the rest fine-tunes at the target.
RAMP_FRACTION = 0.7
# Number of mask updates on the ramp. tfmot's default (one every 100 steps) never fires on a small
# data set, so the model would come out dense while the config says 50%.
MASK_UPDATES = 10
# tfmot's 2:4 masks are defined on Dense and Conv2D kernels (input-channel groups of 4).
TWO_FOUR_LAYERS = ("Dense", "Conv2D")


@dataclass(frozen=True)
class PruningSteps:
    """When the pruning masks are updated, in optimizer steps counted from 1."""

    begin_step: int
    end_step: int
    frequency: int
    total_steps: int


def pruning_steps(samples: int, batch_size: int, epochs: int) -> PruningSteps:
    """A schedule that really reaches the target: its last mask update falls on `end_step`, within training.

    tfmot updates a mask when `begin <= step <= end` and `(step - begin) % frequency == 0`, and the
    sparsity reaches its final value only at `end`; so `end` is made a multiple of `frequency`.
    """
    total = steps_per_epoch(samples, batch_size) * epochs
    end = max(1, int(total * RAMP_FRACTION))
    frequency = max(1, end // MASK_UPDATES)
    end = max(frequency, (end // frequency) * frequency)
    return PruningSteps(begin_step=0, end_step=end, frequency=frequency, total_steps=total)


def prunable_layer_names(model, config: PruneConfig) -> list[str]:
    """Layers that get pruned: those with prunable weights, minus `exclude`.

    Raises:
        ConfigError: `exclude` names a layer the model does not have.
    """
    names = [layer.name for layer in model.layers]
    for name in config.exclude:
        if name not in names:
            raise ConfigError(f"prune.exclude names layer '{name}', which the model does not have"
                              f"{did_you_mean(name, names)}; its layers: {', '.join(names)}")
    tfmot()  # imports TensorFlow first, with legacy Keras
    # The registry is not re-exported by tfmot's public API; it is the table prune_low_magnitude itself consults.
    from tensorflow_model_optimization.python.core.sparsity.keras.prune_registry import PruneRegistry as registry
    chosen = []
    for layer in model.layers:
        if layer.name in config.exclude:
            continue
        if config.structure is PruneStructure.TWO_FOUR and type(layer).__name__ not in TWO_FOUR_LAYERS:
            continue
        if registry.supports(layer) and registry.make_prunable(layer).get_prunable_weights():
            chosen.append(layer.name)
    return chosen


def prune_model(model, data: Splits, config: PruneConfig, *, batch_size: int, learning_rate: float,
                from_logits: bool, seed: int, task: Task = Task.CLASSIFICATION) -> tuple[Any, dict[str, Any]]:
    """Prune and fine-tune `model` (not modified) with `task`'s loss; returns the stripped model and what happened.

    Returns:
        (model, info) where info has "history", "schedule", "sparsity" (overall and per layer).
    """
    sparsity_api = tfmot().sparsity.keras
    steps = pruning_steps(data.size("train"), batch_size, config.epochs)
    to_prune = set(prunable_layer_names(model, config))
    if config.structure is PruneStructure.TWO_FOUR:
        schedule = sparsity_api.ConstantSparsity(0.5, begin_step=steps.begin_step, end_step=steps.end_step,
                                                 frequency=steps.frequency)
        extra = {"sparsity_m_by_n": (2, 4)}
    else:
        schedule = sparsity_api.PolynomialDecay(initial_sparsity=0.0, final_sparsity=config.target_sparsity,
                                                begin_step=steps.begin_step, end_step=steps.end_step,
                                                frequency=steps.frequency)
        extra = {}

    def wrap(layer):
        if layer.name in to_prune:
            return sparsity_api.prune_low_magnitude(layer, pruning_schedule=schedule, **extra)
        return layer

    # The wrappers share their layers' weights, so they wrap a private copy: the input model stays as it was.
    private = copy_model(model)
    copy = keras().models.clone_model(private, clone_function=wrap)
    compile_classifier(copy, make_optimizer(learning_rate, "float32"), from_logits=from_logits, task=task)
    history = fit(copy, data, epochs=config.epochs, batch_size=batch_size, label="prune", seed=seed,
                  callbacks=[sparsity_api.UpdatePruningStep()])
    stripped = sparsity_api.strip_pruning(copy)
    sparsity = measure_sparsity(stripped, sorted(to_prune))
    sparsity.update(target=config.target_sparsity, structure=config.structure.value)
    console.info(f"  prune: sparsity {sparsity['overall']:.4f} (target {config.target_sparsity}) "
                 f"over {len(to_prune)} layers")
    return stripped, {"history": history, "schedule": asdict(steps), "sparsity": sparsity}


def copy_model(model):
    """A new model with the same architecture and a copy of the weights."""
    with rebuilding_in_memory():
        copy = keras().models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def measure_sparsity(model, layer_names: list[str] | None = None) -> dict[str, Any]:
    """Fraction of exactly-zero kernel weights, per layer and over all of them together.

    Args:
        model: a plain, pruning-wrapped or QAT-wrapped model (wrappers are looked through).
        layer_names: the layers to measure (names of the plain layers); None for every layer with a kernel.
    """
    kernels = {}
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)  # PruneLowMagnitude and QuantizeWrapper keep the layer in .layer
        # A QuantizeWrapper takes over its layer's kernel variable, so look at the wrapper's weights too.
        kernel = _kernel(inner)
        if kernel is None:
            kernel = _kernel(layer)
        if kernel is not None:
            kernels[inner.name] = kernel
    per_layer: dict[str, float] = {}
    zeros = total = 0
    for name in (layer_names if layer_names is not None else list(kernels)):
        kernel = kernels.get(name)
        if kernel is None:
            continue
        layer_zeros = int(np.count_nonzero(kernel == 0))
        per_layer[name] = layer_zeros / kernel.size
        zeros += layer_zeros
        total += kernel.size
    return {"overall": zeros / total if total else 0.0, "layers": per_layer, "weights": total}


def weight_name(weight) -> str:
    """A variable's own name within its layer: "kernel" for "conv1/kernel:0"."""
    return weight.name.split("/")[-1].split(":")[0]


def _kernel(layer):
    for weight in layer.weights:
        if weight_name(weight) in ("kernel", "depthwise_kernel"):
            return weight.numpy()
    return None
