"""Builds beyond the default: the accuracy gate, bad models and data, other sources, precisions and structures."""

import json
import shutil
import textwrap

import numpy as np
import pytest
from PIL import Image

from edgekit.config.schema import PruneConfig, PruneStructure, QatConfig
from edgekit.errors import ModelError, QuantizationError
from tests.integration.helpers import artifact, build, run_cli, write_config, write_outliers_npz

pytestmark = pytest.mark.slow


def test_accuracy_gate_fails_the_build_but_writes_everything(tmp_path):
    # A real failure mode of full-integer quantization: one input feature with outliers (1000 against
    # values in [0, 1]) stretches the per-tensor input scale until the informative feature rounds away.
    write_outliers_npz(tmp_path / "outliers.npz")
    config = write_config(tmp_path, """
        name: outliers
        data: {source: npz, path: outliers.npz}
        model: {builtin: mlp}
        train: {epochs: 15, batch_size: 32}
        prune: {enabled: false}
        qat: {enabled: true, epochs: 1}
        export: {formats: [tflite], quantization: [float32, int8]}
        profile: {runs: 5, warmup: 1, min_seconds: 0}
    """)
    result, manifest = build(config)
    assert result.exit_code == 1, result.output
    assert "accuracy gate failed: tflite-int8 accuracy" in result.output
    assert "below the dense float model's" in result.output
    assert manifest is not None and manifest["gate"]["passed"] is False
    float_accuracy = artifact(manifest, "keras-dense")["accuracy"]
    int8_accuracy = artifact(manifest, "tflite-int8")["accuracy"]
    assert f"{int8_accuracy:.4f}" in result.output and f"{float_accuracy:.4f}" in result.output
    assert (config.parent / "build" / "host" / artifact(manifest, "tflite-int8")["path"]).is_file()
    # int8 recovery (auto): float ops cannot help an input whose scale the outliers set; int16 activations can.
    mixed = artifact(manifest, "tflite-int8-mixed")
    assert mixed["method"] == "16x8" and mixed["float_ops"] == [] and mixed["accuracy"] >= float_accuracy - 0.01
    assert mixed["latency"]["median_ms"] > 0 and mixed["latency_cost"]["ratio"] > 0


def test_model_that_does_not_fit_the_data_names_both_shapes(tmp_path):
    from edgekit._tf import keras

    inputs = keras().Input((28, 28, 1))
    outputs = keras().layers.Dense(10, activation="softmax")(keras().layers.Flatten()(inputs))
    keras().Model(inputs, outputs).save(tmp_path / "mnist.keras")
    config = write_config(tmp_path, "name: wrong\nmodel: {file: mnist.keras}\ntrain: {epochs: 1}\n")
    result, manifest = build(config)
    assert result.exit_code == 2
    assert "expects inputs of shape (28, 28, 1), but the data's samples have shape (8, 8, 1)" in result.output
    assert "Traceback" not in result.output and manifest is None


def test_wrong_number_of_classes_is_named(tmp_path):
    from edgekit._tf import keras
    from edgekit.models import check_fits

    inputs = keras().Input((8, 8, 1))
    model = keras().Model(inputs, keras().layers.Dense(3)(keras().layers.Flatten()(inputs)))
    with pytest.raises(ModelError, match=r"output has shape \(3,\), but the data has 10 classes"):
        check_fits(model, (8, 8, 1), 10)


def test_layer_tfmot_cannot_quantize_is_named_with_what_to_do_or_left_float():
    from edgekit._tf import keras, tf
    from edgekit.config.schema import UnsupportedLayers
    from edgekit.pipeline.qat import quantize_aware_model

    inputs = keras().Input((8,))
    hidden = keras().layers.Dense(8, name="fc")(inputs)
    squashed = keras().layers.Lambda(lambda t: tf().math.sin(t), name="sine")(hidden)
    model = keras().Model(inputs, keras().layers.Dense(2, name="out")(squashed))
    with pytest.raises(QuantizationError, match=r"cannot quantize 1 layer: Lambda \(1: sine\): tfmot's int8 scheme "
                                                r"has no rule for this class\. Set qat.unsupported: float .*or set "
                                                r"qat.enabled: false"):
        quantize_aware_model(model, QatConfig(unsupported=UnsupportedLayers.FAIL), pruned=False)
    for config, pruned in ((QatConfig(), False), (QatConfig(exclude=["sine"], unsupported=UnsupportedLayers.FAIL), False),
                           (QatConfig(), True)):  # PQAT's registry claims weightless layers, then has no config
        wrapped, plan = quantize_aware_model(model, config, pruned=pruned)
        assert "sine" in [layer.name for layer in wrapped.layers]  # left in float, unwrapped
        assert any(layer.name == "quant_fc" for layer in wrapped.layers)
        assert plan.quantized == ["fc", "out"] and plan.float_layers == {"sine"}


def test_two_four_structure_zeroes_two_of_every_four(tmp_path):
    from edgekit.config.schema import DataConfig
    from edgekit.data import build_dataset
    from edgekit.data.sources import load_digits
    from edgekit.models.zoo import small_cnn
    from edgekit.pipeline.prune import prune_model

    data = build_dataset(DataConfig(), load_digits())
    model = small_cnn(data.input_shape, 10, 0.5)
    config = PruneConfig(structure=PruneStructure.TWO_FOUR, epochs=1, exclude=["conv1"])
    pruned, info = prune_model(model, data, config, batch_size=64, learning_rate=0.001, from_logits=False, seed=0)
    assert "conv1" not in info["sparsity"]["layers"]
    assert np.count_nonzero(pruned.get_layer("conv1").kernel.numpy() == 0) == 0
    assert info["sparsity"]["overall"] == pytest.approx(0.5, abs=0.001)
    kernel = pruned.get_layer("conv3").kernel.numpy()  # (3, 3, in, out): groups of 4 along the input channels
    groups = np.moveaxis(kernel, 2, -1).reshape(-1, 4)
    assert np.all(np.count_nonzero(groups == 0, axis=1) >= 2)
    assert np.count_nonzero(model.get_layer("conv3").kernel.numpy() == 0) == 0  # the input model is untouched


def test_mixed_bfloat16_training_is_recorded(tmp_path):
    config = write_config(tmp_path, """
        name: bf16
        model: {builtin: mlp, width: 0.25}
        train: {epochs: 2, precision: mixed_bfloat16}
        prune: {enabled: false}
        qat: {enabled: false}
        export: {formats: [tflite], quantization: [float32, int8]}
        profile: {runs: 5, warmup: 1, min_seconds: 0}
        evaluate: {max_accuracy_drop: 1.0, min_agreement: 0.0}
    """)
    result, manifest = build(config)
    assert result.exit_code == 0, result.output
    assert manifest["precision"] == "mixed_bfloat16"
    assert manifest["precision_reason"] == "set in train.precision"
    assert artifact(manifest, "keras-dense")["accuracy"] > 0.5
    assert artifact(manifest, "tflite-int8")["method"] == "tflite-converter"  # post-training, no QAT


def test_factory_and_images_source(tmp_path):
    rng = np.random.default_rng(0)
    for class_id, name in enumerate(["dark", "light"]):
        (tmp_path / "images" / name).mkdir(parents=True)
        for index in range(12):
            level = 40 + class_id * 160 + int(rng.integers(0, 30))
            Image.new("RGB", (20, 16), color=(level, level, level)).save(tmp_path / "images" / name / f"{index}.png")
    (tmp_path / "mymodels.py").write_text(textwrap.dedent("""
        import tf_keras as keras

        def build(input_shape, num_classes):
            inputs = keras.Input(input_shape)
            x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
            x = keras.layers.GlobalAveragePooling2D()(x)
            return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax", name="out")(x))
    """))
    config = write_config(tmp_path, """
        name: shades
        data: {source: images, path: images, image_size: [12, 12], test_fraction: 0.25, val_fraction: 0.0}
        model: {factory: "mymodels:build"}
        train: {epochs: 3, batch_size: 4, learning_rate: 0.01}
        prune: {enabled: false}
        qat: {enabled: false}
        export: {formats: [tflite], quantization: [int8]}
        profile: {runs: 5, warmup: 1, min_seconds: 0}
        evaluate: {max_accuracy_drop: 1.0, min_agreement: 0.0}
    """)
    result, manifest = build(config)
    assert result.exit_code == 0, result.output
    assert manifest["data"]["class_names"] == ["dark", "light"]
    assert manifest["data"]["input_shape"] == [12, 12, 3]
    assert manifest["preprocessing"]["scale"] == pytest.approx(1 / 255)
    assert [a["name"] for a in manifest["artifacts"]] == ["keras-dense", "tflite-int8"]


def test_factory_returning_something_else_than_a_keras_model_is_refused(tmp_path):
    from edgekit.models.keras3 import is_keras3_model
    from edgekit.models.loading import call_factory

    (tmp_path / "k3.py").write_text("import keras\n\ndef build():\n    return keras.Sequential([keras.Input((4,)), "
                                    "keras.layers.Dense(2)])\n\ndef numbers():\n    return [1, 2]\n")
    assert is_keras3_model(call_factory("k3:build", tmp_path, (4,), 2))  # rebuilt in tf_keras by take_in_model
    with pytest.raises(ModelError, match=r"model.factory 'k3:numbers' returned builtins.list, not a Keras model "
                                         r"\(tf_keras or Keras 3\)"):
        call_factory("k3:numbers", tmp_path, (4,), 2)


def test_rebuild_reuses_the_cache_and_reruns_only_what_changed(digits_build, tmp_path):
    original_config, _, original = digits_build
    folder = tmp_path / "copy"
    shutil.copytree(original_config.parent, folder)
    config = folder / "edgekit.yaml"

    result, manifest = build(config)
    assert result.exit_code == 0, result.output
    assert all(stage["cached"] for stage in manifest["stages"])
    assert [a["sha256"] for a in manifest["artifacts"]] == [a["sha256"] for a in original["artifacts"]]

    config.write_text(config.read_text().replace("runs: 50", "runs: 60"))
    _, manifest = build(config)
    assert {s["name"]: s["cached"] for s in manifest["stages"]} == {
        "data": True, "train": True, "prune": True, "qat": True, "export": True, "evaluate": True, "diagnose": True,
        "profile": False}
    assert artifact(manifest, "tflite-int8")["latency"]["runs"] >= 60

    config.write_text(config.read_text().replace("quantization: [float32, float16, dynamic, int8]",
                                                 "quantization: [float32, int8]"))
    _, manifest = build(config)
    rerun = [s["name"] for s in manifest["stages"] if not s["cached"]]
    assert rerun == ["export", "evaluate", "diagnose", "profile"]
    assert "tflite-float16" not in [a["name"] for a in manifest["artifacts"]]


def test_force_and_bad_requests_are_refused_before_training(digits_build, tmp_path):
    config, _, _ = digits_build
    result = run_cli("build", "--config", config, "--force", "trian")
    assert result.exit_code == 2 and "--force trian: no such stage (did you mean 'train'?)" in result.output
    result = run_cli("build", "--config", config, "--target", "hots")
    assert result.exit_code == 2 and "unknown target 'hots' (did you mean 'host'?)" in result.output
    result = run_cli("build", "--config", tmp_path / "missing.yaml")
    assert result.exit_code == 2 and "no such configuration file" in result.output


def test_profile_command_writes_the_profile_json(digits_build, tmp_path):
    config, _, manifest = digits_build
    model = config.parent / "build" / "host" / artifact(manifest, "tflite-int8")["path"]
    output = tmp_path / "p.json"
    result = run_cli("profile", model, "--runs", 30, "--warmup", 2, "--min-seconds", 0, "--output", output)
    assert result.exit_code == 0, result.output
    profile = json.loads(output.read_text())["profiles"][0]
    for key in ("model", "target", "device", "threads", "delegate", "runs", "warmup", "min_ms", "median_ms", "mean_ms",
                "p90_ms", "p99_ms", "max_ms", "std_ms", "samples_ms", "init_ms", "first_ms"):
        assert key in profile
    assert profile["runs"] == len(profile["samples_ms"]) >= 30
    assert profile["model"]["sha256"] == artifact(manifest, "tflite-int8")["sha256"]
    assert "median ms" in result.output
