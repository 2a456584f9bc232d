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
