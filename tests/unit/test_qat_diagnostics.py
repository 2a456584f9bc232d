"""BatchNorm momentum from the steps, the summary's train/validation gap and QAT layer lines, and messages with
[brackets] that the console must print as written (no TensorFlow training here)."""

import pytest
from click.testing import CliRunner

from edgekit import console
from edgekit.cli import main
from edgekit.models.batchnorm import momentum_for_steps
from edgekit.pipeline.diagnostics import qat_layers_line, train_val_gaps


@pytest.mark.parametrize("steps, momentum", [(1, 0.9), (30, 0.9), (200, 0.9), (400, 0.95), (1000, 0.98),
                                             (100_000, 0.99)])
def test_batchnorm_momentum_settles_well_within_the_steps_trained(steps, momentum):
    assert momentum_for_steps(steps) == pytest.approx(momentum)
    assert 1 / (1 - momentum_for_steps(steps)) <= max(steps / 4, 10) + 1e-9  # the time constant, in steps


def _history(accuracy, val_accuracy):
    return {"accuracy": [0.5, accuracy], "val_accuracy": [0.3, val_accuracy], "loss": [], "val_loss": []}


def test_a_large_gap_between_training_and_held_out_accuracy_is_called_out_per_stage():
    manifest = {"history": {"train": _history(0.93, 0.33), "prune": _history(0.95, 0.9), "qat": _history(0.9, 0.6)},
                "artifacts": [{"name": "keras-dense", "accuracy": 0.3333}, {"name": "keras-pruned", "accuracy": 0.9}]}
    warnings = train_val_gaps(manifest)
    assert len(warnings) == 2
    assert warnings[0].startswith("train: training accuracy 0.93 but test accuracy 0.33 (keras-dense): the model "
                                  "does not do on new data what training measured")
    assert "BatchNormalization statistics that did not settle" in warnings[0]
    assert warnings[1].startswith("qat: training accuracy 0.90 but validation accuracy 0.60")
    # The evaluated model counts, not Keras' validation during training (before BN statistics were re-estimated).
    manifest["artifacts"][0]["accuracy"] = 0.9
    assert [w.split(":")[0] for w in train_val_gaps(manifest)] == ["qat"]
    assert train_val_gaps({"history": {"train": {"accuracy": [0.9], "val_accuracy": []}}}) == []  # nothing held out


def test_qat_line_names_the_layers_left_float_once_per_class():
    trained = [f"layer{i}" for i in range(150)]
    manifest = {"qat": {"scheme": "pqat", "quantization_aware": trained, "calibrated_only": [
        {"name": "tf.__operators__.add", "class": "TFOpLambda", "reason": "no tfmot rule"},
        {"name": "tf.nn.relu6", "class": "TFOpLambda", "reason": "no tfmot rule"},
        {"name": "tf.math.multiply", "class": "TFOpLambda", "reason": "no tfmot rule"},
        {"name": "tf.math.truediv", "class": "TFOpLambda", "reason": "no tfmot rule"},
        {"name": "ln", "class": "LayerNormalization", "reason": "no tfmot rule"},
        {"name": "head", "class": "Dense", "reason": "qat.exclude"}]}}
    assert qat_layers_line(manifest) == (
        "PQAT: 150 layers trained quantization-aware; 6 left float during QAT, only calibrated by the int8 converter: "
        "TFOpLambda ×4 (tf.__operators__.add, tf.nn.relu6, tf.math.multiply, …; no tfmot rule), "
        "LayerNormalization ×1 (ln; no tfmot rule), Dense ×1 (head; qat.exclude)")
    manifest["qat"]["calibrated_only"] = []
    assert qat_layers_line(manifest) == "PQAT: 150 layers trained quantization-aware, none left float"
    assert qat_layers_line({"qat": None}) is None


def test_error_and_warning_print_brackets_as_written(monkeypatch):
    from rich.console import Console

    record = Console(record=True, width=200)
    monkeypatch.setattr(console, "err", record)
    console.error("add it to qat.exclude (e.g. `exclude: [batch_normalization]`) [bold]x[/bold]")
    console.warn("keep [conv1] float")
    text = record.export_text()
    assert "error: add it to qat.exclude (e.g. `exclude: [batch_normalization]`) [bold]x[/bold]" in text
    assert "warning: keep [conv1] float" in text


def test_a_message_with_brackets_prints_intact_through_the_cli(tmp_path):
    missing = tmp_path / "[batch_normalization]" / "model[1].tflite"
    result = CliRunner().invoke(main, ["inspect", str(missing)])
    assert result.exit_code == 2
    assert f"error: {missing}: no such file" in result.output
