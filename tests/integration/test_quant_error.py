"""Per-layer quantization error, checked against TensorFlow's own QuantizationDebugger on the same model."""

import csv
import io

import numpy as np
import pytest

from edgekit.errors import ModelFileError
from edgekit.export.quant_error import PairMismatch, _read_graph, isolated_model, measure_quantization_error

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def digits_pair():
    """A tiny CNN on digits, its float32 and int8 .tflite made by edgekit's export path, and validation samples."""
    from sklearn.datasets import load_digits

    from edgekit._tf import keras
    from edgekit.config.schema import Quantization
    from edgekit.export.tflite import convert_tflite

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]
    k = keras()
    k.utils.set_random_seed(0)
    model = k.Sequential([
        k.layers.Input((8, 8, 1)), k.layers.Conv2D(8, 3, activation="relu"), k.layers.MaxPooling2D(),
        k.layers.Flatten(), k.layers.Dense(16, activation="relu"), k.layers.Dense(10), k.layers.Softmax()])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, digits.target, epochs=1, verbose=0)
    representative, validation = x[:100], x[200:260]
    return {"model": model, "representative": representative, "validation": validation,
            "float32": convert_tflite(model, Quantization.FLOAT32),
            "int8": convert_tflite(model, Quantization.INT8, representative)}


def debugger_statistics(pair) -> dict[str, dict[str, float]]:
    """QuantizationDebugger's per-layer statistics, by tensor name, with its documented rmse/scale."""
    from edgekit._tf import tf
    from edgekit.config.schema import Quantization
    from edgekit.export.tflite import make_converter

    options = tf().lite.experimental.QuantizationDebugOptions(
        layer_debug_metrics={"mean_abs_error": lambda diff: np.mean(np.abs(diff))})
    debugger = tf().lite.experimental.QuantizationDebugger(
        converter=make_converter(pair["model"], Quantization.INT8, pair["representative"]),
        debug_dataset=lambda: ([sample[None]] for sample in pair["validation"]), debug_options=options)
    debugger.run()
    dump = io.StringIO()
    debugger.layer_statistics_dump(dump)
    dump.seek(0)
    rows = {}
    for row in csv.DictReader(dump):
        rows[row["tensor_name"]] = {"op": row["op_name"], "mean_abs_error": float(row["mean_abs_error"]),
                                    "mean_error": float(row["mean_error"]),
                                    "rmse_over_scale": np.sqrt(float(row["mean_squared_error"])) / float(row["scale"])}
    return rows


def test_numbers_agree_with_quantization_debugger(digits_pair):
    report = measure_quantization_error(digits_pair["int8"], digits_pair["float32"], digits_pair["validation"])
    expected = debugger_statistics(digits_pair)
    measured = {layer.tensor: layer for layer in report.layers}
    assert set(measured) == set(expected), (sorted(measured), sorted(expected))
    compared = 0
    for name, theirs in expected.items():
        ours = measured[name]
        assert ours.op == theirs["op"]
        # Ops that only move values (reshape, max pool) have no error of their own; the debugger's float
        # arithmetic leaves ~1e-6 there, which no relative tolerance can judge.
        if theirs["rmse_over_scale"] < 0.01:
            assert ours.rmse_over_scale < 0.01, name
            continue
        compared += 1
        assert ours.rmse_over_scale == pytest.approx(theirs["rmse_over_scale"], rel=0.01), name
        assert ours.mean_abs_error == pytest.approx(theirs["mean_abs_error"], rel=0.01), name
        assert np.sign(ours.mean_error) == np.sign(theirs["mean_error"]), name
    assert compared >= 4  # conv, two dense, softmax
    ranked = [layer.rmse_over_scale for layer in report.layers]
    assert ranked == sorted(ranked, reverse=True)
    assert report.samples == len(digits_pair["validation"])
    assert all(layer.matched_by == "name" for layer in report.layers)
    assert all(layer.snr_db is None or layer.snr_db > 20 for layer in report.layers)


def test_isolated_model_feeds_every_op_from_its_own_inputs(digits_pair):
    graph = _read_graph(digits_pair["float32"], "float")
    isolated, feeds = isolated_model(graph)
    rewired = _read_graph(isolated, "isolated")
    assert len(rewired.ops) == len(graph.ops)
    assert sorted(rewired.inputs) == sorted(feeds.values())
    # Every op that read an activation now reads a graph input, so no op depends on another.
    for op in rewired.ops:
        assert not any(tensor in rewired.producer for tensor in op.inputs if tensor >= 0)


def test_refuses_samples_of_the_wrong_shape(digits_pair):
    with pytest.raises(PairMismatch, match=r"samples have shape \(8, 8\) each, the model expects \(8, 8, 1\)"):
        measure_quantization_error(digits_pair["int8"], digits_pair["float32"], digits_pair["validation"][..., 0])


def test_refuses_two_float_models(digits_pair):
    with pytest.raises(PairMismatch, match="no op of the quantized model has a quantized output"):
        measure_quantization_error(digits_pair["float32"], digits_pair["float32"], digits_pair["validation"])


def test_refuses_a_file_that_is_not_tflite(tmp_path, digits_pair):
    bogus = tmp_path / "model.tflite"
    bogus.write_bytes(b"not a flatbuffer at all")
    with pytest.raises(ModelFileError, match="quantized model: not a readable .tflite model"):
        measure_quantization_error(bogus, digits_pair["float32"], digits_pair["validation"])
