"""The diagnose stage: why an int8 artifact is wrong, and a mixed variant that is not.

Between evaluate and profile. For every int8 TFLite artifact it measures the per-layer quantization error
against the float32 TFLite (edgekit.export.quant_error) on validation samples. When the int8 artifact fails the
accuracy gate (`export.int8_recovery: auto`, the default) or always (`always`), it builds mixed variants in the
order of that error (edgekit.export.recovery), evaluates each on the test split (the gate's own numbers) and
profiles each on the target, and keeps the first that passes the gate as `tflite-int8-mixed`.
The full int8 artifact is kept as it is and is still judged by the gate: recovery adds an artifact, it never
hides a failure.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

from edgekit import console, fsutil
from edgekit.config.schema import ExportFormat, Int8Recovery, Quantization, Task
from edgekit.errors import EdgekitError
from edgekit.pipeline.context import BuildContext
from edgekit.pipeline.results import ExportedArtifact

# Validation samples the per-layer error is measured on (the split is read in order, so they are the same
# every build). Enough for stable statistics; cheap next to an evaluation of the test split.
QUANT_ERROR_SAMPLES = 256
MIXED_NAME = "tflite-int8-mixed"
REFERENCE_NAME = "tflite-float32"


def diagnose_stage(ctx: BuildContext):
    """Run the stage (declared in edgekit.pipeline.stages.diagnose, which derives its cache key)."""
    from edgekit.pipeline.stages.common import dataset, run_declared
    from edgekit.pipeline.stages.diagnose import DIAGNOSE

    export = ctx.results.export
    int8 = [artifact for artifact in export.output.artifacts
            if artifact.format == ExportFormat.TFLITE.value and artifact.quantization == Quantization.INT8.value]

    def produce(work: Path) -> dict[str, Any]:
        if not int8:
            return {"quantization_error": {}, "recovery": None}
        data = dataset(ctx)
        samples, split = _error_samples(data)
        reference = _reference_bytes(ctx)
        errors, reports = {}, {}
        for artifact in int8:
            try:
                report = _measure(export.path(artifact.file), reference, samples)
            except (EdgekitError, ValueError, RuntimeError) as error:
                # A diagnosis, not a gate: a model the pass cannot pair op for op (an op left float whose input
                # has a fixed batch, say) keeps its build, and says why it has no per-layer numbers.
                console.warn(f"quantization error: {artifact.name}: not measured: {error}")
                errors[artifact.name] = {"error": str(error), "layers": [], "samples": 0, "split": split}
                continue
            report_dict = report.to_dict()
            report_dict["split"] = split
            errors[artifact.name] = report_dict
            reports[artifact.name] = report
            worst = report.layers[0]
            console.info(f"quantization error: {artifact.name}: {len(report.layers)} ops on {report.samples} "
                         f"{split} samples in {report.seconds:.1f} s; worst {worst.op} '{worst.tensor}' "
                         f"RMSE/scale {worst.rmse_over_scale:.3g}")
        recovery = None
        for artifact in int8:
            if artifact.name in reports:  # recovery ranks ops by their measured error
                recovery = _maybe_recover(ctx, work, artifact, reports[artifact.name]) or recovery
        if recovery and recovery["file"]:
            # The mixed artifact's own per-layer error: what is left in int8, and which ops are float now.
            mixed = _measure(work / recovery["file"], reference, samples).to_dict()
            errors[MIXED_NAME] = {**mixed, "split": split}
        return {"quantization_error": errors, "recovery": recovery}

    return run_declared(ctx, DIAGNOSE, produce)


def _measure(path: Path, reference: bytes, samples: np.ndarray):
    from edgekit.export.quant_error import measure_quantization_error

    try:
        return measure_quantization_error(path, reference, samples)
    except ValueError as error:
        if "Dimension mismatch" not in str(error):
            raise
        # Some graphs bake a batch of 1 into a tensor (a squeeze-excite block's reshape, say), so the isolated
        # float ops cannot take a batch: one sample at a time then, slower but the same numbers.
        return measure_quantization_error(path, reference, samples, batch=1)


def _error_samples(data) -> tuple[np.ndarray, str]:
    """The first QUANT_ERROR_SAMPLES samples of the validation split (the test split when there is none)."""
    split = "val" if data.size("val") else "test"
    chunks, count = [], 0
    for x, _ in data.batches(split, QUANT_ERROR_SAMPLES):
        chunks.append(x[:QUANT_ERROR_SAMPLES - count])
        count += len(chunks[-1])
        if count >= QUANT_ERROR_SAMPLES:
            break
    return np.concatenate(chunks).astype(np.float32), split


def _reference_bytes(ctx: BuildContext) -> bytes:
    """The float32 TFLite artifact, or (when the build does not export one) the float model converted now."""
    export = ctx.results.export
    for artifact in export.output.artifacts:
        if artifact.name == REFERENCE_NAME:
            return export.path(artifact.file).read_bytes()
    from edgekit.export.tflite import convert_tflite
    from edgekit.pipeline.stages.common import float_source, load_keras

    return convert_tflite(load_keras(ctx, *float_source(ctx)), Quantization.FLOAT32)


# ------------------------------------------------------------------------------------------------ recovery
def _gate_record(name: str, accuracy: float, agreement: float) -> dict[str, Any]:
    return {"name": name, "quantization": Quantization.INT8.value, "accuracy": accuracy, "agreement": agreement}


def _gate(ctx: BuildContext, name: str, accuracy: float, agreement: float) -> dict[str, Any]:
    """The build's accuracy gate on one int8 candidate (the gate's own function, so the rules are the same:
    accuracy drop and agreement with the dense float model)."""
    from edgekit.pipeline.gate import accuracy_gate

    baseline = ctx.results.evaluate.output.scores["keras-dense"]["accuracy"]
    dense = {"name": "keras-dense", "quantization": Quantization.FLOAT32.value, "accuracy": baseline,
             "agreement": 1.0}
    return accuracy_gate([dense, _gate_record(name, accuracy, agreement)], ctx.config.evaluate)


def wants_recovery(ctx: BuildContext, artifact: ExportedArtifact) -> bool:
    """export.int8_recovery is always, or auto and this int8 artifact fails the gate (classification builds:
    a regression's candidates would need their MAE, which recovery does not measure yet)."""
    from edgekit.pipeline.stages.common import build_task

    mode = ctx.config.export.int8_recovery
    if mode is Int8Recovery.OFF or build_task(ctx) is not Task.CLASSIFICATION:
        return False
    scores = ctx.results.evaluate.output.scores[artifact.name]
    return mode is Int8Recovery.ALWAYS or not _gate(ctx, artifact.name, scores["accuracy"],
                                                    scores["agreement"])["passed"]


def _maybe_recover(ctx: BuildContext, work: Path, artifact: ExportedArtifact, report) -> Optional[dict[str, Any]]:
    if not wants_recovery(ctx, artifact):
        return None
    scores = ctx.results.evaluate.output.scores[artifact.name]
    gate = _gate(ctx, artifact.name, scores["accuracy"], scores["agreement"])
    trigger = "; ".join(gate["failures"]) if not gate["passed"] else "export.int8_recovery is always"
    console.info(f"int8 recovery: {trigger}")
    return recover(ctx, work, artifact, report, trigger)


def recover(ctx: BuildContext, work: Path, artifact: ExportedArtifact, report, trigger: str) -> dict[str, Any]:
    """Try the mixed variants in order until one passes the gate; profile them all next to full int8.

    Returns the recovery record: every candidate tried (float ops and why, accuracy, bytes, latency), the
    chosen one (None when none passed) and the chosen artifact's file in the stage folder.
    """
    from edgekit.export.recovery import MixedBuilder, plan_candidates
    from edgekit.export.runners import TFLiteRunner, classify, keras_runner
    from edgekit.pipeline.evaluate import top1_scores
    from edgekit.pipeline.stages.common import dataset, float_source, load_keras

    config, data = ctx.config, dataset(ctx)
    export = ctx.results.export
    started = time.perf_counter()
    # The variants are post-training quantizations of the float model, even when full int8 came from QAT: the
    # converter's denylist needs a calibration, and a QAT model's fake-quant graph gives none ("Please check if
    # the quantized model is in debug mode").
    stage, memo_key = float_source(ctx)
    builder = MixedBuilder(load_keras(ctx, stage, memo_key),
                           data.representative_samples(config.export.representative_samples, ctx.seed))
    reference, _ = classify(keras_runner(load_keras(ctx, "train", "dense")), data, "test")
    candidates: list[dict[str, Any]] = []
    chosen = None
    with tempfile.TemporaryDirectory(prefix="edgekit-recovery-") as folder, builder:
        paths: dict[str, Path] = {}
        for plan in plan_candidates(report):
            record: dict[str, Any] = {"name": plan.name, "method": plan.method.value, "float_ops": plan.float_ops,
                                      "reasons": plan.reasons}
            candidates.append(record)
            try:
                model_bytes = builder.build(plan)
            except EdgekitError as error:
                record["error"] = str(error)
                console.warn(f"int8 recovery: {plan.name}: {error}")
                continue
            path = Path(folder) / f"{config.name}-int8-{plan.name}.tflite"
            fsutil.write_bytes(path, model_bytes)
            predicted, labels = classify(TFLiteRunner(path), data, "test")
            accuracy, agreement = top1_scores(predicted, labels, reference)
            passed = _gate(ctx, MIXED_NAME, accuracy, agreement)["passed"]
            record.update({"accuracy": accuracy, "agreement": agreement, "bytes": len(model_bytes),
                           "passed_gate": passed})
            paths[plan.name] = path
            console.info(f"int8 recovery: {plan.name} ({plan.method.value}"
                         f"{': ' + str(len(plan.float_ops)) + ' ops float' if plan.float_ops else ''}) "
                         f"accuracy {accuracy:.4f}{' passes' if passed else ' fails'} the gate")
            if passed:
                chosen = record
                break
        full_latency = _profile_candidates(ctx, export.path(artifact.file), candidates, paths)
        file_name = None
        if chosen is not None:
            file_name = f"{config.name}-int8-mixed.tflite"
            fsutil.write_bytes(work / file_name, paths[chosen["name"]].read_bytes())
    full_int8 = {"accuracy": ctx.results.evaluate.output.scores[artifact.name]["accuracy"],
                 "bytes": export.path(artifact.file).stat().st_size, "latency": full_latency}
    return {"artifact": artifact.name, "mode": config.export.int8_recovery.value, "trigger": trigger,
            "source": stage, "full_int8_source": artifact.source, "full_int8": full_int8,
            "candidates": candidates, "chosen": chosen["name"] if chosen else None, "file": file_name,
            "seconds": round(time.perf_counter() - started, 3)}


def _profile_candidates(ctx: BuildContext, full_int8: Path, candidates: list[dict[str, Any]],
                        paths: dict[str, Path]) -> Optional[dict[str, Any]]:
    """Profile full int8 and every built candidate on the target in one session; each candidate gains
    "latency" and "latency_cost" (its median against full int8's). Returns full int8's profile."""
    from edgekit.fleet import DevicePool, profile_pool
    from edgekit.profiling.profile import ProfileSettings

    refused = ctx.target.refuses(ExportFormat.TFLITE, Quantization.INT8)
    if refused or not paths:
        for record in candidates:
            record["latency"] = None
            if refused:
                record["latency_skipped"] = refused
        return None
    config = ctx.config.profile
    settings = ProfileSettings(runs=config.runs, warmup=config.warmup, min_seconds=config.min_seconds,
                               threads=config.threads)
    pool = ctx.pool or DevicePool(ctx.target, [ctx.connection])
    names = list(paths)
    try:
        run = profile_pool([full_int8, *paths.values()], pool, settings).succeeded[0]
    except EdgekitError as error:
        # Recovery stays useful without timings: say why they are missing instead of failing the build here
        # (the profile stage reaches the same device next and reports its failure there).
        for record in candidates:
            record["latency"], record["latency_error"] = None, str(error)
        return None
    full = _portable(ctx, run.profiles[0])
    by_name = dict(zip(names, run.profiles[1:]))
    for record in candidates:
        profile = by_name.get(record["name"])
        record["latency"] = _portable(ctx, profile) if profile else None
        if profile:
            record["latency_cost"] = {
                "median_ms": profile["median_ms"] - full["median_ms"],
                "ratio": profile["median_ms"] / full["median_ms"] if full["median_ms"] else None}
    return full


def _portable(ctx: BuildContext, profile: dict[str, Any]) -> dict[str, Any]:
    """A profile without the temporary path its model was profiled from (the candidates' folder is gone)."""
    profile = dict(profile)
    model = dict(profile.get("model") or {})
    path = Path(model.get("path", ""))
    model["path"] = str(path.relative_to(ctx.build_dir)) if path.is_relative_to(ctx.build_dir) else path.name
    profile["model"] = model
    return profile


# ------------------------------------------------------------------------------------------------ manifest
def manifest_entries(ctx: BuildContext) -> dict[str, Any]:
    """What the diagnose stage adds to the manifest: the ranked per-layer errors ("quantization_error"), the
    recovery record ("int8_recovery") and, when one passed, the `tflite-int8-mixed` artifact."""
    result = ctx.results.diagnose
    if result is None:
        return {"quantization_error": {}, "int8_recovery": None, "artifacts": []}
    recovery = result.output.recovery
    artifacts = []
    if recovery and recovery.get("file"):
        chosen = next(record for record in recovery["candidates"] if record["name"] == recovery["chosen"])
        path = result.path(recovery["file"])
        latency = chosen.get("latency")
        if latency:
            latency = {**latency, "model": {**latency["model"], "path": str(path.relative_to(ctx.build_dir))}}
        artifacts.append({
            "name": MIXED_NAME, "format": ExportFormat.TFLITE.value, "quantization": Quantization.INT8.value,
            "path": str(path.relative_to(ctx.build_dir)), "bytes": path.stat().st_size,
            "gzip_bytes": fsutil.gzip_bytes(path), "sha256": result.files[recovery["file"]],
            "sparsity": None, "accuracy": chosen["accuracy"], "agreement": chosen["agreement"],
            "latency": latency, "source": recovery["source"], "method": chosen["method"],
            "float_ops": chosen["float_ops"], "float_op_reasons": chosen["reasons"],
            "latency_cost": chosen.get("latency_cost"), "recovered_from": recovery["artifact"]})
    return {"quantization_error": result.output.quantization_error, "int8_recovery": _without_samples(recovery),
            "artifacts": artifacts}


def _without_samples(recovery: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """The recovery record with each profile's statistics but not its thousands of samples_ms (the chosen
    artifact's full profile is its "latency", like every artifact's)."""
    if not recovery:
        return recovery

    def trimmed(profile):
        return {key: value for key, value in profile.items() if key != "samples_ms"} if profile else profile

    return {**recovery, "full_int8": {**recovery["full_int8"], "latency": trimmed(recovery["full_int8"]["latency"])},
            "candidates": [{**record, "latency": trimmed(record.get("latency"))} for record in recovery["candidates"]]}


def describe(manifest: dict[str, Any]) -> list[str]:
    """The summary's lines about the per-layer error and the recovery: never silent about what stayed float."""
    lines = []
    for name, report in (manifest.get("quantization_error") or {}).items():
        if report.get("error"):
            lines.append(f"quantization error {name}: not measured: {report['error']}")
        worst = report["layers"][:3]
        if worst:
            ops = ", ".join(f"{layer['op']} '{_short(layer['tensor'])}' {layer['rmse_over_scale']:.3g}"
                            for layer in worst)
            lines.append(f"quantization error {name} (RMSE/scale, worst first): {ops}")
    recovery = manifest.get("int8_recovery")
    if not recovery:
        return lines
    lines.append(f"int8 recovery ({recovery['mode']}): {recovery['trigger']}")
    for record in recovery["candidates"]:
        if "error" in record:
            lines.append(f"  {record['name']}: not built: {record['error']}")
            continue
        cost = record.get("latency_cost") or {}
        latency = (f", median {record['latency']['median_ms']:.4g} ms ({cost['median_ms']:+.4g} ms vs full int8)"
                   if record.get("latency") and cost else "")
        lines.append(f"  {record['name']}: accuracy {record['accuracy']:.4f}, {record['bytes']:,} bytes{latency}"
                     f" -> {'passes' if record['passed_gate'] else 'fails'} the gate")
    chosen = next((a for a in manifest["artifacts"] if a["name"] == MIXED_NAME), None)
    if chosen is None:
        lines.append(f"  no mixed variant passed the gate; {recovery['artifact']} is left as it is")
    elif chosen["float_ops"]:
        lines.append(f"  {MIXED_NAME} keeps {len(chosen['float_ops'])} op(s) in float, because:")
        lines.extend(f"    {_short(op)}: {reason}" for op, reason in zip(chosen["float_ops"], chosen["float_op_reasons"]))
    else:
        lines.append(f"  {MIXED_NAME} is {chosen['method']}: {'; '.join(chosen['float_op_reasons'])}")
    return lines


def _short(tensor: str, width: int = 60) -> str:
    """A fused op's tensor name is every fused node's name joined by ';': the first says which layer."""
    first = tensor.split(";")[0]
    return first if len(first) <= width else "…" + first[-width:]
