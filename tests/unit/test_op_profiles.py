"""Per-op times: summed per op type, the peak-memory flag, op profiling in a run of its own (on the host target
through a STAND-IN benchmark_model, tests/standins/benchmark_model), and the profile's memory record."""

from pathlib import Path

import pytest

from edgekit.adapters import ConnectionOptions, open_adapter
from edgekit.config.target import Delegate, load_target
from edgekit.errors import DeviceError, ToolError
from edgekit.profiling.benchmark_model import (OP_PROFILE_RUNS, benchmark_arguments, benchmark_memory,
                                               op_profile_arguments, op_profile_fields, op_type_totals,
                                               parse_benchmark_output)
from edgekit.profiling.profile import ProfileSettings

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "data" / "benchmark_model"
STANDIN = ROOT / "tests" / "standins" / "benchmark_model"
MODELS = ROOT / "tests" / "data" / "models"


def parsed(name):
    return parse_benchmark_output((SAMPLES / name).read_text())


def test_op_types_sum_each_type_slowest_first():
    totals = op_type_totals(parsed("desktop_op_profiling.txt").op_profile)
    assert [entry["node_type"] for entry in totals] == ["CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "SOFTMAX"]
    assert totals[0] == {"node_type": "CONV_2D", "nodes": 1, "avg_ms": 60.957,
                         "percent": pytest.approx(100 * 60.957 / (60.957 + 49.870 + 0.869 + 0.233), abs=1e-3)}
    assert sum(entry["percent"] for entry in totals) == pytest.approx(100.0, abs=0.01)


def test_nodes_of_one_type_are_added():
    rows = [{"node_type": "ADD", "avg_ms": 0.25, "name": "a"}, {"node_type": "ADD", "avg_ms": 0.5, "name": "b"},
            {"node_type": "MUL", "avg_ms": 0.25, "name": "c"}]
    assert op_type_totals(rows) == [{"node_type": "ADD", "nodes": 2, "avg_ms": 0.75, "percent": 75.0},
                                    {"node_type": "MUL", "nodes": 1, "avg_ms": 0.25, "percent": 25.0}]


def test_peak_memory_flag_and_the_separate_op_profiling_run():
    timed = benchmark_arguments("m.tflite", runs=100, warmup=10, min_seconds=1.0, threads=4,
                                delegate=Delegate.XNNPACK, peak_memory=True)
    assert "--report_peak_memory_footprint=true" in timed and "--enable_op_profiling=true" not in timed
    ops = op_profile_arguments("m.tflite", runs=100, threads=4, delegate=Delegate.XNNPACK)
    assert f"--num_runs={OP_PROFILE_RUNS}" in ops and "--min_secs=0" in ops and "--enable_op_profiling=true" in ops
    assert "--num_threads=4" in ops and "--use_xnnpack=true" in ops
    assert "--num_runs=5" in op_profile_arguments("m.tflite", runs=5, threads=None, delegate=Delegate.NONE)


def test_memory_record_from_benchmark_model():
    peak = benchmark_memory(parsed("peak_memory.txt").memory_mb, 1234)
    assert peak == {"flash_bytes": 1234, "rss_growth_mb": None, "load_growth_mb": None, "invoke_growth_mb": None,
                    "peak_rss_mb": 141.5, "source": "benchmark_model"}  # periodic monitoring preferred
    delta = benchmark_memory(parsed("info_percentiles.txt").memory_mb, 10)
    assert delta["rss_growth_mb"] == 109.832 and delta["load_growth_mb"] == 6.36328 and delta["peak_rss_mb"] is None
    assert benchmark_memory({}, 10) is None


def test_an_op_profiling_run_without_the_table_says_so():
    with pytest.raises(DeviceError, match="phone: m.tflite: benchmark_model's op profiling reported no per-op times: "
                                          "Could not open"):
        op_profile_fields(parsed("failure.txt"), runs=0, what="phone: m.tflite")


@pytest.fixture
def host_with_benchmark_model(tmp_path, monkeypatch):
    """The host target with `benchmark_model:` naming the stand-in (as an ssh board's target file would)."""
    text = (ROOT / "targets" / "host.yaml").read_text().replace("name: host", "name: host-bm")
    (tmp_path / "host-bm.yaml").write_text(text + f"benchmark_model: {STANDIN}\n")
    monkeypatch.setenv("EDGEKIT_TARGETS_PATH", str(tmp_path))
    return load_target("host-bm")


def test_python_profiler_samples_with_per_op_times_from_benchmark_model(host_with_benchmark_model):
    settings = ProfileSettings(runs=5, warmup=1, min_seconds=0.0, op_profile=True)
    with open_adapter(host_with_benchmark_model, ConnectionOptions()) as adapter:
        (profile,) = adapter.profile([MODELS / "mlp-int8.tflite"], settings)
    assert len(profile["samples_ms"]) == profile["runs"] >= 5  # the latency is still edgekit's own samples
    assert [row["node_type"] for row in profile["op_profile"]] == ["FULLY_CONNECTED", "FULLY_CONNECTED", "SOFTMAX"]
    assert profile["op_types"][0] == {"node_type": "FULLY_CONNECTED", "nodes": 2, "avg_ms": 0.032, "percent": 80.0}
    assert "a separate run of 5 inferences" in profile["op_profile_source"]
    assert profile["memory"]["flash_bytes"] == (MODELS / "mlp-int8.tflite").stat().st_size


def test_without_op_profile_setting_benchmark_model_is_not_run(host_with_benchmark_model):
    with open_adapter(host_with_benchmark_model, ConnectionOptions()) as adapter:
        (profile,) = adapter.profile([MODELS / "mlp-int8.tflite"], ProfileSettings(runs=3, warmup=0, min_seconds=0.0))
    assert "op_profile" not in profile


def test_a_benchmark_model_path_that_is_not_there_is_named(host_with_benchmark_model):
    host_with_benchmark_model.benchmark_model = "/nonexistent/benchmark_model"
    settings = ProfileSettings(runs=3, warmup=0, min_seconds=0.0, op_profile=True)
    with open_adapter(host_with_benchmark_model, ConnectionOptions()) as adapter:
        with pytest.raises(ToolError, match="localhost: benchmark_model is not at /nonexistent/benchmark_model on the "
                                            "device .*: cannot run /nonexistent/benchmark_model: No such file"):
            adapter.profile([MODELS / "mlp-int8.tflite"], settings)
