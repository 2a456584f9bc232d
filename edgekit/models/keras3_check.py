"""Checking a tf_keras rebuild of a Keras 3 model (edgekit.models.keras3): both models run on the same samples,
and where their outputs differ, the first layer that differs is named."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from edgekit._tf import keras as tf_keras
from edgekit.models.keras3 import keras3

# Rebuilt outputs must match the Keras 3 model's to this absolute difference: the same float32 arithmetic in
# the same order gives ~1e-7; a wrong axis, epsilon or activation gives 1e-2 and more.
KERAS3_TOLERANCE = 1e-4


@dataclass
class Comparison:
    """How far the tf_keras rebuild's outputs are from the Keras 3 model's."""

    max_abs_diff: float
    samples: int
    first_differing_layer: Optional[str] = None  # "name (Class)", when the outputs differ


def compare_outputs(model3, rebuilt, samples: np.ndarray, tolerance: float = KERAS3_TOLERANCE) -> Comparison:
    """Max abs difference of the two models' outputs on `samples`; above `tolerance`, the first top-level layer
    whose outputs differ is named too."""
    difference = _max_diff(_outputs(model3, samples), _outputs(rebuilt, samples))
    comparison = Comparison(max_abs_diff=difference, samples=int(len(samples)))
    if not difference <= tolerance:  # NaN counts as different
        comparison.first_differing_layer = _first_differing_layer(model3, rebuilt, samples, tolerance)
    return comparison


def _outputs(model, samples: np.ndarray, batch: int = 256) -> list[np.ndarray]:
    parts = []
    for start in range(0, len(samples), batch):
        result = model(samples[start:start + batch], training=False)
        result = result if isinstance(result, (list, tuple)) else [result]
        parts.append([np.asarray(tensor, dtype=np.float32) for tensor in result])
    return [np.concatenate(column) for column in zip(*parts)]


def _max_diff(first: list[np.ndarray], second: list[np.ndarray]) -> float:
    if len(first) != len(second) or any(a.shape != b.shape for a, b in zip(first, second)):
        return float("inf")
    return max((float(np.max(np.abs(a - b))) if a.size else 0.0 for a, b in zip(first, second)), default=0.0)


def _first_differing_layer(model3, rebuilt, samples: np.ndarray, tolerance: float) -> Optional[str]:
    """The first layer (in the model's order) whose outputs differ by more than `tolerance`."""
    keras = keras3()
    for layer3 in model3.layers:
        if isinstance(layer3, keras.layers.InputLayer) or len(getattr(layer3, "_inbound_nodes", [])) != 1:
            continue
        try:
            probe3 = keras.Model(model3.inputs, layer3.output)
            probe = tf_keras().Model(rebuilt.inputs, rebuilt.get_layer(layer3.name).output)
        except (ValueError, AttributeError):  # a layer used twice, or inside a nested model
            continue
        if not _max_diff(_outputs(probe3, samples), _outputs(probe, samples)) <= tolerance:
            return f"'{layer3.name}' ({type(layer3).__name__})"
    return None
