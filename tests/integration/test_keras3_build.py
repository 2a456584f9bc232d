"""Builds from Keras 3 models: rebuilt in tf_keras through prune and PQAT, refused naming a layer, or converted as
given."""

import textwrap

import pytest

from edgekit.models.keras3 import keras3
from tests.integration.helpers import artifact, build, write_config

pytestmark = pytest.mark.slow


# A factory module whose model has a custom layer edgekit cannot rebuild in tf_keras (taken as given).
UNTRANSLATABLE_FACTORY = textwrap.dedent("""
        import keras


        @keras.saving.register_keras_serializable(package="k3custom")
        class Gain(keras.layers.Layer):
            def call(self, x):
                return x * 1.5


        def build(input_shape, num_classes):
            keras.utils.set_random_seed(0)
            inputs = keras.Input(input_shape)
            x = keras.layers.Conv2D(4, 3, activation="relu")(Gain(name="gain")(inputs))
            x = keras.layers.GlobalAveragePooling2D()(x)
            return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))
""")


def _digits_cnn_with_batchnorm(k3):
    inputs = k3.Input((8, 8, 1))
    x = k3.layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv")(inputs)
    x = k3.layers.BatchNormalization(momentum=0.9, name="bn")(x)
    x = k3.layers.ReLU()(x)
    x = k3.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="depthwise")(x)
    x = k3.layers.BatchNormalization(momentum=0.9, name="bn2")(x)
    x = k3.layers.ReLU()(x)
    x = k3.layers.Flatten()(x)
    return k3.Model(inputs, k3.layers.Dense(10, activation="softmax", name="out")(x))


def test_keras3_file_with_batchnorm_goes_through_prune_and_pqat(tmp_path):
    k3 = keras3()
    _digits_cnn_with_batchnorm(k3).save(tmp_path / "k3cnn.keras")
    config = write_config(tmp_path, """
        name: k3cnn
        data: {source: digits, seed: 0}
        model: {file: k3cnn.keras}
        train: {epochs: 3, batch_size: 64, learning_rate: 0.005}
        prune: {enabled: true, target_sparsity: 0.5, epochs: 1}
        qat: {enabled: true, epochs: 1}
        export: {formats: [tflite], quantization: [float32, int8], representative_samples: 50}
        evaluate: {max_accuracy_drop: 1.0}
        profile: {runs: 5, warmup: 1, min_seconds: 0}
    """)
    result, manifest = build(config)
    assert result.exit_code == 0, result.output
    source = manifest["model_source"]
    assert source["path"] == "translated" and source["kind"] == "file" and source["keras_version"] == k3.__version__
    assert source["max_abs_diff"] < 1e-4 and source["samples"] > 0
    assert manifest["sparsity"]["overall"] > 0.3
    assert artifact(manifest, "tflite-int8")["method"] == "tflite-converter+qat"
    assert artifact(manifest, "keras-dense")["accuracy"] > 0.5 and artifact(manifest, "tflite-int8")["accuracy"] > 0.5


def test_keras3_model_with_an_unregistered_custom_layer_exits_2_naming_it(tmp_path):
    k3 = keras3()

    class Doubling(k3.layers.Layer):  # not registered, and not reachable as an attribute of its module
        def call(self, x):
            return x * 2.0

    inputs = k3.Input((8, 8, 1))
    x = Doubling(name="double")(inputs)
    k3.Model(inputs, k3.layers.Dense(10)(k3.layers.Flatten()(x))).save(tmp_path / "custom.keras")
    config = write_config(tmp_path, "name: custom\nmodel: {file: custom.keras}\ntrain: {epochs: 1}\n")
    result, manifest = build(config)
    assert result.exit_code == 2, result.output
    assert "layer 'double' is of class Doubling" in result.output
    assert "custom layer that is not registered" in result.output and "tf_keras" in result.output
    assert "Traceback" not in result.output and manifest is None


def test_untranslatable_keras3_model_is_exported_through_the_converters_when_prune_and_qat_are_off(tmp_path):
    (tmp_path / "k3custom.py").write_text(UNTRANSLATABLE_FACTORY)
    config = write_config(tmp_path, """
        name: k3conv
        data: {source: digits, seed: 0}
        model: {factory: "k3custom:build"}
        train: {epochs: 1}
        prune: {enabled: false}
        qat: {enabled: false}
        export: {formats: [tflite, onnx], quantization: [float32, int8], representative_samples: 50}
        evaluate: {max_accuracy_drop: 1.0}
        profile: {runs: 5, warmup: 1, min_seconds: 0}
    """)
    result, manifest = build(config)
    assert result.exit_code == 0, result.output
    source = manifest["model_source"]
    assert source["path"] == "converter" and "layer 'gain' is of class Gain" in source["reason"]
    assert "exported as it is, through the converters" in result.output
    assert artifact(manifest, "tflite-int8")["method"] == "tflite-converter"
    # The untrained model's predictions, kept by every artifact: the converters computed the same function.
    assert artifact(manifest, "tflite-float32")["agreement"] >= 0.99
    assert artifact(manifest, "onnx-float32")["agreement"] >= 0.99
    assert manifest["history"]["train"]["loss"] == []

    # A rebuild that reloads the dense Keras 3 artifact from the build folder (its custom layer registered again).
    result, manifest = build(config, "--force", "export")
    assert result.exit_code == 0, result.output
    assert artifact(manifest, "onnx-float32")["agreement"] >= 0.99

    # With pruning on, the same model is refused: nothing can be pruned without the tf_keras rebuild.
    config.write_text(config.read_text().replace("prune: {enabled: false}", "prune: {enabled: true, epochs: 1}"))
    result, _ = build(config)
    assert result.exit_code == 2
    assert "layer 'gain' is of class Gain" in result.output and "set prune.enabled and qat.enabled to false" in \
        result.output
