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
        callbacks: Optional[list] = None, seed: int = 0) -> dict[str, list[float]]:
    """Train `model` on the training split, validating each epoch; returns the history per epoch."""
    with console.steps(f"{label}: epoch", epochs) as progress:
        bar = epoch_progress_callback(progress, label)
        keras().utils.set_random_seed(seed)
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
