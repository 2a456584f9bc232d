"""The gate's report and the baseline history as terminal tables."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional, Sequence

from edgekit import console
from edgekit.regress.compare import GateReport, GateRow
from edgekit.regress.inputs import describe_device
from edgekit.regress.stats import Verdict
from edgekit.regress.store import History, SavedBaseline
from edgekit.safetext import printable

VERDICT_STYLE = {
    Verdict.REGRESSION: "[bold red]✗ regression[/bold red]",
    Verdict.IMPROVEMENT: "[green]✓ improvement[/green]",
    Verdict.UNCHANGED: "✓ unchanged",
    Verdict.MISSING: "[yellow]? missing[/yellow]",
}
SPARK_BARS = "▁▂▃▄▅▆▇█"
TREND_LENGTH = 20  # the newest medians a trend shows


def print_report(report: GateReport) -> None:
    """Artifact, baseline and current median, ratio with its CI, p-value, verdict; then notes and the outcome."""
    from rich.table import Table

    thresholds = report.thresholds
    table = Table(title_justify="left", title=(
        f"{console.cell(report.target)} · {console.cell(describe_device(report.device))} · timing: {report.timing} · max slowdown "
        f"{thresholds.max_slowdown:.1%} · alpha {thresholds.alpha:g} · {thresholds.confidence:.0%} CI"))
    for column in ("artifact", "baseline ms", "current ms", f"ratio [{thresholds.confidence:.0%} CI]", "p-value",
                   "runs", "verdict"):
        table.add_column(column, justify="left" if column in ("artifact", "verdict") else "right")
    for row in report.rows:
        table.add_row(console.cell(row.artifact), *_numbers(row), VERDICT_STYLE[row.verdict])
    console.out.print(table)
    for row in report.rows:
        if row.grown_ops is not None:
            grown = row.grown_ops["types"]
            what = ", ".join(growth.describe() for growth in grown) or "none beyond the thresholds"
            console.out.print(f"{row.artifact}: ops that grew: {what}", soft_wrap=True, markup=False)
            if row.grown_ops["nodes"]:
                console.out.print(f"  nodes: {', '.join(growth.describe() for growth in row.grown_ops['nodes'])}",
                                  soft_wrap=True, markup=False)
    for note in report.notes:
        console.warn(note)
    if report.unprofiled:
        console.info(f"not compared (no latency on either side): {console.cell(', '.join(report.unprofiled))}")
    if report.passed:
        counts = ", ".join(f"{len(report.rows_with(verdict))} {verdict.value}" for verdict in Verdict
                           if report.rows_with(verdict))
        console.out.print(f"latency gate passed: {counts}")


def _numbers(row: GateRow) -> tuple[str, ...]:
    result = row.comparison
    if result is None:
        return ("-", "-", console.cell(row.reason), "-", "-")
    return (f"{result.baseline_median_ms:.4g}", f"{result.current_median_ms:.4g}",
            f"{result.ratio:.3f} [{result.ratio_low:.3f}, {result.ratio_high:.3f}]", f"{result.p_value:.2g}",
            f"{result.baseline_runs} / {result.current_runs}")


def sparkline(values: Sequence[float]) -> str:
    """`▁▃▅█`: each value's height between the smallest and the largest."""
    if not values:
        return ""
    low, high = min(values), max(values)
    if high == low:
        return SPARK_BARS[len(SPARK_BARS) // 2] * len(values)
    top = len(SPARK_BARS) - 1
    return "".join(SPARK_BARS[round((value - low) / (high - low) * top)] for value in values)


def print_histories(histories: list[History], store: str, artifact: Optional[str] = None) -> None:
    """One row per (target, device, artifact): count, first and latest median, the trend, when last saved.
    With `artifact`, every saved baseline of it is listed too."""
    from rich.table import Table

    if not histories:
        console.out.print(f"no baselines in {printable(store)}", markup=False)
        return
    table = Table(title=f"baselines in {console.cell(store)}", title_justify="left")
    for column in ("target", "device", "artifact", "saved", "first ms", "latest ms", "change",
                   f"trend (last {TREND_LENGTH})", "latest saved at"):
        table.add_column(column, justify="right" if column in ("saved", "first ms", "latest ms", "change") else "left")
    for history in histories:
        first, latest = history.entries[0], history.latest
        medians = [entry.median_ms for entry in history.entries[-TREND_LENGTH:]]
        table.add_row(console.cell(latest.target), console.cell(describe_device(latest.device)),
                      console.cell(latest.artifact), str(len(history.entries)),
                      f"{first.median_ms:.4g}", f"{latest.median_ms:.4g}", f"{latest.median_ms / first.median_ms - 1:+.1%}",
                      sparkline(medians), console.cell(latest.saved_at))
    console.out.print(table)
    if artifact is not None:
        for history in histories:
            _print_entries(history.entries)


def print_saved(saved: list[tuple[SavedBaseline, Path]]) -> None:
    """One line per saved baseline: artifact, median, runs, and the history file it went to."""
    for entry, path in saved:
        console.out.print(f"saved {printable(entry.artifact)}: median {entry.median_ms:.4g} ms over "
                          f"{len(entry.profile['samples_ms'])} runs -> {printable(path)}", soft_wrap=True, markup=False)


def _print_entries(entries: list[SavedBaseline]) -> None:
    from rich.table import Table

    latest = entries[-1]
    table = Table(title=f"{console.cell(latest.artifact)} on {console.cell(latest.target)} · "
                        f"{console.cell(describe_device(latest.device))}", title_justify="left")
    for column in ("saved at", "median ms", "p90 ms", "runs", "model sha256", "from"):
        table.add_column(column, justify="right" if column in ("median ms", "p90 ms", "runs") else "left")
    for entry in entries:
        profile = entry.profile
        sha = (profile.get("model") or {}).get("sha256") or "-"
        table.add_row(console.cell(entry.saved_at), f"{entry.median_ms:.4g}", _maybe(profile.get("p90_ms")),
                      str(len(profile["samples_ms"])), console.cell(sha[:12]), console.cell(entry.source))
    console.out.print(table)


def _maybe(value: Any) -> str:
    """A number a profile may hold, or "-" when it has none (or something that is not a finite number)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return "-"
    return f"{value:.4g}"
