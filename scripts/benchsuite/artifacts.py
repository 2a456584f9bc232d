"""The `artifacts` part: what each compression gives, in bytes, gzip bytes and host latency, against float32.

Two models:
- mobilenet_v2 (width 1.0, 224×224×3, 10 classes, untrained: sizes and latency do not need accuracy),
  converted with edgekit's exporter; pruned with tfmot on a few batches of random data (the schedule
  reaches its target at the last step), then post-training int8 (no QAT: there is nothing to learn);
- the digits CNN, trained by real `edgekit build`s of examples/digits in one build folder (the cache
  trains it once): dense (no pruning, post-training int8), then pruned 50% and 80% with PQAT.
Latency: edgekit's host profiler, all variants of a model interleaved in one process, at 1 and 2
threads, repeated; speedup = median fp32 / median variant.
Anchors: TFLite documents full int8 as 4× smaller and 3×+ faster; tfmot's pruning guide shows ~3×
smaller after gzip at 80% sparsity and ~10× with quantization.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from benchsuite import support
from benchsuite.common import BenchContext, PartResult, markdown_table

QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")
SPARSITIES = (0.5, 0.8)
TIMED = ("float32", "float16", "dynamic", "int8")
THREADS = (1, 2)
REPEATS, QUICK_REPEATS = 3, 1
# Profile settings per model: at least `runs` invokes and `min_seconds` per variant and repeat.
PROFILE = {"mobilenet_v2": {"runs": 40, "min_seconds": 1.5}, "digits_cnn": {"runs": 500, "min_seconds": 0.5}}
ANCHORS = {"int8_size": 4.0, "int8_speedup": 3.0, "pruned80_gzip": 3.0, "pruned80_int8_gzip": 10.0}


def variant_name(quantization: str, sparsity: float) -> str:
    return quantization if not sparsity else f"pruned{int(sparsity * 100)}+{quantization}"


# ------------------------------------------------------------------------------------------------ files
def mobilenet_files() -> dict[str, dict[str, Any]]:
    """name -> {"path", "sparsity"} of the MobileNetV2 variants."""
    from benchsuite import models

    variants = [(q, 0.0) for q in QUANTIZATIONS] + [(q, s) for s in SPARSITIES for q in ("float32", "int8")]
    files = models.tflite_files("mobilenet_v2", variants)
    return {variant_name(q, s): {"path": files[(q, s)]["path"], "sparsity": files[(q, s)]["sparsity"]}
            for q, s in variants}


def digits_configs() -> dict[float, dict[str, Any]]:
    """The example's config for dense (0.0) and each pruned sparsity; only tflite, a one-run profile."""
    configs = {}
    for sparsity in (0.0, *SPARSITIES):
        config = support.example_config()
        config["prune"]["enabled"] = bool(sparsity)
        config["qat"]["enabled"] = bool(sparsity)
        if sparsity:
            config["prune"]["target_sparsity"] = sparsity
        quantizations = list(QUANTIZATIONS) if not sparsity else ["float32", "int8"]
        config["export"] = {"formats": ["tflite"], "quantization": quantizations,
                            "representative_samples": config["export"]["representative_samples"]}
        config["profile"] = {"runs": 1, "warmup": 0, "min_seconds": 0.0}
        # 80% costs the digits CNN more than the example's 1% gate allows; this part reports the
        # accuracy next to the size instead of stopping at the gate.
        config["evaluate"] = {"max_accuracy_drop": 1.0, "min_agreement": 0.0}
        configs[sparsity] = config
    return configs


def digits_files(scratch: Path) -> dict[str, dict[str, Any]]:
    """name -> {"path", "sparsity", "accuracy"} of the digits CNN variants, from edgekit builds."""
    folder = support.folder(scratch, "digits")
    keep = support.folder(scratch, "digits-files")
    files: dict[str, dict[str, Any]] = {}
    for sparsity, config in digits_configs().items():
        support.note("artifacts: edgekit build of the digits CNN, " + (f"pruned {sparsity:.0%}" if sparsity else "dense"))
        support.write_config(folder, config)
        support.edgekit_build(folder)
        manifest = support.manifest_of(folder)
        for entry in manifest["artifacts"]:
            if entry["format"] != "tflite":
                continue
            name = variant_name(entry["quantization"], sparsity)
            kept = keep / f"digits-{name.replace('+', '-')}.tflite"
            shutil.copyfile(folder / "build" / "host" / entry["path"], kept)
            files[name] = {"path": kept, "sparsity": entry["sparsity"], "accuracy": entry["accuracy"]}
    return files


# ------------------------------------------------------------------------------------------------ measures
def sizes(files: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Bytes, gzip -9 bytes (edgekit's manifest measure) and weight bytes (`edgekit inspect`: the constant
    tensors alone, without quantization parameters and graph), each as a reduction against float32."""
    from edgekit import fsutil
    from edgekit.inspect import inspect_model

    def measure(path: Path) -> tuple[int, int, int]:
        return path.stat().st_size, fsutil.gzip_bytes(path), inspect_model(path)["weights"]["bytes"]

    base_bytes, base_gzip, base_weights = measure(files["float32"]["path"])
    table = {}
    for name, entry in files.items():
        size, packed, weights = measure(entry["path"])
        table[name] = {"bytes": size, "gzip_bytes": packed, "weight_bytes": weights, "smaller": base_bytes / size,
                       "gzip_smaller": base_gzip / packed, "weights_smaller": base_weights / weights,
                       "sparsity": entry.get("sparsity"), "accuracy": entry.get("accuracy")}
    return table


def latencies(model: str, files: dict[str, dict[str, Any]], repeats: int) -> dict[str, Any]:
    """Median latency per variant and thread count (interleaved, `repeats` times), and speedups vs float32."""
    from edgekit.adapters import ConnectionOptions
    from edgekit.profiling.profile import ProfileSettings
    from edgekit.fleet.measure import profile_models

    names = [name for name in TIMED if name in files]
    result: dict[str, Any] = {}
    for threads in THREADS:
        settings = ProfileSettings(runs=PROFILE[model]["runs"], warmup=5, min_seconds=PROFILE[model]["min_seconds"],
                                   threads=threads)
        medians: dict[str, list[float]] = {name: [] for name in names}
        for repeat in range(repeats):
            support.note(f"artifacts: profiling {model} at {threads} thread(s), repeat {repeat + 1}/{repeats}")
            profiles = profile_models([files[name]["path"] for name in names], "host", ConnectionOptions(), settings,
                                      interleave=True)
            for name, profile in zip(names, profiles):
                medians[name].append(profile["median_ms"])
        result[str(threads)] = {
            name: {"median_ms": support.spread(medians[name]),
                   "speedup": support.spread(base / mine for base, mine in zip(medians["float32"], medians[name]))}
            for name in names}
    return result


def run(context: BenchContext) -> PartResult:
    repeats = QUICK_REPEATS if context.quick else REPEATS
    load_before = support.load_average()
    families = {"mobilenet_v2": mobilenet_files(), "digits_cnn": digits_files(context.scratch)}
    results: dict[str, Any] = {"models": {}}
    for model, files in families.items():
        results["models"][model] = {"sizes": sizes(files), "latency": latencies(model, files, repeats)}
    load_after = support.load_average()
    results.update(repeats=repeats, anchors=ANCHORS, profile=PROFILE, load_average_before=load_before,
                   load_average_after=load_after)
    return PartResult(table=tables(results, support.load_note(load_before, load_after)), results=results)


def tables(results: dict[str, Any], load: str) -> str:
    parts = []
    for model, data in results["models"].items():
        rows = []
        for name, entry in data["sizes"].items():
            accuracy = "-" if entry["accuracy"] is None else f"{entry['accuracy']:.4f}"
            sparsity = "-" if entry["sparsity"] is None else f"{entry['sparsity']:.0%}"
            rows.append([name, f"{entry['bytes']:,}", f"{entry['smaller']:.2f}×", f"{entry['gzip_bytes']:,}",
                         f"{entry['gzip_smaller']:.2f}×", f"{entry['weights_smaller']:.2f}×", sparsity, accuracy])
        parts += [f"{model}: size (× = smaller than the float32 TFLite: the file, the file after gzip -9, "
                  f"the weight tensors alone)", "",
                  markdown_table(["variant", "bytes", "smaller", "gzip bytes", "gzip smaller", "weights smaller",
                                  "sparsity", "test accuracy"], rows), ""]
        rows = []
        for name in data["latency"][str(THREADS[0])]:
            row = [name]
            for threads in THREADS:
                entry = data["latency"][str(threads)][name]
                speedup = entry["speedup"]
                row += [support.spread_text(entry["median_ms"], ".4g"),
                        f"{speedup['median']:.2f}×" if name == "float32" or speedup["n"] == 1
                        else f"{speedup['median']:.2f}× ({speedup['min']:.2f}–{speedup['max']:.2f})"]
            rows.append(row)
        columns = ["variant"] + [c for t in THREADS for c in (f"median ms, {t} thread{'s' * (t > 1)}", "speedup")]
        parts += [f"{model}: host latency (edgekit's profiler, variants interleaved; median of each repeat, "
                  f"range over {results['repeats']} repeat(s))", "", markdown_table(columns, rows), ""]
    parts.append(f"Anchors: full int8 {ANCHORS['int8_size']:.0f}× smaller and {ANCHORS['int8_speedup']:.0f}×+ faster "
                 f"(TFLite); 80% sparsity {ANCHORS['pruned80_gzip']:.0f}× smaller after gzip, "
                 f"~{ANCHORS['pruned80_int8_gzip']:.0f}× with quantization (tfmot's pruning guide). {load}.")
    return "\n".join(parts)
