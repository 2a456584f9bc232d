"""The host build profiles its ONNX artifacts with onnxruntime beside the .tflite ones with LiteRT, and its
report shows them side by side; `edgekit regress` compares the ONNX artifacts too."""

import pytest

from edgekit.profiling.samples import with_samples
from edgekit.regress.compare import compare_sets
from edgekit.regress.inputs import load_latency_set
from edgekit.report import write_report
from tests.integration.helpers import artifact

pytestmark = pytest.mark.slow


def test_onnx_artifacts_are_profiled_by_onnxruntime_with_memory(digits_build):
    config, _, manifest = digits_build
    assert not any(name.startswith("onnx-") for name in manifest.get("profile_skipped", {}))
    for name, runtime in (("onnx-float32", "onnxruntime"), ("onnx-int8", "onnxruntime"),
                          ("tflite-int8", "ai_edge_litert")):
        latency = artifact(manifest, name)["latency"]
        assert latency["device"]["runtime"] == runtime, name
        samples = with_samples(latency, config.parent / "build" / "host")["samples_ms"]
        assert latency["runs"] == len(samples) >= 50
        assert latency["memory"]["flash_bytes"] == artifact(manifest, name)["bytes"]
        assert latency["memory"]["rss_growth_mb"] > 0 and latency["memory"]["peak_rss_mb"] > 0
        if name.startswith("onnx-"):  # profile.op_profile defaults to true: onnxruntime's profiler
            assert latency["op_types"] and "onnxruntime" in latency["op_profile_source"]
    assert manifest["device"]["runtime"] == "ai_edge_litert"  # the build's device record: its first profile's


def test_report_compares_litert_and_onnx_runtime(digits_build):
    config, _, _ = digits_build
    page = write_report(config.parent / "build" / "host").read_text()
    section = page[page.index('id="runtimes"'):]
    assert "<td>float32</td>" in section and "<td>int8</td>" in section


def test_regress_compares_onnx_artifacts(digits_build):
    config, _, _ = digits_build
    manifest = config.parent / "build" / "host" / "manifest.json"
    report = compare_sets(load_latency_set(manifest), load_latency_set(manifest))
    rows = {row.artifact: row for row in report.rows}
    assert rows["onnx-int8"].verdict.value == "unchanged" and rows["onnx-float32"].comparison is not None
