"""Untrained models as .tflite files for the artifacts and profiler parts, converted with edgekit's exporter.

Size of a float file and latency do not depend on training; gzip sizes do (trained weights compress
differently), which is why the artifacts part takes the digits CNN from real edgekit builds instead.
Files are kept in build/bench-models/ and reused while the recipe (model, quantization, sparsity,
calibration samples, tool versions) is unchanged: converting MobileNetV2 takes tens of seconds here.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from benchsuite import support

# Kept between runs (build/ is ignored by git); delete it to convert again.
FOLDER = support.ROOT / "build" / "bench-models"
# name -> (edgekit builtin, input shape); 10 classes each.
MODELS = {"mobilenet_v2": ("mobilenet_v2", (224, 224, 3)), "digits_cnn": ("small_cnn", (8, 8, 1))}
NUM_CLASSES = 10
CALIBRATION_SAMPLES = 16
# Pruning an untrained model needs no learning: a few optimizer steps of random data, with masks
# updated at every step, so the schedule reaches its target at the last one.
PRUNE_STEPS = 4
PRUNE_BATCH = 4


def keras_model(name: str):
    """The untrained Keras model (seeded)."""
    from edgekit._tf import keras
    from edgekit.models import zoo

    builtin, shape = MODELS[name]
    keras().utils.set_random_seed(0)
    return getattr(zoo, builtin)(shape, NUM_CLASSES, 1.0)


def random_inputs(name: str, count: int, seed: int = 0) -> np.ndarray:
    """Inputs in [0, 1), the range edgekit's preprocessing gives images."""
    return np.random.default_rng(seed).uniform(0.0, 1.0, size=(count, *MODELS[name][1])).astype(np.float32)


def prune_untrained(model, sparsity: float, name: str):
    """`model` magnitude-pruned to `sparsity` with tfmot (PolynomialDecay reaching it at the last step),
    wrappers stripped. Returns (model, measured kernel sparsity)."""
    from edgekit._tf import keras, tfmot
    from edgekit.pipeline.prune import measure_sparsity

    sparsity_api = tfmot().sparsity.keras
    schedule = sparsity_api.PolynomialDecay(initial_sparsity=0.0, final_sparsity=sparsity, begin_step=0,
                                            end_step=PRUNE_STEPS, frequency=1)
    wrapped = sparsity_api.prune_low_magnitude(model, pruning_schedule=schedule)  # shares `model`'s weights
    # Learning rate 0: the masks follow the untrained weights' magnitudes, nothing else changes.
    wrapped.compile(optimizer=keras().optimizers.SGD(learning_rate=0.0),
                    loss=keras().losses.SparseCategoricalCrossentropy())
    x = random_inputs(name, PRUNE_STEPS * PRUNE_BATCH, seed=1)
    y = np.random.default_rng(1).integers(0, NUM_CLASSES, len(x))
    wrapped.fit(x, y, batch_size=PRUNE_BATCH, epochs=1, shuffle=False, verbose=0,
                callbacks=[sparsity_api.UpdatePruningStep()])
    stripped = sparsity_api.strip_pruning(wrapped)
    return stripped, measure_sparsity(stripped)["overall"]


def _recipe(name: str, quantization: str, sparsity: float) -> dict:
    from edgekit._tf import tool_versions

    return {"model": name, "quantization": quantization, "sparsity": sparsity, "calibration": CALIBRATION_SAMPLES,
            "prune_steps": PRUNE_STEPS, "tools": tool_versions()}


def tflite_files(name: str, variants: list[tuple[str, float]]) -> dict[tuple[str, float], dict]:
    """The .tflite of `name` for each (quantization, sparsity); converted once, then reused.

    Returns:
        {(quantization, sparsity): {"path", "sparsity" (measured), "reused"}}
    """
    FOLDER.mkdir(parents=True, exist_ok=True)
    files: dict[tuple[str, float], dict] = {}
    models: dict[float, tuple] = {}
    for quantization, sparsity in variants:
        recipe = _recipe(name, quantization, sparsity)
        digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]
        stem = f"{name}-{'dense' if not sparsity else f'pruned{int(sparsity * 100)}'}-{quantization}"
        path, stamp = FOLDER / f"{stem}.tflite", FOLDER / f"{stem}.json"
        if path.exists() and stamp.exists() and json.loads(stamp.read_text()).get("digest") == digest:
            files[(quantization, sparsity)] = {"path": path, "sparsity": json.loads(stamp.read_text())["measured"],
                                               "reused": True}
            continue
        if sparsity not in models:
            support.note(f"models: building {name}" + (f", pruning to {sparsity:.0%}" if sparsity else ""))
            model = keras_model(name)
            models[sparsity] = prune_untrained(model, sparsity, name) if sparsity else (model, 0.0)
        model, measured = models[sparsity]
        support.note(f"models: converting {stem}")
        path.write_bytes(convert(model, quantization, name))
        stamp.write_text(json.dumps({"digest": digest, "recipe": recipe, "measured": measured}))
        files[(quantization, sparsity)] = {"path": path, "sparsity": measured, "reused": False}
    return files


def convert(model, quantization: str, name: str) -> bytes:
    """edgekit's TFLite exporter, calibrated (int8) on random inputs."""
    from edgekit.config.schema import Quantization
    from edgekit.export.tflite import convert_tflite

    return convert_tflite(model, Quantization(quantization), random_inputs(name, CALIBRATION_SAMPLES))
