"""QAT on the networks tfmot can quantize (BatchNorm folded by its transforms) and partial QAT on those with layers
it has no rule for: those stay float during QAT and the int8 converter still makes a fully-integer model."""

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.integration.helpers import artifact, build, run_cli, write_config

pytestmark = pytest.mark.slow


def make_shapes_folder(root, per_class=12, size=32, seed=0):
    """Circles, squares and triangles of random size, place and colour on noisy backgrounds."""
    rng = np.random.default_rng(seed)
    for name in ("circle", "square", "triangle"):
        (root / name).mkdir(parents=True)
        for index in range(per_class):
            background = rng.integers(0, 256, 3)
            pixels = np.clip(background + rng.normal(0, 12, (size, size, 3)), 0, 255).astype(np.uint8)
            image = Image.fromarray(pixels)
            radius = int(rng.integers(size // 8, size // 3))
            cx, cy = (int(c) for c in rng.integers(radius, size - radius, 2))
            colour = tuple(int(c) for c in (255 - background) % 256)
            box = [cx - radius, cy - radius, cx + radius, cy + radius]
            draw = ImageDraw.Draw(image)
            if name == "circle":
                draw.ellipse(box, fill=colour)
            elif name == "square":
                draw.rectangle(box, fill=colour)
            else:
                draw.polygon([(cx, cy - radius), (cx - radius, cy + radius), (cx + radius, cy + radius)], fill=colour)
            image.save(root / name / f"{index}.png")
    return root


def test_builtin_mobilenet_v2_goes_through_prune_pqat_and_int8(tmp_path):
    make_shapes_folder(tmp_path / "images")
    config = write_config(tmp_path, """
        name: mnv2
        data: {source: images, path: images, image_size: [32, 32], test_fraction: 0.25, val_fraction: 0.15}
        model: {builtin: mobilenet_v2, width: 0.35}
        train: {epochs: 2, batch_size: 8}
        prune: {enabled: true, target_sparsity: 0.5, epochs: 1}
        qat: {enabled: true, epochs: 1}
        export: {formats: [tflite], quantization: [float32, int8], representative_samples: 16}
        evaluate: {max_accuracy_drop: 1.0, min_agreement: 0.0}  # a few epochs: this test is about QAT going through
        profile: {runs: 3, warmup: 1, min_seconds: 0}
    """)
    result, manifest = build(config)
    assert result.exit_code == 0, result.output
    names = [a["name"] for a in manifest["artifacts"]]
    assert names == ["keras-dense", "keras-pruned", "tflite-float32", "tflite-int8"]
    for entry in manifest["artifacts"]:  # every artifact judged by its own runtime
        assert 0.0 <= entry["accuracy"] <= 1.0 and 0.0 <= entry["agreement"] <= 1.0, entry["name"]
    assert artifact(manifest, "tflite-int8")["source"] == "qat"
    assert manifest["batchnorm_momentum"] == pytest.approx(0.9)  # a few steps: the fastest-settling momentum
    qat = manifest["qat"]
    # Every BatchNormalization after a convolution is quantized through tfmot's transforms; nothing is left float.
    assert qat["scheme"] == "pqat" and qat["calibrated_only"] == []
    assert sum(name.startswith("bn_") or name.lower().endswith("_bn") for name in qat["quantization_aware"]) == 52
    assert manifest["sparsity"]["after_qat"] == pytest.approx(manifest["sparsity"]["overall"], abs=1e-6)
    assert "PQAT: 155 layers trained quantization-aware, none left float" in result.output


CUSTOM_MODEL = '''
import tensorflow as tf
import tf_keras as keras


@keras.utils.register_keras_serializable(package="edgekit_test")
class ChannelScale(keras.layers.Layer):
    """A layer tfmot has no rule for: a learned scale per channel."""

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")

    def call(self, inputs):
        return inputs * self.scale


def build(input_shape, num_classes):
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv")(inputs)
    x = ChannelScale(name="scale")(x)
    x = x * tf.nn.relu6(x + 3.0) / 6.0  # hard-swish as MobileNetV3 writes it: four TFOpLambda layers
    x = keras.layers.LayerNormalization(name="norm")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax", name="out")(x))
'''


def test_layers_without_a_tfmot_rule_stay_float_in_qat_and_int8_is_still_fully_integer(tmp_path):
    (tmp_path / "custom_layers.py").write_text(CUSTOM_MODEL)
    config = write_config(tmp_path, """
        name: custom
        data: {source: digits, seed: 0}
        model: {factory: "custom_layers:build"}
        train: {epochs: 2, batch_size: 64, learning_rate: 0.003}
        prune: {enabled: true, target_sparsity: 0.5, epochs: 1}
        qat: {enabled: true, epochs: 1}
        export: {formats: [tflite], quantization: [int8], representative_samples: 50}
        evaluate: {max_accuracy_drop: 1.0, min_agreement: 0.0}  # a few epochs: this test is about QAT going through
        profile: {runs: 3, warmup: 1, min_seconds: 0}
    """)
    result, manifest = build(config)
    assert result.exit_code == 0, result.output
    qat = manifest["qat"]
    assert qat["scheme"] == "pqat" and qat["quantization_aware"] == ["conv", "gap", "out"]
    calibrated = {(layer["class"], layer["reason"]) for layer in qat["calibrated_only"]}
    assert calibrated == {("ChannelScale", "no tfmot rule"), ("TFOpLambda", "no tfmot rule"),
                          ("LayerNormalization", "no tfmot rule")}
    assert len(qat["calibrated_only"]) == 6
    assert ("PQAT: 3 layers trained quantization-aware; 6 left float during QAT, only calibrated by the int8 "
            "converter: ") in result.output
    assert "TFOpLambda ×4" in result.output

    int8 = artifact(manifest, "tflite-int8")
    assert int8["source"] == "qat"
    # The float-during-QAT layers are calibrated, not broken: int8 keeps up with the float model.
    assert int8["accuracy"] >= artifact(manifest, "keras-pruned")["accuracy"] - 0.1
    inspected = run_cli("inspect", config.parent / "build" / "host" / int8["path"], "--json")
    assert inspected.exit_code == 0, inspected.output
    summary = json.loads(inspected.output)
    assert summary["fully_integer"] and summary["float_tensor_count"] == 0
    assert set(summary["tensors"]["by_dtype"]) <= {"int8", "int32"}  # int32: biases and shapes
    assert [t["dtype"] for t in summary["inputs"] + summary["outputs"]] == ["int8", "int8"]
    assert {"HARD_SWISH", "RSQRT"} & set(summary["operators"]["by_type"])  # the float-during-QAT ops, in int8

    # qat.unsupported: fail refuses instead, naming each class once with what to do.
    config.write_text(config.read_text().replace("qat: {enabled: true, epochs: 1}",
                                                 "qat: {enabled: true, epochs: 1, unsupported: fail}"))
    result, _ = build(config)
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "quantization-aware training cannot quantize 6 layers: TFOpLambda (4: " in message
    assert "ChannelScale (1: scale), LayerNormalization (1: norm): tfmot's int8 scheme has no rule for these " \
           "classes. Set qat.unsupported: float" in message
    assert message.count("TFOpLambda") == 1 and "Traceback" not in result.output
