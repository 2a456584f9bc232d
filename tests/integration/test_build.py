"""A real build of the digits example, checked against the issue's acceptance numbers (with few epochs)."""

import hashlib
import platform

import numpy as np
import pytest

from edgekit.profiling.samples import with_samples

from tests.integration.helpers import artifact

pytestmark = pytest.mark.slow

ARTIFACTS = ["keras-dense", "keras-pruned", "tflite-float32", "tflite-float16", "tflite-dynamic", "tflite-int8",
             "onnx-float32", "onnx-int8"]


def test_build_ends_with_the_summary_table(digits_build):
    _, result, _ = digits_build
    for column in ("artifact", "size", "gzip", "accuracy", "Δ vs float", "agreement", "median ms", "speedup"):
        assert column in result.output
    assert "tflite-int8" in result.output
    assert "accuracy gate: passed" in result.output


def test_manifest_has_the_design_keys(digits_build):
    _, _, manifest = digits_build
    for key in ("edgekit_version", "name", "target", "device", "config_sha256", "versions", "precision", "stages",
                "artifacts"):
        assert key in manifest
    assert manifest["target"] == "host" and manifest["name"] == "digits-tiny"
    assert manifest["precision"] == "float32"  # auto on a machine without a GPU
    for tool in ("tensorflow", "tfmot", "litert", "onnx", "tf2onnx"):
        assert manifest["versions"][tool]
    assert [stage["name"] for stage in manifest["stages"]] == ["data", "train", "prune", "qat", "export", "evaluate",
                                                              "diagnose", "profile"]
    assert [a["name"] for a in manifest["artifacts"]] == ARTIFACTS
    for entry in manifest["artifacts"]:
        assert set(entry) >= {"name", "format", "quantization", "path", "bytes", "gzip_bytes", "sha256", "sparsity",
                              "accuracy", "agreement", "latency"}
    assert manifest["preprocessing"]["scale"] == pytest.approx(1 / 16)
    assert manifest["model_source"]["kind"] == "builtin" and manifest["model_source"]["path"] == "native"


def test_artifact_files_match_their_records(digits_build):
    config, _, manifest = digits_build
    build_dir = config.parent / "build" / "host"
    for entry in manifest["artifacts"]:
        path = build_dir / entry["path"]
        assert not entry["path"].startswith("/")
        assert path.is_file()
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        assert path.stat().st_size == entry["bytes"]
        assert 0 < entry["gzip_bytes"] < entry["bytes"]


def test_int8_is_small_and_accurate(digits_build):
    _, _, manifest = digits_build
    float32, int8 = artifact(manifest, "tflite-float32"), artifact(manifest, "tflite-int8")
    assert int8["bytes"] <= 0.30 * float32["bytes"]
    dense = artifact(manifest, "keras-dense")
    assert dense["accuracy"] > 0.85
    assert int8["accuracy"] >= dense["accuracy"] - 0.02
    assert manifest["gate"]["passed"]


def test_int8_artifact_is_integer_only(digits_build):
    from ai_edge_litert.interpreter import Interpreter

    config, _, manifest = digits_build
    interpreter = Interpreter(model_path=str(config.parent / "build" / "host" / artifact(manifest, "tflite-int8")["path"]))
    assert interpreter.get_input_details()[0]["dtype"] == np.int8
    assert interpreter.get_output_details()[0]["dtype"] == np.int8
    scale, _ = interpreter.get_input_details()[0]["quantization"]
    assert scale == pytest.approx(1 / 255, rel=0.05)  # inputs span [0, 1] after preprocessing


def test_sparsity_reaches_the_target_and_survives_qat(digits_build):
    _, _, manifest = digits_build
    sparsity = manifest["sparsity"]
    assert abs(sparsity["overall"] - 0.5) <= 0.01
    assert sparsity["after_qat"] >= 0.5 - 0.01
    assert all(abs(value - 0.5) <= 0.02 for value in sparsity["layers"].values())
    assert artifact(manifest, "keras-dense")["sparsity"] < 0.01
    assert artifact(manifest, "tflite-int8")["sparsity"] >= 0.49
    # Zeros compress: the pruned model's gzip size is well below the dense one's.
    assert artifact(manifest, "keras-pruned")["gzip_bytes"] < 0.8 * artifact(manifest, "keras-dense")["gzip_bytes"]


def test_onnx_agrees_with_keras_and_int8_onnx_is_qdq(digits_build):
    _, _, manifest = digits_build
    onnx_float = artifact(manifest, "onnx-float32")
    assert onnx_float["max_abs_diff"] <= 1e-4
    assert onnx_float["agreement"] == artifact(manifest, "keras-pruned")["agreement"]
    onnx_int8 = artifact(manifest, "onnx-int8")
    assert onnx_int8["qdq_nodes"] > 0
    assert onnx_int8["method"] in ("tf2onnx-qat", "ort-static")
    assert set(onnx_int8["val_accuracy_by_method"]) == {"tf2onnx-qat", "ort-static"}
    assert onnx_int8["accuracy"] >= artifact(manifest, "keras-dense")["accuracy"] - 0.05


def test_every_tflite_and_onnx_artifact_is_profiled_on_the_host(digits_build):
    config, _, manifest = digits_build
    assert manifest["device"]["machine"] == platform.machine()
    assert manifest["device"]["runtime"] == "ai_edge_litert"
    for entry in manifest["artifacts"]:
        latency = entry["latency"]
        if entry["format"] == "keras":
            assert latency is None
            continue
        assert latency["device"]["runtime"] == ("onnxruntime" if entry["format"] == "onnx" else "ai_edge_litert")
        assert "samples_ms" not in latency  # beside the manifest, in profiles/
        samples = with_samples(latency, config.parent / "build" / "host")["samples_ms"]
        assert latency["runs"] == latency["samples"]["count"] == len(samples) >= 50
        assert latency["min_ms"] <= latency["median_ms"] <= latency["p90_ms"] <= latency["p99_ms"] <= latency["max_ms"]
        assert latency["model"]["sha256"] == entry["sha256"]
        assert latency["model"]["path"] == entry["path"]
        assert latency["threads"] == 1 and latency["target"] == "host"
        for key in ("init_ms", "first_ms", "std_ms", "mean_ms", "warmup", "delegate", "device"):
            assert key in latency


def test_history_is_recorded_per_stage(digits_build):
    _, _, manifest = digits_build
    assert len(manifest["history"]["train"]["accuracy"]) == 8
    assert len(manifest["history"]["prune"]["val_accuracy"]) == 2
    assert len(manifest["history"]["qat"]["loss"]) == 2


def test_the_manifest_keeps_statistics_and_leaves_the_samples_beside_it(digits_build):
    config, _, manifest = digits_build
    build_dir = config.parent / "build" / "host"
    # The samples of every profiled artifact are in profiles/, so the manifest stays small whatever the runs.
    assert (build_dir / "manifest.json").stat().st_size <= 64 * 1024
    profiled = [entry for entry in manifest["artifacts"] if entry["latency"]]
    assert profiled and sorted(f"profiles/{path.name}" for path in (build_dir / "profiles").iterdir()) == sorted(
        entry["latency"]["samples"]["path"] for entry in profiled)
def test_per_layer_quantization_error_of_the_qat_int8(digits_build):
    config, _, manifest = digits_build
    report = manifest["quantization_error"]["tflite-int8"]
    assert report["samples"] > 0 and report["split"] == "val"
    ops = {layer["op"] for layer in report["layers"]}
    assert {"CONV_2D", "FULLY_CONNECTED"} <= ops
    # QAT renames layers (quant_conv2d, ...): ops the names miss are paired by order within their type.
    assert not report["unmatched"]
    # The reference is the float32 artifact (the pruned model), not the QAT model the int8 came from, so QAT's
    # fine-tuning counts as error too: most layers are still far above noise, not all.
    snrs = [layer["snr_db"] for layer in report["layers"] if layer["snr_db"] is not None]
    assert float(np.median(snrs)) > 10, report["layers"]
    assert manifest["int8_recovery"] is None  # the gate passed, and recovery is auto
    assert (config.parent / "build" / "host" / "model_explorer" / "tflite-int8.quant-error.json").is_file()
