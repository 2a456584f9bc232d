"""The `conversion` part: what a TFLite conversion costs, edgekit's way against `TFLiteConverter.from_keras_model`.

`from_keras_model` saves the tf_keras model as a Keras SavedModel for every conversion (tracing every layer's
call functions for a Keras reload the converter never does). edgekit saves the model's inference function and
variables once (edgekit.export.tflite.ConverterSource) and converts every quantization from that copy. For each
model, in one process, after one warm-up conversion of each way (TensorFlow's first conversion pays its own
start-up): every quantization (float32, float16, dynamic, int8 calibrated on the same random samples)
converted both ways, `repeats` times, alternating which way goes first. Reported: seconds per quantization
(median of the repeats), the one save edgekit makes per model, and whether both ways give files of the same size
whose outputs on the same inputs are equal.

Models (untrained, random BatchNorm statistics so that inference mode matters): MobileNetV2 width 0.35 at 48×48
(tune's MobileNetV2 case) and width 1.0 at 224×224. `--quick`: the small one, one repeat.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from benchsuite import support
from benchsuite.common import BenchContext, PartResult, markdown_table

QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")
MODELS = {"mobilenet_v2 0.35, 48×48": (0.35, 48), "mobilenet_v2 1.0, 224×224": (1.0, 224)}
REPEATS, QUICK_REPEATS = 2, 1
CALIBRATION_SAMPLES = 50


def _model(width: float, size: int):
    from edgekit._tf import keras

    model = keras().applications.MobileNetV2(input_shape=(size, size, 3), alpha=width, weights=None, classes=10)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras().layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([gamma, beta, rng.normal(0, 0.1, mean.shape).astype("float32"),
                               variance * rng.uniform(0.5, 2.0, variance.shape).astype("float32")])
    return model


def _keras_way(model, quantization, representative) -> bytes:
    """The conversion edgekit made before its source: `from_keras_model`, edgekit's options."""
    from edgekit._tf import tf
    from edgekit.export.tflite import configure_converter, run_converter

    converter = configure_converter(tf().lite.TFLiteConverter.from_keras_model(model), quantization, representative)
    return run_converter(converter, quantization.value)


def _outputs(model_bytes: bytes, samples: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    from edgekit.export.runners import dequantize, quantize

    runner = Interpreter(model_content=model_bytes).get_signature_runner()
    (name, detail), = runner.get_input_details().items()
    (output_name, output_detail), = runner.get_output_details().items()
    return np.concatenate([dequantize(runner(**{name: quantize(sample[np.newaxis], detail)})[output_name],
                                      output_detail) for sample in samples])


def measure(width: float, size: int, repeats: int) -> dict[str, Any]:
    """Seconds per quantization both ways (median of `repeats`), edgekit's save, and whether the files agree."""
    from edgekit.config.schema import Quantization
    from edgekit.export.tflite import ConverterSource, convert_tflite

    model = _model(width, size)
    rng = np.random.default_rng(1)
    representative = rng.random((CALIBRATION_SAMPLES, size, size, 3), dtype=np.float32)
    samples = rng.random((4, size, size, 3), dtype=np.float32)
    with ConverterSource(model) as source:  # warm-up, both ways
        convert_tflite(source, Quantization.FLOAT32)
    _keras_way(model, Quantization.FLOAT32, representative)
    seconds: dict[str, dict[str, list[float]]] = {q: {"edgekit": [], "from_keras_model": []} for q in QUANTIZATIONS}
    saves, agree = [], {}
    for repeat in range(repeats):
        support.note(f"conversion: MobileNetV2 {width:g} at {size} px, repeat {repeat + 1}/{repeats}")
        files: dict[str, dict[str, bytes]] = {"edgekit": {}, "from_keras_model": {}}
        ways = ["edgekit", "from_keras_model"] if repeat % 2 == 0 else ["from_keras_model", "edgekit"]
        for way in ways:
            if way == "edgekit":
                with ConverterSource(model) as source:
                    started = time.perf_counter()
                    source.converter()  # the one save, timed alone
                    saves.append(time.perf_counter() - started)
                    for quantization in QUANTIZATIONS:
                        started = time.perf_counter()
                        files[way][quantization] = convert_tflite(source, Quantization(quantization), representative)
                        seconds[quantization][way].append(time.perf_counter() - started)
            else:
                for quantization in QUANTIZATIONS:
                    started = time.perf_counter()
                    files[way][quantization] = _keras_way(model, Quantization(quantization), representative)
                    seconds[quantization][way].append(time.perf_counter() - started)
        if repeat == 0:
            for quantization in QUANTIZATIONS:
                ours, theirs = files["edgekit"][quantization], files["from_keras_model"][quantization]
                difference = float(np.abs(_outputs(ours, samples) - _outputs(theirs, samples)).max())
                agree[quantization] = {"bytes": len(ours), "from_keras_model_bytes": len(theirs),
                                       "max_output_difference": difference}
    return {"seconds": {q: {way: support.spread(values) for way, values in ways.items()}
                        for q, ways in seconds.items()},
            "save_seconds": support.spread(saves), "agreement": agree}


def run(context: BenchContext) -> PartResult:
    repeats = QUICK_REPEATS if context.quick else REPEATS
    load_before = support.load_average()
    models = dict(list(MODELS.items())[:1]) if context.quick else MODELS
    results: dict[str, Any] = {"models": {name: measure(*shape, repeats) for name, shape in models.items()},
                               "repeats": repeats}
    load_after = support.load_average()
    results.update(load_average_before=load_before, load_average_after=load_after)
    return PartResult(table=table(results, support.load_note(load_before, load_after)), results=results)


def table(results: dict[str, Any], load: str) -> str:
    rows = []
    for name, data in results["models"].items():
        total = {"edgekit": data["save_seconds"]["median"], "from_keras_model": 0.0}
        for quantization in QUANTIZATIONS:
            entry, agreement = data["seconds"][quantization], data["agreement"][quantization]
            for way in total:
                total[way] += entry[way]["median"]
            same = agreement["bytes"] == agreement["from_keras_model_bytes"]
            rows.append([name, quantization, support.spread_text(entry["from_keras_model"], ".1f"),
                         support.spread_text(entry["edgekit"], ".1f"),
                         f"{entry['from_keras_model']['median'] / entry['edgekit']['median']:.1f}×",
                         f"{agreement['bytes']:,}" + ("" if same else f" (vs {agreement['from_keras_model_bytes']:,})"),
                         f"{agreement['max_output_difference']:.2g}"])
        rows.append([name, f"all four (edgekit: + its save, {data['save_seconds']['median']:.1f} s)",
                     f"{total['from_keras_model']:.1f}", f"{total['edgekit']:.1f}",
                     f"**{total['from_keras_model'] / total['edgekit']:.1f}×**", "", ""])
    header = ["model", "quantization", "from_keras_model s", "edgekit s", "faster", "bytes (both)",
              "max output difference"]
    return "\n".join([markdown_table(header, rows), "",
                      f"Median (range) of {results['repeats']} repeat(s), each way in one process after a warm-up "
                      f"conversion; {load}."])
