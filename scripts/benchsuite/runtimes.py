"""The `runtimes` part: LiteRT against ONNX Runtime on the same models, and what each costs in memory.

The same untrained Keras models (MobileNetV2 at 224x224, weights=None, and the digits CNN) exported both ways
with edgekit's exporters: .tflite by the TFLite converter (float32; int8 full-integer, calibrated), .onnx by
tf2onnx (float32) and onnxruntime's static QDQ quantization (int8, calibrated on the same random inputs).
Latency: for each model and thread count (1, 2), its four files are timed in ONE profiler process on the host
target, interleaved in blocks (`edgekit profile --interleave`), so machine drift hits both runtimes equally;
repeated for several rounds, the order of the files rotated each round. Memory: each file alone in a fresh
profiler process (so no other model or runtime is in its numbers): resident-set growth from before loading to
the peak after the first inferences, the process peak, and the file size (flash).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from benchsuite import support
from benchsuite.common import BenchContext, PartResult, markdown_table

THREADS = (1, 2)
WARMUP = 5
# At least `runs` timed inferences and `min_seconds` per file and measurement.
SETTINGS = {"mobilenet_v2": {"runs": 30, "min_seconds": 0.5, "block": 3},
            "digits_cnn": {"runs": 1000, "min_seconds": 0.5, "block": 50}}
QUICK_SETTINGS = {"mobilenet_v2": {"runs": 6, "min_seconds": 0.0, "block": 2},
                  "digits_cnn": {"runs": 100, "min_seconds": 0.0, "block": 20}}
ROUNDS, QUICK_ROUNDS = 5, 1
QUANTIZATIONS = ("float32", "int8")
RUNTIME_OF = {"tflite": "LiteRT", "onnx": "ONNX Runtime"}
OPSET = 17


def onnx_files(name: str) -> dict[str, Path]:
    """{quantization: path} of the .onnx files of `name` (float32 by tf2onnx, int8 by onnxruntime's static QDQ);
    converted once, then reused from build/bench-models/ while the recipe is unchanged."""
    from benchsuite import models

    recipe = {"model": name, "opset": OPSET, "calibration": models.CALIBRATION_SAMPLES, "kind": "onnx",
              "tools": models._recipe(name, "float32", 0.0)["tools"]}
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]
    paths = {quantization: models.FOLDER / f"{name}-dense-{quantization}.onnx" for quantization in QUANTIZATIONS}
    stamp = models.FOLDER / f"{name}-onnx.json"
    if all(path.exists() for path in paths.values()) and stamp.exists() and \
            json.loads(stamp.read_text()).get("digest") == digest:
        return paths
    from edgekit.export.onnx import convert_onnx, quantize_onnx_static

    models.FOLDER.mkdir(parents=True, exist_ok=True)
    support.note(f"runtimes: converting {name} to ONNX")
    float_bytes = convert_onnx(models.keras_model(name), OPSET)
    paths["float32"].write_bytes(float_bytes)
    support.note(f"runtimes: quantizing {name} ONNX to int8 (onnxruntime static QDQ)")
    paths["int8"].write_bytes(quantize_onnx_static(float_bytes,
                                                   models.random_inputs(name, models.CALIBRATION_SAMPLES)))
    stamp.write_text(json.dumps({"digest": digest, "recipe": recipe}))
    return paths


def model_files() -> dict[str, dict[tuple[str, str], Path]]:
    """{model: {(format, quantization): path}} for both models, both formats, both quantizations."""
    from benchsuite import models

    files: dict[str, dict[tuple[str, str], Path]] = {}
    for name in SETTINGS:
        tflite = models.tflite_files(name, [(quantization, 0.0) for quantization in QUANTIZATIONS])
        files[name] = {("tflite", quantization): tflite[(quantization, 0.0)]["path"] for quantization in QUANTIZATIONS}
        files[name].update({("onnx", quantization): path for quantization, path in onnx_files(name).items()})
    return files


def interleaved_medians(paths: list[Path], threads: int, settings: dict[str, Any]) -> list[dict[str, Any]]:
    """One interleaved profile of `paths` on the host target; returns their profiles, in order."""
    from edgekit.adapters import ConnectionOptions
    from edgekit.profiling.profile import ProfileSettings
    from edgekit.fleet.measure import profile_models

    profile_settings = ProfileSettings(runs=settings["runs"], warmup=WARMUP, min_seconds=settings["min_seconds"],
                                       threads=threads, block=settings["block"])
    return profile_models(paths, "host", ConnectionOptions(), profile_settings, interleave=True)


def alone(path: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """A profile of `path` alone in its own profiler process (1 thread): its memory is its own."""
    from edgekit.adapters import ConnectionOptions
    from edgekit.profiling.profile import ProfileSettings
    from edgekit.fleet.measure import profile_models

    short = ProfileSettings(runs=min(settings["runs"], 20), warmup=WARMUP, min_seconds=0.0, threads=1)
    return profile_models([path], "host", ConnectionOptions(), short)[0]


def run(context: BenchContext) -> PartResult:
    rounds = QUICK_ROUNDS if context.quick else ROUNDS
    settings_by_model = QUICK_SETTINGS if context.quick else SETTINGS
    files = model_files()
    load_before = support.load_average()
    latency: dict[str, Any] = {}
    for name, by_kind in files.items():
        kinds = tuple(by_kind)
        for threads in THREADS:
            support.note(f"runtimes: {name}, {threads} thread(s), {rounds} interleaved rounds")
            medians: dict[str, list[float]] = {f"{fmt}-{quantization}": [] for fmt, quantization in kinds}
            for round_index in range(rounds):
                order = support.rotated(kinds, round_index)
                profiles = interleaved_medians([by_kind[kind] for kind in order], threads, settings_by_model[name])
                for (fmt, quantization), profile in zip(order, profiles):
                    medians[f"{fmt}-{quantization}"].append(profile["median_ms"])
            latency[f"{name} @{threads}"] = {
                "median_ms": {kind: support.spread(values) for kind, values in medians.items()},
                "per_round_ms": medians,
                # Paired within each round (the same process, interleaved): the ratio drift cannot move.
                "ort_over_litert_per_round": {quantization: [
                    onnx / litert for onnx, litert in zip(medians[f"onnx-{quantization}"],
                                                          medians[f"tflite-{quantization}"])]
                    for quantization in QUANTIZATIONS}}
    memory: dict[str, Any] = {}
    for name, by_kind in files.items():
        for (fmt, quantization), path in by_kind.items():
            support.note(f"runtimes: memory of {name} {fmt}-{quantization}, alone")
            profile = alone(path, settings_by_model[name])
            memory[f"{name} {fmt}-{quantization}"] = {
                "runtime": profile["device"]["runtime"], "runtime_version": profile["device"]["runtime_version"],
                "flash_bytes": profile["memory"]["flash_bytes"], "rss_growth_mb": profile["memory"]["rss_growth_mb"],
                "load_growth_mb": profile["memory"]["load_growth_mb"], "peak_rss_mb": profile["memory"]["peak_rss_mb"],
                "init_ms": profile["init_ms"], "first_ms": profile["first_ms"], "median_ms": profile["median_ms"]}
    load_after = support.load_average()
    results = {"latency": latency, "memory": memory, "rounds": rounds, "settings": settings_by_model,
               "warmup": WARMUP, "load_average_before": load_before, "load_average_after": load_after}
    return PartResult(table=table(results, support.load_note(load_before, load_after)), results=results)


def ratio_text(ratios: list[float]) -> str:
    """ONNX Runtime's median over LiteRT's, per round: median (range); above 1, LiteRT is faster."""
    summary = support.spread(ratios)
    if summary["n"] == 1:
        return f"{summary['median']:.2f}×"
    return f"{summary['median']:.2f}× ({summary['min']:.2f}–{summary['max']:.2f})"


def table(results: dict[str, Any], load: str) -> str:
    rows = []
    for label, entry in results["latency"].items():
        medians = entry["median_ms"]
        row = [label]
        for quantization in QUANTIZATIONS:
            litert, onnx = medians[f"tflite-{quantization}"], medians[f"onnx-{quantization}"]
            row += [support.spread_text(litert, ".4g"), support.spread_text(onnx, ".4g"),
                    ratio_text(entry["ort_over_litert_per_round"][quantization])]
        rows.append(row)
    latency = markdown_table(["model @threads", "LiteRT float32 ms", "ORT float32 ms", "ORT / LiteRT",
                              "LiteRT int8 ms", "ORT int8 ms", "ORT / LiteRT"], rows)
    memory_rows = [[label, record["runtime"], f"{record['flash_bytes'] / 1024:.0f} KiB",
                    f"{record['rss_growth_mb']:.1f}", f"{record['load_growth_mb']:.1f}", f"{record['peak_rss_mb']:.1f}",
                    f"{record['init_ms']:.4g}", f"{record['first_ms']:.4g}"]
                   for label, record in results["memory"].items()]
    memory = markdown_table(["artifact", "runtime", "file (flash)", "RAM growth MB", "of it at load MB",
                             "process peak MB", "load ms", "first inference ms"], memory_rows)
    return "\n".join([
        latency, "",
        f"Median ms per inference on the host target, median (range) over {results['rounds']} rounds; in each round "
        f"the four files of a model run interleaved in one profiler process (order rotated per round), and ORT / "
        f"LiteRT is the ratio of that round's medians (median and range over the rounds; above 1× LiteRT is "
        f"faster). int8: full-integer TFLite vs onnxruntime's static QDQ ONNX. {load}.", "",
        memory, "",
        "Each file alone in a fresh profiler process, 1 thread: RAM growth is the resident-set growth from before "
        "loading to the peak after the first inferences (ONNX Runtime's includes its one-time session set-up); "
        "the process peak includes Python, numpy and the runtime's libraries."])
