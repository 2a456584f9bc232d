"""The device profiler on .onnx models (onnxruntime, an optional import) and its resident-set readings."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.adapters import ConnectionOptions
from edgekit.adapters.acceptance import model_kind, refusal
from edgekit.config.target import load_target
from edgekit.errors import ArtifactNotAccepted, InputFileError, RuntimeMissing
from edgekit.fleet.measure import profile_models
from edgekit.profiling.device import facts, profiler, runners, runtimes
from edgekit.profiling.profile import ProfileSettings
from edgekit.profiling.run import check_tflite_file
from tests.onnx_models import write_mlp_onnx

MODELS = Path(__file__).resolve().parents[1] / "data" / "models"
QUICK = ProfileSettings(runs=5, warmup=1, min_seconds=0.0, threads=1)


@pytest.fixture
def onnx_model(tmp_path):
    return write_mlp_onnx(tmp_path / "mlp.onnx")


@pytest.fixture
def without_onnxruntime(monkeypatch):
    # None in sys.modules makes `import onnxruntime` raise ImportError, as on a board that lacks it.
    monkeypatch.setitem(sys.modules, "onnxruntime", None)


def test_onnx_and_tflite_interleaved_each_with_its_runtime_and_memory(onnx_model):
    result = profiler.profile([str(onnx_model), str(MODELS / "mlp-int8.tflite")], runs=6, warmup=1,
                                     min_seconds=0.0, threads=1, block=3)
    onnx_entry, tflite_entry = result["profiles"]
    assert onnx_entry["runtime"] == "onnxruntime" and onnx_entry["runtime_version"]
    assert tflite_entry["runtime"] in ("ai_edge_litert", "tflite_runtime", "tensorflow")
    assert onnx_entry["inputs"] == [{"name": "input", "dtype": "float32", "shape": [1, 16]}]  # dynamic batch: 1
    for entry in (onnx_entry, tflite_entry):
        assert entry["runs"] == len(entry["samples_ms"]) >= 6 and entry["first_ms"] > 0 and entry["init_ms"] > 0
        memory = entry["memory"]
        assert memory["source"] == "proc_status"
        assert memory["rss_after_load_kb"] - memory["rss_before_load_kb"] == memory["load_growth_kb"]
        assert memory["rss_growth_kb"] >= memory["load_growth_kb"] and memory["peak_rss_kb"] >= memory["rss_after_invoke_kb"]
    # Loaded one after the other: the second model's "before" is after the first model's runs.
    assert tflite_entry["memory"]["rss_before_load_kb"] >= onnx_entry["memory"]["rss_before_load_kb"]
    assert result["memory"]["peak_rss_kb"] >= result["memory"]["rss_start_kb"] > 0


def test_without_onnxruntime_an_onnx_model_fails_naming_the_package(onnx_model, without_onnxruntime):
    with pytest.raises(runtimes.ProfilerError) as raised:
        profiler.profile([str(onnx_model)], runs=2, warmup=0, min_seconds=0.0)
    assert raised.value.code == "runtime_missing" and raised.value.exit_code == runtimes.EXIT_NO_RUNTIME
    assert "onnxruntime is not importable here" in raised.value.message
    assert "-m pip install onnxruntime" in raised.value.message


def test_without_onnxruntime_tflite_models_still_profile(without_onnxruntime):
    result = profiler.profile([str(MODELS / "mlp-int8.tflite")], runs=3, warmup=0, min_seconds=0.0)
    assert result["profiles"][0]["runs"] >= 3 and result["device"]["runtime"] != "onnxruntime"


def test_main_prints_the_typed_error_as_json(onnx_model, without_onnxruntime, capsys):
    code = profiler.main([str(onnx_model), "--runs", "2", "--min-seconds", "0"])
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 4 and printed["error"] == "runtime_missing" and "onnxruntime" in printed["message"]


def test_a_broken_onnx_file_is_a_bad_model(tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07not a graph")
    with pytest.raises(runtimes.ProfilerError, match="not a model onnxruntime can load"):
        profiler.profile([str(broken)], runs=1, warmup=0, min_seconds=0.0)


def test_memory_falls_back_to_getrusage_without_proc(monkeypatch):
    real_open = open

    def no_proc(path, *args, **kwargs):
        if str(path).startswith("/proc/"):
            raise FileNotFoundError(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", no_proc)
    reading = facts.memory_reading()
    assert reading["source"] == "getrusage" and reading["rss_kb"] == reading["hwm_kb"] > 0


def test_host_profile_of_onnx_names_onnxruntime_and_records_memory(onnx_model):
    (profile,) = profile_models([onnx_model], "host", ConnectionOptions(), QUICK)
    assert profile["device"]["runtime"] == "onnxruntime" and profile["delegate"] is None
    assert profile["runs"] == len(profile["samples_ms"]) >= 5
    memory = profile["memory"]
    assert memory["flash_bytes"] == onnx_model.stat().st_size == profile["model"]["bytes"]
    assert memory["rss_growth_mb"] > 0 and memory["peak_rss_mb"] > memory["rss_growth_mb"]
    assert memory["source"] == "proc_status"


def test_host_profile_without_onnxruntime_on_the_device_is_runtime_missing(onnx_model, tmp_path):
    # A fresh virtual environment without packages: a Python without onnxruntime, as a board may be.
    subprocess.run([getattr(sys, "_base_executable", None) or sys.executable, "-m", "venv", "--without-pip",
                    str(tmp_path / "bare")], check=True)
    bare = str(tmp_path / "bare" / "bin" / "python")
    assert subprocess.run([bare, "-c", "import onnxruntime"], capture_output=True).returncode != 0
    with pytest.raises(RuntimeMissing, match=r"localhost: onnxruntime is not importable here .* -m pip install "
                                             r"onnxruntime"):
        profile_models([onnx_model], "host", ConnectionOptions(remote_python=bare), QUICK)


def test_a_file_named_onnx_that_is_not_onnx_is_refused_before_anything_runs(tmp_path):
    fake = tmp_path / "fake.onnx"
    fake.write_bytes(b"TFL3 certainly not protobuf \xff\xff")
    with pytest.raises(InputFileError, match="fake.onnx is not an ONNX model"):
        check_tflite_file(fake)


def test_onnx_kind_and_targets_that_run_only_tflite(onnx_model):
    kind = model_kind(onnx_model)
    assert (kind.format, kind.quantization, kind.input_dtypes) == ("onnx", "float32", ("float32",))
    assert refusal(load_target("host"), onnx_model) is None
    assert refusal(load_target("android-arm64"), onnx_model) == (
        "mlp.onnx is float32: target android-arm64 runs tflite models, not onnx")
    # The quantization is judged first (coral runs int8 edgetpu models only): the reason a user can act on first.
    with pytest.raises(ArtifactNotAccepted, match="mlp.onnx is float32: target coral-usb runs only int8 models, not "
                                                  "float32 .*; nothing was sent"):
        profile_models([onnx_model], "coral-usb", ConnectionOptions(address="pi@coral"), QUICK)


def test_an_earlier_models_peak_is_not_the_next_models_growth():
    reading = lambda rss, hwm: {"rss_kb": rss, "hwm_kb": hwm, "source": "proc_status"}  # noqa: E731
    # The first model peaked at 500 MB and settled at 300; the next one grows 300 -> 310 without a new peak.
    record = facts.memory_record(reading(300, 500), reading(308, 500), reading(310, 500))
    assert (record["rss_growth_kb"], record["load_growth_kb"], record["invoke_growth_kb"]) == (10, 8, 2)
    # A new peak between readings counts.
    assert facts.memory_record(reading(300, 500), reading(308, 500), reading(310, 640))["rss_growth_kb"] == 340


def test_onnx_per_op_times_from_onnxruntimes_profiler(onnx_model):
    settings = ProfileSettings(runs=5, warmup=1, min_seconds=0.0, threads=1, op_profile=True)
    (profile,) = profile_models([onnx_model], "host", ConnectionOptions(), settings)
    rows = profile["op_profile"]
    # onnxruntime fuses MatMul+Add into one node at full optimisation; Relu may be fused too, Softmax stays.
    assert rows[-1]["node_type"] == "Softmax" and rows[-1]["name"] == "softmax"
    assert all(row["avg_ms"] > 0 for row in rows) and sum(row["percent"] for row in rows) == pytest.approx(100, abs=0.01)
    assert {entry["node_type"] for entry in profile["op_types"]} == {row["node_type"] for row in rows}
    assert "separate session of 5 runs" in profile["op_profile_source"]
    assert len(profile["samples_ms"]) == profile["runs"]  # the timed runs are not the profiled ones


def test_onnx_op_rows_from_trace_events():
    events = [{"cat": "Session", "name": "model_run", "dur": 900},
              {"cat": "Node", "name": "conv_fence_before", "dur": 1},
              {"cat": "Node", "name": "conv_kernel_time", "dur": 300, "args": {"op_name": "Conv"}},
              {"cat": "Node", "name": "relu_kernel_time", "dur": 100, "args": {"op_name": "Relu"}},
              {"cat": "Node", "name": "conv_kernel_time", "dur": 100, "args": {"op_name": "Conv"}}]
    rows = runners.onnx_op_rows(events)
    assert rows == [{"node_type": "Conv", "name": "conv", "first_ms": 0.3, "avg_ms": 0.2, "percent": 66.667,
                     "times_called": 1},
                    {"node_type": "Relu", "name": "relu", "first_ms": 0.1, "avg_ms": 0.1, "percent": 33.333,
                     "times_called": 1}]
