"""The benchmark_model parser on output in the formats TensorFlow documents (tests/data/benchmark_model/)."""

from pathlib import Path

import pytest

from edgekit.config.target import Delegate
from edgekit.errors import DeviceError
from edgekit.profiling.benchmark_model import (benchmark_arguments, parse_benchmark_output, profile_fields,
                                               strip_prefix)

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "benchmark_model"


def parsed(name):
    return parse_benchmark_output((SAMPLES / name).read_text())


def test_desktop_output_with_scientific_notation():
    fields = profile_fields(parsed("desktop_op_profiling.txt"), what="pi")
    assert fields["runs"] == 50
    assert fields["mean_ms"] == pytest.approx(2950.34)  # avg=2.95034e+06 us
    assert fields["min_ms"] == pytest.approx(2727.568) and fields["max_ms"] == pytest.approx(3189.954)
    assert fields["std_ms"] == pytest.approx(109.798)
    assert fields["init_ms"] == pytest.approx(17.187) and fields["first_ms"] == pytest.approx(3512.391)
    assert fields["median_ms"] is None  # this build prints no median: none is invented
    assert fields["p90_ms"] is None and fields["p99_ms"] is None
    assert fields["memory_mb"] == {"delta_init_mb": 4.21094, "delta_overall_mb": 46.0859}


def test_warmup_line_and_op_table_timings_are_not_taken_for_the_runs():
    output = parsed("desktop_op_profiling.txt")
    # count=1 (warmup) and count=50; "Timings (microseconds): count=..." of the op profiler is not a run line
    assert [stats.count for stats in output.run_stats] == [1, 50]
    assert output.regular_runs.count == 50


def test_per_op_table_of_the_regular_runs():
    ops = parsed("desktop_op_profiling.txt").op_profile
    assert [op["node_type"] for op in ops] == ["CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "SOFTMAX"]
    assert ops[0]["avg_ms"] == pytest.approx(60.957) and ops[0]["percent"] == pytest.approx(2.066)
    assert ops[0]["name"] == "[MobilenetV1/MobilenetV1/Conv2d_0/Relu6]:0"
    assert ops[0]["times_called"] == 1


def test_info_prefix_and_newer_percentiles():
    fields = profile_fields(parsed("info_percentiles.txt"), what="board")
    assert fields["runs"] == 50
    assert fields["median_ms"] == pytest.approx(1239.807)
    assert fields["p5_ms"] == pytest.approx(1238.753) and fields["p95_ms"] == pytest.approx(1247.415)
    assert fields["mean_ms"] == pytest.approx(1240.27)
    assert fields["samples_ms"] == [] and "aggregate statistics only" in fields["samples_source"]
    assert "op_profile" not in fields


def test_logcat_prefixes():
    fields = profile_fields(parsed("logcat.txt"), what="phone")
    assert fields["runs"] == 50 and fields["median_ms"] == pytest.approx(144.8)
    assert fields["init_ms"] == pytest.approx(92.318) and fields["first_ms"] == pytest.approx(187.533)
    assert fields["memory_mb"]["delta_overall_mb"] == 48.25


def test_peak_memory_lines():
    fields = profile_fields(parsed("peak_memory.txt"), what="phone")
    assert fields["runs"] == 50 and fields["mean_ms"] == pytest.approx(249.684)
    assert fields["memory_mb"] == {"peak_init_mb": 4.92969, "peak_overall_mb": 138.809, "peak_monitored_mb": 141.5}


def test_a_failed_run_says_what_benchmark_model_said():
    with pytest.raises(DeviceError, match=r"phone: benchmark_model did not report timings: "
                                          r"Could not open '/data/local/tmp/missing.tflite'.*Benchmarking failed"):
        profile_fields(parsed("failure.txt"), what="phone")


def test_empty_output_is_an_error_not_zeros():
    with pytest.raises(DeviceError, match="no `Inference timings` line"):
        profile_fields(parse_benchmark_output(""), what="phone")


@pytest.mark.parametrize("line, expected", [
    ("INFO: count=1 curr=5", "count=1 curr=5"),
    ("I tflite  : count=1 curr=5", "count=1 curr=5"),
    ("06-01 12:00:01.100  4321  4321 I tflite  : Num threads: [4]", "Num threads: [4]"),
    ("I/tflite  ( 4321): count=1 curr=5", "count=1 curr=5"),
    ("count=1 curr=5\r", "count=1 curr=5"),
])
def test_prefixes_are_stripped(line, expected):
    assert strip_prefix(line) == expected


@pytest.mark.parametrize("delegate, flags", [
    (Delegate.XNNPACK, ["--use_xnnpack=true"]),
    (Delegate.GPU, ["--use_gpu=true"]),
    (Delegate.NNAPI, ["--use_nnapi=true"]),
    (Delegate.NONE, ["--use_xnnpack=false"]),
    (Delegate.EDGETPU, ["--external_delegate_path=libedgetpu.so.1"]),
])
def test_arguments_per_delegate(delegate, flags):
    arguments = benchmark_arguments("/data/local/tmp/m.tflite", runs=100, warmup=10, min_seconds=1.0, threads=4,
                                    delegate=delegate, delegate_library="libedgetpu.so.1")
    assert arguments == ["--graph=/data/local/tmp/m.tflite", "--num_runs=100", "--warmup_runs=10", "--min_secs=1",
                         "--num_threads=4", *flags]


def test_op_profiling_flag():
    arguments = benchmark_arguments("m.tflite", runs=1, warmup=0, min_seconds=0, threads=None,
                                    delegate=Delegate.XNNPACK, op_profiling=True)
    assert arguments[-1] == "--enable_op_profiling=true" and not any("num_threads" in a for a in arguments)
