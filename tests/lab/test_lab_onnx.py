"""ONNX Runtime on the boards: the aarch64 board (qemu) has onnxruntime beside ai-edge-litert
(scripts/lab.d/add-onnxruntime.sh); its tflite-runtime 2.14 environment (numpy<2) has not, as older boards. Under
qemu timings mean nothing: these tests check that the right runtime ran and what came back, not speed."""

import json

from tests.lab.conftest import MODELS, edgekit
from tests.onnx_models import write_mlp_onnx


def test_litert_and_onnx_runtime_interleaved_on_the_aarch64_board(lab, tmp_path):
    model = write_mlp_onnx(tmp_path / "mlp.onnx")
    output = tmp_path / "pi.json"
    result = edgekit("profile", MODELS / "mlp-float32.tflite", model, "--target", "rpi4", "--device",
                     lab["pi"]["alias"], "--ssh-config", lab.ssh_config, "--interleave", "--block", 5, "--runs", 20,
                     "--warmup", 2, "--min-seconds", 0, "--threads", 1, "--output", output)
    assert result.exit_code == 0, result.output
    litert, ort = json.loads(output.read_text())["profiles"]
    assert (litert["device"]["machine"], litert["device"]["runtime"]) == ("aarch64", "ai_edge_litert")
    assert (ort["device"]["machine"], ort["device"]["runtime"]) == ("aarch64", "onnxruntime")
    assert ort["device"]["runtime_version"] and ort["delegate"] is None and litert["delegate"] == "xnnpack"
    for profile in (litert, ort):
        assert profile["runs"] == len(profile["samples_ms"]) >= 20 and profile["threads"] == 1
        assert profile["memory"]["source"] == "proc_status" and profile["memory"]["rss_growth_mb"] > 0
        assert profile["memory"]["flash_bytes"] == profile["model"]["bytes"]
    assert "onnxruntime" in result.output


def test_a_board_without_onnxruntime_says_what_to_install(lab, tmp_path):
    model = write_mlp_onnx(tmp_path / "mlp.onnx")
    python = lab["pi"]["tflite_runtime_python"]
    result = edgekit("profile", model, "--target", "rpi4", "--device", lab["pi"]["alias"], "--ssh-config",
                     lab.ssh_config, "--remote-python", python, "--runs", 5, "--min-seconds", 0)
    assert result.exit_code == 3, result.output
    assert "onnxruntime is not importable here" in result.output
    assert f"{python} -m pip install onnxruntime" in result.output


def test_ssh_board_with_benchmark_model_gets_per_op_times(lab, tmp_path):
    # The x86_64 board sees this checkout, so the target file can name the STAND-IN benchmark_model as the
    # board's own binary.
    from tests.lab.conftest import STANDINS

    # A target of its own name: the lab's lab-x86-bm (benchmark_model as the timer) is another board's setup.
    text = (lab.targets / "lab-x86.yaml").read_text().replace("name: lab-x86", "name: lab-x86-opbm")
    (lab.targets / "lab-x86-opbm.yaml").write_text(text + f"benchmark_model: {STANDINS / 'benchmark_model'}\n")
    output = tmp_path / "board.json"
    result = edgekit("profile", MODELS / "mlp-int8.tflite", "--target", "lab-x86-opbm", "--device",
                     lab["board"]["alias"], "--ssh-config", lab.ssh_config, "--runs", 10, "--min-seconds", 0,
                     "--op-profile", "--output", output)
    assert result.exit_code == 0, result.output
    profile = json.loads(output.read_text())["profiles"][0]
    assert len(profile["samples_ms"]) == profile["runs"] >= 10  # edgekit's profiler timed it
    assert profile["op_types"][0]["node_type"] == "FULLY_CONNECTED" and len(profile["op_profile"]) == 3


TINY_BOTH = """
name: lab-both
data: {source: digits, seed: 0}
model: {builtin: mlp}
train: {epochs: 2, batch_size: 64}
prune: {enabled: false}
qat: {enabled: false}
export: {formats: [tflite, onnx], quantization: [float32], representative_samples: 50}
evaluate: {max_accuracy_drop: 1.0}
profile: {runs: 10, warmup: 1, min_seconds: 0.0}
"""


def test_build_on_the_aarch64_board_profiles_both_runtimes_or_skips_onnx_with_the_reason(lab, tmp_path):
    from tests.integration.helpers import write_config

    config = write_config(tmp_path, TINY_BOTH)
    with_ort, without_ort = tmp_path / "with", tmp_path / "without"
    result = edgekit("build", "--config", config, "--target", "rpi4", "--device", lab["pi"]["alias"],
                     "--ssh-config", lab.ssh_config, "--out", with_ort)
    assert result.exit_code == 0, result.output
    artifacts = {a["name"]: a for a in json.loads((with_ort / "manifest.json").read_text())["artifacts"]}
    assert artifacts["tflite-float32"]["latency"]["device"]["runtime"] == "ai_edge_litert"
    onnx = artifacts["onnx-float32"]["latency"]
    assert (onnx["device"]["machine"], onnx["device"]["runtime"]) == ("aarch64", "onnxruntime")
    assert onnx["op_profile"] and onnx["op_types"]  # profile.op_profile defaults to true: onnxruntime's profiler

    # The tflite-runtime 2.14 environment has no onnxruntime: the .tflite is profiled, the .onnx skipped with why.
    result = edgekit("build", "--config", config, "--target", "rpi4", "--device", lab["pi"]["alias"],
                     "--ssh-config", lab.ssh_config, "--remote-python", lab["pi"]["tflite_runtime_python"],
                     "--out", without_ort)
    assert result.exit_code == 0, result.output
    manifest = json.loads((without_ort / "manifest.json").read_text())
    artifacts = {a["name"]: a for a in manifest["artifacts"]}
    assert artifacts["tflite-float32"]["latency"]["device"]["runtime"] == "tflite_runtime"
    assert artifacts["onnx-float32"]["latency"] is None
    assert "onnxruntime is not importable here" in manifest["profile_skipped"]["onnx-float32"]
    assert "onnx-float32 not profiled" in result.output
