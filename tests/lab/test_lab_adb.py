"""Android through the real adb client and a real adbd (Debian's, in a chroot in its own namespace).
Timing uses a STAND-IN benchmark_model (tests/standins/benchmark_model): the real binary cannot be installed
here; the stand-in prints the documented output format with fixed numbers."""

import json
from pathlib import Path

import pytest

from edgekit import fsutil
from edgekit.adapters import ConnectionOptions, open_adapter
from edgekit.config.target import load_target
from edgekit.transport.adb import AdbTransport
from tests.adapter_contract import AdapterContract, TransportContract
from tests.lab.conftest import MODELS, STANDINS, edgekit


class TestAdbTransport(TransportContract):
    @pytest.fixture
    def transport(self, lab):
        with AdbTransport(lab["phone"]["serial"], workdir="/data/local/tmp/edgekit", connect_timeout_s=10) as transport:
            yield transport


class TestAdbDevice(AdapterContract):
    per_run_samples = False  # benchmark_model (here its stand-in) reports aggregates only

    @pytest.fixture
    def adapter(self, lab):
        with open_adapter(load_target("lab-phone"), ConnectionOptions(address=lab["phone"]["serial"])) as adapter:
            yield adapter


def test_deploy_over_adb_verifies_sha256(lab):
    dest = "/data/local/tmp/app dir"
    result = edgekit("deploy", MODELS / "mlp-int8.tflite", MODELS / "mlp-float16.tflite", "--target", "lab-phone",
                     "--device", lab["phone"]["serial"], "--dest", dest)
    assert result.exit_code == 0, result.output
    assert result.output.count("verified on the device") == 2
    on_phone = Path(lab["phone"]["rootfs"]) / dest.lstrip("/") / "mlp-int8.tflite"
    assert fsutil.sha256_file(on_phone) == fsutil.sha256_file(MODELS / "mlp-int8.tflite")


def test_profile_with_the_standin_benchmark_model_pinned_to_the_mask(lab, tmp_path):
    output = tmp_path / "phone.json"
    result = edgekit("profile", MODELS / "mlp-int8.tflite", "--target", "lab-phone", "--device",
                     lab["phone"]["serial"], "--runs", 50, "--output", output)
    assert result.exit_code == 0, result.output
    profile = json.loads(output.read_text())["profiles"][0]
    # the stand-in's fixed numbers, in milliseconds
    assert profile["runs"] == 50 and profile["median_ms"] == pytest.approx(1239.807)
    assert profile["mean_ms"] == pytest.approx(1240.27) and profile["p95_ms"] == pytest.approx(1247.415)
    assert profile["p90_ms"] is None and profile["samples_ms"] == []
    assert profile["init_ms"] == pytest.approx(3.512) and profile["memory_mb"]["delta_overall_mb"] == 109.832
    assert profile["device"]["runtime"] == "benchmark_model" and profile["device"]["cpu_mask"] == "1"
    assert profile["device"]["machine"] == "x86_64"


def test_taskset_and_flags_reach_the_binary(lab):
    with open_adapter(load_target("lab-phone"), ConnectionOptions(address=lab["phone"]["serial"])) as adapter:
        adapter.put(STANDINS / "benchmark_model", "/data/local/tmp/benchmark_model")
        code, stdout, _ = adapter.run(["taskset", "1", "/data/local/tmp/benchmark_model", "--graph=/nowhere.tflite",
                                       "--num_threads=1"])
    assert code == 1
    assert "affinity mask: 1" in stdout and "Could not open '/nowhere.tflite'" in stdout


def test_missing_benchmark_binary_names_where_to_get_it(lab):
    result = edgekit("profile", MODELS / "mlp-int8.tflite", "--target", "android-arm64", "--device",
                     lab["phone"]["serial"])
    assert result.exit_code == 3
    assert "benchmark_model binary, and none is configured: download it from https://" in result.output


def test_unknown_serial(lab):
    result = edgekit("deploy", MODELS / "mlp-int8.tflite", "--target", "lab-phone", "--device", "no-such-phone")
    assert result.exit_code == 3
    assert "no-such-phone: no such adb device" in result.output


def test_phone_dropping_mid_run_is_exit_3_naming_it(lab, tmp_path):
    output = tmp_path / "never.json"
    # the stand-in sleeps --min_secs first, so adbd dies while it runs
    with lab.dropping("phone", after_s=1.0, once_running="benchmark_model"):
        result = edgekit("profile", MODELS / "mlp-int8.tflite", "--target", "lab-phone", "--device",
                         lab["phone"]["serial"], "--min-seconds", 30, "--output", output)
    assert result.exit_code == 3, result.output
    assert f"{lab['phone']['serial']}: the device dropped the connection while running taskset" in result.output
    assert not output.exists()


def test_op_profile_and_peak_memory_from_the_standin(lab, tmp_path):
    output = tmp_path / "phone-ops.json"
    result = edgekit("profile", MODELS / "mlp-int8.tflite", "--target", "lab-phone", "--device",
                     lab["phone"]["serial"], "--runs", 50, "--op-profile", "--output", output)
    assert result.exit_code == 0, result.output
    profile = json.loads(output.read_text())["profiles"][0]
    assert profile["memory"]["peak_rss_mb"] == 138.809 and profile["memory"]["source"] == "benchmark_model"
    assert profile["runs"] == 50  # the timed run; the op-profiling run is a separate, shorter one
    assert "a separate run of 30 inferences" in profile["op_profile_source"]
    assert [entry["node_type"] for entry in profile["op_types"]] == ["FULLY_CONNECTED", "SOFTMAX"]
    assert "slowest op types: FULLY_CONNECTED 0.032 ms (80%)" in result.output
