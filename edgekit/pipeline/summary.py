"""The table a build ends with: size, accuracy (or a regression's MAE) and latency of every artifact side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

from rich.table import Table

from edgekit import console
from edgekit.data.imagecheck import describe_counts
from edgekit.fleet.summary import print_fleet_table
from edgekit.manifest import Manifest
from edgekit.pipeline.diagnostics import qat_layers_line, train_val_gaps

REFERENCE_LATENCY = "tflite-float32"


def human_bytes(count: Optional[int]) -> str:
    """1234567 -> '1.18 MiB'."""
    if count is None:
        return "-"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


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
    manifest = manifest_document(manifest)
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


def print_summary(manifest: Union[Manifest, dict[str, Any]], build_dir: Path) -> None:
    """Print the summary table, the gate's verdict and where the files are."""
    manifest = manifest_document(manifest)
    device = manifest.get("device") or {}
    title = console.cell(f"{manifest['name']} · target {manifest['target']}")
    if device:
        title += console.cell(f" · {device.get('address')} ({device.get('machine')}, {device.get('cpu')})")
    if "devices" in manifest:
        title += f" · latency on the first of {len(manifest['devices'])} devices; the fleet below"
    table = Table(title=title, title_justify="left")
    regression = is_regression(manifest)
    scores = ("MAE", "Δ vs float", "RMSE", "MAE to float") if regression else ("accuracy", "Δ vs float", "agreement")
    for column in ("artifact", "size", "gzip", "sparsity", *scores, "median ms", "speedup"):
        table.add_column(column, justify="left" if column == "artifact" else "right")
    for row in summary_rows(manifest):
        dense = row["name"] == "keras-dense"
        if regression:
            cells = [_number(row["mae"], "{:.4g}"), "-" if dense else _number(row["delta"], "{:+.1%}"),
                     _number(row["rmse"], "{:.4g}"), _number(row["agreement_mae"], "{:.4g}")]
        else:
            cells = [f"{row['accuracy']:.4f}", "-" if dense else f"{row['delta']:+.4f}", f"{row['agreement']:.4f}"]
        table.add_row(
            console.cell(row["name"]),
            human_bytes(row["bytes"]),
            human_bytes(row["gzip_bytes"]),
            "-" if row["sparsity"] is None else f"{row['sparsity']:.0%}",
            *cells,
            "-" if row["median_ms"] is None else f"{row['median_ms']:.4g}",
            "-" if row["speedup"] is None else f"{row['speedup']:.2f}×",
        )
    console.out.print(table)
    if "devices" in manifest:
        print_manifest_fleet(manifest)
    issues = describe_counts(manifest.get("data") or {})
    if issues:
        console.out.print(issues)
    qat_line = qat_layers_line(manifest)
    if qat_line:
        console.out.print(qat_line, markup=False, soft_wrap=True)
    for warning in train_val_gaps(manifest):
        console.out.print(f"warning: {warning}", markup=False, soft_wrap=True)
    cached = [stage["name"] for stage in manifest["stages"] if stage["cached"]]
    if cached:
        console.out.print(f"cached stages: {', '.join(cached)}")
    gate = manifest["gate"]
    for warning in gate.get("warnings") or []:
        console.out.print(f"[bold yellow]warning:[/bold yellow] {warning}")
    if gate["passed"]:
        console.out.print(f"accuracy gate: passed ({gate_passed_text(gate)})")
    from edgekit.pipeline.diagnose import describe

    for line in describe(manifest):
        console.out.print(line, markup=False, highlight=False)
    console.out.print(f"manifest: {build_dir / 'manifest.json'}")
    if (build_dir / "report.html").exists():
        console.out.print(f"report:   {build_dir / 'report.html'}")


def gate_passed_text(gate: dict[str, Any]) -> str:
    """What a passed gate checked, in words: 'every compressed artifact within 0.01 of 0.9700, agreement >= 0.9'."""
    if gate.get("task") == "regression":
        return (f"every compressed artifact's MAE at most {gate['max_metric_increase']:.0%} above the dense float "
                f"model's {gate['baseline_metric']:.4g}")
    text = f"every compressed artifact within {gate['max_accuracy_drop']} of {gate['baseline_accuracy']:.4f}"
    return text + (f", agreement ≥ {gate['min_agreement']}" if "min_agreement" in gate else "")


def _number(value: Optional[float], pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def print_manifest_fleet(manifest: dict[str, Any]) -> None:
    """The fleet table of a build on several devices: each artifact's median on every device, the median of
    medians and the spread, and the devices that failed."""
    fleet = {artifact["name"]: artifact["fleet"] for artifact in manifest["artifacts"] if "fleet" in artifact}
    addresses = [device["address"] for device in manifest["devices"]]
    print_fleet_table(manifest["target"], fleet, addresses, manifest.get("devices_failed") or [], names="artifact")
