"""The report's plots, drawn with matplotlib's object API (no pyplot, no global backend) as standalone SVG.

Each plot is returned as SVG text. Labels stay text (<text> elements: searchable, selectable, small), in a sans-serif
font the browser picks; ids are salted with a fixed string so the same build gives the same bytes.
"""

from __future__ import annotations

import io
from typing import Optional, Sequence

from edgekit.report.data import ArtifactRow
from edgekit.safetext import printable

# One colour per quantization, so the same kind of artifact looks the same in every plot.
QUANTIZATION_COLOURS = {"float32": "#4c72b0", "float16": "#55a868", "dynamic": "#dd8452", "int8": "#c44e52"}
OTHER_COLOUR = "#8172b3"
STAGE_SHADES = {"train": "#ececec", "prune": "#dbe7f6", "qat": "#f6e0d8"}
SPLIT_COLOURS = {"training split": "#4c72b0", "validation split": "#dd8452"}
_RC = {"svg.hashsalt": "edgekit-report", "svg.fonttype": "none", "font.size": 9, "axes.spines.top": False,
       "axes.spines.right": False}
# Point areas (pt²) for the smallest and the largest model in the trade-off plot.
_MIN_AREA, _MAX_AREA = 40.0, 900.0


def label(text: object) -> str:
    """A name from the manifest as plot text: control characters escaped (the SVG must stay valid XML) and `$`
    escaped (matplotlib reads text between two `$` as math, and refuses math it cannot parse)."""
    return printable(text).replace("$", r"\$")


def colour(row: ArtifactRow) -> str:
    return QUANTIZATION_COLOURS.get(row.quantization, OTHER_COLOUR)


def tradeoff_svg(rows: Sequence[ArtifactRow], regression: bool = False) -> Optional[str]:
    """Accuracy (a regression's MAE) against median latency, one point per artifact, area by size, the Pareto
    front marked."""
    points = [row for row in rows if row.median_ms is not None and row.score is not None]
    if not points:
        return None
    with plot_style():
        figure, axes = new_figure(7.5, 4.2)
        largest = max((row.bytes or 0) for row in points) or 1
        for row in points:
            area = _MIN_AREA + (_MAX_AREA - _MIN_AREA) * (row.bytes or 0) / largest
            axes.scatter(row.median_ms, row.score, s=area, color=colour(row), alpha=0.55,
                         edgecolors="black" if row.pareto else "none", linewidths=1.6 if row.pareto else 0, zorder=3)
        for cluster in _clusters(points):
            names = ", ".join(f"{label(row.name)} ★" if row.pareto else label(row.name) for row in cluster)
            axes.annotate(names, (cluster[0].median_ms, cluster[0].score), xytext=(9, 6), textcoords="offset points",
                          fontsize=8, fontweight="bold" if any(row.pareto for row in cluster) else "normal")
        front = sorted((row for row in points if row.pareto), key=lambda row: row.median_ms)
        if len(front) > 1:
            axes.step([row.median_ms for row in front], [row.score for row in front], where="post", color="black",
                      linewidth=0.8, linestyle="--", zorder=2, label="Pareto front")
            axes.legend(loc="upper right" if regression else "lower right", frameon=False)
        latencies = [row.median_ms for row in points]
        if min(latencies) > 0 and max(latencies) / min(latencies) > 20:
            log_x(axes)
        axes.margins(x=0.25, y=0.25)
        axes.set_xlabel("median latency (ms), lower is better")
        axes.set_ylabel("test MAE, lower is better" if regression else "test accuracy, higher is better")
        axes.grid(True, alpha=0.3)
        return svg_of(figure)


def _clusters(points: Sequence[ArtifactRow]) -> list[list[ArtifactRow]]:
    """Points close enough that their labels would overlap (within 4 % of each axis' range), labelled once."""
    latency_span = (max(row.median_ms for row in points) - min(row.median_ms for row in points)) or 1.0
    score_span = (max(row.score for row in points) - min(row.score for row in points)) or 1.0
    clusters: list[list[ArtifactRow]] = []
    for row in sorted(points, key=lambda row: (row.median_ms, -row.score)):
        home = next((cluster for cluster in clusters
                     if abs(cluster[0].median_ms - row.median_ms) < 0.04 * latency_span
                     and abs(cluster[0].score - row.score) < 0.04 * score_span), None)
        if home is None:
            clusters.append([row])
        else:
            home.append(row)
    return clusters


def latency_svg(rows: Sequence[ArtifactRow]) -> Optional[str]:
    """Box plots of each artifact's latency samples: box 25–75 %, whiskers 1–99 %, the median line."""
    measured = sorted((row for row in rows if row.samples_ms), key=lambda row: row.median_ms or 0, reverse=True)
    if not measured:
        return None
    with plot_style():
        figure, axes = new_figure(7.5, 0.9 + 0.45 * len(measured))
        boxes = axes.boxplot([row.samples_ms for row in measured], whis=(1, 99), showfliers=False, patch_artist=True,
                             widths=0.55, medianprops={"color": "black", "linewidth": 1.4}, **_horizontal())
        for box, row in zip(boxes["boxes"], measured):
            box.set_facecolor(colour(row))
            box.set_alpha(0.6)
        axes.set_yticks(range(1, len(measured) + 1), [label(row.name) for row in measured])
        for position, row in enumerate(measured, start=1):
            axes.annotate(f"{row.median_ms:.4g} ms", (row.median_ms, position + 0.32), fontsize=7, ha="center")
        # A slow tail (a busy machine) or a 100x gap between artifacts would squash the boxes on a linear axis.
        lowest = min(_percentile(row.samples_ms, 1) for row in measured)
        highest = max(_percentile(row.samples_ms, 99) for row in measured)
        if lowest > 0 and highest / lowest > 10:
            log_x(axes)
        axes.set_xlabel("latency per inference (ms)")
        axes.grid(True, axis="x", alpha=0.3)
        return svg_of(figure)


# Op types drawn separately in the per-op chart; the rest are summed as "other".
MOST_OP_TYPES = 12
ARTIFACT_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c")


def op_types_svg(profiles: Sequence[tuple[str, Sequence[dict]]]) -> Optional[str]:
    """Time per inference of each op type (summed over its nodes), one bar per artifact that has per-op times."""
    if not profiles:
        return None
    totals: dict[str, float] = {}
    for _, types in profiles:
        for entry in types:
            totals[entry["node_type"]] = totals.get(entry["node_type"], 0.0) + float(entry["avg_ms"])
    shown = sorted(totals, key=lambda op: -totals[op])[:MOST_OP_TYPES]
    labels = shown + (["other"] if len(totals) > len(shown) else [])
    with plot_style():
        figure, axes = new_figure(7.5, 1.0 + 0.28 * len(labels) * max(1, len(profiles)) ** 0.5)
        height = 0.8 / len(profiles)
        for index, (name, types) in enumerate(profiles):
            by_type = {entry["node_type"]: float(entry["avg_ms"]) for entry in types}
            values = [by_type.get(op, 0.0) for op in shown]
            if "other" in labels:
                values.append(sum(value for op, value in by_type.items() if op not in shown))
            positions = [row + index * height for row in range(len(labels))]
            axes.barh(positions, values, height=height, color=ARTIFACT_COLOURS[index % len(ARTIFACT_COLOURS)],
                      alpha=0.8, label=name)
        axes.set_yticks([row + 0.4 - height / 2 for row in range(len(labels))], labels)
        axes.invert_yaxis()  # the slowest op type on top
        axes.set_xlabel("time per inference (ms), summed over the op type's nodes")
        axes.grid(True, axis="x", alpha=0.3)
        if len(profiles) > 1:
            axes.legend(loc="lower right", frameon=False, fontsize=8)
        return svg_of(figure)


def sparsity_svg(layers: dict[str, float], target: Optional[float]) -> Optional[str]:
    """Zero fraction of each pruned layer's kernel, with the configured target."""
    if not layers:
        return None
    names = [label(name) for name in layers]
    values = list(layers.values())
    with plot_style():
        figure, axes = new_figure(7.5, 0.8 + 0.32 * len(names))
        # Bars at positions, labelled after: two layer names that read alike once escaped stay two bars.
        axes.barh(range(len(values)), values, color="#4c72b0", alpha=0.75)
        axes.set_yticks(range(len(values)), names)
        for position, value in enumerate(values):
            axes.annotate(f"{value:.0%}", (value, position), xytext=(3, -3), textcoords="offset points", fontsize=7)
        if target is not None:
            axes.axvline(target, color="#c44e52", linestyle="--", linewidth=1, label=f"target {target:.0%}")
            axes.legend(loc="lower right", frameon=False)
        axes.set_xlim(0, 1.08)
        axes.invert_yaxis()
        axes.set_xlabel("fraction of zero weights")
        return svg_of(figure)


def curves_svg(curves: list[tuple[str, dict[str, list[float]]]]) -> Optional[str]:
    """Loss and accuracy (a regression's MAE) per epoch, train then prune then QAT on one axis, the stages shaded."""
    if not curves:
        return None
    metric_name = "mae" if any("mae" in metrics for _, metrics in curves) else "accuracy"
    with plot_style():
        figure = new_figure(7.5, 3.2, columns=2)[0]
        loss_axes, accuracy_axes = figure.axes
        offset = 0
        for stage, metrics in curves:
            epochs = max(len(series) for series in metrics.values())
            for axes in (loss_axes, accuracy_axes):
                axes.axvspan(offset + 0.5, offset + epochs + 0.5, color=STAGE_SHADES.get(stage, "#eeeeee"), zorder=0)
            for axes, metric in ((loss_axes, "loss"), (accuracy_axes, metric_name)):
                for key, style, split in ((metric, "-", "training split"), (f"val_{metric}", "--", "validation split")):
                    series = metrics.get(key)
                    if series:
                        epochs_of_series = range(offset + 1, offset + len(series) + 1)
                        axes.plot(epochs_of_series, series, style, color=SPLIT_COLOURS[split])
            offset += epochs
        # One legend above both plots: the two splits, and which shade is which stage (short stages are too
        # narrow to carry their name).
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        handles = [Line2D([], [], color=SPLIT_COLOURS[split], linestyle=style, label=split)
                   for split, style in (("training split", "-"), ("validation split", "--"))]
        handles += [Patch(color=STAGE_SHADES.get(stage, "#eeeeee"), label=f"stage {stage}") for stage, _ in curves]
        figure.legend(handles=handles, loc="outside upper center", ncols=len(handles), frameon=False, fontsize=8)
        from matplotlib.ticker import MaxNLocator

        for axes, metric in ((loss_axes, "loss"), (accuracy_axes, "MAE" if metric_name == "mae" else "accuracy")):
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
            axes.set_xlabel("epoch (all stages)")
            axes.set_ylabel(metric)
            axes.grid(True, alpha=0.3)
        return svg_of(figure)


def log_x(axes) -> None:
    """A log latency axis labelled in plain milliseconds (0.01, 0.1, 1), not powers of ten."""
    from matplotlib.ticker import FuncFormatter

    axes.set_xscale("log")
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))


def _percentile(values: Sequence[float], percent: float) -> float:
    import numpy as np

    return float(np.percentile(values, percent))


def _horizontal() -> dict:
    """matplotlib 3.10 replaced boxplot's `vert=False` with `orientation="horizontal"`."""
    import matplotlib

    major, minor = (int(part) for part in matplotlib.__version__.split(".")[:2])
    return {"orientation": "horizontal"} if (major, minor) >= (3, 10) else {"vert": False}


def plot_style():
    import matplotlib

    return matplotlib.rc_context(_RC)


def new_figure(width: float, height: float, columns: int = 1):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.subplots(1, columns)
    return figure, axes


def svg_of(figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()
