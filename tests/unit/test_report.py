"""report.html from a manifest: the numbers, the Pareto front, the plots, and the pieces a build may lack."""

from __future__ import annotations

import base64
import json
import re

import pytest
from click.testing import CliRunner

from edgekit.cli import main
from edgekit.errors import InputFileError
from edgekit.report import write_report
from edgekit.report.data import artifact_rows, load_verdicts, pareto_front
from tests.unit.report_manifest import (DENSE_ACCURACY, LAYERS, PARETO, REGRESS_ROWS, bare_manifest, sample_manifest,
                                        write_build)

PLOTS = ("plot-tradeoff", "plot-latency", "plot-sparsity", "plot-training")


def plots_in(page: str) -> dict[str, str]:
    """Figure id -> the SVG its image embeds."""
    found = re.findall(r'<figure class="plot" id="([\w-]+)"><img alt="[^"]*" src="data:image/svg\+xml;base64,([^"]+)"',
                       page)
    return {identifier: base64.b64decode(data).decode("utf-8") for identifier, data in found}


def summary_rows_of(page: str) -> list[list[str]]:
    table = page.split('<h2 id="summary">')[1].split("</table>")[0]
    return [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", table) if "<td>" in row]


def test_pareto_front_keeps_only_undominated_points():
    points = [("a", 1.0, 0.90), ("b", 2.0, 0.95), ("c", 3.0, 0.94), ("d", 1.0, 0.89), ("e", 1.0, 0.90),
              ("f", None, 0.99), ("g", 0.5, None)]
    # c is slower and less accurate than b; d is as fast as a but less accurate; e ties a exactly, so both stay.
    assert pareto_front(points) == {"a", "b", "e"}
    assert pareto_front([]) == set()


def test_rows_have_delta_speedup_p90_and_pareto_marks():
    rows = {row.name: row for row in artifact_rows(sample_manifest())}
    assert {name for name, row in rows.items() if row.pareto} == PARETO
    int8 = rows["tflite-int8"]
    assert int8.delta == pytest.approx(0.9694 - DENSE_ACCURACY)
    assert int8.speedup == pytest.approx(0.040 / 0.010)
    assert int8.p90_ms > int8.median_ms == 0.010 and len(int8.samples_ms) == 400
    assert rows["keras-dense"].delta == 0 and rows["onnx-int8"].speedup is None
    assert rows["onnx-int8"].delta == pytest.approx(0.9638 - DENSE_ACCURACY)


def test_report_has_every_section_and_plot(tmp_path):
    path = write_report(write_build(tmp_path / "build"))
    assert path == tmp_path / "build" / "report.html"
    page = path.read_text()
    plots = plots_in(page)
    assert sorted(plots) == sorted(PLOTS)
    assert all(svg.lstrip().startswith("<?xml") and "<svg" in svg for svg in plots.values())
    assert page.count('<span class="pareto">') == len(PARETO)
    rows = {cells[0]: cells for cells in summary_rows_of(page)}
    assert rows['<span class="pareto">tflite-int8 ★</span>'][7:] == ["+0.0028", "0.9805", "0.01", rows[
        '<span class="pareto">tflite-int8 ★</span>'][10], "4.00×"]
    assert rows["tflite-float32"][11] == "1.00×" and rows["keras-dense"][7] == "reference"
    assert "accuracy gate passed" in page and "Cortex-A72" in page and "tfmot" in page
    # The trade-off plot labels the Pareto points with a star; float32 and float16 share one label.
    assert sorted(re.findall(r">([\w-]+ ★)<", plots["plot-tradeoff"])) == sorted(f"{name} ★" for name in PARETO)
    assert ">tflite-float32, tflite-float16<" in plots["plot-tradeoff"]
    assert all(f">{name}<" in plots["plot-latency"] for name in ("tflite-float32", "tflite-int8", "tflite-dynamic"))
    # One labelled bar per pruned layer, with its percentage.
    assert all(f">{name}<" in plots["plot-sparsity"] and f">{value:.0%}<" in plots["plot-sparsity"]
               for name, value in LAYERS.items())
    assert all(f">stage {stage}<" in plots["plot-training"] for stage in ("train", "prune", "qat"))
    assert "train (12 epochs), prune (3 epochs), qat (3 epochs)" in page
    assert [name for name in list(tmp_path.joinpath("build").iterdir()) if ".tmp-" in name.name] == []


def test_report_is_self_contained(tmp_path):
    page = write_report(write_build(tmp_path / "build")).read_text()
    assert "<script" not in page and "<link" not in page and not re.search(r'(src|href)="https?:', page)
    for svg in plots_in(page).values():
        assert not re.search(r'href="https?:', svg)


def test_same_build_gives_the_same_bytes(tmp_path):
    build = write_build(tmp_path / "build")
    first = write_report(build).read_bytes()
    assert write_report(build).read_bytes() == first


def test_a_build_without_latency_pruning_history_or_gate(tmp_path):
    page = write_report(write_build(tmp_path / "build", bare_manifest())).read_text()
    assert sorted(plots_in(page)) == []
    assert "No artifact has a latency measurement, so there is nothing to plot against accuracy (tflite-int8: " \
           "target coral-usb: no device given)" in page
    assert "This build did not prune." in page and "The manifest has no training history." in page
    assert "accuracy gate" not in page and "none (not profiled)" in page
    rows = {cells[0]: cells for cells in summary_rows_of(page)}
    assert rows["tflite-int8"][7] == "+0.0028" and rows["tflite-int8"][9] == "-"


def test_names_from_the_manifest_are_escaped(tmp_path):
    manifest = sample_manifest()
    manifest["name"] = "<script>alert(1)</script>"
    manifest["artifacts"][2]["name"] = "<b>bold</b>"
    page = write_report(write_build(tmp_path / "build", manifest)).read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page


def test_verdicts_from_a_list_of_rows(tmp_path):
    page = write_report(write_build(tmp_path / "build", regress=REGRESS_ROWS)).read_text()
    section = page.split('<h2 id="verdicts">')[1].split("</table>")[0]
    assert section.count('<span class="badge regression">regression</span>') == 1
    assert section.count('<span class="badge unchanged">unchanged</span>') == 1
    assert "1.180 – 1.240" in section and "1e-09" in section


def test_verdicts_from_the_regress_json_report(tmp_path):
    report = {"baseline": "baseline/manifest.json", "current": "build/manifest.json", "max_slowdown": 0.05,
              "alpha": 0.01, "passed": False,
              "artifacts": [{"artifact": "tflite-int8", "verdict": "regression", "baseline_median_ms": 0.01,
                             "current_median_ms": 0.0121, "ratio": 1.21, "ratio_ci": [1.18, 1.24], "p_value": 1e-9},
                            {"artifact": "tflite-float16", "verdict": "missing", "reason": "not profiled"}]}
    verdicts = load_verdicts(write_build(tmp_path / "build", regress=report))
    assert (verdicts.passed, verdicts.max_slowdown, len(verdicts.rows)) == (False, 0.05, 2)
    assert (verdicts.rows[0]["ci_low"], verdicts.rows[0]["ci_high"]) == (1.18, 1.24)
    page = write_report(tmp_path / "build").read_text()
    assert "latency gate failed" in page and "max slowdown 5.0%" in page and "baseline/manifest.json" in page


def test_an_unreadable_regress_json_is_shown_not_fatal(tmp_path):
    page = write_report(write_build(tmp_path / "build", regress="{not json")).read_text()
    assert "regress.json cannot be read as JSON" in page
    page = write_report(write_build(tmp_path / "other", regress={"artifacts": "no"})).read_text()
    assert "regress.json holds no list of rows with an &quot;artifact&quot; each" in page


def test_no_manifest_or_a_broken_one_is_refused(tmp_path):
    with pytest.raises(InputFileError, match="has no manifest.json: run `edgekit build` first"):
        write_report(tmp_path)
    with pytest.raises(InputFileError, match="is not a build folder"):
        write_report(tmp_path / "absent")
    (tmp_path / "manifest.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(InputFileError, match='is not an edgekit manifest: it has no "artifacts" list'):
        write_report(tmp_path)


def test_cli_report(tmp_path):
    build = write_build(tmp_path / "build")
    result = CliRunner().invoke(main, ["report", str(build)])
    assert result.exit_code == 0, result.output
    assert f"wrote {build / 'report.html'}" in result.stdout
    result = CliRunner().invoke(main, ["report", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "error: " in result.output and "is not a build folder" in result.output


def test_latencies_far_apart_get_a_log_axis_in_plain_milliseconds():
    from edgekit.report.plots import latency_svg
    from tests.unit.report_manifest import latency

    manifest = sample_manifest()
    manifest["artifacts"][2]["latency"] = latency(2.0, 9)  # tflite-float32 200x slower than int8
    svg = latency_svg(artifact_rows(manifest))
    assert ">0.1<" in svg and ">1<" in svg and "10^" not in svg
    assert ">0.1<" not in latency_svg(artifact_rows(sample_manifest()))  # 4x apart: a linear axis


def _with_onnx_latency_and_ops():
    """The sample build with both ONNX artifacts profiled (by onnxruntime, with memory) and per-op times on int8."""
    from tests.unit.report_manifest import latency

    manifest = sample_manifest()
    artifacts = {artifact["name"]: artifact for artifact in manifest["artifacts"]}
    for name, median, growth in (("onnx-float32", 0.060, 14.5), ("onnx-int8", 0.030, 12.0)):
        profile = latency(median, 7)
        profile["device"]["runtime"] = "onnxruntime"
        profile["memory"] = {"flash_bytes": artifacts[name]["bytes"], "rss_growth_mb": growth, "peak_rss_mb": 95.0}
        artifacts[name]["latency"] = profile
    artifacts["tflite-int8"]["latency"]["memory"] = {"rss_growth_mb": 1.9, "peak_rss_mb": 80.0}
    artifacts["tflite-int8"]["latency"]["op_types"] = [
        {"node_type": "CONV_2D", "nodes": 3, "avg_ms": 0.006, "percent": 60.0},
        {"node_type": "FULLY_CONNECTED", "nodes": 1, "avg_ms": 0.004, "percent": 40.0}]
    manifest["profile_skipped"] = {}
    return manifest


def test_litert_and_onnx_runtime_side_by_side_with_memory(tmp_path):
    page = write_report(write_build(tmp_path / "build", _with_onnx_latency_and_ops())).read_text()
    section = page[page.index('id="runtimes"'):page.index('id="ops"')]
    rows = re.findall(r"<tr><td>(float32|int8)</td>(.*?)</tr>", section)
    cells = {quantization: re.findall(r"<td>(.*?)</td>", rest) for quantization, rest in rows}
    assert cells["float32"][:3] == ["0.04", "0.06", "1.50×"] and cells["int8"][:3] == ["0.01", "0.03", "3.00×"]
    assert cells["int8"][5:7] == ["1.9", "12.0"]  # RAM growth of each runtime
    latency_table = page[page.index('id="latency"'):page.index('id="runtimes"')]
    assert "<td>onnx-int8</td><td>onnxruntime</td>" in latency_table and "<th>RAM growth MB</th>" in latency_table


def test_per_op_chart_and_table(tmp_path):
    page = write_report(write_build(tmp_path / "build", _with_onnx_latency_and_ops())).read_text()
    plots = plots_in(page)
    assert ">CONV_2D<" in plots["plot-ops"] and ">FULLY_CONNECTED<" in plots["plot-ops"]
    assert "<td>tflite-int8</td><td>CONV_2D</td><td>3</td><td>0.006</td><td>60.0 %</td>" in page


def test_no_per_op_times_no_per_op_section(tmp_path):
    page = write_report(write_build(tmp_path / "build")).read_text()
    assert 'id="ops"' not in page and 'id="runtimes"' not in page
