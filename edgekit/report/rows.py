"""The summary's rows, one per artifact with the derived columns (delta to the dense float model, speedup over
float32 TFLite), and the gate's verdict in words: shared by the terminal summary (edgekit.pipeline.summary) and
the HTML report."""

from __future__ import annotations

from typing import Any, Union

from edgekit.manifest import Manifest

# The artifact whose median latency every speedup divides.
REFERENCE_LATENCY = "tflite-float32"


def manifest_document(manifest: Union[Manifest, dict[str, Any]]) -> dict[str, Any]:
    """The JSON data of a Manifest, or of a dict once it validates as one (a dict the writer just made)."""
    return (manifest if isinstance(manifest, Manifest) else Manifest.model_validate(manifest)).document()


def is_regression(manifest: dict[str, Any]) -> bool:
    """Whether the manifest is a regression build's (older manifests have no "task": classifications)."""
    return manifest.get("task") == "regression"


def summary_rows(manifest: Union[Manifest, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per artifact with the derived columns (Δ accuracy vs dense float, speedup vs float32 TFLite).

    A regression's rows have "mae", "rmse", "agreement_mae", and "delta" is the relative MAE increase over the
    dense float model's; their "accuracy" and "agreement" are None.
    """
    if isinstance(manifest, Manifest):
        manifest = manifest.document()
    if is_regression(manifest):
        return _regression_rows(manifest)
    artifacts = manifest["artifacts"]
    baseline = manifest["gate"]["baseline_accuracy"]
    reference = next((a["latency"]["median_ms"] for a in artifacts
                      if a["name"] == REFERENCE_LATENCY and a.get("latency")), None)
    rows = []
    for artifact in artifacts:
        median = artifact["latency"]["median_ms"] if artifact.get("latency") else None
        accuracy = artifact.get("accuracy")
        rows.append({
            "name": artifact["name"],
            "bytes": artifact.get("bytes"),
            "gzip_bytes": artifact.get("gzip_bytes"),
            "accuracy": accuracy,
            "delta": None if accuracy is None or baseline is None else accuracy - baseline,
            "agreement": artifact.get("agreement"),
            "median_ms": median,
            "speedup": reference / median if reference and median else None,
            "sparsity": artifact.get("sparsity"),
        })
    return rows


def _regression_rows(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    baseline = manifest["gate"].get("baseline_metric")
    for row, artifact in zip(_classification_rows_without_scores(manifest), manifest["artifacts"]):
        metrics = artifact.get("metrics") or {}
        mae = metrics.get("mae")
        rows.append({**row, "mae": mae, "rmse": metrics.get("rmse"), "agreement_mae": artifact.get("agreement_mae"),
                     "delta": None if mae is None or not baseline else (mae - baseline) / baseline})
    return rows


def _classification_rows_without_scores(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows' columns other than accuracy: name, sizes, latency, speedup, sparsity."""
    scoreless = [{**artifact, "accuracy": None, "agreement": None} for artifact in manifest["artifacts"]]
    return summary_rows({"artifacts": scoreless, "gate": {"baseline_accuracy": None}})


def gate_passed_text(gate: dict[str, Any]) -> str:
    """What a passed gate checked, in words: 'every compressed artifact within 0.01 of 0.9700, agreement >= 0.9'."""
    if gate.get("task") == "regression":
        return (f"every compressed artifact's MAE at most {gate['max_metric_increase']:.0%} above the dense float "
                f"model's {gate['baseline_metric']:.4g}")
    text = f"every compressed artifact within {gate['max_accuracy_drop']} of {gate['baseline_accuracy']:.4f}"
    return text + (f", agreement ≥ {gate['min_agreement']}" if "min_agreement" in gate else "")
