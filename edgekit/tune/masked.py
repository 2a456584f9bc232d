"""Rung 0's pruning, in memory: each sparsity of a training group scored without a build folder of its own.

Rung 0 only ranks build folders (docs/tune.md, "How it searches"): which ones are worth training in full. The
prune stage would wrap the model in tfmot's pruning layers, compile and trace it again, save it, and the export
and evaluate stages would convert and run a file, for every sparsity of every width: on the bench's MobileNetV2
the prune stage takes 31-44 s for one epoch on 280 images (about 20 s of it tracing tfmot's wrapped step) and
the export 10-16 s. Here one compiled copy of the
training group's dense model is fine-tuned under magnitude masks, once per sparsity (its weights and optimizer
reset in between, so the traced training step is reused; when the group was trained in this process, that
copy is the train stage's own compiled model, whose step is traced already), and scored on the test split in
Keras.

The masks follow tfmot's algorithm: per layer, the same layers the prune stage prunes (its `exclude` too), the
smallest-magnitude weights zeroed on the same schedule (edgekit.pipeline.prune.pruning_steps: PolynomialDecay
up to the target for unstructured sparsity, 2 of every 4 weights along the input channels for 2:4, updated
every `frequency` steps); the masked weights are kept at zero after every optimizer step. The difference from
the prune stage: the masks are applied after each step instead of inside the layer's call, and the score is the
float model's (Keras), not a file's. Size and latency at rung 0 are the structure probe's, which do not depend on
the weights (edgekit.tune.probe).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgekit import console
from edgekit.config.schema import PruneConfig, PruneStructure
from edgekit.pipeline.context import BuildContext

# Weights of these names are what tfmot prunes in Conv2D, DepthwiseConv2D and Dense layers.
KERNEL_NAMES = ("kernel", "depthwise_kernel")
TWO_FOUR_BLOCK, TWO_FOUR_KEPT = 4, 2


@dataclass(frozen=True)
class Ranked:
    """One sparsity of a training group, scored: its test accuracy, the kernel sparsity reached, and what the
    fine-tune and the scoring took."""

    accuracy: float
    sparsity: float
    prune_seconds: float
    evaluate_seconds: float
    test_samples: int


def magnitude_mask(weights: np.ndarray, sparsity: float) -> np.ndarray:
    """1 for the weights kept: the largest-magnitude `1 - sparsity` of them (ties kept)."""
    keep = int(round(weights.size * (1.0 - sparsity)))
    if keep >= weights.size:
        return np.ones_like(weights)
    if keep <= 0:
        return np.zeros_like(weights)
    magnitudes = np.abs(weights).ravel()
    threshold = np.partition(magnitudes, weights.size - keep)[weights.size - keep]
    return (np.abs(weights) >= threshold).astype(weights.dtype)


def two_four_mask(weights: np.ndarray) -> np.ndarray:
    """1 for the 2 largest-magnitude weights of every 4 consecutive input channels (tfmot's grouping: axis -2 of
    a Conv2D kernel, axis 0 of a Dense one); a last partial group keeps its 2 largest too."""
    moved = np.moveaxis(weights, -2, -1)  # input channels last
    rows = moved.reshape(-1, moved.shape[-1])
    pad = (-rows.shape[1]) % TWO_FOUR_BLOCK
    magnitudes = np.pad(np.abs(rows), ((0, 0), (0, pad)), constant_values=-1.0)  # padding is never kept
    blocks = magnitudes.reshape(rows.shape[0], -1, TWO_FOUR_BLOCK)
    order = np.argsort(-blocks, axis=-1, kind="stable")[..., :TWO_FOUR_KEPT]
    mask = np.zeros_like(blocks)
    np.put_along_axis(mask, order, 1.0, axis=-1)
    mask = mask.reshape(rows.shape[0], -1)[:, :rows.shape[1]] * (magnitudes[:, :rows.shape[1]] >= 0)
    return np.moveaxis(mask.reshape(moved.shape), -1, -2).astype(weights.dtype)


def polynomial_sparsity(target: float, step: int, begin: int, end: int) -> float:
    """tfmot's PolynomialDecay (power 3) from 0 to `target` between `begin` and `end`."""
    if end <= begin:
        return target
    progress = min(1.0, max(0.0, (step - begin) / (end - begin)))
    return target * (1.0 - (1.0 - progress) ** 3)


class MaskedPruning:
    """A training group's dense model (from a finished train stage), pruned and scored per sparsity in memory."""

    def __init__(self, ctx: BuildContext, *, after_build: bool = False):
        """`ctx`: a context whose data and train stages have run. `after_build`: its later stages ran too (a full
        build's context): prune and QAT wrap the model's own layers, so its weights are put back from the train
        stage's file."""
        from edgekit.pipeline.stages.common import build_task, dataset, load_keras

        self.ctx = ctx
        self.data = dataset(ctx)
        self.task = build_task(ctx)
        self.dense = load_keras(ctx, "train", "dense")
        if after_build and any(name in ctx.results for name in ("prune", "qat", "diagnose")):
            from edgekit._tf import keras

            train = ctx.results.train
            self.dense.set_weights(keras().models.load_model(train.path(train.output.file), compile=False)
                                   .get_weights())
        self.weights = self.dense.get_weights()
        self._model = None  # the compiled copy pruning fine-tunes, made on first use

    def score(self, prune: PruneConfig | None, epochs: int) -> Ranked:
        """The model pruned as `prune` says (None: dense, not fine-tuned) over `epochs`, and its test accuracy.

        Raises:
            EdgekitError: the model cannot be pruned (a Keras 3 model taken as given, on the converter path).
        """
        from edgekit.pipeline.evaluate import score_all
        from edgekit.export.runners import keras_runner
        from edgekit.pipeline.prune import measure_sparsity, prunable_layer_names
        from edgekit.pipeline.stages.common import reestimate_batchnorm

        started = time.perf_counter()
        model, names = self.dense, []
        try:
            if prune is not None:
                model = self._trainable()
                self._reset()
                names = prunable_layer_names(model, prune)
                self._fine_tune(prune, names, epochs)
                reestimate_batchnorm(self.ctx, model, self.data, "rung 0")
            pruned = time.perf_counter()
            scores, _ = score_all({"keras": lambda: keras_runner(model)}, self.data, self.task)
            sparsity = measure_sparsity(model, names)["overall"] if names else 0.0
        finally:
            if prune is not None and self._model is self.dense:  # pruned in place (reuses_training_model)
                self.dense.set_weights(self.weights)  # the trained model as it was, for the dense score and others
        return Ranked(accuracy=scores["keras"]["accuracy"], sparsity=round(sparsity, 4),
                      prune_seconds=round(pruned - started, 3), evaluate_seconds=round(time.perf_counter() - pruned, 3),
                      test_samples=self.data.size("test"))

    def _trainable(self):
        if self._model is None:
            from edgekit.errors import EdgekitError
            from edgekit.pipeline.precision import make_optimizer
            from edgekit.pipeline.prune import copy_model
            from edgekit.pipeline.training import compile_classifier

            train = self.ctx.results.train.output
            if train.via_converter:
                raise EdgekitError("the model is a Keras 3 model taken as given: it cannot be pruned")
            if self.reuses_training_model:
                # The train stage's own model, compiled as below: its traced training step is reused (tracing
                # a MobileNetV2's step is most of a short fine-tune: 11 of the first epoch's 12 s, measured).
                self._model = self.dense
            else:
                self._model = copy_model(self.dense)
                compile_classifier(self._model, make_optimizer(self.ctx.config.train.learning_rate, "float32"),
                                   from_logits=train.from_logits, task=self.task)
        return self._model

    @property
    def reuses_training_model(self) -> bool:
        """Whether the dense model is the one the train stage just trained in this process (not read from the
        cache), compiled as a copy would be here: float32 (make_optimizer's Adam at the training's learning
        rate, compile_classifier's loss), no distribution strategy. Pruning then fine-tunes it in place, and
        `score` puts its weights back after each sparsity."""
        train = self.ctx.results.train
        return (not train.cached and train.output.precision == "float32" and self.ctx.distribution.strategy is None
                and getattr(self.dense, "optimizer", None) is not None
                and getattr(self.dense, "train_function", None) is not None)

    def _reset(self) -> None:
        """The dense weights back, and a fresh optimizer state (as a new compile would give)."""
        self._model.set_weights(self.weights)
        for variable in self._model.optimizer.variables:
            variable.assign(np.zeros(variable.shape, dtype=variable.dtype.as_numpy_dtype))

    def _fine_tune(self, prune: PruneConfig, names: list[str], epochs: int) -> None:
        from edgekit.pipeline.prune import pruning_steps, weight_name
        from edgekit.pipeline.training import draws_random_numbers, fit

        kernels = [weight for layer in self._model.layers if layer.name in names for weight in layer.weights
                   if weight_name(weight) in KERNEL_NAMES]
        steps = pruning_steps(self.data.size("train"), self.ctx.config.train.batch_size, epochs)
        callback = _mask_callback(kernels, prune, steps)
        fit(self._model, self.data, epochs=epochs, batch_size=self.ctx.config.train.batch_size,
            label=f"rung 0 prune {prune.structure.value} {prune.target_sparsity:g}", seed=self.ctx.seed,
            callbacks=[callback], clear_kernels=draws_random_numbers(self._model))
        console.info(f"  rung 0: {len(kernels)} kernels masked in memory")


def _mask_callback(kernels: list[Any], prune: PruneConfig, steps):
    """A Keras callback that updates the masks on tfmot's schedule and keeps the masked weights at zero."""
    from edgekit._tf import keras

    two_four = prune.structure is PruneStructure.TWO_FOUR

    class Masks(keras().callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.step = 0
            self.masks: list[np.ndarray] | None = None

        def on_train_batch_begin(self, batch, logs=None):
            # tfmot's UpdatePruningStep counts the steps before the batch; a mask is updated at begin, then
            # every `frequency` steps up to `end`.
            step = self.step
            if step <= steps.end_step and (step - steps.begin_step) % steps.frequency == 0:
                values = [kernel.numpy() for kernel in kernels]
                if two_four:
                    self.masks = [two_four_mask(value) for value in values]
                else:
                    target = polynomial_sparsity(prune.target_sparsity, step, steps.begin_step, steps.end_step)
                    self.masks = [magnitude_mask(value, target) for value in values]
                self._apply()
            self.step += 1

        def on_train_batch_end(self, batch, logs=None):
            self._apply()

        def _apply(self):
            for kernel, mask in zip(kernels, self.masks or []):
                kernel.assign(kernel.numpy() * mask)

    return Masks()
