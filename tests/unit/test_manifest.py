"""The accuracy gate and the summary's derived columns."""

import pytest

from edgekit.base.human import human_bytes
from edgekit.config.schema import EvaluateConfig
from edgekit.pipeline.manifest import accuracy_gate, gate_error
from edgekit.report.rows import summary_rows


def artifact(name, quantization, accuracy, median=None, bytes_=1000, agreement=1.0):
    return {"name": name, "format": name.split("-")[0], "quantization": quantization, "accuracy": accuracy,
            "agreement": agreement, "bytes": bytes_, "gzip_bytes": bytes_ // 2, "sparsity": 0.5,
            "latency": None if median is None else {"median_ms": median}}


ARTIFACTS = [
    artifact("keras-dense", "float32", 0.97),
    artifact("tflite-float32", "float32", 0.97, median=2.0),
    artifact("tflite-int8", "int8", 0.955, median=0.5),
    artifact("onnx-int8", "int8", 0.965),
]


def test_gate_fails_each_int8_artifact_that_drops_too_far_naming_both_numbers():
    gate = accuracy_gate(ARTIFACTS, EvaluateConfig(max_accuracy_drop=0.01))
    assert not gate["passed"] and gate["baseline_accuracy"] == 0.97
    assert gate["failures"] == ["tflite-int8 accuracy 0.9550 is 0.0150 below the dense float model's 0.9700 "
                                "(evaluate.max_accuracy_drop is 0.01)"]
    error = gate_error({"gate": gate})
    assert error.exit_code == 1 and "accuracy gate failed: tflite-int8 accuracy 0.9550" in str(error)


def test_gate_passes_within_the_threshold():
    gate = accuracy_gate(ARTIFACTS, EvaluateConfig(max_accuracy_drop=0.02))
    assert gate["passed"] and gate["failures"] == []
    assert gate_error({"gate": gate}) is None


def test_summary_rows_derive_delta_and_speedup():
    rows = {row["name"]: row for row in summary_rows({"artifacts": ARTIFACTS, "gate": {"baseline_accuracy": 0.97}})}
    assert rows["tflite-int8"]["delta"] == pytest.approx(-0.015)
    assert rows["tflite-int8"]["speedup"] == pytest.approx(4.0)
    assert rows["onnx-int8"]["speedup"] is None


def test_human_bytes():
    assert human_bytes(512) == "512 B"
    assert human_bytes(2048) == "2.0 KiB"
    assert human_bytes(3 * 1024 * 1024) == "3.0 MiB"
    assert human_bytes(None) == "-"
