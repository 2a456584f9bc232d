"""The baseline store (JSON lines per target, device, artifact) and the JUnit XML of a report."""

import datetime
import xml.etree.ElementTree as ElementTree

import pytest

from edgekit.errors import InputFileError
from edgekit.regress import BaselineStore, Verdict, compare_sets, load_latency_set
from edgekit.regress.junit import junit_xml
from edgekit.regress.view import sparkline
from tests.regress_documents import DEVICE, latency_samples, manifest, profile, write

DAY_ONE = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
DAY_TWO = datetime.datetime(2025, 1, 2, tzinfo=datetime.timezone.utc)


def saved_manifest(tmp_path, name, medians, seed):
    document = manifest({artifact: latency_samples(median, seed=seed + index)
                         for index, (artifact, median) in enumerate(medians.items())})
    return load_latency_set(write(tmp_path / name, document))


def test_saving_appends_to_a_history_per_target_device_and_artifact(tmp_path):
    store = BaselineStore(tmp_path / "store")
    store.save(saved_manifest(tmp_path, "one.json", {"tflite-int8": 0.3, "tflite-float32": 1.0}, 0), now=DAY_ONE)
    written = store.save(saved_manifest(tmp_path, "two.json", {"tflite-int8": 0.35}, 10), now=DAY_TWO)
    (entry, path), = written
    assert path.parent.parent.name == "host" and path.name == "tflite-int8.jsonl"
    assert path.parent.name.startswith("localhost-x86_64-amd-epyc-")
    histories = {history.latest.artifact: history for history in store.histories()}
    assert [len(histories["tflite-int8"].entries), len(histories["tflite-float32"].entries)] == [2, 1]
    assert histories["tflite-int8"].latest.saved_at == "2025-01-02T00:00:00+00:00"
    assert histories["tflite-int8"].latest.median_ms == pytest.approx(0.35, rel=0.02)
    assert [h.latest.artifact for h in store.histories(artifact="tflite-float32")] == ["tflite-float32"]
    assert store.histories(target="rpi4") == []


def test_the_latest_baseline_is_compared(tmp_path):
    store = BaselineStore(tmp_path / "store")
    store.save(saved_manifest(tmp_path, "old.json", {"tflite-int8": 0.2}, 0), now=DAY_ONE)
    store.save(saved_manifest(tmp_path, "new.json", {"tflite-int8": 0.3}, 5), now=DAY_TWO)
    current = saved_manifest(tmp_path, "current.json", {"tflite-int8": 0.3, "tflite-float16": 1.0}, 20)
    report = compare_sets(store.latest_for(current), current)
    assert [(row.artifact, row.verdict) for row in report.rows] == [("tflite-int8", Verdict.UNCHANGED),
                                                                     ("tflite-float16", Verdict.MISSING)]
    assert report.rows[1].reason == f"not in baseline store {tmp_path / 'store'}"


def test_an_empty_store_says_how_to_fill_it(tmp_path):
    current = load_latency_set(write(tmp_path / "p.json", profile(latency_samples(), model="m.tflite")))
    with pytest.raises(InputFileError, match=(r"store: no baseline saved for target 'host' on device localhost "
                                              r"\(x86_64, AMD EPYC\) for any of m.tflite; save one first with "
                                              r"`edgekit baseline save .*p.json --store .*store`")):
        BaselineStore(tmp_path / "store").latest_for(current)


def test_another_devices_baseline_is_used_only_when_allowed(tmp_path):
    store = BaselineStore(tmp_path / "store")
    other = dict(DEVICE, cpu="Intel Xeon")
    store.save(load_latency_set(write(tmp_path / "x.json", profile(latency_samples(), device=other))))
    current = load_latency_set(write(tmp_path / "p.json", profile(latency_samples(seed=3))))
    with pytest.raises(InputFileError, match="no baseline saved"):
        store.latest_for(current)
    report = compare_sets(store.latest_for(current, allow_device_change=True), current, allow_device_change=True)
    assert report.rows[0].verdict is Verdict.UNCHANGED
    assert "Intel Xeon" in report.notes[0]


def test_a_damaged_history_names_its_file_and_line(tmp_path):
    store = BaselineStore(tmp_path / "store")
    (entry, path), = store.save(load_latency_set(write(tmp_path / "p.json", profile(latency_samples()))))
    path.write_text(path.read_text() + "{half a line\n")
    with pytest.raises(InputFileError, match=r"model.tflite.jsonl: line 2 is not a saved baseline"):
        store.histories()


def test_sparkline_scales_between_smallest_and_largest():
    assert sparkline([1.0, 2.0, 3.0]) == "▁▅█"
    assert sparkline([2.0, 2.0]) == "▅▅"
    assert sparkline([]) == ""


def test_junit_has_a_case_per_artifact_failures_and_skips(tmp_path):
    baseline = saved_manifest(tmp_path, "a.json", {"tflite-int8": 0.3, "tflite-float32": 1.0, "tflite-float16": 1.0}, 0)
    current = saved_manifest(tmp_path, "b.json", {"tflite-int8": 0.4, "tflite-float32": 1.0}, 10)
    suite = ElementTree.fromstring(junit_xml(compare_sets(baseline, current))).find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {"tflite-int8", "tflite-float32", "tflite-float16"}
    assert cases["tflite-int8"].get("classname") == "latency.host"
    failure = cases["tflite-int8"].find("failure")
    assert failure.get("type") == "LatencyRegression"
    assert failure.get("message").startswith("regression: tflite-int8 +3")
    assert cases["tflite-float32"].find("failure") is None and cases["tflite-float32"].find("skipped") is None
    assert cases["tflite-float16"].find("skipped").get("message").startswith("tflite-float16 missing (not in")
    assert "CI [" in cases["tflite-float32"].find("system-out").text
    strict = ElementTree.fromstring(junit_xml(compare_sets(baseline, current, fail_on_missing=True)))
    assert strict.find("testsuite").get("failures") == "2"
