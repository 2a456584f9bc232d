"""The table a build ends with: size, accuracy (or a regression's MAE) and latency of every artifact side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

from rich.table import Table

from edgekit import console
from edgekit.base.human import human_bytes
from edgekit.data.imagecheck import describe_counts
from edgekit.fleet.summary import print_fleet_table
from edgekit.manifest import Manifest
from edgekit.pipeline.diagnostics import qat_layers_line, train_val_gaps
from edgekit.report.rows import gate_passed_text, is_regression, manifest_document, summary_rows


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


def _number(value: Optional[float], pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def print_manifest_fleet(manifest: dict[str, Any]) -> None:
    """The fleet table of a build on several devices: each artifact's median on every device, the median of
    medians and the spread, and the devices that failed."""
    fleet = {artifact["name"]: artifact["fleet"] for artifact in manifest["artifacts"] if "fleet" in artifact}
    addresses = [device["address"] for device in manifest["devices"]]
    print_fleet_table(manifest["target"], fleet, addresses, manifest.get("devices_failed") or [], names="artifact")
