"""What train, prune and QAT share: compile, fit with a progress bar, and keep the history."""

from __future__ import annotations

from typing import Optional

import numpy as np

from edgekit import console
from edgekit.base import interrupts
from edgekit._tf import keras
from edgekit.config.schema import Task
from edgekit.data.base import Splits

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")
REGRESSION_HISTORY_KEYS = ("loss", "mae", "val_loss", "val_mae")


def compile_classifier(model, optimizer, *, from_logits: bool, task: Task = Task.CLASSIFICATION) -> None:
    """Sparse categorical cross-entropy on logits or on probabilities; for regression, mean squared error.

    `from_logits` is decided once on the plain model (`outputs_probabilities`): pruning and
    quantization wrappers hide the output layer's activation. A regression ignores it.
    """
    if task is Task.REGRESSION:
        model.compile(optimizer=optimizer, loss=keras().losses.MeanSquaredError(), metrics=["mae"])
        return
    loss = keras().losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])


def fit(model, data: Splits, *, epochs: int, batch_size: int, label: str,
        callbacks: Optional[list] = None, seed: int = 0, clear_kernels: bool = True) -> dict[str, list[float]]:
    """Train `model` on the training split, validating each epoch; returns the history per epoch.

    `clear_kernels`: see seed_everything (False only where the model's traced step is reused and draws no random
    numbers)."""
    with console.steps(f"{label}: epoch", epochs) as progress:
        bar = epoch_progress_callback(progress, label)
        seed_everything(seed, clear_kernels=clear_kernels)
        history = model.fit(**data.fit_arguments(batch_size, seed), epochs=epochs, verbose=0,
                            callbacks=[*(callbacks or []), bar])
    metric = "mae" if "mae" in history.history else "accuracy"
    keys = REGRESSION_HISTORY_KEYS if metric == "mae" else HISTORY_KEYS
    result = {key: [float(value) for value in history.history.get(key, [])] for key in keys}
    name = "MAE" if metric == "mae" else "accuracy"
    summary = f"{label}: {name} {result[metric][-1]:.4f}"
    if result[f"val_{metric}"]:
        summary += f", validation {name} {result[f'val_{metric}'][-1]:.4f}"
    console.info(f"  {summary}")
    return result


def seed_everything(seed: int, *, clear_kernels: bool = True) -> None:
    """Seed Python, NumPy, TensorFlow's global seed and Keras' seed generator (keras.utils.set_random_seed).

    TensorFlow's set_seed also clears the eager kernel cache, so that stateful random kernels (dropout's, noise
    layers') start their sequences again; it also makes every function traced already be instantiated (and
    optimized by grappler) again on its next call: 4-5 s for the training step of a MobileNetV2 on this project's
    machine, paid by every fit of a model whose step is traced already. With `clear_kernels` False the same seeds
    are set without that (the data order is the same: tf.data takes its shuffle seed from the global seed); only
    for a model whose training step draws no random numbers (draws_random_numbers), where the kernels hold no
    state to start again. Where this TensorFlow has no eager context seed to set, it seeds as set_random_seed.
    """
    import random

    from tensorflow.python.eager import context

    eager = context.context()
    if clear_kernels or not (hasattr(eager, "_set_global_seed") and hasattr(eager, "_seed")):
        keras().utils.set_random_seed(seed)
        return
    from tf_keras.src import backend

    random.seed(seed)
    np.random.seed(seed)
    eager._seed, eager._rng = seed, random.Random(seed)  # context._set_global_seed less TFE_ContextClearCaches
    backend._SEED_GENERATOR.generator = random.Random(seed)


def draws_random_numbers(model) -> bool:
    """Whether a training step of `model` may draw random numbers: one of its layers (nested ones too) is of
    tf_keras' random kinds (BaseRandomLayer: dropout, noise, random augmentation), a Lambda, a TensorFlow op
    layer of a random op, or a class from outside tf_keras (its call is not known); so is a model of such a
    class."""
    base = keras().__internal__.layers.BaseRandomLayer
    layers = [model, *(module for module in model.submodules if isinstance(module, keras().layers.Layer))]
    for layer in layers:
        kind = type(layer)
        if isinstance(layer, base) or not kind.__module__.startswith("tf_keras.") or kind.__name__ == "Lambda":
            return True
        if kind.__name__ == "TFOpLambda" and "random" in str(layer.get_config().get("function", "")):
            return True
    return False


def steps_per_epoch(samples: int, batch_size: int) -> int:
    """Batches Keras runs per epoch (the last one may be partial)."""
    return int(np.ceil(samples / batch_size))


def epoch_timer_callback():
    """A Keras callback whose `seconds` lists each epoch's wall time (the first one includes tracing).

    edgekit tune reads the train stage's list to tell what a shorter training would cost
    (edgekit.tune.rung0.rung0_epochs_by_cost).
    """
    import time

    class EpochTimer(keras().callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds: list[float] = []
            self._began = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self._began = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(round(time.perf_counter() - self._began, 3))

    return EpochTimer()


def epoch_progress_callback(progress, label: str):
    """A Keras callback that advances `progress` after each epoch and shows the latest accuracies.

    The class is made on first use: tf_keras must not be imported when this module is.
    """

    class EpochProgress(keras().callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            interrupts.check()  # a Ctrl-C that a finalizer swallowed (edgekit.base.interrupts)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            metric, short = ("mae", "MAE") if "mae" in logs else ("accuracy", "acc")
            text = f"{label}: epoch {epoch + 1}, {short} {logs.get(metric, float('nan')):.3f}"
            if f"val_{metric}" in logs:
                text += f", val {logs[f'val_{metric}']:.3f}"
            progress.advance(description=text)

    return EpochProgress()
