"""Per-layer quantization error on the committed MLP models, the inspect command, the recovery plan and the
Model Explorer overlays: no TensorFlow needed."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgekit.cli import main
from edgekit.errors import InputFileError
from edgekit.export.quant_error import LayerError, QuantErrorReport, load_samples, measure_quantization_error
from edgekit.export.recovery import RecoveryMethod, plan_candidates
from edgekit.report.model_explorer import latency_node_data, write_node_data

MODELS = Path(__file__).resolve().parents[1] / "data" / "models"
INT8, FLOAT32 = MODELS / "mlp-int8.tflite", MODELS / "mlp-float32.tflite"


@pytest.fixture(scope="module")
def samples():
    # The MLP was calibrated on uniform [0, 1) inputs (make_models.py).
    return np.random.default_rng(1).uniform(0, 1, (40, 32)).astype(np.float32)


def test_both_dense_layers_are_measured_and_ranked(samples):
    report = measure_quantization_error(INT8, FLOAT32, samples)
    assert [layer.op for layer in report.layers] == ["FULLY_CONNECTED", "FULLY_CONNECTED"]
    assert report.layers[0].rmse_over_scale >= report.layers[1].rmse_over_scale
    for layer in report.layers:
        assert layer.dtype == "int8" and layer.matched_by == "name"
        # A well-calibrated int8 layer errs by about rounding (1/sqrt(12) = 0.29 of a step), not by many steps.
        assert 0.05 < layer.rmse_over_scale < 1.5
        assert layer.snr_db > 20
        assert layer.elements == 40 * (64 if "dense/" in layer.tensor else 4)
        assert layer.max_abs_error >= layer.mean_abs_error > 0
    assert report.float_ops == [] and report.unmatched == []


def test_one_sample_per_invoke_gives_the_same_numbers(samples):
    batched = measure_quantization_error(INT8, FLOAT32, samples)
    single = measure_quantization_error(INT8, FLOAT32, samples, batch=1)
    for first, second in zip(batched.layers, single.layers):
        assert first.tensor == second.tensor
        assert first.rmse_over_scale == pytest.approx(second.rmse_over_scale, rel=1e-6)


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_inspect_quant_error_prints_and_writes_json(tmp_path, samples):
    data = write_npz(tmp_path / "data.npz", x_val=samples)
    result = CliRunner().invoke(main, ["inspect", "--quant-error", str(INT8), str(FLOAT32), "--data", str(data),
                                       "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert record["samples"] == 40 and record["metric"] == "rmse_over_scale"
    assert {layer["op"] for layer in record["layers"]} == {"FULLY_CONNECTED"}
    table = CliRunner().invoke(main, ["inspect", "--quant-error", str(INT8), str(FLOAT32), "--data", str(data),
                                      "--samples", "10"], catch_exceptions=False)
    assert table.exit_code == 0 and "RMSE/scale" in table.output and "10 samples" in table.output


@pytest.mark.parametrize("args, message", [
    (["--quant-error", str(INT8), str(FLOAT32)], "--quant-error needs --data FILE"),
    (["--quant-error", str(INT8), str(FLOAT32), "--data", "missing.npz"], "--data missing.npz: no such file"),
    ([str(INT8), "--quant-error", str(INT8), str(FLOAT32), "--data", "x.npz"], "give no MODEL"),
    ([], "give a MODEL to inspect"),
])
def test_inspect_quant_error_usage(args, message):
    result = CliRunner().invoke(main, ["inspect", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_samples_of_the_wrong_shape_exit_2(tmp_path):
    data = write_npz(tmp_path / "data.npz", x=np.zeros((4, 8, 8, 1), np.float32))
    result = CliRunner().invoke(main, ["inspect", "--quant-error", str(INT8), str(FLOAT32), "--data", str(data)])
    assert result.exit_code == 2
    assert "samples have shape (8, 8, 1) each, the model expects (32,)" in result.output


def test_swapped_models_are_refused(tmp_path, samples):
    data = write_npz(tmp_path / "data.npz", x=samples)
    result = CliRunner().invoke(main, ["inspect", "--quant-error", str(FLOAT32), str(INT8), "--data", str(data)])
    assert result.exit_code == 2
    assert "is the first model quantized and the second its float32 export?" in result.output


def test_load_samples_says_which_arrays_it_found(tmp_path):
    path = write_npz(tmp_path / "odd.npz", images=np.zeros((2, 3)))
    with pytest.raises(InputFileError, match=r"odd.npz: has arrays images; expected one of x, x_val, x_test, x_train"):
        load_samples(path)
    np.save(tmp_path / "plain.npy", np.ones((5, 3), np.float32))
    assert load_samples(tmp_path / "plain.npy", limit=2).shape == (2, 3)


def test_inspect_quant_error_does_not_import_tensorflow(tmp_path, samples):
    data = write_npz(tmp_path / "data.npz", x=samples)
    probe = ("import sys\nfrom click.testing import CliRunner\nfrom edgekit.cli import main\n"
             f"result = CliRunner().invoke(main, ['inspect', '--quant-error', {str(INT8)!r}, {str(FLOAT32)!r}, "
             f"'--data', {str(data)!r}])\n"
             "print(result.exit_code, 'tensorflow' in sys.modules)")
    output = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert output[-2:] == ["0", "False"]


# ------------------------------------------------------------------------------------------------ recovery plan
def layer(tensor, rmse):
    return LayerError(op_index=0, op="CONV_2D", tensor=tensor, dtype="int8", scale=0.1, zero_point=0, elements=10,
                      rmse_over_scale=rmse, snr_db=10.0, mean_abs_error=0.1, max_abs_error=0.2, mean_error=0.0,
                      matched_by="name", reference_tensor=tensor)


def test_candidates_keep_the_worst_ops_float_then_try_int16_activations():
    report = QuantErrorReport(samples=10, layers=[layer(f"op{i}", value) for i, value in
                                                  enumerate([40.0, 9.0, 3.0, 1.0, 0.5, 0.29, 0.1])])
    plans = plan_candidates(report)
    assert [plan.name for plan in plans] == ["float-1", "float-2", "float-4", "float-5", "int16-activations"]
    assert plans[2].float_ops == ["op0", "op1", "op2", "op3"]
    assert plans[0].reasons == ["#1 by per-layer error: CONV_2D RMSE/scale 40, SNR 10.0 dB"]
    assert plans[-1].method is RecoveryMethod.INT16_ACTIVATIONS and plans[-1].float_ops == []
    # Ops that only round are never kept float for accuracy.
    assert all("op5" not in plan.float_ops for plan in plans)


def test_no_badly_quantized_op_leaves_only_int16_activations():
    report = QuantErrorReport(samples=10, layers=[layer("op0", 0.29)])
    assert [plan.method for plan in plan_candidates(report)] == [RecoveryMethod.INT16_ACTIVATIONS]


# ------------------------------------------------------------------------------------------------ Model Explorer
def tflite_output_tensor_names(path: Path) -> set[str]:
    """Every node's output tensor names as Model Explorer's own TFLite adapter reads them from the file."""
    from model_explorer.builtin_tflite_flatbuffer_adapter import BuiltinTfliteFlatbufferAdapter

    collection = BuiltinTfliteFlatbufferAdapter().convert(str(path), {})["graphCollections"][0]
    names = set()
    for graph in collection.graphs:
        for node in graph["nodes"]:
            for metadata in node["outputsMetadata"]:
                names.update(attribute["value"] for attribute in metadata["attrs"] if attribute["key"] == "tensor_name")
    return names


def test_node_data_loads_with_model_explorer_classes_and_names_real_nodes(tmp_path, samples):
    import dacite  # ai-edge-model-explorer (the test extra) brings it
    from model_explorer.node_data_builder import GraphNodeData

    report = measure_quantization_error(INT8, FLOAT32, samples)
    op_profile = [{"node_type": "FULLY_CONNECTED", "avg_ms": 0.25, "name": f"[{report.layers[0].tensor}]:1"}]
    manifest = {"quantization_error": {"tflite-int8": report.to_dict()},
                "artifacts": [{"name": "tflite-int8", "latency": {"median_ms": 1.0, "op_profile": op_profile}},
                              {"name": "tflite-float32", "latency": {"median_ms": 1.0}}]}
    stale = tmp_path / "model_explorer" / "gone.latency.json"
    stale.parent.mkdir()
    stale.write_text("{}")
    written = write_node_data(tmp_path, manifest)
    assert sorted(path.name for path in written) == ["tflite-int8.latency.json", "tflite-int8.quant-error.json"]
    assert not stale.exists()
    nodes = tflite_output_tensor_names(INT8)
    for path in written:
        raw = json.loads(path.read_text())
        data = dacite.from_dict(GraphNodeData, raw, config=dacite.Config(strict=True))
        assert set(data.results) <= nodes, (set(data.results) - nodes)
        # The package's own serializer gives the same document back.
        assert json.loads(data.to_json_string()) == {**raw, "thresholds": [], "hideInAggregatedStatsTable": False,
                                                     "hideInChildrenStatsTable": False,
                                                     "showExpandedSummaryOnGroupNode": False,
                                                     "showLabelCountColumnsInChildrenStatsTable": False}
    quant = dacite.from_dict(GraphNodeData, json.loads(written[0].read_text() if "quant" in written[0].name
                                                       else written[1].read_text()))
    assert {key: result.value for key, result in quant.results.items()} == pytest.approx(
        {layer.tensor: layer.rmse_over_scale for layer in report.layers})


def test_latency_node_data_needs_per_op_rows():
    assert latency_node_data([]) is None
    document = latency_node_data([{"name": "[a;b]:0", "avg_ms": 0.5}, {"name": "[a;b]:0", "avg_ms": 0.25}])
    assert document["results"] == {"a;b": {"value": 0.75}}


def test_wide_range_example_validates_and_the_bench_part_is_registered():
    from edgekit.config.loader import load_config
    from edgekit.config.schema import Int8Recovery

    root = Path(__file__).resolve().parents[2]
    loaded = load_config(root / "examples" / "wide_range" / "edgekit.yaml")
    assert loaded.config.export.int8_recovery is Int8Recovery.AUTO
    assert loaded.config.model.factory == "wide_range_model:build"
    sys.path.insert(0, str(root / "scripts"))
    from benchsuite import main as bench

    assert bench.PARTS["quant_error"] == "benchsuite.quant_error"
