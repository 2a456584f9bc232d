"""The report as one self-contained HTML page: inline CSS, plots as embedded SVG images, no script, no network."""

from __future__ import annotations

import base64
from html import escape
from typing import Any, Iterable, Optional

from edgekit.base.human import human_bytes
from edgekit.base.version import __version__
from edgekit.report import plots
from edgekit.report.data import (ArtifactRow, Verdicts, layer_sparsity, op_type_profiles, runtime_pairs,
                                 training_curves)
from edgekit.report.rows import REFERENCE_LATENCY, gate_passed_text, is_regression

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; margin: 0;
       background: #fafafa; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 32px 0 8px; border-bottom: 1px solid #ddd; }
.subtitle { color: #555; margin: 0 0 12px; }
table { border-collapse: collapse; margin: 8px 0; font-variant-numeric: tabular-nums; }
.scroll { overflow-x: auto; }
th, td { padding: 4px 8px; border-bottom: 1px solid #e6e6e6; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; font-weight: 600; } td:first-child, th:first-child { text-align: left; }
table.facts td, table.facts th { text-align: left; white-space: normal; }
.badge { display: inline-block; padding: 2px 9px; border-radius: 10px; font-weight: 600; font-size: 12px; }
.pass, .improvement { background: #dff3e3; color: #1d6b2f; } .fail, .regression { background: #fbe0e0; color: #9b1c1c; }
.unchanged, .missing, .neutral { background: #eee; color: #444; }
.pareto { font-weight: 700; } .note { color: #666; font-size: 13px; }
.warning { background: #fff4d6; border-left: 4px solid #d9a400; padding: 6px 10px; }
figure { margin: 8px 0 16px; } figure img { max-width: 100%; height: auto; display: block; }
figcaption { color: #555; font-size: 13px; margin-top: 4px; }
code { background: #f3f3f3; padding: 1px 4px; border-radius: 3px; }
"""


def render_page(manifest: dict[str, Any], rows: list[ArtifactRow], verdicts: Optional[Verdicts]) -> str:
    """The whole page."""
    name = str(manifest.get("name", "build"))
    sections = [_header(manifest), _summary(manifest, rows), _tradeoff(manifest, rows), _latency(manifest, rows),
                _runtimes(rows), _op_times(manifest), _sparsity(manifest), _quantization(manifest), _training(manifest), _verdicts(verdicts),
                _build_facts(manifest)]
    body = "\n".join(section for section in sections if section)
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>edgekit report: {escape(name)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n{body}\n"
            f"<p class=\"note\">Written by edgekit {escape(__version__)} from manifest.json.</p>\n"
            f"</main>\n</body>\n</html>\n")


def _header(manifest: dict[str, Any]) -> str:
    device = manifest.get("device") or {}
    where = f"target <b>{escape(str(manifest.get('target', '?')))}</b>"
    if device:
        where += " · device " + escape(" ".join(str(device[key]) for key in ("address", "machine", "cpu", "os")
                                               if device.get(key)))
    if manifest.get("task"):
        where += f" · task <b>{escape(str(manifest['task']))}</b>"
    return (f"<h1>edgekit report: {escape(str(manifest.get('name', 'build')))}</h1>\n"
            f"<p class=\"subtitle\">{where}</p>\n" + _gate(manifest.get("gate")))


def _gate(gate: Optional[dict[str, Any]]) -> str:
    """The gate's verdict; when it failed, one row per failed check (artifact, check, value, limit, why)."""
    if not gate:  # a manifest without a gate (typed by edgekit.manifest: an object or null)
        return ""
    warnings = "".join(f"<p class=\"warning\">⚠ {escape(str(warning))}</p>" for warning in gate.get("warnings") or [])
    if gate.get("passed"):
        try:
            detail = gate_passed_text(gate)
        except (KeyError, TypeError, ValueError):  # a manifest from before the checks were recorded
            detail = f"every int8 artifact within {gate.get('max_accuracy_drop')} of the dense float model"
        return (f"<p><span class=\"badge pass\">accuracy gate passed</span> <span class=\"note\">"
                f"{escape(detail)}</span></p>" + warnings)
    failed = [check for check in gate.get("checks") or [] if not check.get("passed")]
    if failed:
        body = [[escape(str(check.get("artifact"))), escape(str(check.get("check"))),
                 number_cell(check.get("value"), "{:.4g}"), number_cell(check.get("limit"), "{:.4g}"),
                 escape(str(check.get("message", "")))] for check in failed]
        detail = html_table(["artifact", "failed check", "value", "limit", "why"], body, css="facts")
    else:
        items = "".join(f"<li>{escape(str(failure))}</li>" for failure in gate.get("failures") or [])
        detail = f"<ul>{items}</ul>"
    return f"<p><span class=\"badge fail\">accuracy gate failed</span></p>{detail}" + warnings


_ARTIFACT_HEADERS = ["artifact", "format", "quantization", "size", "gzip", "sparsity"]
_LATENCY_HEADERS = ["median ms", "p90 ms", "speedup"]


def _artifact_cells(row: ArtifactRow) -> list[str]:
    """The summary's first columns, the same for both tasks: the name (★ when Pareto-optimal), format, sizes."""
    name = escape(row.name) + (" ★" if row.pareto else "")
    return [f"<span class=\"pareto\">{name}</span>" if row.pareto else name, escape(row.format),
            escape(row.quantization), human_bytes(row.bytes), human_bytes(row.gzip_bytes),
            number_cell(row.sparsity, "{:.0%}")]


def _latency_cells(row: ArtifactRow) -> list[str]:
    return [number_cell(row.median_ms, "{:.4g}"), number_cell(row.p90_ms, "{:.4g}"), number_cell(row.speedup, "{:.2f}×")]


def _summary(manifest: dict[str, Any], rows: list[ArtifactRow]) -> str:
    if is_regression(manifest):
        return _regression_summary(rows)
    headers = [*_ARTIFACT_HEADERS, "accuracy", "Δ accuracy", "agreement", *_LATENCY_HEADERS]
    body = [[*_artifact_cells(row), number_cell(row.accuracy, "{:.4f}"),
             "reference" if row.name == "keras-dense" else number_cell(row.delta, "{:+.4f}"),
             number_cell(row.agreement, "{:.4f}"), *_latency_cells(row)] for row in rows]
    note = ("<p class=\"note\">★ Pareto-optimal: no other artifact is both as fast and as accurate. Δ is the "
            "accuracy difference to the dense float Keras model; agreement is top-1 agreement with it; speedup is "
            f"the median latency of {REFERENCE_LATENCY} divided by the artifact's.</p>")
    return "<h2 id=\"summary\">Artifacts</h2>\n" + html_table(headers, body) + note


def _regression_summary(rows: list[ArtifactRow]) -> str:
    headers = [*_ARTIFACT_HEADERS, "MAE", "Δ MAE", "RMSE", "MAE to float", *_LATENCY_HEADERS]
    body = [[*_artifact_cells(row), number_cell(row.mae, "{:.4g}"),
             "reference" if row.name == "keras-dense" else number_cell(row.delta, "{:+.1%}"),
             number_cell(row.rmse, "{:.4g}"), number_cell(row.agreement_mae, "{:.4g}"), *_latency_cells(row)] for row in rows]
    note = ("<p class=\"note\">★ Pareto-optimal: no other artifact is both as fast and as accurate (as low a MAE). "
            "MAE and RMSE are over every target of the test split; Δ MAE is the relative increase over the dense "
            "float Keras model's MAE; MAE to float is the mean absolute difference between the artifact's outputs "
            f"and the dense float model's; speedup is the median latency of {REFERENCE_LATENCY} divided by the "
            "artifact's.</p>")
    return "<h2 id=\"summary\">Artifacts</h2>\n" + html_table(headers, body) + note


def _tradeoff(manifest: dict[str, Any], rows: list[ArtifactRow]) -> str:
    regression = is_regression(manifest)
    metric = "MAE" if regression else "Accuracy"
    svg = plots.tradeoff_svg(rows, regression=regression)
    if svg is None:
        return f"<h2 id=\"tradeoff\">{metric} and latency</h2>\n" + _why_no_latency(manifest)
    caption = (f"{metric} against median latency on the device; point area is proportional to the model file size; "
               "★ and a black ring mark the Pareto-optimal artifacts, the dashed line the Pareto front.")
    return f"<h2 id=\"tradeoff\">{metric} and latency</h2>\n" + html_figure("plot-tradeoff", svg, caption)


def _latency(manifest: dict[str, Any], rows: list[ArtifactRow]) -> str:
    svg = plots.latency_svg(rows)
    if svg is None:
        return ""
    profiled = [artifact for artifact in manifest["artifacts"]
                if artifact.get("latency")]
    headers = ["artifact", "runtime", "runs", "threads", "delegate", "min ms", "median ms", "mean ms", "p90 ms",
               "p99 ms", "max ms", "init ms", "first ms", "RAM growth MB", "peak RSS MB"]
    body = []
    for artifact in profiled:
        latency = artifact["latency"]
        memory = latency.get("memory") or {}
        body.append([escape(str(artifact["name"])), escape(str((latency.get("device") or {}).get("runtime") or "-")),
                     number_cell(latency.get("runs"), "{}"),
                     number_cell(latency.get("threads"), "{}"), escape(str(latency.get("delegate") or "-"))]
                    + [number_cell(latency.get(key), "{:.4g}") for key in ("min_ms", "median_ms", "mean_ms", "p90_ms",
                                                                        "p99_ms", "max_ms", "init_ms", "first_ms")]
                    + [number_cell(memory.get("rss_growth_mb"), "{:.1f}"), number_cell(memory.get("peak_rss_mb"), "{:.1f}")])
    caption = "Latency of each inference, timed on the device: box 25–75 %, whiskers 1–99 %, line at the median."
    note = ("<p class=\"note\">init: loading the model; first: the first inference. RAM growth: the resident-set "
            "growth of the profiling process from before the model was loaded to the peak after its first runs "
            "(benchmark_model on Android: its footprint delta); peak RSS: the whole process's peak, the runtime's "
            "libraries included.</p>")
    return ("<h2 id=\"latency\">Latency distributions</h2>\n" + html_figure("plot-latency", svg, caption)
            + html_table(headers, body) + note)


def _runtimes(rows: list[ArtifactRow]) -> str:
    """LiteRT and ONNX Runtime side by side, per quantization profiled in both formats."""
    pairs = runtime_pairs(rows)
    if not pairs:
        return ""
    headers = ["quantization", "LiteRT median ms", "ONNX Runtime median ms", "ORT / LiteRT", "LiteRT p90 ms",
               "ORT p90 ms", "LiteRT RAM MB", "ORT RAM MB", "LiteRT file", "ONNX file"]
    body = [[escape(pair.quantization), number_cell(pair.litert.median_ms, "{:.4g}"), number_cell(pair.onnx.median_ms, "{:.4g}"),
             number_cell(pair.ratio, "{:.2f}×"), number_cell(pair.litert.p90_ms, "{:.4g}"), number_cell(pair.onnx.p90_ms, "{:.4g}"),
             number_cell(pair.litert.rss_growth_mb, "{:.1f}"), number_cell(pair.onnx.rss_growth_mb, "{:.1f}"),
             human_bytes(pair.litert.bytes), human_bytes(pair.onnx.bytes)] for pair in pairs]
    note = ("<p class=\"note\">The same model exported twice and timed on the same device with the same settings: "
            ".tflite by LiteRT, .onnx by ONNX Runtime (CPU provider, intra-op threads = the profile's threads). "
            "Above 1× LiteRT is faster.</p>")
    return "<h2 id=\"runtimes\">LiteRT and ONNX Runtime</h2>\n" + html_table(headers, body) + note


def _op_times(manifest: dict[str, Any]) -> str:
    profiles = op_type_profiles(manifest)
    svg = plots.op_types_svg(profiles)
    if svg is None:
        return ""
    headers = ["artifact", "op type", "nodes", "ms per inference", "share"]
    body = [[escape(name), escape(str(entry["node_type"])), number_cell(entry.get("nodes"), "{}"),
             number_cell(entry.get("avg_ms"), "{:.4g}"), number_cell(entry.get("percent"), "{:.1f} %")]
            for name, types in profiles for entry in types[:8]]
    caption = ("Time per inference of each op type, summed over its nodes: .tflite from benchmark_model's op "
               "profiling, .onnx from onnxruntime's profiler, each in a run of its own (so its overhead is not in "
               "the latency above). Op names are each runtime's own (CONV_2D, FusedConv).")
    return "<h2 id=\"ops\">Time per op</h2>\n" + html_figure("plot-ops", svg, caption) + html_table(headers, body)


def _sparsity(manifest: dict[str, Any]) -> str:
    sparsity = manifest.get("sparsity") or {}
    svg = plots.sparsity_svg(layer_sparsity(manifest), sparsity.get("target"))
    if svg is None:
        return "<h2 id=\"sparsity\">Sparsity</h2>\n<p class=\"note\">This build did not prune.</p>"
    facts = [f"overall {sparsity['overall']:.1%}" if isinstance(sparsity.get("overall"), (int, float)) else None,
             f"structure {sparsity['structure']}" if sparsity.get("structure") else None,
             f"after QAT {sparsity['after_qat']:.1%}" if isinstance(sparsity.get("after_qat"), (int, float)) else None]
    caption = "Fraction of zero weights in each pruned layer's kernel after pruning (" + ", ".join(
        escape(fact) for fact in facts if fact) + ")."
    return "<h2 id=\"sparsity\">Sparsity per layer</h2>\n" + html_figure("plot-sparsity", svg, caption)


def _quantization(manifest: dict[str, Any]) -> str:
    from edgekit.report.quant_error import section

    return section(manifest)


def _training(manifest: dict[str, Any]) -> str:
    curves = training_curves(manifest)
    svg = plots.curves_svg(curves)
    if svg is None:
        return "<h2 id=\"training\">Training</h2>\n<p class=\"note\">The manifest has no training history.</p>"
    stages = ", ".join(f"{stage} ({max(len(series) for series in metrics.values())} epochs)"
                       for stage, metrics in curves)
    metric = "MAE" if is_regression(manifest) else "accuracy"
    caption = f"Training (solid) and validation (dashed) loss and {metric} per epoch: {escape(stages)}."
    return "<h2 id=\"training\">Training curves</h2>\n" + html_figure("plot-training", svg, caption)


def _verdicts(verdicts: Optional[Verdicts]) -> str:
    if verdicts is None:
        return ""
    title = "<h2 id=\"verdicts\">Latency regression verdicts</h2>\n"
    if verdicts.problem:
        return title + f"<p class=\"note\">{escape(verdicts.problem)}</p>"
    facts = []
    if verdicts.passed is not None:
        facts.append(f"<span class=\"badge {'pass' if verdicts.passed else 'fail'}\">latency gate "
                     f"{'passed' if verdicts.passed else 'failed'}</span>")
    if verdicts.baseline:
        facts.append(f"baseline <code>{escape(str(verdicts.baseline))}</code>")
    if verdicts.max_slowdown is not None:
        facts.append(f"max slowdown {verdicts.max_slowdown:.1%}")
    if verdicts.alpha is not None:
        facts.append(f"alpha {verdicts.alpha:g}")
    headers = ["artifact", "verdict", "baseline median ms", "current median ms", "ratio", "ratio CI", "p-value"]
    body = []
    for row in verdicts.rows:
        verdict = str(row.get("verdict", "?"))
        interval = ("-" if row.get("ci_low") is None or row.get("ci_high") is None
                    else f"{row['ci_low']:.3f} – {row['ci_high']:.3f}")
        body.append([escape(str(row["artifact"])), f"<span class=\"badge {escape(verdict)}\">{escape(verdict)}</span>",
                     number_cell(row.get("baseline_median_ms"), "{:.4g}"), number_cell(row.get("current_median_ms"), "{:.4g}"),
                     number_cell(row.get("ratio"), "{:.3f}"), interval, number_cell(row.get("p_value"), "{:.2g}")])
    return title + (f"<p>{' · '.join(facts)}</p>" if facts else "") + html_table(headers, body)


def _build_facts(manifest: dict[str, Any]) -> str:
    facts = [("name", manifest.get("name")), ("target", manifest.get("target")),
             ("device", _pairs(manifest.get("device")) or "none (not profiled)"),
             ("model source", _pairs({key: value for key, value in (manifest.get("model_source") or {}).items()
                                      if value is not None})),
             ("training precision", _joined(manifest.get("precision"), manifest.get("precision_reason"))),
             ("distribution", _pairs(manifest.get("distribute"))),
             ("data", _pairs(manifest.get("data"))),
             ("preprocessing", (manifest.get("preprocessing") or {}).get("formula")),
             ("config sha256", manifest.get("config_sha256")), ("edgekit", manifest.get("edgekit_version"))]
    versions = manifest.get("versions") or {}
    stages = manifest.get("stages") or []
    skipped = manifest.get("profile_skipped") or {}
    parts = ["<h2 id=\"build\">Target, device and versions</h2>",
             html_table(["", ""], [[escape(key), escape(str(value))] for key, value in facts if value], css="facts"),
             html_table(["tool", "version"], [[escape(key), escape(str(value))] for key, value in versions.items()])]
    if stages:
        parts.append(html_table(["stage", "seconds", "cached"], [
            [escape(str(stage.get("name"))), number_cell(stage.get("seconds"), "{:.1f}"),
             "yes" if stage.get("cached") else "no"]
            for stage in stages]))
    if skipped:
        parts.append("<p class=\"note\">Not profiled: " + "; ".join(
            f"{escape(str(name))}: {escape(str(reason))}" for name, reason in skipped.items()) + "</p>")
    return "\n".join(parts)


def _why_no_latency(manifest: dict[str, Any]) -> str:
    skipped = manifest.get("profile_skipped") or {}
    reasons = "; ".join(f"{escape(str(name))}: {escape(str(reason))}" for name, reason in skipped.items())
    return ("<p class=\"note\">No artifact has a latency measurement, so there is nothing to plot against accuracy"
            + (f" ({reasons})" if reasons else "") + ".</p>")


def html_figure(identifier: str, svg: str, caption: str) -> str:
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return (f"<figure class=\"plot\" id=\"{identifier}\"><img alt=\"{escape(caption)}\" "
            f"src=\"data:image/svg+xml;base64,{data}\"><figcaption>{caption}</figcaption></figure>")


def html_table(headers: list[str], rows: Iterable[list[str]], css: str = "") -> str:
    """Cells are HTML already (escaped by the caller)."""
    head = "<thead><tr>" + "".join(f"<th>{escape(header)}</th>" for header in headers) + "</tr></thead>" if any(
        headers) else ""
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    klass = f" class=\"{css}\"" if css else ""
    return f"<div class=\"scroll\"><table{klass}>{head}<tbody>{body}</tbody></table></div>"


def number_cell(value: Any, pattern: str) -> str:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-"
    return escape(pattern.format(value))


def _pairs(record: Any) -> Optional[str]:
    """{"machine": "aarch64", "cpu": "Cortex-A72"} -> "machine aarch64, cpu Cortex-A72"; None when empty."""
    if isinstance(record, dict):
        return ", ".join(f"{key} {value}" for key, value in record.items()) or None
    return str(record) if record else None


def _joined(*parts: Any) -> Optional[str]:
    text = " · ".join(str(part) for part in parts if part)
    return text or None
