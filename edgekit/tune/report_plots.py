"""The tune report's scatter plots: every measured trial's accuracy against p90 latency, file bytes or peak memory,
with the budget's lines, the Pareto front and the chosen point. Drawn with the build report's plot helpers (same
style, same colours per quantization, SVG text labels, the same bytes for the same input)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

# The build report's helpers: one style, one colour per quantization, one way to write SVG.
from edgekit.report.data import pareto_front
from edgekit.report.plots import OTHER_COLOUR, QUANTIZATION_COLOURS, new_figure, log_x, plot_style, svg_of, label
from edgekit.tune.report_data import Trial, TuneRun

LIMIT_COLOUR = "#c44e52"
CHOSEN_COLOUR = "#d62728"
# Point areas (pt²) for the smallest and the largest model file in the latency plot.
_MIN_AREA, _MAX_AREA = 30.0, 500.0


@dataclass(frozen=True)
class Axis:
    """What one plot puts on its x axis: the value of a trial, its name, and the budget's limit on it."""

    value: Callable[[Trial], Optional[float]]
    title: str
    limit: Optional[float]
    limit_title: str


def trials_svg(run: TuneRun, axis: Axis, *, area_by_bytes: bool) -> Optional[str]:
    """Accuracy (the task's metric) against `axis` for every trial that has both; None when no trial has."""
    points = [trial for trial in run.trials if trial.accuracy is not None and axis.value(trial) is not None]
    if not points:
        return None
    floor = run.min_accuracy
    front_ids = {trial.id for trial in run.front}
    chosen, baseline = run.chosen, run.baseline
    # Trials below the highest rung are rung 0's rankings (successive halving's first round): drawn faint.
    top_rung = max(trial.rung for trial in points)
    with plot_style():
        figure, axes = new_figure(7.5, 4.4)
        largest = max((trial.bytes or 0) for trial in points) or 1
        for trial in points:
            area = (_MIN_AREA + (_MAX_AREA - _MIN_AREA) * (trial.bytes or 0) / largest) if area_by_bytes else 60.0
            colour = QUANTIZATION_COLOURS.get(trial.candidate.quantization or "", OTHER_COLOUR)
            missed = trial.fits is False
            short = trial.rung < top_rung
            axes.scatter(axis.value(trial), trial.accuracy, s=area, zorder=3, alpha=0.25 if short else 0.7,
                         facecolors="none" if missed else colour, edgecolors=colour, linewidths=1.4,
                         linestyle=":" if short else "-")
            if trial.id in front_ids:
                axes.scatter(axis.value(trial), trial.accuracy, s=area + 70, facecolors="none", edgecolors="black",
                             linewidths=1.2, zorder=4)
        _front_line(axes, [trial for trial in points if trial.id in front_ids], axis, run.state.higher_is_better)
        if chosen is not None and chosen in points:
            axes.scatter(axis.value(chosen), chosen.accuracy, marker="*", s=260, color=CHOSEN_COLOUR,
                         edgecolors="black", linewidths=0.6, zorder=5)
            axes.annotate(f"chosen {label(chosen.id)}", (axis.value(chosen), chosen.accuracy), xytext=(10, 8),
                          textcoords="offset points", fontsize=8, fontweight="bold", color=CHOSEN_COLOUR)
        if baseline is not None and baseline in points and baseline is not chosen:
            axes.annotate(f"default build {label(baseline.id)}", (axis.value(baseline), baseline.accuracy),
                          xytext=(10, -12), textcoords="offset points", fontsize=8)
        if axis.limit is not None:
            axes.axvline(axis.limit, color=LIMIT_COLOUR, linestyle="--", linewidth=1.1, zorder=2)
            axes.annotate(f"{axis.limit_title} {axis.limit:g}", (axis.limit, 1), xycoords=("data", "axes fraction"),
                          xytext=(3, -10), textcoords="offset points", fontsize=8, color=LIMIT_COLOUR)
        if floor is not None:
            axes.axhline(floor, color=LIMIT_COLOUR, linestyle=":", linewidth=1.1, zorder=2)
            axes.annotate(f"min {label(run.state.metric)} {floor:.4g}", (1, floor), xycoords=("axes fraction", "data"),
                          xytext=(-3, -10), textcoords="offset points", fontsize=8, color=LIMIT_COLOUR, ha="right")
        values = [axis.value(trial) for trial in points] + ([axis.limit] if axis.limit else [])
        if min(values) > 0 and max(values) / min(values) > 20:
            log_x(axes)
        axes.margins(x=0.15, y=0.15)
        axes.set_xlabel(f"{axis.title}, lower is better")
        better = "higher" if run.state.higher_is_better else "lower"
        axes.set_ylabel(f"test {label(run.state.metric)}, {better} is better")
        axes.grid(True, alpha=0.3)
        figure.legend(handles=_legend(points, short=top_rung > min(trial.rung for trial in points)),
                      loc="outside lower center", ncols=4, frameon=False, fontsize=8)
        return svg_of(figure)


def _front_line(axes, front: Sequence[Trial], axis: Axis, higher_is_better: bool) -> None:
    """The front's trials that stay non-dominated in this plot's two dimensions, joined by a dashed step."""
    sign = 1.0 if higher_is_better else -1.0
    flat = pareto_front([(trial.id, axis.value(trial), sign * trial.accuracy) for trial in front])
    line = sorted((trial for trial in front if trial.id in flat), key=lambda trial: axis.value(trial))
    if len(line) > 1:
        axes.step([axis.value(trial) for trial in line], [trial.accuracy for trial in line], where="post",
                  color="black", linewidth=0.8, linestyle="--", zorder=2)


def _legend(points: Sequence[Trial], short: bool) -> list:
    from matplotlib.lines import Line2D

    quantizations = sorted({trial.candidate.quantization or "?" for trial in points})
    handles = [Line2D([], [], marker="o", linestyle="", markersize=7,
                      color=QUANTIZATION_COLOURS.get(name, OTHER_COLOUR), label=label(name)) for name in quantizations]
    handles += [Line2D([], [], marker="o", linestyle="", markersize=7, markerfacecolor="none", color="#555",
                       label="misses a constraint"),
                Line2D([], [], marker="o", linestyle="--", markersize=9, markerfacecolor="none", color="black",
                       linewidth=0.8, label="Pareto front"),
                Line2D([], [], marker="*", linestyle="", markersize=12, color=CHOSEN_COLOUR, label="chosen"),
                Line2D([], [], linestyle="--", color=LIMIT_COLOUR, label="budget")]
    if short:
        handles.append(Line2D([], [], marker="o", linestyle="", markersize=7, color="#555", alpha=0.25,
                              label="rung 0 (ranking, not a build)"))
    return handles
