"""The `quant_error` part: what the per-layer error pass costs, and the int8 recovery demonstration.

Cost: for each model (edgekit's builtin small_cnn on 8×8 digits, and MobileNetV2 width 0.35 on 96×96×3, both
untrained: the cost does not depend on the weights), float32 and int8 are exported the way a build does, then on
the same N samples the bench times one evaluation pass (the int8 artifact through edgekit's evaluation runner,
batch 64, as the evaluate stage runs it) and one per-layer error pass (edgekit.export.quant_error: int8 with every
tensor kept, plus the isolated float model). Target: the error pass at most 2× the evaluation pass. Each is the
best of REPEATS runs.

Recovery: `edgekit build` of examples/wide_range (a model whose full int8 export fails the gate) in a child
process: full int8 against the chosen `tflite-int8-mixed`, accuracy, bytes and median latency from the manifest.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchsuite import support
from benchsuite.common import BenchContext, PartResult, markdown_table

COST_TARGET = 2.0
REPEATS, QUICK_REPEATS = 3, 1
MODELS = {
    # name: (builtin, input shape, width, samples, quick samples)
    "small_cnn 8×8×1": ("small_cnn", (8, 8, 1), 1.0, 359, 64),
    "mobilenet_v2 ×0.35 96×96×3": ("mobilenet_v2", (96, 96, 3), 0.35, 256, 16),
}
EXAMPLE = support.ROOT / "examples" / "wide_range"


def run(context: BenchContext) -> PartResult:
    repeats = QUICK_REPEATS if context.quick else REPEATS
    cost_rows, costs = [], {}
    for name, (builtin, shape, width, samples, quick_samples) in MODELS.items():
        support.note(f"quant_error: cost on {name}")
        measured = measure_cost(context.scratch, builtin, shape, width, quick_samples if context.quick else samples,
                                repeats)
        costs[name] = measured
        cost_rows.append([name, measured["samples"], measured["ops"], f"{measured['evaluation_s']:.3f}",
                          f"{measured['error_pass_s']:.3f}", f"{measured['ratio']:.2f}×",
                          f"{measured['cpu_ratio']:.2f}×", support.mark(measured["ratio"] <= COST_TARGET)])
    support.note("quant_error: recovery build of examples/wide_range")
    recovery = recovery_demo(context.scratch)
    table = markdown_table(["model", "samples", "quantized ops", "evaluation pass s", "per-layer pass s",
                            f"wall ratio (≤ {COST_TARGET:g}×)", "CPU ratio", ""], cost_rows)
    table += "\n\n" + markdown_table(
        ["wide_range artifact", "accuracy", "bytes", "median ms", "float ops"],
        [[row["name"], f"{row['accuracy']:.4f}", f"{row['bytes']:,}",
          "-" if row["median_ms"] is None else f"{row['median_ms']:.4g}", row["float_ops"]]
         for row in recovery["rows"]])
    return PartResult(table=table, results={"cost": costs, "recovery": recovery})


def measure_cost(scratch: Path, builtin: str, shape: tuple[int, ...], width: float, count: int,
                 repeats: int) -> dict[str, Any]:
    from edgekit._tf import keras
    from edgekit.config.schema import Quantization
    from edgekit.export.quant_error import measure_quantization_error
    from edgekit.export.tflite import convert_tflite
    from edgekit.models import zoo
    from edgekit.export.runners import EVALUATION_BATCH, TFLiteRunner

    keras().utils.set_random_seed(0)
    model = getattr(zoo, builtin)(shape, 10, width=width)
    rng = np.random.default_rng(0)
    representative = rng.uniform(0, 1, (100, *shape)).astype(np.float32)
    samples = rng.uniform(0, 1, (count, *shape)).astype(np.float32)
    folder = support.folder(scratch, builtin)
    int8_path, float_path = folder / "int8.tflite", folder / "float32.tflite"
    int8_path.write_bytes(convert_tflite(model, Quantization.INT8, representative))
    float_path.write_bytes(convert_tflite(model, Quantization.FLOAT32))

    def evaluation_pass() -> None:
        runner = TFLiteRunner(int8_path)  # made per pass, as the evaluate stage makes it per artifact
        for start in range(0, len(samples), EVALUATION_BATCH):
            runner(samples[start:start + EVALUATION_BATCH]).argmax(axis=1)

    evaluation_runs = [_timed(evaluation_pass) for _ in range(repeats)]
    report = None

    def error_pass() -> None:
        nonlocal report
        report = measure_quantization_error(int8_path, float_path, samples)

    error_runs = [_timed(error_pass) for _ in range(repeats)]
    evaluation, error = min(run[0] for run in evaluation_runs), min(run[0] for run in error_runs)
    evaluation_cpu, error_cpu = min(run[1] for run in evaluation_runs), min(run[1] for run in error_runs)
    return {"samples": count, "ops": len(report.layers), "evaluation_s": evaluation, "error_pass_s": error,
            "ratio": error / evaluation, "evaluation_cpu_s": evaluation_cpu, "error_pass_cpu_s": error_cpu,
            "cpu_ratio": error_cpu / evaluation_cpu, "worst": report.layers[0].to_dict()}


def _timed(function) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process): on a shared machine the CPU time is the steadier."""
    started, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - started, time.process_time() - cpu


def recovery_demo(scratch: Path) -> dict[str, Any]:
    directory = support.folder(scratch, "wide_range")
    for name in ("edgekit.yaml", "wide_range_model.py"):
        shutil.copy(EXAMPLE / name, directory / name)
    started = time.perf_counter()
    # Exit 1 is expected: the full int8 artifact fails the gate (recovery adds an artifact, it hides nothing).
    completed = subprocess.run([str(support.EDGEKIT), "build", "--quiet"], cwd=directory, capture_output=True,
                               text=True)
    if completed.returncode not in (0, 1):
        raise RuntimeError(f"edgekit build of examples/wide_range exited with {completed.returncode}:\n"
                           + "\n".join((completed.stdout + completed.stderr).splitlines()[-15:]))
    manifest = support.manifest_of(directory)
    rows = []
    for name in ("keras-dense", "tflite-float32", "tflite-int8", "tflite-int8-mixed"):
        entry = support.artifact(manifest, name)
        rows.append({"name": name, "accuracy": entry["accuracy"], "bytes": entry["bytes"],
                     "median_ms": (entry.get("latency") or {}).get("median_ms"),
                     "float_ops": ", ".join(entry.get("float_ops", [])) or "-"})
    recovery = manifest["int8_recovery"]
    return {"rows": rows, "exit_code": completed.returncode, "build_s": time.perf_counter() - started,
            "chosen": recovery["chosen"], "latency_cost": support.artifact(manifest, "tflite-int8-mixed")["latency_cost"],
            "candidates": [{key: value for key, value in record.items() if key != "latency"}
                           for record in recovery["candidates"]],
            "diagnose_s": support.stage_seconds(manifest)["diagnose"],
            "evaluate_s": support.stage_seconds(manifest)["evaluate"]}
