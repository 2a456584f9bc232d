"""The TFLite converter's source (edgekit/export/tflite.py): a tf_keras model saved once, lean, for every
quantization; the files it gives are those `from_keras_model` gives (signature, size, outputs), on a BatchNorm
network and on a two-input model; a model the lean save cannot take, and a Keras 3 model, are converted as
before, and say why."""

from pathlib import Path

import numpy as np
import pytest

from edgekit._tf import keras, tf
from edgekit.config.schema import Quantization
from edgekit.export.tflite import (ConverterSource, configure_converter, convert_tflite, make_converter,
                                   run_converter)

QUANTIZATIONS = [Quantization.FLOAT32, Quantization.FLOAT16, Quantization.DYNAMIC, Quantization.INT8]


def _batchnorm_network():
    layers = keras().layers
    inputs = keras().Input((12, 12, 3), name="image")
    x = layers.Conv2D(8, 3, use_bias=False)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU(6.0)(x)
    x = layers.DepthwiseConv2D(3, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.GlobalAveragePooling2D()(x)
    model = keras().Model(inputs, layers.Dense(4, activation="softmax", name="scores")(x))
    rng = np.random.default_rng(0)
    # moving statistics away from their initial values, so that inference (training=False) is what is compared
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([gamma * 1.5, beta + 0.2, rng.normal(0, 0.3, mean.shape).astype("float32"),
                               variance * rng.uniform(0.3, 2.0, variance.shape).astype("float32")])
    return model


def _two_inputs():
    layers = keras().layers
    left, right = keras().Input((6,), name="left"), keras().Input((4,), name="right")
    joined = layers.Concatenate()([layers.Dense(5, activation="relu")(left), right])
    return keras().Model([left, right], layers.Dense(3, name="out")(joined))


def _run(model_bytes: bytes, inputs: list[np.ndarray]) -> tuple[np.ndarray, dict]:
    """The file's one output for `inputs` (given in its signature's input order), as float, and its signatures."""
    from ai_edge_litert.interpreter import Interpreter

    from edgekit.export.runners import dequantize, quantize

    interpreter = Interpreter(model_content=model_bytes)
    runner = interpreter.get_signature_runner()
    details = runner.get_input_details()
    outputs = runner(**{name: quantize(values, details[name]) for name, values in zip(sorted(details), inputs)})
    (name, value), = outputs.items()
    return dequantize(value, runner.get_output_details()[name]), interpreter.get_signature_list()


@pytest.fixture(scope="module")
def batchnorm_files():
    model = _batchnorm_network()
    representative = np.random.default_rng(1).random((20, 12, 12, 3), dtype=np.float32)
    with ConverterSource(model) as source:
        lean = {q: convert_tflite(source, q, representative) for q in QUANTIZATIONS}
        saved = Path(source._saved.name)
        assert source.lean_error is None and saved.is_dir()
    assert not saved.exists()  # leaving the source deletes its copy
    reference = {}
    for quantization in QUANTIZATIONS:  # edgekit's converter before the lean source
        converter = configure_converter(tf().lite.TFLiteConverter.from_keras_model(model), quantization,
                                        representative)
        reference[quantization] = run_converter(converter, quantization.value)
    return model, lean, reference


@pytest.mark.parametrize("quantization", QUANTIZATIONS, ids=lambda q: q.value)
def test_lean_source_gives_from_keras_models_file(batchnorm_files, quantization):
    model, lean, reference = batchnorm_files
    samples = np.random.default_rng(2).random((1, 12, 12, 3), dtype=np.float32)
    lean_outputs, lean_signature = _run(lean[quantization], [samples])
    reference_outputs, reference_signature = _run(reference[quantization], [samples])
    assert lean_signature == reference_signature == {"serving_default": {"inputs": ["image"], "outputs": ["scores"]}}
    assert len(lean[quantization]) == len(reference[quantization])
    np.testing.assert_array_equal(lean_outputs, reference_outputs)
    if quantization is Quantization.FLOAT32:  # and both are the Keras model in inference mode
        np.testing.assert_allclose(lean_outputs, model(samples, training=False).numpy(), atol=1e-6)


def test_two_input_model_keeps_its_input_names_and_order():
    model = _two_inputs()
    left = np.random.default_rng(3).random((1, 6), dtype=np.float32)
    right = np.random.default_rng(4).random((1, 4), dtype=np.float32)
    with ConverterSource(model) as source:
        outputs, signature = _run(convert_tflite(source, Quantization.FLOAT32), [left, right])
        assert source.lean_error is None
    assert signature == {"serving_default": {"inputs": ["left", "right"], "outputs": ["out"]}}
    np.testing.assert_allclose(outputs, model([left, right], training=False).numpy(), atol=1e-5)


def test_source_saves_once_for_every_converter():
    model = _batchnorm_network()
    with ConverterSource(model) as source:
        source.converter()
        first = source._saved
        source.converter()
        assert source._saved is first


def test_model_the_lean_save_cannot_take_is_converted_from_keras_and_says_why():
    class Doubler(keras().Model):  # subclassed: no symbolic inputs to take the signature from
        def __init__(self):
            super().__init__()
            self.dense = keras().layers.Dense(2)

        def call(self, inputs):
            return self.dense(inputs) * 2.0

    model = Doubler()
    samples = np.ones((1, 3), np.float32)
    model(samples)  # from_keras_model saves a subclassed model once it has been called
    with ConverterSource(model) as source:
        model_bytes = convert_tflite(source, Quantization.FLOAT32)
        assert source.lean_error == "the model has no defined inputs or outputs"
    outputs, _ = _run(model_bytes, [samples])
    np.testing.assert_allclose(outputs, model(samples).numpy(), atol=1e-5)


def test_keras3_model_is_left_to_from_keras_model():
    from edgekit.models.keras3 import keras3

    k3 = keras3()
    inputs = k3.Input((5,))
    model = k3.Model(inputs, k3.layers.Dense(2)(inputs))
    with ConverterSource(model) as source:
        model_bytes = convert_tflite(source, Quantization.FLOAT32)
        assert source.lean_error == "a Keras 3 model: from_keras_model exports it"
    samples = np.ones((1, 5), np.float32)
    outputs, _ = _run(model_bytes, [samples])
    np.testing.assert_allclose(outputs, np.asarray(model(samples)), atol=1e-5)


def test_converter_made_from_a_model_keeps_its_saved_copy_until_it_is_gone():
    import gc

    model = _two_inputs()
    converter = make_converter(model, Quantization.FLOAT32)
    gc.collect()  # nothing but the converter holds the source
    saved = Path(converter._edgekit_source._saved.name)
    assert saved.is_dir()
    assert run_converter(converter, "float32")[4:8] == b"TFL3"
    del converter
    gc.collect()
    assert not saved.exists()
