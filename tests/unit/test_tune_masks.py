"""Rung 0's in-memory pruning masks against tfmot's own: the same 2:4 groups, the same magnitude threshold and
the same PolynomialDecay schedule (edgekit.tune.masked)."""

import numpy as np
import pytest

from edgekit._tf import tf, tfmot
from edgekit.tune.masked import magnitude_mask, polynomial_sparsity, two_four_mask


def _tfmot_two_four(weights: np.ndarray) -> np.ndarray:
    tfmot()
    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_utils

    tensor = tf().constant(weights)
    prepared = pruning_utils.weights_rearrange(tensor)
    mask = pruning_utils.generate_m_by_n_mask(prepared, (2, 4))
    return pruning_utils.m_by_n_sparsity_mask_prepare(mask, tensor.shape).numpy()


@pytest.mark.parametrize("shape", [(3, 3, 8, 5), (3, 3, 6, 4), (1, 1, 1, 7), (12, 10), (6, 3)])
def test_two_four_masks_are_tfmots(shape):
    weights = np.random.default_rng(sum(shape)).normal(size=shape).astype(np.float32)
    mine = two_four_mask(weights)
    assert mine.shape == weights.shape and set(np.unique(mine)) <= {0.0, 1.0}
    np.testing.assert_array_equal(mine, _tfmot_two_four(weights))
    if shape[-2] % 4 == 0:  # whole groups: exactly half kept, 2 in every 4 input channels
        assert mine.mean() == 0.5
        tfmot()
        from tensorflow_model_optimization.python.core.sparsity.keras import pruning_utils

        assert bool(pruning_utils.is_pruned_m_by_n(tf().constant(weights * mine), (2, 4)))


def test_a_magnitude_mask_keeps_the_largest_share():
    weights = np.random.default_rng(0).normal(size=(4, 4, 16, 8)).astype(np.float32)
    for sparsity in (0.0, 0.3, 0.5, 0.75, 1.0):
        mask = magnitude_mask(weights, sparsity)
        kept = int(mask.sum())
        assert kept == round(weights.size * (1 - sparsity))
        if 0 < kept < weights.size:  # every kept weight is at least as large as every zeroed one
            assert np.abs(weights[mask == 1]).min() >= np.abs(weights[mask == 0]).max()


def test_the_schedule_is_tfmots_polynomial_decay():
    schedule = tfmot().sparsity.keras.PolynomialDecay(initial_sparsity=0.0, final_sparsity=0.75, begin_step=0,
                                                      end_step=40, frequency=4)
    for step in (0, 4, 12, 20, 36, 40):
        _, theirs = schedule(tf().constant(step, dtype=tf().int64))
        assert polynomial_sparsity(0.75, step, 0, 40) == pytest.approx(float(theirs.numpy()), abs=1e-6)
    assert polynomial_sparsity(0.75, 55, 0, 40) == 0.75 and polynomial_sparsity(0.5, 3, 0, 0) == 0.5


def test_which_models_draw_random_numbers_in_a_training_step():
    """Rung 0 reuses a traced training step without restarting TensorFlow's kernels only for models that draw no
    random numbers (edgekit.pipeline.training.seed_everything)."""
    from edgekit._tf import keras
    from edgekit.pipeline.training import draws_random_numbers

    layers = keras().layers

    def functional(*middle):
        inputs = keras().Input((8, 8, 1))
        x = layers.Conv2D(4, 3)(inputs)
        for layer in middle:
            x = layer(x)
        return keras().Model(inputs, layers.Dense(3)(layers.Flatten()(x)))

    class Scaled(layers.Layer):  # a layer whose call edgekit cannot see into
        def call(self, x):
            return x * 2.0

    assert not draws_random_numbers(functional(layers.BatchNormalization(), layers.ReLU()))
    assert draws_random_numbers(functional(layers.Dropout(0.2)))
    assert draws_random_numbers(functional(layers.GaussianNoise(0.1)))
    assert draws_random_numbers(functional(layers.Lambda(lambda x: x + 1.0)))
    assert draws_random_numbers(functional(Scaled()))
    nested = functional(keras().Sequential([layers.SpatialDropout2D(0.1)]))
    assert draws_random_numbers(nested)


def test_seeding_without_clearing_kernels_trains_the_same_steps():
    """seed_everything(clear_kernels=False) on a model whose step is traced already gives the data order and the
    weights a fully seeded fit gives (the same steps from the same state)."""
    from edgekit._tf import keras
    from edgekit.pipeline.training import seed_everything

    layers = keras().layers
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(96, 6)).astype(np.float32), rng.integers(0, 3, 96)
    keras().utils.set_random_seed(1)
    model = keras().Sequential([keras().Input((6,)), layers.Dense(8, activation="relu"), layers.Dense(3)])
    model.compile(optimizer=keras().optimizers.SGD(0.1),
                  loss=keras().losses.SparseCategoricalCrossentropy(from_logits=True))
    start = model.get_weights()
    results = []
    for clear in (True, False, False):
        model.set_weights(start)
        seed_everything(3, clear_kernels=clear)
        model.fit(x, y, batch_size=16, epochs=2, shuffle=True, verbose=0)
        results.append(model.get_weights())
    for other in results[1:]:
        for mine, theirs in zip(results[0], other):
            np.testing.assert_array_equal(mine, theirs)
    model.set_weights(start)
    seed_everything(4, clear_kernels=False)  # another seed: another data order
    model.fit(x, y, batch_size=16, epochs=2, shuffle=True, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(results[0], model.get_weights()))
