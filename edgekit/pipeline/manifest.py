"""build/<target>/manifest.json, in the shape DESIGN.md fixes, and the accuracy gate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from edgekit import fsutil
from edgekit.base.version import __version__
from edgekit.config.schema import Quantization, Task
from edgekit.errors import AccuracyGateFailed, DevicesFailed, EdgekitError
from edgekit.fleet.pool import devices_failed
from edgekit.fleet.summary import fleet_by_name
from edgekit.manifest import MANIFEST_NAME, SCHEMA_VERSION, Manifest
from edgekit.pipeline.cache import STATE_FOLDER
from edgekit.pipeline.context import BuildContext
from edgekit.pipeline.gate import accuracy_gate
from edgekit.pipeline.results import ExportedArtifact, ProfileOutput, QatOutput

REGRESS_NAME = "regress.json"  # written by `edgekit regress` against this build


def build_manifest(ctx: BuildContext) -> dict[str, Any]:
    """The manifest of a finished build (every stage result is in ctx.results)."""
    results = ctx.results
    evaluation = results.evaluate.output
    scores = evaluation.scores
    task = Task(evaluation.task)
    train = results.train.output
    profile = results.profile.output if results.profile is not None else ProfileOutput()
    profiles = profile.profiles
    sparsity = dict(results.prune.output.sparsity) if results.prune is not None else None
    if sparsity is not None and results.qat is not None:
        sparsity["after_qat"] = results.qat.output.sparsity_pruned_layers
    artifacts = [_keras_artifact(ctx, stage, scores) for stage in ("train", "prune") if stage in results]
    for exported in results.export.output.artifacts:
        artifacts.append(_artifact_record(ctx, "export", exported.model_dump(), scores, profiles.get(exported.name),
                                          _artifact_sparsity(ctx, exported)))
    from edgekit.pipeline.diagnose import manifest_entries

    diagnosed = manifest_entries(ctx)
    artifacts.extend(diagnosed["artifacts"])
    device = next((profile["device"] for profile in profiles.values()), None)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "edgekit_version": __version__,
        "name": ctx.config.name,
        "task": task.value,
        "target": ctx.target.name,
        "device": device,
        **_fleet_devices(profile),
        "config_sha256": ctx.loaded.sha256,
        "versions": {key: value for key, value in ctx.tools.items()},
        "precision": train.precision,
        # In the order they ran; a profile stage that did not run (no device) is not one.
        "stages": [{"name": name, "seconds": round(result.seconds, 3), "cached": result.cached}
                   for name, result in results.items() if not (name == "profile" and profile.not_run)],
        "artifacts": artifacts,
        # Beyond the DESIGN.md keys: what the report and users need to understand the numbers.
        "precision_reason": train.precision_reason,
        # How the user's model came in: tf_keras as it is, a Keras 3 model rebuilt in tf_keras (with the max abs
        # difference of the outputs), or a Keras 3 model handed to the converters.
        "model_source": train.model_source,
        "distribute": train.distribute,
        "data": results.data.output.summary,
        "preprocessing": results.data.output.preprocessing,
        "sparsity": sparsity,
        "history": {stage: results[stage].output.history for stage in ("train", "prune", "qat") if stage in results},
        "profile_skipped": profile.skipped,
        # Per-layer quantization error of each int8 TFLite artifact (worst first) and the int8 recovery.
        "quantization_error": diagnosed["quantization_error"],
        "int8_recovery": diagnosed["int8_recovery"],
        "batchnorm_momentum": train.batchnorm_momentum,
        "qat": _qat_layers(results.qat.output) if results.qat is not None else None,
    }
    if profile.not_run:
        manifest["profile_not_run"] = profile.not_run
    _add_latency_by_device(artifacts, profile)
    manifest["gate"] = accuracy_gate(artifacts, ctx.config.evaluate, task, evaluation.chance)
    return manifest


def _qat_layers(qat: QatOutput) -> Optional[dict[str, Any]]:
    """The layers QAT trained quantization-aware and those it left float for the int8 converter to calibrate."""
    return {"scheme": qat.scheme, **qat.layers} if qat.layers else None


def _fleet_devices(profile: ProfileOutput) -> dict[str, Any]:
    """With several devices: "devices" (the records of those that succeeded, "device" being the first) and
    "devices_failed" ([{"address", "error"}]). With one device, nothing: the manifest is as it always was."""
    if profile.profiles_by_device is None:
        return {}
    return {"devices": profile.devices, "devices_failed": profile.devices_failed}


def _add_latency_by_device(artifacts: list[dict[str, Any]], profile: ProfileOutput) -> None:
    """With several devices, each profiled artifact gains "latency_by_device" ({address: profile}; "latency" stays
    the first device's) and "fleet" (median of the devices' medians and their spread)."""
    by_device = profile.profiles_by_device
    if not by_device:
        return
    fleet = fleet_by_name(by_device)
    for artifact in artifacts:
        if artifact["name"] in fleet:
            artifact["latency_by_device"] = {address: profiles[artifact["name"]]
                                             for address, profiles in by_device.items()}
            artifact["fleet"] = fleet[artifact["name"]]


def _keras_artifact(ctx: BuildContext, stage: str, scores: dict) -> dict[str, Any]:
    name = "keras-dense" if stage == "train" else "keras-pruned"
    output = ctx.results[stage].output
    entry = {"name": name, "format": "keras", "quantization": Quantization.FLOAT32.value, "file": output.file}
    return _artifact_record(ctx, stage, entry, scores, None, output.kernel_sparsity)


def _artifact_record(ctx: BuildContext, stage: str, entry: dict[str, Any], scores: dict,
                     latency: Optional[dict[str, Any]], sparsity: Optional[float]) -> dict[str, Any]:
    result = ctx.results[stage]
    path = result.path(entry["file"])
    record = {
        "name": entry["name"],
        "format": entry["format"],
        "quantization": entry["quantization"],
        "path": str(path.relative_to(ctx.build_dir)),
        "bytes": fsutil.tree_bytes(path),
        "gzip_bytes": _gzip_bytes(ctx, path, result.files[entry["file"]]),
        "sha256": result.files[entry["file"]],
        "sparsity": sparsity,
        **_scores(scores[entry["name"]]),
        "latency": latency,
    }
    record.update({key: value for key, value in entry.items() if key not in record and key != "file"})
    return record


def _scores(score: dict[str, float]) -> dict[str, Any]:
    """A classification's accuracy and agreement (the DESIGN.md keys); a regression keeps those keys, null, and
    adds its metrics (MAE, RMSE on the test split) and agreement_mae (MAE to the dense float model's outputs)."""
    if "mae" not in score:
        return {"accuracy": score["accuracy"], "agreement": score["agreement"]}
    return {"accuracy": None, "agreement": None, "metrics": {"mae": score["mae"], "rmse": score["rmse"]},
            "agreement_mae": score["agreement_mae"]}


def _gzip_bytes(ctx: BuildContext, path: Path, sha256: str) -> int:
    """gzip -9 size of an artifact, remembered by content hash (compressing every artifact again was most of
    the time of a rebuild served from the cache)."""
    sizes_file = ctx.build_dir / STATE_FOLDER / "gzip_bytes.json"
    sizes = ctx.memo.setdefault("gzip_bytes", _read_json(sizes_file))
    known = sizes.get(sha256)
    if isinstance(known, bool) or not isinstance(known, int) or known <= 0:  # a cache: a bad entry is recomputed
        sizes[sha256] = fsutil.gzip_bytes(path)
        fsutil.write_json(sizes_file, sizes)
    return sizes[sha256]


def _read_json(path: Path) -> dict:
    """A JSON object this module wrote before, or {} when it is missing or damaged (both are caches)."""
    try:
        content = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return {}
    return content if isinstance(content, dict) else {}


def _artifact_sparsity(ctx: BuildContext, exported: ExportedArtifact) -> Optional[float]:
    """Zero fraction of the kernels an artifact was converted from (zeros stay zeros through conversion;
    int8 weights are symmetric, so 0.0 quantizes to exactly 0)."""
    return ctx.results[exported.source].output.kernel_sparsity


def final_error(manifest: dict[str, Any]) -> Optional[EdgekitError]:
    """The error to end the build with, after everything was written: devices of the pool that failed (exit 3,
    naming the accuracy gate too when it failed), else the accuracy gate's."""
    gate = gate_error(manifest)
    failures = manifest.get("devices_failed")
    if not failures:
        return gate
    error = devices_failed(manifest["target"], failures, [device["address"] for device in manifest["devices"]])
    return DevicesFailed(f"{error}; also, {gate}") if gate is not None else error


def gate_error(manifest: dict[str, Any]) -> Optional[AccuracyGateFailed]:
    """The error to end the build with when the gate failed (after everything was written)."""
    failures = manifest["gate"]["failures"]
    return AccuracyGateFailed("accuracy gate failed: " + "; ".join(failures)) if failures else None


def write_manifest(build_dir: Path, manifest: dict[str, Any]) -> Path:
    """Write manifest.json atomically, once it is known to be a valid Manifest (a ValidationError here is a bug
    of the writer: it is raised, not written).

    Verdicts that `edgekit regress` left in the folder (regress.json) judged the artifacts and latencies
    of the previous manifest; when those change they no longer apply, so they are removed.
    """
    path = build_dir / MANIFEST_NAME
    previous = _read_json(path)
    # First: a write that fails (a full disk) leaves both files as they were.
    fsutil.write_json(path, Manifest.model_validate(manifest).document())
    if previous.get("artifacts") != manifest["artifacts"]:
        (build_dir / REGRESS_NAME).unlink(missing_ok=True)
    return path
