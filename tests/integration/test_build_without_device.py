"""`edgekit build --target rpi4` without a device: every artifact is built and checked, profiling is skipped."""

import json

import pytest

from tests.integration.helpers import run_cli, write_config

QUICK_MLP = """
name: no-board
data: {source: digits, seed: 0}
model: {builtin: mlp}
train: {epochs: 2, batch_size: 64}
prune: {enabled: false}
qat: {enabled: false}
export: {formats: [tflite, onnx], quantization: [float32, int8], representative_samples: 50}
evaluate: {max_accuracy_drop: 0.05, min_agreement: 0.5}
"""


@pytest.mark.slow
def test_build_for_a_board_without_its_device_builds_and_says_how_to_profile(tmp_path):
    config = write_config(tmp_path, QUICK_MLP)
    result = run_cli("build", "--config", config, "--target", "rpi4")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "build" / "rpi4" / "manifest.json").read_text())
    assert manifest["target"] == "rpi4" and manifest["device"] is None
    not_run = manifest["profile_not_run"]
    assert "no device given for target rpi4" in not_run["reason"]
    assert not_run["command"].startswith("edgekit profile ") and "--target rpi4 --device ADDR" in not_run["command"]
    assert "export/no-board-int8.tflite" in not_run["command"]
    assert "profile" not in [stage["name"] for stage in manifest["stages"]]
    names = {artifact["name"] for artifact in manifest["artifacts"]}
    assert {"tflite-float32", "tflite-int8", "onnx-float32"} <= names
    for artifact in manifest["artifacts"]:
        assert artifact["latency"] is None
        if artifact["format"] != "keras":
            assert artifact["accuracy"] is not None and artifact["name"] in manifest["profile_skipped"]
    assert "profile: skipped, no device for target rpi4" in result.output
    assert "--target rpi4 --device ADDR" in result.output


def test_require_device_refuses_before_any_training(tmp_path):
    config = write_config(tmp_path, QUICK_MLP)
    result = run_cli("build", "--config", config, "--target", "rpi4", "--require-device")
    assert result.exit_code == 2
    assert "target rpi4 is reached over ssh and --require-device is set: give --device" in result.output
    assert not (tmp_path / "build" / "rpi4" / "train").exists()
