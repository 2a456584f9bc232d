"""Regression builds end to end, and the accuracy gate's checks that accuracy alone cannot fool."""

import textwrap

import numpy as np
import pytest

from tests.integration.helpers import artifact, build, run_cli, write_config, write_outliers_npz

pytestmark = pytest.mark.slow

SENSOR_FACTORY = '''
import tf_keras as keras


def sensor_regressor(input_shape, num_classes):
    """A small dense regressor; `num_classes` is the number of targets for a regression."""
    inputs = keras.Input(shape=input_shape, name="window")
    x = keras.layers.Dense(64, activation="relu", name="fc1")(inputs)
    x = keras.layers.Dense(64, activation="relu", name="fc2")(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, name="targets")(x), name="sensor_regressor")
'''


def sensor_data(path, samples=600):
    """Windows of 8 sensor readings and two float targets: a smooth non-linear and a linear function of them."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (samples, 8)).astype(np.float32)
    y = np.stack([np.sin(2 * x[:, 0]) + 0.5 * x[:, 1] * x[:, 2], x[:, 3] - 0.5 * x[:, 4]], axis=1)
    np.savez(path, x=x, y=y.astype(np.float32))


def test_regression_model_end_to_end_through_prune_qat_int8_and_onnx(tmp_path):
    sensor_data(tmp_path / "sensors.npz")
    (tmp_path / "sensor_models.py").write_text(textwrap.dedent(SENSOR_FACTORY))
    config = write_config(tmp_path, """
        name: sensors
        data: {source: npz, path: sensors.npz}
        model: {factory: "sensor_models:sensor_regressor"}
        train: {epochs: 30, batch_size: 32, learning_rate: 0.003}
        prune: {enabled: true, target_sparsity: 0.5, epochs: 2}
        qat: {enabled: true, epochs: 2}
        export: {formats: [tflite, onnx], quantization: [float32, int8], representative_samples: 100}
        evaluate: {max_metric_increase: 0.5}
        profile: {runs: 5, warmup: 1, min_seconds: 0}
    """)
    result, manifest = build(config)
    assert result.exit_code == 0, result.output
    assert manifest["task"] == "regression"
    assert manifest["data"]["task"] == "regression" and manifest["data"]["targets"] == 2
    dense = artifact(manifest, "keras-dense")
    constant = manifest["gate"]["chance_metric"]
    # The float model learned something: far better than always answering the targets' median.
    assert dense["metrics"]["mae"] < 0.5 * constant, (dense, constant)
    names = {a["name"] for a in manifest["artifacts"]}
    assert names == {"keras-dense", "keras-pruned", "tflite-float32", "tflite-int8", "onnx-float32", "onnx-int8"}
    for record in manifest["artifacts"]:
        assert record["accuracy"] is None and record["agreement"] is None
        assert set(record["metrics"]) == {"mae", "rmse"} and record["metrics"]["rmse"] >= record["metrics"]["mae"]
        assert record["metrics"]["mae"] <= dense["metrics"]["mae"] * 1.5
    int8 = artifact(manifest, "tflite-int8")
    assert 0 < int8["agreement_mae"] < 0.5 * constant  # int8 outputs follow the float model's
    from ai_edge_litert.interpreter import Interpreter

    # int8 in and out: the evaluator quantized the inputs and dequantized the outputs, as an app must.
    interpreter = Interpreter(model_path=str(config.parent / "build" / "host" / int8["path"]))
    assert interpreter.get_input_details()[0]["dtype"] == np.int8
    output = interpreter.get_output_details()[0]
    assert output["dtype"] == np.int8 and output["quantization"][0] > 0 and tuple(output["shape"][1:]) == (2,)
    pruned = artifact(manifest, "keras-pruned")
    for exported in ("tflite-float32", "onnx-float32"):  # conversions of the pruned model compute what it does
        assert artifact(manifest, exported)["metrics"]["mae"] == pytest.approx(pruned["metrics"]["mae"], abs=1e-4)
    gate = manifest["gate"]
    assert gate["passed"] and gate["task"] == "regression" and gate["metric"] == "mae"
    assert {check["artifact"] for check in gate["checks"]} == names - {"keras-dense"}
    assert manifest["history"]["train"]["mae"] and "accuracy" not in manifest["history"]["train"]
    assert "MAE" in result.output and "RMSE" in result.output
    assert "accuracy gate: passed (every compressed artifact's MAE at most 50% above" in result.output
    report = (config.parent / "build" / "host" / "report.html").read_text()
    assert "MAE and latency" in report and "task <b>regression</b>" in report


def test_int8_that_disagrees_with_the_float_model_fails_the_gate_on_agreement(tmp_path):
    # One input feature with outliers (1000 against values in [0, 1]) stretches int8's per-tensor input scale until
    # the informative feature rounds away: int8 answers differently from the float model on many samples. The
    # accuracy check is switched off (max_accuracy_drop 1.0), so agreement alone must fail the build.
    write_outliers_npz(tmp_path / "outliers.npz")
    config = write_config(tmp_path, """
        name: outliers
        data: {source: npz, path: outliers.npz}
        model: {builtin: mlp, width: 0.25}
        train: {epochs: 15, batch_size: 32}
        prune: {enabled: false}
        qat: {enabled: false}
        export: {formats: [tflite], quantization: [float32, int8]}
        evaluate: {max_accuracy_drop: 1.0, min_agreement: 0.9}
        profile: {runs: 5, warmup: 1, min_seconds: 0}
    """)
    result, manifest = build(config)
    assert result.exit_code == 1, result.output
    assert manifest["task"] == "classification"
    agreement = artifact(manifest, "tflite-int8")["agreement"]
    assert agreement < 0.9
    assert f"accuracy gate failed: tflite-int8 agreement {agreement:.4f}" in result.output
    assert "evaluate.min_agreement is 0.9" in result.output
    failed = [(check["artifact"], check["check"]) for check in manifest["gate"]["checks"] if not check["passed"]]
    assert failed == [("tflite-int8", "agreement")]


def test_float_labels_with_a_softmax_classifier_say_what_to_set(tmp_path):
    from edgekit._tf import keras

    inputs = keras().Input((8,))
    hidden = keras().layers.Dense(16, activation="relu")(inputs)
    keras().Model(inputs, keras().layers.Dense(3, activation="softmax")(hidden)).save(tmp_path / "classifier.keras")
    sensor_data(tmp_path / "sensors.npz", samples=100)
    config = write_config(tmp_path, """
        name: mismatch
        data: {source: npz, path: sensors.npz}
        model: {file: classifier.keras}
        train: {epochs: 1}
    """)
    result, manifest = build(config)
    assert result.exit_code == 2, result.output
    assert "the labels are float targets of shape (N, 2), but the model ends in a softmax over 3 classes" \
           in result.output
    assert "set `task: regression` and end the model in a linear layer (Dense(2) with no activation)" in result.output
    assert "Traceback" not in result.output and manifest is None


def test_task_and_labels_that_do_not_fit_are_refused_before_training(tmp_path):
    sensor_data(tmp_path / "sensors.npz", samples=100)
    config = write_config(tmp_path, "name: c\ntask: classification\ndata: {source: npz, path: sensors.npz}\n")
    result, _ = build(config)
    assert result.exit_code == 2, result.output
    assert "y has shape (100, 2); labels must be integer class ids of shape (N,) (for float targets to predict, " \
           "set `task: regression`)" in " ".join(result.output.split())
    config = write_config(tmp_path / "digits", "name: d\ntask: regression\n")
    result, _ = build(config)
    assert result.exit_code == 2, result.output
    assert "task 'regression' needs float targets; data.source 'digits' gives class labels" in result.output


@pytest.mark.parametrize("builtin, input_shape", [("mlp", (8,)), ("small_cnn", (8, 8, 1))])
def test_builtins_regress_through_a_linear_head(tmp_path, builtin, input_shape):
    from edgekit.config.loader import load_config
    from edgekit.config.schema import ModelConfig, Task
    from edgekit.models.task import build_task_model

    loaded = load_config(write_config(tmp_path, "name: b\n"))
    model = build_task_model(ModelConfig(builtin=builtin, width=0.25), loaded, input_shape, Task.REGRESSION, 3).model
    head = model.layers[-1]
    assert tuple(model.outputs[0].shape[1:]) == (3,)
    assert head.name == "regression" and head.activation.__name__ == "linear"


def test_a_factory_that_raises_is_one_message_naming_what_it_was_given(tmp_path):
    # A Conv1D model on data it cannot take (too short a sequence): Keras raises ValueError inside the factory.
    (tmp_path / "seqmodels.py").write_text(
        "import tf_keras as k\n"
        "def conv1d(input_shape, num_classes):\n"
        "    inputs = k.Input((4, 3))\n"
        "    x = k.layers.Conv1D(8, 9)(inputs)\n"
        "    return k.Model(inputs, k.layers.Dense(num_classes, activation='softmax')(k.layers.Flatten()(x)))\n")
    config = write_config(tmp_path, 'name: f\nmodel: {factory: "seqmodels:conv1d"}\ntrain: {epochs: 1}\n')
    result = run_cli("build", "--config", config)
    assert result.exit_code == 2, result.output
    assert "model.factory 'seqmodels:conv1d' failed when called with {'input_shape': (8, 8, 1), 'num_classes': 10}: " \
           "ValueError:" in result.output
    assert "Traceback" not in result.output
