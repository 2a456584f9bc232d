"""The `profiler` part: does edgekit's host profile measure the model, and only the model?

On the same .tflite files and thread counts, three timings, in a rotated order each round:
- edgekit: `profile_models` on the host target (its profiler in a child process, as on a board);
- bare: an `Interpreter.invoke()` loop in this process, timed with perf_counter_ns, nothing else;
- litert-benchmark: ai-edge-litert's own console tool (`--model --num_threads --num_runs --warmup_runs
  --result_json`; it runs LiteRT's CompiledModel API and rounds to 0.01 ms).
Targets: edgekit median / bare median - 1 <= 2% (overhead); |edgekit / litert-benchmark - 1| <= 5%
(agreement), judged only where 0.01 ms is under 1% of the median.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchsuite import support
from benchsuite.common import BenchContext, PartResult, markdown_table

OVERHEAD_TARGET = 0.02
AGREEMENT_TARGET = 0.05
LITERT_BENCHMARK = support.PYTHON.parent / "litert-benchmark"
LITERT_RESOLUTION_MS = 0.01  # it writes milliseconds with two decimals
THREADS = (1, 2)
WARMUP = 10
# At least `runs` timed invokes and `min_seconds` per measurement (litert-benchmark takes runs only).
SETTINGS = {"mobilenet_v2": {"runs": 50, "min_seconds": 1.0}, "digits_cnn": {"runs": 2000, "min_seconds": 0.5}}
KINDS = ("edgekit", "bare", "litert-benchmark")
ROUNDS, QUICK_ROUNDS = 5, 2


def model_files() -> dict[str, Path]:
    """'model quantization' -> path, for float32 and int8 of MobileNetV2 and the digits CNN (untrained)."""
    from benchsuite import models

    files = {}
    for model in SETTINGS:
        converted = models.tflite_files(model, [("float32", 0.0), ("int8", 0.0)])
        for (quantization, _), entry in converted.items():
            files[f"{model} {quantization}"] = entry["path"]
    return files


def random_input(detail: dict) -> np.ndarray:
    """Uniform [0, 1) for float inputs, the whole range for integer ones (as edgekit's profiler makes them)."""
    rng = np.random.RandomState(0)
    dtype = np.dtype(detail["dtype"])
    if dtype.kind == "f":
        return rng.uniform(0.0, 1.0, size=detail["shape"]).astype(dtype)
    info = np.iinfo(dtype)
    return rng.randint(info.min, info.max + 1, size=detail["shape"]).astype(dtype)


def bare_median(path: Path, threads: int, runs: int, min_seconds: float) -> float:
    """Median ms of invoke() in this process: load, fill the input, warm up, time each call."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], random_input(detail))
    for _ in range(WARMUP):
        interpreter.invoke()
    samples = []
    started = time.perf_counter()
    while len(samples) < runs or time.perf_counter() - started < min_seconds:
        before = time.perf_counter_ns()
        interpreter.invoke()
        samples.append((time.perf_counter_ns() - before) / 1e6)
    return statistics.median(samples)


def edgekit_median(path: Path, threads: int, runs: int, min_seconds: float) -> float:
    from edgekit.adapters import ConnectionOptions
    from edgekit.profiling.profile import ProfileSettings
    from edgekit.fleet.measure import profile_models

    settings = ProfileSettings(runs=runs, warmup=WARMUP, min_seconds=min_seconds, threads=threads)
    return profile_models([path], "host", ConnectionOptions(), settings)[0]["median_ms"]


def litert_benchmark_median(path: Path, threads: int, runs: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "result.json"
        support.run_timed([str(LITERT_BENCHMARK), f"--model={path}", f"--num_threads={threads}", f"--num_runs={runs}",
                           f"--warmup_runs={WARMUP}", f"--result_json={output}"], cwd=Path(folder))
        return float(json.loads(output.read_text())["latency"]["median_ms"])


def measure(kind: str, path: Path, threads: int, model: str) -> float:
    settings = SETTINGS[model]
    if kind == "edgekit":
        return edgekit_median(path, threads, settings["runs"], settings["min_seconds"])
    if kind == "bare":
        return bare_median(path, threads, settings["runs"], settings["min_seconds"])
    return litert_benchmark_median(path, threads, settings["runs"])


def run(context: BenchContext) -> PartResult:
    rounds = QUICK_ROUNDS if context.quick else ROUNDS
    files = model_files()
    load_before = support.load_average()
    rows: dict[str, Any] = {}
    for label, path in files.items():
        model = label.split()[0]
        for threads in THREADS:
            support.note(f"profiler: {label}, {threads} thread(s), {rounds} rounds")
            medians: dict[str, list[float]] = {kind: [] for kind in KINDS}
            for round_index in range(rounds):
                for kind in support.rotated(KINDS, round_index):
                    medians[kind].append(measure(kind, path, threads, model))
            rows[f"{label} @{threads}"] = compare(medians)
    load_after = support.load_average()
    results = {"rows": rows, "rounds": rounds, "settings": SETTINGS, "warmup": WARMUP,
               "load_average_before": load_before, "load_average_after": load_after}
    return PartResult(table=table(results, support.load_note(load_before, load_after)), results=results)


def compare(medians: dict[str, list[float]]) -> dict[str, Any]:
    """Overhead vs bare and agreement with litert-benchmark, from per-round medians (paired by round)."""
    overheads = [mine / bare - 1 for mine, bare in zip(medians["edgekit"], medians["bare"])]
    agreements = [mine / tool - 1 for mine, tool in zip(medians["edgekit"], medians["litert-benchmark"]) if tool > 0]
    overhead = statistics.median(overheads)
    resolvable = min(medians["litert-benchmark"]) * 0.01 >= LITERT_RESOLUTION_MS
    agreement = statistics.median(agreements) if agreements else None
    return {
        "median_ms": {kind: support.spread(values) for kind, values in medians.items()},
        # Other load only ever adds time: the fastest rounds are the least disturbed.
        "overhead_best_rounds": min(medians["edgekit"]) / min(medians["bare"]) - 1,
        "agreement_best_rounds": min(medians["edgekit"]) / min(medians["litert-benchmark"]) - 1,
        "overhead": overhead, "overhead_per_round": overheads, "overhead_ok": overhead <= OVERHEAD_TARGET,
        "agreement": agreement, "agreement_per_round": agreements,
        "agreement_ok": (abs(agreement) <= AGREEMENT_TARGET) if resolvable and agreement is not None else None,
        "litert_benchmark_resolvable": resolvable,
    }


def table(results: dict[str, Any], load: str) -> str:
    rows = []
    for label, row in results["rows"].items():
        medians = row["median_ms"]
        if row["agreement"] is None:
            agreement = "-"
        elif row["litert_benchmark_resolvable"]:
            agreement = (f"{row['agreement']:+.1%} {support.mark(row['agreement_ok'])} "
                         f"({min(row['agreement_per_round']):+.1%}…{max(row['agreement_per_round']):+.1%}); "
                         f"best rounds {row['agreement_best_rounds']:+.1%}")
        else:
            agreement = f"{row['agreement']:+.1%} (under its 0.01 ms resolution)"
        rows.append([label, support.spread_text(medians["bare"], ".4g"), support.spread_text(medians["edgekit"], ".4g"),
                     f"{row['overhead']:+.1%} {support.mark(row['overhead_ok'])} "
                     f"({min(row['overhead_per_round']):+.1%}…{max(row['overhead_per_round']):+.1%})",
                     f"{row['overhead_best_rounds']:+.1%}",
                     support.spread_text(medians["litert-benchmark"], ".4g"), agreement])
    text = markdown_table(["model @threads", "bare invoke() ms", "edgekit ms", f"overhead (≤ {OVERHEAD_TARGET:.0%}): per round", "best rounds",
                           "litert-benchmark ms", f"edgekit vs it (±{AGREEMENT_TARGET:.0%})"], rows)
    return "\n".join([text, "", f"Medians per invoke, median (range) over {results['rounds']} rounds in rotated order; "
                                 f"overhead and agreement: median (range) of the per-round ratios, and the ratio of the fastest rounds; {load}."])
