"""Rung 0's in-memory pruning on the models people bring: a Keras 3 file with BatchNormalization (rebuilt in
tf_keras), scored against what the prune stage (tfmot) makes of the same training, and pruned on the train
stage's own compiled model when it was trained in this process, by a rung-0 training or by the default build
(scored exactly as a fresh copy is, whatever order the sparsities come in); a Keras 3 model edgekit can only take
as given is refused, not pruned."""

import pytest

from edgekit.adapters import ConnectionOptions
from edgekit.config.loader import load_config
from edgekit.config.target import load_target
from edgekit.config.yamlsource import load_yaml
from edgekit.errors import EdgekitError
from edgekit.models.keras3 import keras3
from edgekit.tune.builds import Variant, VariantBuilder
from tests.integration.helpers import write_config
from tests.integration.test_keras3_build import UNTRANSLATABLE_FACTORY, _digits_cnn_with_batchnorm

pytestmark = pytest.mark.slow


def _builder(config):
    loaded = load_config(config)
    return VariantBuilder(config.parent / "tune", loaded, load_yaml(config).data, load_target("host"),
                          ConnectionOptions())


def _keras3_batchnorm_config(tmp_path, epochs: int, qat: bool = False):
    """A Keras 3 CNN with BatchNormalization saved as a .keras file, and an edgekit.yaml that trains it."""
    _digits_cnn_with_batchnorm(keras3()).save(tmp_path / "k3cnn.keras")
    return write_config(tmp_path, f"""
        name: k3cnn
        data: {{source: digits, seed: 0}}
        model: {{file: k3cnn.keras}}
        train: {{epochs: {epochs}, batch_size: 64, learning_rate: 0.005}}
        prune: {{enabled: false, epochs: 1}}
        qat: {{enabled: {str(qat).lower()}, epochs: 1}}
        export: {{formats: [tflite], quantization: [float32], representative_samples: 50}}
        evaluate: {{max_accuracy_drop: 1.0}}
    """)


def test_a_keras3_batchnorm_file_is_pruned_in_memory_like_the_prune_stage(tmp_path):
    builder = _builder(_keras3_batchnorm_config(tmp_path, epochs=4))
    dense, half, two_four = (builder.rank(Variant(None, None, sparsity, "float32", 2, short=True))
                             for sparsity in (0, 0.5, "2:4"))
    # one training for the group: the same train stage, model and seconds behind all three
    assert dense.dense_model == half.dense_model == two_four.dense_model
    assert dense.cache_keys["train"] == half.cache_keys["train"] and "prune" not in half.cache_keys
    assert dense.ranked.sparsity == 0.0 and dense.ranked.prune_seconds < half.ranked.prune_seconds
    assert half.ranked.sparsity == pytest.approx(0.5, abs=0.01)
    # 2:4 on Conv2D and Dense; the first conv has one input channel, so its 72 weights stay (0.49 overall)
    assert 0.45 < two_four.ranked.sparsity <= 0.5
    for ranked in (dense, half, two_four):
        assert ranked.ranked.accuracy > 0.5  # digits: 10 classes, chance 0.1
    # the prune stage (tfmot's wrappers, one epoch) on the same training: the in-memory score is a faithful proxy
    staged = builder.build(Variant(None, None, 0.5, "float32", 2, short=True), ["float32"])
    assert "train" in staged.cached and staged.cache_keys["train"] == half.cache_keys["train"]
    assert abs(staged.artifacts["float32"].accuracy - half.ranked.accuracy) < 0.1


def test_a_model_taken_as_given_is_not_pruned(tmp_path):
    (tmp_path / "k3custom.py").write_text(UNTRANSLATABLE_FACTORY)
    builder = _builder(write_config(tmp_path, """
        name: k3conv
        data: {source: digits, seed: 0}
        model: {factory: "k3custom:build"}
        train: {epochs: 2}
        prune: {enabled: false}
        qat: {enabled: false}
        export: {formats: [tflite], quantization: [float32], representative_samples: 50}
    """))
    dense = builder.rank(Variant(None, None, 0, "float32", 1, short=True))
    assert dense.ranked.sparsity == 0.0 and 0.0 <= dense.ranked.accuracy <= 1.0
    with pytest.raises(EdgekitError, match="a Keras 3 model taken as given: it cannot be pruned"):
        builder.rank(Variant(None, None, 0.5, "float32", 1, short=True))


def test_a_group_trained_here_is_pruned_on_its_own_compiled_model_as_a_copy_would_be(tmp_path):
    import numpy as np

    config = _keras3_batchnorm_config(tmp_path, epochs=2)
    here = _builder(config)
    half = here.rank(Variant(None, None, 0.5, "float32", 2, short=True))
    pruner = here._ranker[1]
    trained = pruner.ctx.memo["dense"]
    assert pruner.reuses_training_model and pruner._model is pruner.dense is trained
    # its weights are put back: the dense score afterwards is the trained model's
    for before, after in zip(pruner.weights, trained.get_weights()):
        np.testing.assert_array_equal(before, after)
    dense_here = here.rank(Variant(None, None, 0, "float32", 2, short=True))
    # the same group again in a new run: the training comes from the cache, so a copy is compiled
    again = _builder(config)
    half_again = again.rank(Variant(None, None, 0.5, "float32", 2, short=True))
    assert "train" in half_again.cached and not again._ranker[1].reuses_training_model
    assert again._ranker[1]._model is not again._ranker[1].dense
    assert half_again.ranked.sparsity == half.ranked.sparsity
    assert half_again.ranked.accuracy == half.ranked.accuracy  # the same steps from the same state
    assert again.rank(Variant(None, None, 0, "float32", 2, short=True)).ranked.accuracy == dense_here.ranked.accuracy


def test_the_default_builds_group_is_pruned_on_the_model_that_build_trained(tmp_path):
    config = _keras3_batchnorm_config(tmp_path, epochs=2, qat=True)
    here = _builder(config)
    built = here.build(Variant(None, None, 0, "float32", 2, short=False), ["float32"])
    assert "train" not in built.cached and "qat" in built.stage_seconds  # QAT ran on the trained model's layers
    two_four, half = (here.rank(Variant(None, None, sparsity, "float32", 2, short=False))
                      for sparsity in ("2:4", 0.5))
    pruner = here._ranker[1]
    assert pruner.ctx.build_dir == built.build_dir and pruner.reuses_training_model  # no copy compiled
    assert set(half.stage_seconds) == {"data", "train", "prune (in memory)", "evaluate (in memory)"}
    assert half.cache_keys["train"] == built.cache_keys["train"] and "qat" not in half.cache_keys
    # a new run: the training from the cache, a fresh copy, the sparsities in the other order; the same scores
    again = _builder(config)
    half_again, two_four_again = (again.rank(Variant(None, None, sparsity, "float32", 2, short=False))
                                  for sparsity in (0.5, "2:4"))
    assert "train" in half_again.cached and not again._ranker[1].reuses_training_model
    assert (half_again.ranked.accuracy, two_four_again.ranked.accuracy) == \
        (half.ranked.accuracy, two_four.ranked.accuracy)
    assert (half_again.ranked.sparsity, two_four_again.ranked.sparsity) == (half.ranked.sparsity,
                                                                            two_four.ranked.sparsity)
