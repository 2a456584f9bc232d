"""int8 recovery on a model whose full int8 export fails the gate (examples/wide_range): a real build."""

import json
import shutil
from pathlib import Path

import pytest

from tests.integration.helpers import artifact, build

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "wide_range"


@pytest.fixture(scope="module")
def wide_range_build(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wide_range")
    for name in ("edgekit.yaml", "wide_range_model.py"):
        shutil.copy(EXAMPLE / name, folder / name)
    config = folder / "edgekit.yaml"
    config.write_text(config.read_text().replace("runs: 50", "runs: 20"))
    result, manifest = build(config)
    return config, result, manifest


def test_full_int8_fails_and_the_mixed_variant_passes(wide_range_build):
    _, result, manifest = wide_range_build
    # The full int8 artifact still fails the gate: recovery adds an artifact, it never hides a failure.
    assert result.exit_code == 1, result.output
    baseline = manifest["gate"]["baseline_accuracy"]
    full, mixed = artifact(manifest, "tflite-int8"), artifact(manifest, "tflite-int8-mixed")
    assert full["accuracy"] < baseline - 0.3
    assert mixed["accuracy"] >= baseline - manifest["gate"]["max_accuracy_drop"]
    assert not any("tflite-int8-mixed" in failure for failure in manifest["gate"]["failures"])
    assert mixed["method"] == "float-ops"
    assert mixed["float_ops"] == ["wide_range/wide_range/MatMul1"]
    assert mixed["float_op_reasons"][0].startswith("#1 by per-layer error: FULLY_CONNECTED RMSE/scale")
    assert mixed["bytes"] > full["bytes"]  # the float op's weights are float again
    assert mixed["latency"]["median_ms"] > 0 and mixed["latency"]["model"]["path"].startswith("diagnose/")
    assert set(mixed["latency_cost"]) == {"median_ms", "ratio"}
    recovery = manifest["int8_recovery"]
    assert recovery["chosen"] == "float-1" and recovery["full_int8"]["latency"]["median_ms"] > 0
    assert "samples_ms" not in recovery["full_int8"]["latency"]


def test_per_layer_error_ranks_the_wide_range_op_first(wide_range_build):
    config, _, manifest = wide_range_build
    errors = manifest["quantization_error"]
    worst = errors["tflite-int8"]["layers"][0]
    assert worst["tensor"] == "wide_range/wide_range/MatMul1" and worst["rmse_over_scale"] > 10
    values = [layer["rmse_over_scale"] for layer in errors["tflite-int8"]["layers"]]
    assert values == sorted(values, reverse=True)
    assert errors["tflite-int8-mixed"]["float_ops"] == ["wide_range/wide_range/MatMul1"]
    build_dir = config.parent / "build" / "host"
    overlay = json.loads((build_dir / "model_explorer" / "tflite-int8.quant-error.json").read_text())
    assert overlay["results"]["wide_range/wide_range/MatMul1"]["value"] == pytest.approx(worst["rmse_over_scale"])
    report = (build_dir / "report.html").read_text()
    assert "Quantization error per layer" in report and "int8 recovery" in report


def test_the_summary_says_what_stayed_float_and_why(wide_range_build):
    _, result, _ = wide_range_build
    assert "int8 recovery (auto): tflite-int8 accuracy" in result.output
    assert "tflite-int8-mixed keeps 1 op(s) in float, because:" in result.output
    assert "wide_range/wide_range/MatMul1: #1 by per-layer error" in result.output


def test_recovery_off_builds_no_mixed_variant_and_reuses_the_export(wide_range_build):
    config, _, _ = wide_range_build
    config.write_text(config.read_text().replace("int8_recovery: auto", "int8_recovery: off"))
    result, manifest = build(config)
    assert result.exit_code == 1
    assert "tflite-int8-mixed" not in [a["name"] for a in manifest["artifacts"]]
    assert manifest["int8_recovery"] is None and manifest["quantization_error"]["tflite-int8"]["layers"]
    cached = {stage["name"] for stage in manifest["stages"] if stage["cached"]}
    assert {"train", "export", "evaluate"} <= cached and "diagnose" not in cached
