"""The least file size tune reads off a structure's weights before exporting it (edgekit.tune.early.weight_facts,
edgekit.tune.probe.kernel_weights): every real TFLite file of a BatchNorm CNN, in every quantization, is at least
its kernel weights at that quantization's bytes per weight, and not far above (the bound is the weights)."""

import numpy as np
import pytest

from edgekit._tf import keras
from edgekit.config.schema import Quantization
from edgekit.export.tflite import ConverterSource, convert_tflite
from edgekit.tune.early import BYTES_PER_WEIGHT, weight_facts
from edgekit.tune.probe import kernel_weights


def _batchnorm_cnn():
    layers = keras().layers
    inputs = keras().Input((16, 16, 8))
    x = layers.Conv2D(32, 3, use_bias=False)(inputs)
    x = layers.BatchNormalization()(x)  # folded into the kernel: no weights of its own in the file
    x = layers.ReLU(6.0)(x)
    x = layers.DepthwiseConv2D(3, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    shared = layers.Dense(24)  # applied twice: its kernel is stored (and counted) once
    x = layers.Flatten()(x)
    x = layers.Add()([shared(x), shared(x)])
    return keras().Model(inputs, layers.Dense(10)(x))


@pytest.fixture(scope="module")
def files():
    model = _batchnorm_cnn()
    representative = np.random.default_rng(0).random((10, 16, 16, 8), dtype=np.float32)
    with ConverterSource(model) as source:
        made = {q: len(convert_tflite(source, Quantization(q), representative)) for q in BYTES_PER_WEIGHT}
    return model, made


def test_kernel_weights_counts_each_stored_kernel_once(files):
    model, _ = files
    assert kernel_weights(model) == 3 * 3 * 8 * 32 + 3 * 3 * 32 + 12 * 12 * 32 * 24 + 24 * 10


@pytest.mark.parametrize("quantization", list(BYTES_PER_WEIGHT))
def test_every_file_is_at_least_its_kernel_weights(files, quantization):
    model, made = files
    (fact,) = [fact for fact in weight_facts(None, None, kernel_weights(model), "the model")
               if fact.quantization == quantization]
    assert fact.bytes <= made[quantization] < fact.bytes * 1.25 + 6_000  # a bound, and a close one
