"""The table a build ends with: size, accuracy and latency of every artifact side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from rich.table import Table

from edgekit import console
from edgekit.fleet.summary import print_fleet_table
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


def summary_rows(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per artifact with the derived columns (Δ accuracy vs dense float, speedup vs float32 TFLite)."""
    artifacts = manifest["artifacts"]
    baseline = manifest["gate"]["baseline_accuracy"]
    reference = next((a["latency"]["median_ms"] for a in artifacts
                      if a["name"] == REFERENCE_LATENCY and a.get("latency")), None)
    rows = []
    for artifact in artifacts:
        median = artifact["latency"]["median_ms"] if artifact.get("latency") else None
        rows.append({
            "name": artifact["name"],
            "bytes": artifact["bytes"],
            "gzip_bytes": artifact["gzip_bytes"],
            "accuracy": artifact["accuracy"],
            "delta": None if artifact["accuracy"] is None else artifact["accuracy"] - baseline,
            "agreement": artifact["agreement"],
            "median_ms": median,
            "speedup": reference / median if reference and median else None,
            "sparsity": artifact.get("sparsity"),
        })
    return rows


def print_summary(manifest: dict[str, Any], build_dir: Path) -> None:
    """Print the summary table, the gate's verdict and where the files are."""
    device = manifest.get("device") or {}
    title = f"{manifest['name']} · target {manifest['target']}"
    if device:
        title += f" · {device.get('address')} ({device.get('machine')}, {device.get('cpu')})"
    if "devices" in manifest:
        title += f" · latency on the first of {len(manifest['devices'])} devices; the fleet below"
    table = Table(title=title, title_justify="left")
    for column in ("artifact", "size", "gzip", "sparsity", "accuracy", "Δ vs float", "agreement", "median ms",
                   "speedup"):
        table.add_column(column, justify="left" if column == "artifact" else "right")
    for row in summary_rows(manifest):
        table.add_row(
            row["name"],
            human_bytes(row["bytes"]),
            human_bytes(row["gzip_bytes"]),
            "-" if row["sparsity"] is None else f"{row['sparsity']:.0%}",
            f"{row['accuracy']:.4f}",
            "-" if row["name"] == "keras-dense" else f"{row['delta']:+.4f}",
            f"{row['agreement']:.4f}",
            "-" if row["median_ms"] is None else f"{row['median_ms']:.4g}",
            "-" if row["speedup"] is None else f"{row['speedup']:.2f}×",
        )
    console.out.print(table)
    if "devices" in manifest:
        print_manifest_fleet(manifest)
    qat_line = qat_layers_line(manifest)
    if qat_line:
        console.out.print(qat_line, markup=False, soft_wrap=True)
    for warning in train_val_gaps(manifest):
        console.out.print(f"warning: {warning}", markup=False, soft_wrap=True)
    cached = [stage["name"] for stage in manifest["stages"] if stage["cached"]]
    if cached:
        console.out.print(f"cached stages: {', '.join(cached)}")
    gate = manifest["gate"]
    if gate["passed"]:
        console.out.print(f"accuracy gate: passed (int8 within {gate['max_accuracy_drop']} of "
                          f"{gate['baseline_accuracy']:.4f})")
    console.out.print(f"manifest: {build_dir / 'manifest.json'}")
    if (build_dir / "report.html").exists():
        console.out.print(f"report:   {build_dir / 'report.html'}")


def print_manifest_fleet(manifest: dict[str, Any]) -> None:
    """The fleet table of a build on several devices: each artifact's median on every device, the median of
    medians and the spread, and the devices that failed."""
    fleet = {artifact["name"]: artifact["fleet"] for artifact in manifest["artifacts"] if "fleet" in artifact}
    addresses = [device["address"] for device in manifest["devices"]]
    print_fleet_table(manifest["target"], fleet, addresses, manifest.get("devices_failed") or [], names="artifact")
