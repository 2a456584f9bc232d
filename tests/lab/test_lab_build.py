"""`edgekit build --target T --device ADDR`: every .tflite artifact profiled on a lab board through the pipeline."""

import json

from tests.integration.helpers import write_config
from tests.lab.conftest import edgekit

# Small: the point is the device, not the training.
TINY = """
name: lab-tiny
data: {source: digits, seed: 0}
model: {builtin: mlp}
train: {epochs: 2, batch_size: 64}
prune: {enabled: false}
qat: {enabled: false}
export: {formats: [tflite], quantization: [float32, int8], representative_samples: 50}
evaluate: {max_accuracy_drop: 1.0, min_agreement: 0.0}
profile: {runs: 10, warmup: 1, min_seconds: 0.0}
"""


def test_build_profiles_every_tflite_artifact_on_the_aarch64_board(lab, tmp_path):
    config = write_config(tmp_path, TINY)
    out = tmp_path / "build"
    result = edgekit("build", "--config", config, "--target", "rpi4", "--device", lab["pi"]["alias"],
                     "--ssh-config", lab.ssh_config, "--out", out)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["device"]["machine"] == "aarch64" and manifest["device"]["address"] == lab["pi"]["alias"]
    latencies = {a["name"]: a["latency"] for a in manifest["artifacts"] if a["format"] == "tflite"}
    assert set(latencies) == {"tflite-float32", "tflite-int8"}
    for latency in latencies.values():
        assert latency["device"]["machine"] == "aarch64" and latency["samples"]["count"] == latency["runs"] >= 10


def test_device_dropping_mid_build_leaves_no_partial_manifest(lab, tmp_path):
    config = write_config(tmp_path, TINY.replace("min_seconds: 0.0", "min_seconds: 120"))
    out = tmp_path / "build"
    with lab.dropping("board", after_s=1.0, once_running="edgekit_device_profiler"):
        result = edgekit("build", "--config", config, "--target", "lab-x86", "--device", lab["board"]["alias"],
                         "--ssh-config", lab.ssh_config, "--out", out)
    assert result.exit_code == 3, result.output
    assert "lab-board: the device dropped the connection while running" in result.output
    manifest = out / "manifest.json"
    assert not manifest.exists() or all(a.get("latency") is None
                                        for a in json.loads(manifest.read_text())["artifacts"])
