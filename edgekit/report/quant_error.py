"""The report's quantization section: the worst layers of each int8 artifact, and what the int8 recovery did."""

from __future__ import annotations

from html import escape
from typing import Any, Optional

from edgekit.report import plots

# Bars in the chart: the worst layers are what one acts on; the rest are rounding noise.
WORST_LAYERS = 20
# RMSE/scale of pure rounding (uniform error over one step): 1/sqrt(12).
ROUNDING = 12 ** -0.5


def worst_layers_svg(report: dict[str, Any], limit: int = WORST_LAYERS) -> Optional[str]:
    """Horizontal bars of RMSE/scale for the `limit` worst ops, worst on top, the rounding level marked."""
    layers = report.get("layers") or []
    if not layers:
        return None
    layers = layers[:limit]
    labels = [f"{layer['op']} {_short(layer['tensor'])}" for layer in layers]
    values = [layer["rmse_over_scale"] for layer in layers]
    with plots.plot_style():
        figure, axes = plots.new_figure(7.5, 0.8 + 0.3 * len(layers))
        axes.barh(range(len(layers)), values, color="#c44e52", alpha=0.75)
        axes.set_yticks(range(len(layers)), labels, fontsize=7)
        for position, value in enumerate(values):
            axes.annotate(f"{value:.3g}", (value, position), xytext=(3, -3), textcoords="offset points", fontsize=7)
        axes.axvline(ROUNDING, color="black", linestyle="--", linewidth=0.8, label="rounding only (0.29)")
        if max(values) / max(min(v for v in values if v > 0) if any(values) else 1, 1e-9) > 50:
            axes.set_xscale("symlog", linthresh=0.1)
        axes.legend(loc="lower right", frameon=False)
        axes.invert_yaxis()
        axes.set_xlabel("RMSE / output scale (per op, isolated), lower is better")
        return plots.svg_of(figure)


def _short(tensor: str, width: int = 48) -> str:
    first = tensor.split(";")[0]
    return first if len(first) <= width else "…" + first[-width:]


def section(manifest: dict[str, Any]) -> str:
    """The HTML section, or "" when the build has no int8 TFLite artifact."""
    from edgekit.report.page import html_figure, html_table

    errors = manifest.get("quantization_error") or {}
    if not errors:
        return ""
    parts = ["<h2 id=\"quantization\">Quantization error per layer</h2>"]
    for name, report in errors.items():
        svg = worst_layers_svg(report)
        if svg is None:
            continue
        caption = (f"{escape(name)}: the {min(WORST_LAYERS, len(report['layers']))} worst of "
                   f"{len(report['layers'])} quantized ops by RMSE divided by the output's scale, each op fed the "
                   f"same input as its float twin ({report['samples']} {escape(str(report.get('split', '')))} "
                   f"samples). About 0.29 is pure rounding; far above it, the op quantizes badly.")
        if report.get("float_ops"):
            caption += f" {len(report['float_ops'])} op(s) stayed float: " + escape(
                ", ".join(_short(op) for op in report["float_ops"])) + "."
        parts.append(html_figure(f"plot-quant-error-{escape(name)}", svg, caption))
    recovery = manifest.get("int8_recovery")
    if recovery:
        parts.append("<h3>int8 recovery</h3>")
        parts.append(f"<p>{escape(recovery['trigger'])}. Candidates, in the order tried:</p>")
        rows = []
        for record in recovery["candidates"]:
            latency = record.get("latency") or {}
            cost = record.get("latency_cost") or {}
            rows.append([escape(record["name"]), escape(record["method"]),
                         escape(", ".join(_short(op) for op in record["float_ops"])) or "-",
                         "-" if "accuracy" not in record else f"{record['accuracy']:.4f}",
                         "-" if "bytes" not in record else f"{record['bytes']:,}",
                         "-" if not latency else f"{latency['median_ms']:.4g}",
                         "-" if not cost else f"{cost['median_ms']:+.4g}",
                         escape(record.get("error", "")) or ("passes" if record.get("passed_gate") else "fails")])
        full = recovery["full_int8"]
        rows.insert(0, [escape(recovery["artifact"]), "full int8", "-", f"{full['accuracy']:.4f}",
                        f"{full['bytes']:,}", "-" if not full.get("latency") else f"{full['latency']['median_ms']:.4g}",
                        "-", "fails" if recovery["trigger"] != "export.int8_recovery is always" else "-"])
        parts.append(html_table(["variant", "method", "float ops", "accuracy", "bytes", "median ms", "Δ ms vs int8",
                             "gate"], rows))
        chosen = recovery.get("chosen")
        parts.append(f"<p class=\"note\">{'Kept as tflite-int8-mixed: ' + escape(chosen) if chosen else 'No variant passed the gate.'}</p>")
    return "\n".join(parts)
