"""The builtin models fit the data they are given, or say why not."""

import pytest

from edgekit.errors import ModelError
from edgekit.models.zoo import mlp, mobilenet_v2, small_cnn


def test_mobilenet_v2_takes_a_width_multiplier_and_any_size_from_32():
    model = mobilenet_v2((40, 56, 3), 7, width=0.35)
    assert tuple(model.inputs[0].shape[1:]) == (40, 56, 3)
    assert tuple(model.outputs[0].shape[1:]) == (7,)
    wider = mobilenet_v2((40, 56, 3), 7, width=1.0)
    assert wider.count_params() > 3 * model.count_params()


def test_mobilenet_v2_refuses_images_under_32_pixels():
    with pytest.raises(ModelError, match=r"mobilenet_v2 needs images of at least 32×32, the data has 8×8: "
                                         r"set data.image_size, or use model.builtin small_cnn"):
        mobilenet_v2((8, 8, 1), 10)


def test_image_models_refuse_flat_features_and_mlp_takes_both():
    with pytest.raises(ModelError, match=r"small_cnn expects images of shape \(height, width, channels\); the data's "
                                         r"samples have shape \(64,\): use model.builtin mlp"):
        small_cnn((64,), 10)
    assert tuple(mlp((64,), 3).outputs[0].shape[1:]) == (3,)
    assert tuple(mlp((8, 8, 1), 10).inputs[0].shape[1:]) == (8, 8, 1)


def test_small_cnn_width_scales_channels():
    narrow, wide = small_cnn((16, 16, 3), 10, width=0.5), small_cnn((16, 16, 3), 10, width=2.0)
    assert narrow.get_layer("conv1").filters == 16 and wide.get_layer("conv1").filters == 64


def test_builtins_batchnorm_momentum_and_reestimated_statistics():
    import numpy as np

    from edgekit._tf import keras
    from edgekit.models.batchnorm import batchnorm_layers, reestimate_batchnorm, set_batchnorm_momentum

    model = mobilenet_v2((32, 32, 3), 3, width=0.35)
    assert {layer.momentum for layer in batchnorm_layers(model)} == {0.999}  # Keras' default for its applications
    assert set_batchnorm_momentum(model, 200) == 0.9
    assert len(batchnorm_layers(model)) == 52 and {layer.momentum for layer in batchnorm_layers(model)} == {0.9}
    assert set_batchnorm_momentum(small_cnn((16, 16, 3), 10), 200) is None  # no BatchNormalization: nothing to set

    inputs = keras().Input((4,))
    trained = keras().layers.BatchNormalization(name="trained")(inputs)
    frozen = keras().layers.BatchNormalization(name="frozen", trainable=False)(trained)
    tiny = keras().Model(inputs, frozen)
    samples = np.random.default_rng(0).normal(5.0, 2.0, (200, 4)).astype(np.float32)
    assert reestimate_batchnorm(tiny, samples) == 200
    assert np.allclose(tiny.get_layer("trained").moving_mean.numpy(), samples.mean(axis=0), atol=1e-4)
    assert np.allclose(tiny.get_layer("trained").moving_variance.numpy(), samples.var(axis=0), rtol=0.15)  # mean of batch variances
    assert tiny.get_layer("trained").momentum == 0.99  # put back
    assert np.allclose(tiny.get_layer("frozen").moving_mean.numpy(), 0.0)  # a frozen BN keeps its statistics
