"""How the user's model enters a build: which Keras 3 models may take the converter path, the samples a Keras 3
model and its tf_keras rebuild are compared on, and the converter path's train stage (which does not train)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgekit import console
from edgekit.data.base import Splits
from edgekit.pipeline.context import BuildContext


def converter_allowed(ctx: BuildContext) -> bool:
    """A Keras 3 model that cannot be rebuilt in tf_keras may go to the converters only when nothing needs tfmot."""
    return not (ctx.config.prune.enabled or ctx.config.qat.enabled)


# Validation samples the Keras 3 model and its tf_keras rebuild are compared on.
CHECK_SAMPLES = 256


def check_samples(data: Splits, seed: int) -> np.ndarray:
    """Up to CHECK_SAMPLES validation samples (training samples when the validation split is empty)."""
    if data.size("val"):
        samples, _ = next(iter(data.batches("val", CHECK_SAMPLES)))
        return np.asarray(samples, dtype=np.float32)
    return np.asarray(data.representative_samples(CHECK_SAMPLES, seed), dtype=np.float32)


def take_as_given(ctx: BuildContext, intake, path: Path) -> dict[str, Any]:
    """The converter path: the Keras 3 model is saved (by Keras 3) as the dense artifact, untrained.

    edgekit trains only tf_keras models (Keras 3's own training beside TensorFlow 2.21 cannot compile its
    metrics), so a Keras 3 model it cannot rebuild is taken as already trained.
    """
    from edgekit.config.schema import Task
    from edgekit.models import outputs_probabilities
    from edgekit.pipeline.prune import measure_sparsity
    from edgekit.pipeline.training import HISTORY_KEYS, REGRESSION_HISTORY_KEYS

    task = ctx.results.data.output.task
    model3 = intake.keras3_model
    model3.save(path)
    ctx.memo["dense"] = intake.model
    console.warn(f"train: skipped: the Keras 3 model is taken as trained (train.epochs {ctx.config.train.epochs} "
                 f"is not used on the converter path)")
    keys = REGRESSION_HISTORY_KEYS if task is Task.REGRESSION else HISTORY_KEYS
    return {"history": {key: [] for key in keys}, "precision": "float32",
            "precision_reason": "the Keras 3 model is exported as given (converter path)",
            "distribute": ctx.distribution.record(), "kernel_sparsity": measure_sparsity(model3)["overall"],
            "parameters": int(model3.count_params()), "from_logits": task is Task.CLASSIFICATION and not outputs_probabilities(model3),
            "model_name": model3.name, "file": path.name, "model_source": intake.record, "task": task.value}
