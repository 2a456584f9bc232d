"""The accuracy gate's checks (accuracy drop, agreement, a regression's MAE increase), its warnings, and how the
summary and the report show a regression build."""

import copy

import numpy as np
import pytest

from edgekit.config.schema import EvaluateConfig, Task
from edgekit.pipeline.evaluate import constant_mae, majority_accuracy, regression_scores
from edgekit.pipeline.gate import accuracy_gate
from edgekit.pipeline.manifest import gate_error
from edgekit.pipeline.summary import print_summary
from edgekit.report.rows import summary_rows
from edgekit.report import write_report
from tests.unit.report_manifest import sample_manifest, write_build


def classified(name, quantization, accuracy, agreement):
    return {"name": name, "format": name.split("-")[0], "quantization": quantization, "accuracy": accuracy,
            "agreement": agreement}


def regressed(name, quantization, mae, agreement_mae=0.0):
    return {"name": name, "format": name.split("-")[0], "quantization": quantization, "accuracy": None,
            "agreement": None, "metrics": {"mae": mae, "rmse": mae * 1.3}, "agreement_mae": agreement_mae}


def test_int8_that_disagrees_with_the_float_model_fails_even_at_equal_accuracy():
    # The mobilenet_v2 case: both at chance, int8 answering something else on every sample.
    artifacts = [classified("keras-dense", "float32", 0.10, 1.0), classified("tflite-int8", "int8", 0.10, 0.0)]
    gate = accuracy_gate(artifacts, EvaluateConfig(), Task.CLASSIFICATION, chance=0.11)
    assert not gate["passed"]
    assert gate["failures"] == ["tflite-int8 agreement 0.0000: its top-1 answer is the dense float model's on 0.0% "
                                "of the test samples (evaluate.min_agreement is 0.9)"]
    failed = [check for check in gate["checks"] if not check["passed"]]
    assert [(check["artifact"], check["check"], check["value"], check["limit"]) for check in failed] == [
        ("tflite-int8", "agreement", 0.0, 0.9)]
    assert "accuracy gate failed: tflite-int8 agreement 0.0000" in str(gate_error({"gate": gate}))
    assert gate["warnings"] == ["the dense float model's accuracy 0.1000 is no better than always answering the most "
                                "frequent class (0.1100, +0.02): it has not learned the task, so the gate's "
                                "comparisons with it say little; train longer or check the data and labels"]


def test_pruned_float_artifacts_are_gated_too():
    artifacts = [classified("keras-dense", "float32", 0.58, 1.0), classified("keras-pruned", "float32", 0.39, 0.6),
                 classified("tflite-float32", "float32", 0.39, 0.6), classified("tflite-int8", "int8", 0.58, 0.95)]
    gate = accuracy_gate(artifacts, EvaluateConfig(max_accuracy_drop=0.02, min_agreement=0.5), chance=0.2)
    failed = {(check["artifact"], check["check"]) for check in gate["checks"] if not check["passed"]}
    assert failed == {("keras-pruned", "accuracy_drop"), ("tflite-float32", "accuracy_drop")}
    assert gate["failures"][0] == ("keras-pruned accuracy 0.3900 is 0.1900 below the dense float model's 0.5800 "
                                   "(evaluate.max_accuracy_drop is 0.02)")
    assert gate["warnings"] == []
    assert {check["artifact"] for check in gate["checks"]} == {"keras-pruned", "tflite-float32", "tflite-int8"}


def test_a_limit_met_exactly_passes():
    artifacts = [classified("keras-dense", "float32", 0.9, 1.0), classified("tflite-int8", "int8", 0.89, 0.9)]
    assert accuracy_gate(artifacts, EvaluateConfig(max_accuracy_drop=0.01, min_agreement=0.9))["passed"]


def test_regression_gate_compares_each_mae_with_the_float_models_relatively():
    artifacts = [regressed("keras-dense", "float32", 0.20), regressed("tflite-float16", "float16", 0.201),
                 regressed("tflite-int8", "int8", 0.25, 0.08), regressed("onnx-int8", "int8", 0.21)]
    gate = accuracy_gate(artifacts, EvaluateConfig(max_metric_increase=0.1), Task.REGRESSION, chance=1.0)
    assert gate["task"] == "regression" and gate["metric"] == "mae" and gate["baseline_metric"] == 0.20
    assert gate["failures"] == ["tflite-int8 MAE 0.25 is 25.0% above the dense float model's 0.2 "
                                "(evaluate.max_metric_increase is 0.1: at most 0.22)"]
    assert [check["check"] for check in gate["checks"]] == ["metric_increase"] * 3
    assert gate["warnings"] == []
    loose = accuracy_gate(artifacts, EvaluateConfig(max_metric_increase=0.3), Task.REGRESSION, chance=1.0)
    assert loose["passed"] and loose["failures"] == []


def test_regression_float_model_no_better_than_the_median_is_warned_about():
    artifacts = [regressed("keras-dense", "float32", 0.99), regressed("tflite-int8", "int8", 0.99)]
    gate = accuracy_gate(artifacts, EvaluateConfig(), Task.REGRESSION, chance=1.0)
    assert gate["passed"]
    assert gate["warnings"][0].startswith("the dense float model's MAE 0.99 is no better than always answering "
                                          "the targets' median (1, -2%)")


def test_regression_scores_and_chance_levels():
    targets = np.array([[0.0], [1.0], [2.0], [3.0]], np.float32)
    outputs = targets + np.array([[0.5], [-0.5], [0.5], [-1.5]], np.float32)
    scores = regression_scores(outputs, targets, reference=targets)
    assert scores["mae"] == pytest.approx(0.75)
    assert scores["rmse"] == pytest.approx(np.sqrt((0.25 * 3 + 2.25) / 4))
    assert scores["agreement_mae"] == pytest.approx(0.75)
    assert constant_mae(targets) == pytest.approx(1.0)  # median 1.5
    assert majority_accuracy(np.array([0, 1, 1, 2])) == 0.5


def regression_manifest():
    manifest = sample_manifest()
    manifest["task"] = "regression"
    maes = {"keras-dense": 0.20, "keras-pruned": 0.21, "tflite-float32": 0.21, "tflite-float16": 0.21,
            "tflite-dynamic": 0.22, "tflite-int8": 0.30, "onnx-float32": 0.21, "onnx-int8": 0.23}
    for artifact in manifest["artifacts"]:
        artifact.update(accuracy=None, agreement=None, metrics={"mae": maes[artifact["name"]], "rmse": 0.4},
                        agreement_mae=0.05)
    for stage in manifest["history"].values():
        for key in ("accuracy", "val_accuracy"):
            stage[key.replace("accuracy", "mae")] = stage.pop(key)
    manifest["gate"] = accuracy_gate(manifest["artifacts"], EvaluateConfig(max_metric_increase=0.2), Task.REGRESSION,
                                     chance=0.9)
    return manifest


def test_summary_shows_a_regressions_mae(capsys, tmp_path):
    manifest = regression_manifest()
    rows = {row["name"]: row for row in summary_rows(manifest)}
    assert rows["tflite-int8"]["mae"] == 0.30 and rows["tflite-int8"]["accuracy"] is None
    assert rows["tflite-int8"]["delta"] == pytest.approx(0.5)
    assert rows["tflite-int8"]["speedup"] == pytest.approx(4.0)
    print_summary(manifest, tmp_path)
    out = capsys.readouterr().out
    assert "MAE" in out and "RMSE" in out and "+50.0%" in out and "agreement" not in out


def test_report_of_a_regression_names_the_metric_and_the_failed_check(tmp_path):
    manifest = regression_manifest()
    assert not manifest["gate"]["passed"]
    page = write_report(write_build(tmp_path / "build", manifest)).read_text()
    assert "task <b>regression</b>" in page and "MAE and latency" in page and "Δ MAE" in page
    assert "accuracy gate failed" in page and "metric_increase" in page and "tflite-int8 MAE 0.3 is 50.0%" in page
    assert "Accuracy and latency" not in page


def test_report_and_summary_show_the_chance_warning(capsys, tmp_path):
    manifest = copy.deepcopy(sample_manifest())
    manifest["gate"] = accuracy_gate(manifest["artifacts"], EvaluateConfig(max_accuracy_drop=0.05),
                                     chance=manifest["artifacts"][0]["accuracy"])
    page = write_report(write_build(tmp_path / "build", manifest)).read_text()
    assert "no better than always answering the most frequent class" in page
    print_summary(manifest, tmp_path)
    assert "warning: the dense float model's accuracy" in capsys.readouterr().out
