"""BatchNormalization momentum for models trained from scratch on small data.

Keras' applications keep BN momentum 0.999: the moving statistics have a time constant of 1000 steps.
Trained from scratch for a few hundred steps, they never reach the statistics the weights were trained
with, and the model that is evaluated and exported (which uses the moving statistics) sits at chance while
its training accuracy (batch statistics) looks fine. The built-ins get a momentum that lets the averages
settle well within the training run instead.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from edgekit._tf import keras

# The moving averages should settle within this many steps: a twentieth of a 400-step run, a tenth of a 200-step one.
SETTLE_STEPS = 20
# Below 0.9 the averages follow single batches too closely (noisy); above 0.99 they need hundreds of steps.
MIN_MOMENTUM = 0.9
MAX_MOMENTUM = 0.99


def momentum_for_steps(steps: int) -> float:
    """BN momentum whose time constant 1 / (1 - momentum) is about SETTLE_STEPS, clipped to [0.9, 0.99]."""
    return round(min(MAX_MOMENTUM, max(MIN_MOMENTUM, 1.0 - SETTLE_STEPS / max(1, steps))), 4)


def batchnorm_layers(model) -> list:
    """Every BatchNormalization layer of `model`, nested models included."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras().layers.BatchNormalization):
            found.append(layer)
        elif isinstance(layer, keras().Model):
            found.extend(batchnorm_layers(layer))
    return found


def set_batchnorm_momentum(model, steps: int) -> Optional[float]:
    """Give every BN layer of an untrained, uncompiled `model` the momentum `steps` training steps call for.

    Returns:
        The momentum set, or None when the model has no BatchNormalization layer.
    """
    layers = batchnorm_layers(model)
    if not layers:
        return None
    momentum = momentum_for_steps(steps)
    for layer in layers:
        layer.momentum = momentum  # read when the training step is traced, and saved with the layer's config
    return momentum


# Re-estimating on more samples than this changes the statistics by little and costs a pass over them.
REESTIMATE_SAMPLES = 1024
REESTIMATE_BATCH = 32


def reestimate_batchnorm(model, samples: np.ndarray, batch_size: int = REESTIMATE_BATCH) -> int:
    """Set every trainable BN layer's moving statistics to the average over `samples` of the batch statistics
    the trained weights see ("precise BN"): the moving averages lag behind weights that were still changing
    when training ended, and the exported model uses them.

    The model runs eagerly in training mode with momentum 1 - n_k / (n_1 + ... + n_k) at the k-th batch,
    which makes the moving averages the sample-weighted mean of the batches' statistics. Frozen BN layers
    (trainable=False) run in inference mode and keep theirs. The weights are not changed.

    Returns:
        The number of samples used (0 when the model has no trainable BN layer or there are no samples).
    """
    layers = [layer for layer in batchnorm_layers(model) if layer.trainable]
    if not layers or not len(samples):
        return 0
    samples = samples[:REESTIMATE_SAMPLES]
    momenta = [layer.momentum for layer in layers]
    try:
        for start in range(0, len(samples), batch_size):
            batch = samples[start:start + batch_size]
            for layer in layers:  # weighted by batch size, so a short last batch counts for what it holds
                layer.momentum = 1.0 - len(batch) / (start + len(batch))
            model(batch, training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return int(len(samples))
