"""Keras 3 models are rebuilt in tf_keras with their weights, and compute what they computed in Keras 3.

Each layer family gets a tiny Keras 3 model with random (not freshly initialised) weights, saved as .keras
and .h5, loaded through edgekit, and its outputs compared with the Keras 3 model's.
"""

import textwrap

import numpy as np
import pytest

from edgekit.config.loader import load_config
from edgekit.config.schema import ModelConfig
from edgekit.errors import ModelError
from edgekit.models.keras3 import Untranslatable, keras3
from edgekit.models.keras3_files import saved_keras_version
from edgekit.models.loading import IntakePath, take_in_model


@pytest.fixture(scope="module")
def k3():
    return keras3()


def _randomise(model, seed=0):
    """Weights far from their initial values (BN statistics included), so a weight not copied shows."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        values = rng.normal(size=weight.shape).astype("float32") * 0.5
        if "variance" in weight.path:
            values = np.abs(values) + 0.5
        weight.assign(values)
    return model


def _functional(k3, shape, body, classes=3):
    inputs = k3.Input(shape)
    return _randomise(k3.Model(inputs, k3.layers.Dense(classes, activation="softmax", name="out")(body(inputs))))


def _conv2d(k3, x):
    x = k3.layers.Rescaling(1 / 4.0, offset=-0.5)(x)
    x = k3.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    x = k3.layers.MaxPooling2D()(x)
    return k3.layers.GlobalAveragePooling2D()(x)


def _batchnorm_depthwise_separable(k3, x):
    x = k3.layers.Conv2D(4, 3, padding="same", use_bias=False)(x)
    x = k3.layers.BatchNormalization()(x)
    x = k3.layers.ReLU(max_value=6.0)(x)
    x = k3.layers.DepthwiseConv2D(3, padding="same")(x)
    x = k3.layers.BatchNormalization()(x)
    x = k3.layers.SeparableConv2D(6, 3, activation="relu")(x)
    x = k3.layers.AveragePooling2D(2)(x)
    return k3.layers.GlobalMaxPooling2D()(x)


def _merges_and_activations(k3, x):
    a = k3.layers.Conv2D(4, 1, name="left")(x)
    b = k3.layers.Conv2D(4, 1, name="right")(x)
    x = k3.layers.Add()([a, b])
    x = k3.layers.LeakyReLU(negative_slope=0.2)(x)
    x = k3.layers.Concatenate()([x, k3.layers.Multiply()([a, b])])
    x = k3.layers.Activation("tanh")(x)
    x = k3.layers.Flatten()(x)
    x = k3.layers.Dropout(0.5)(x)
    return k3.layers.Softmax()(k3.layers.Dense(5)(x))


def _layernorm_dense(k3, x):
    x = k3.layers.Reshape((8, 8))(x)
    x = k3.layers.Conv1D(4, 3, activation="relu")(x)
    x = k3.layers.LayerNormalization()(x)
    x = k3.layers.MaxPooling1D()(x)
    x = k3.layers.GlobalAveragePooling1D()(x)
    return k3.layers.Dense(6, activation="relu")(x)


FAMILIES = {
    "conv2d-pooling-rescaling": _conv2d,
    "batchnorm-depthwise-separable": _batchnorm_depthwise_separable,
    "merges-activations-flatten-dropout": _merges_and_activations,
    "layernorm-conv1d-reshape-dense": _layernorm_dense,
}


def _take_in(tmp_path, model_config: dict, samples, **kwargs):
    (tmp_path / "edgekit.yaml").write_text("name: k3\n")
    loaded = load_config(tmp_path / "edgekit.yaml")
    return take_in_model(ModelConfig(**model_config), loaded, (8, 8, 1), 3, check_samples=samples, **kwargs)


@pytest.fixture(scope="module")
def samples():
    return np.random.default_rng(1).uniform(0, 4, size=(32, 8, 8, 1)).astype("float32")


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras3_file_is_rebuilt_in_tf_keras_with_equal_outputs(k3, tmp_path, samples, family, suffix):
    from edgekit._tf import keras

    model3 = _functional(k3, (8, 8, 1), lambda x: FAMILIES[family](k3, x))
    path = tmp_path / f"model{suffix}"
    model3.save(path)
    assert saved_keras_version(path) == k3.__version__

    intake = _take_in(tmp_path, {"file": path.name}, samples)

    assert isinstance(intake.model, keras().Model)
    assert intake.path is IntakePath.TRANSLATED
    expected = np.asarray(model3(samples, training=False))
    assert expected.std() > 1e-3  # the outputs are not all alike, so the comparison can fail
    assert np.max(np.abs(intake.model(samples, training=False).numpy() - expected)) < 1e-5
    assert intake.record["max_abs_diff"] < 1e-5 and intake.record["samples"] == 32
    assert intake.record["keras_version"] == k3.__version__ and intake.record["kind"] == "file"


def test_sequential_with_a_nested_functional_model_from_a_factory(k3, tmp_path, samples):
    (tmp_path / "k3models.py").write_text(textwrap.dedent("""
        import keras
        import numpy as np

        def build(input_shape, num_classes):
            inner_in = keras.Input((4, 4, 4))
            inner_out = keras.layers.BatchNormalization()(keras.layers.Conv2D(4, 3, padding="same")(inner_in))
            block = keras.Model(inner_in, keras.layers.Add()([inner_in, inner_out]), name="block")
            model = keras.Sequential([
                keras.Input(input_shape), keras.layers.Conv2D(4, 3, strides=2, padding="same"), block,
                keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(num_classes, activation="softmax")])
            rng = np.random.default_rng(0)
            for weight in model.weights:
                weight.assign(np.abs(rng.normal(size=weight.shape)).astype("float32") + 0.1)
            build.last = model
            return model
    """))
    import importlib
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        intake = _take_in(tmp_path, {"factory": "k3models:build"}, samples)
        model3 = importlib.import_module("k3models").build.last
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("k3models", None)
    expected = np.asarray(model3(samples, training=False))
    assert np.max(np.abs(intake.model(samples, training=False).numpy() - expected)) < 1e-5
    assert expected.std() > 1e-3  # the outputs are not all alike, so the comparison can fail
    assert intake.path is IntakePath.TRANSLATED and intake.record["kind"] == "factory"
    assert [type(layer).__name__ for layer in intake.model.layers][:2] == ["Conv2D", "Functional"]


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_unregistered_custom_layer_is_named_with_what_to_do(k3, tmp_path, samples, suffix):
    class Scale(k3.layers.Layer):
        def call(self, x):
            return x * 2.0

    inputs = k3.Input((8, 8, 1))
    x = Scale(name="doubling")(inputs)
    model3 = k3.Model(inputs, k3.layers.Dense(3)(k3.layers.Flatten()(x)))
    model3.save(tmp_path / f"custom{suffix}")
    with pytest.raises(ModelError, match=r"layer 'doubling' is of class Scale \(module .*\), which Keras 3 cannot "
                                         r"find: it is a custom layer that is not registered.*tf_keras"):
        _take_in(tmp_path, {"file": f"custom{suffix}"}, samples)


def test_custom_layer_in_memory_is_refused_unless_the_converter_may_take_it(k3, tmp_path, samples):
    @k3.saving.register_keras_serializable(package="edgekit_test")
    class Shift(k3.layers.Layer):
        def call(self, x):
            return x + 1.0

    inputs = k3.Input((8, 8, 1))
    model3 = k3.Model(inputs, k3.layers.Dense(3)(k3.layers.Flatten()(Shift(name="shift")(inputs))))
    model3.save(tmp_path / "registered.keras")
    with pytest.raises(Untranslatable, match=r"is a Keras 3 model that edgekit cannot bring into tf_keras.*layer "
                                             r"'shift' is of class Shift.*set prune.enabled and qat.enabled to false"):
        _take_in(tmp_path, {"file": "registered.keras"}, samples)
    intake = _take_in(tmp_path, {"file": "registered.keras"}, samples, converter_allowed=True)
    assert intake.path is IntakePath.CONVERTER and "Shift" in intake.record["reason"]
    assert np.max(np.abs(intake.model.predict(samples, verbose=0) - np.asarray(model3(samples)))) < 1e-6


def test_a_rebuild_that_computes_something_else_names_the_first_layer_that_differs(k3, tmp_path, samples):
    # Keras 3's hard_sigmoid is relu6(x + 3) / 6; tf_keras' is clip(0.2 x + 0.5): same name, other function.
    model3 = _functional(k3, (8, 8, 1), lambda x: k3.layers.Activation("hard_sigmoid", name="gate")(
        k3.layers.Flatten()(k3.layers.Conv2D(2, 3, name="conv")(x))))
    model3.save(tmp_path / "gate.keras")
    with pytest.raises(Untranslatable, match=r"differs from it by up to .* on 32 validation samples \(tolerance "
                                             r"0.0001\); the first layer whose outputs differ is 'gate' "
                                             r"\(Activation\)"):
        _take_in(tmp_path, {"file": "gate.keras"}, samples)


def test_subclassed_keras3_model_says_to_use_the_functional_api(k3, tmp_path, samples):
    class Net(k3.Model):
        def __init__(self):
            super().__init__()
            self.dense = k3.layers.Dense(3)

        def call(self, x):
            return self.dense(k3.ops.reshape(x, (-1, 64)))

    model3 = Net()
    model3(samples[:1])
    from edgekit.models.keras3 import translate

    with pytest.raises(Untranslatable, match=r"is a subclassed model \(Net\).*functional API or keras.Sequential"):
        translate(model3)


def test_tf_keras_files_and_savedmodel_exports_keep_their_paths(k3, tmp_path, samples):
    from edgekit._tf import keras

    inputs = keras().Input((8, 8, 1))
    keras().Model(inputs, keras().layers.Dense(3)(keras().layers.Flatten()(inputs))).save(tmp_path / "tfk.keras")
    intake = _take_in(tmp_path, {"file": "tfk.keras"}, samples)
    assert intake.path is IntakePath.NATIVE and intake.record["keras"] == "tf_keras"

    inputs3 = k3.Input((8, 8, 1))
    k3.Model(inputs3, k3.layers.Dense(3)(k3.layers.Flatten()(inputs3))).export(tmp_path / "exported", verbose=False)
    with pytest.raises(ModelError, match=r"SavedModel without Keras metadata \(as Keras 3's model.export\(\) "
                                         r"writes\); give the model's .keras file instead"):
        _take_in(tmp_path, {"file": "exported"}, samples)


def test_keras3_model_without_inputs_is_refused_with_what_to_do(k3, tmp_path, samples):
    (tmp_path / "k3lazy.py").write_text("import keras\n\ndef build():\n"
                                        "    return keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(3)])\n")
    with pytest.raises(Untranslatable, match=r"model.factory 'k3lazy:build': the Keras 3 model 'sequential.*' "
                                             r"\(Sequential\) has no defined inputs: build it with the functional "
                                             r"API, or start the Sequential with keras.Input\(shape\)"):
        _take_in(tmp_path, {"factory": "k3lazy:build"}, samples, converter_allowed=True)
