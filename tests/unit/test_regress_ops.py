"""The gate names the ops whose time grew when a whole model regressed (both profiles with per-op times)."""

import json

from edgekit.regress.compare import compare_sets, describe_row
from edgekit.regress.inputs import load_latency_set
from edgekit.regress.ops import grown_ops, keep_op_times
from edgekit.regress.stats import GateThresholds, Verdict
from tests.regress_documents import latency_samples, profile


def with_ops(document, **node_ms):
    """`document` with an op profile: one node per keyword (NODE_TYPE_index=ms)."""
    rows = [{"node_type": key.rsplit("_", 1)[0], "name": f"[{key}]:{index}", "avg_ms": value, "first_ms": value,
             "start_ms": 0.0, "percent": 0.0, "times_called": 1} for index, (key, value) in enumerate(node_ms.items())]
    return {**document, "op_profile": rows}


def test_a_regression_names_the_op_types_that_grew(tmp_path):
    before = with_ops(profile(latency_samples(1.0, seed=1)), CONV_2D_0=0.5, CONV_2D_1=0.3, ADD_2=0.1, SOFTMAX_3=0.1)
    after = with_ops(profile(latency_samples(1.3, seed=2)), CONV_2D_0=0.5, CONV_2D_1=0.6, ADD_2=0.1, SOFTMAX_3=0.1)
    (tmp_path / "a.json").write_text(json.dumps(before))
    (tmp_path / "b.json").write_text(json.dumps(after))
    report = compare_sets(load_latency_set(tmp_path / "a.json"), load_latency_set(tmp_path / "b.json"))
    (row,) = report.rows
    assert row.verdict is Verdict.REGRESSION
    assert [growth.op for growth in row.grown_ops["types"]] == ["CONV_2D"]
    assert [growth.op for growth in row.grown_ops["nodes"]] == ["CONV_2D [CONV_2D_1]:1"]
    assert "ops that grew: CONV_2D +0.3 ms (+38%)" in describe_row(row)
    assert "CONV_2D +0.3 ms" in str(report.error())
    (grown,) = report.to_json()["artifacts"][0]["grown_ops"]
    assert grown["op"] == "CONV_2D" and grown["baseline_ms"] == 0.8 and round(grown["change"], 3) == 0.375


def test_no_per_op_times_on_one_side_names_nothing():
    before = with_ops(profile([1.0]), CONV_2D_0=1.0)
    assert grown_ops(before, profile([2.0]), 0.05) is None


def test_a_new_op_type_and_noise_below_the_floor():
    before = with_ops(profile([1.0]), CONV_2D_0=1.0, ADD_1=0.001)
    after = with_ops(profile([1.0]), CONV_2D_0=1.0, ADD_1=0.005, MUL_2=0.2)  # ADD grew 5x but by 0.4% of the model
    types = grown_ops(before, after, 0.05)["types"]
    assert [growth.op for growth in types] == ["MUL"] and types[0].describe() == "MUL +0.2 ms (new)"


def test_an_unchanged_model_gets_no_op_list(tmp_path):
    document = with_ops(profile(latency_samples(1.0, seed=1)), CONV_2D_0=1.0)
    (tmp_path / "a.json").write_text(json.dumps(document))
    report = compare_sets(load_latency_set(tmp_path / "a.json"), load_latency_set(tmp_path / "a.json"),
                          GateThresholds())
    assert report.rows[0].grown_ops is None and "grown_ops" not in report.to_json()["artifacts"][0]


def test_retimed_profiles_keep_the_recorded_op_times():
    recorded = with_ops(profile([1.0]), CONV_2D_0=1.0)
    kept = keep_op_times(recorded, profile([1.1]))
    assert kept["op_profile"] == recorded["op_profile"] and kept["op_profile_recorded"] is True
    assert kept["samples_ms"] == [1.1]
    own = with_ops(profile([1.1]), ADD_0=2.0)
    assert keep_op_times(recorded, own) is own


def test_two_onnx_files_are_timed_now_interleaved(tmp_path):
    from click.testing import CliRunner

    from edgekit.cli import main
    from tests.onnx_models import write_mlp_onnx

    baseline = write_mlp_onnx(tmp_path / "old.onnx", seed=0)
    current = write_mlp_onnx(tmp_path / "new.onnx", seed=1)
    result = CliRunner().invoke(main, ["regress", str(baseline), str(current), "--runs", "30", "--min-seconds", "0",
                                       "--json"], catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output  # a verdict either way; timing noise decides which
    report = json.loads(result.output[result.output.index("{"):])
    assert report["timing"] == "interleaved now" and report["device"]["runtime"] == "onnxruntime"
    assert report["artifacts"][0]["artifact"] == "old.onnx → new.onnx"
    assert report["artifacts"][0]["baseline_runs"] >= 30
