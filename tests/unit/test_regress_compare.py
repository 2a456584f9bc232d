"""Reading profiles and manifests, matching artifacts by name, and refusing what cannot be compared."""

import hashlib

import pytest

from edgekit.errors import InputFileError
from edgekit.regress import GateThresholds, Verdict, compare_sets, load_latency_set
from edgekit.regress.compare import LatencyRegressed
from tests.regress_documents import DEVICE, latency_samples, manifest, profile, write


def load(tmp_path, name, document):
    return load_latency_set(write(tmp_path / name, document))


def test_two_manifests_are_matched_by_artifact_name(tmp_path):
    baseline = load(tmp_path, "a.json", manifest({"keras-dense": None, "tflite-float32": latency_samples(1.0, seed=1),
                                                  "tflite-int8": latency_samples(0.3, seed=2)}))
    current = load(tmp_path, "b.json", manifest({"keras-dense": None, "tflite-int8": latency_samples(0.4, seed=3),
                                                 "tflite-float32": latency_samples(1.0, seed=4)}))
    report = compare_sets(baseline, current)
    assert [(row.artifact, row.verdict) for row in report.rows] == [
        ("tflite-float32", Verdict.UNCHANGED), ("tflite-int8", Verdict.REGRESSION)]
    assert report.unprofiled == ["keras-dense"]
    assert not report.passed
    error = report.error()
    assert isinstance(error, LatencyRegressed) and error.exit_code == 1
    assert str(error).startswith("latency gate failed (max slowdown 5.0%, alpha 0.01): tflite-int8 +3")


def test_an_artifact_on_one_side_only_is_reported_missing_and_fails_only_when_asked(tmp_path):
    baseline = load(tmp_path, "a.json", manifest({"tflite-float32": latency_samples(seed=1), "tflite-int8": latency_samples(seed=2),
                                                  "tflite-float16": latency_samples(seed=5)}))
    current = load(tmp_path, "b.json", manifest({"tflite-float32": latency_samples(seed=3), "tflite-float16": None,
                                                 "onnx-int8": latency_samples(seed=4)}))
    report = compare_sets(baseline, current)
    missing = {row.artifact: row.reason for row in report.rows if row.verdict is Verdict.MISSING}
    assert missing == {"tflite-int8": f"not in {tmp_path / 'b.json'}",
                       "tflite-float16": f"no latency in {tmp_path / 'b.json'}",
                       "onnx-int8": f"not in {tmp_path / 'a.json'}"}
    assert report.passed
    strict = compare_sets(baseline, current, fail_on_missing=True)
    assert not strict.passed
    assert "tflite-int8 missing (not in" in str(strict.error())


def test_two_profiles_are_compared_whatever_their_models_are_called(tmp_path):
    baseline = load(tmp_path, "old.json", profile(latency_samples(seed=1), model="build/old.tflite"))
    current = load(tmp_path, "new.json", profile(latency_samples(0.7, seed=2), model="build/new.tflite"))
    (row,) = compare_sets(baseline, current).rows
    assert (row.artifact, row.verdict) == ("old.tflite → new.tflite", Verdict.IMPROVEMENT)


def test_a_profiles_file_is_matched_by_model_file_name(tmp_path):
    baseline = load(tmp_path, "a.json", {"profiles": [profile(latency_samples(seed=1), model="x/a.tflite"),
                                                      profile(latency_samples(seed=2), model="x/b.tflite")]})
    current = load(tmp_path, "b.json", {"profiles": [profile(latency_samples(1.3, seed=3), model="y/b.tflite")]})
    report = compare_sets(baseline, current)
    assert [(row.artifact, row.verdict) for row in report.rows] == [("a.tflite", Verdict.MISSING),
                                                                     ("b.tflite", Verdict.REGRESSION)]


def test_different_devices_are_refused_unless_allowed(tmp_path):
    pi = dict(DEVICE, address="pi@raspberrypi.local", machine="aarch64", cpu="Raspberry Pi 4 Model B Rev 1.4")
    baseline = load(tmp_path, "pi.json", profile(latency_samples(seed=1), target="rpi4", device=pi))
    current = load(tmp_path, "host.json", profile(latency_samples(seed=2)))
    with pytest.raises(InputFileError, match=(
            r"pi.json was measured on target 'rpi4', device pi@raspberrypi.local \(aarch64, Raspberry Pi 4 Model B "
            r"Rev 1.4\); .*host.json on target 'host', device localhost \(x86_64, AMD EPYC\): latencies from different "
            r"devices are not comparable \(pass --allow-device-change")):
        compare_sets(baseline, current)
    report = compare_sets(baseline, current, allow_device_change=True)
    assert report.notes[0].startswith("device changed: ")


def test_a_runtime_upgrade_on_the_same_device_is_compared(tmp_path):
    baseline = load(tmp_path, "a.json", profile(latency_samples(seed=1)))
    current = load(tmp_path, "b.json", profile(latency_samples(seed=2), device=dict(DEVICE, runtime_version="2.4.0")))
    assert compare_sets(baseline, current).notes == []


def test_a_profile_against_a_manifest_is_refused(tmp_path):
    baseline = load(tmp_path, "p.json", profile(latency_samples()))
    current = load(tmp_path, "m.json", manifest({"tflite-int8": latency_samples()}))
    with pytest.raises(InputFileError, match=r"p.json is a profile and .*m.json a manifest: compare a profile with a "
                                             r"profile, or a manifest with a manifest"):
        compare_sets(baseline, current)


def test_thresholds_reach_every_row(tmp_path):
    baseline = load(tmp_path, "a.json", profile(latency_samples(seed=1)))
    current = load(tmp_path, "b.json", profile(latency_samples(1.2, seed=2)))
    assert compare_sets(baseline, current, GateThresholds(max_slowdown=0.5)).passed


@pytest.mark.parametrize(("content", "message"), [
    (None, r"missing.json: no such file"),
    ("{not json", r"bad.json: not JSON \(line 1, column 2: Expecting property name"),
    ('{"hello": 1}', r"bad.json: not an edgekit profile or manifest \(expected a profile with \"model\""),
    ("[1, 2]", r"bad.json: not an edgekit profile or manifest"),
    ('{"model": {"path": "m.tflite"}, "samples_ms": []}', r"bad.json: 'm.tflite' has no latency samples"),
    ('{"model": {"path": "m.tflite"}, "samples_ms": [], "samples_source": "benchmark_model reports aggregates only"}',
     r"has no latency samples \(\"samples_ms\" is empty \(benchmark_model reports aggregates only\)\)"),
    ('{"model": {"path": "m.tflite"}, "samples_ms": [1.0, "fast"]}', r"'m.tflite' has a latency sample that is not "
                                                                    r"a positive number of milliseconds from 1e-06 "
                                                                    r"to 8.64e\+07: samples_ms\[1\] is \"fast\""),
    ('{"model": {}, "samples_ms": [1.0]}', r"bad.json: a profile without \"model\""),
    ('{"profiles": []}', r"bad.json: \"profiles\" is empty"),
    ('{"artifacts": [{"name": "keras-dense", "latency": null}]}',
     r"bad.json: no artifact has a latency profile \(was the build profiled\? artifacts: keras-dense\)"),
    ('{"artifacts": [{"latency": null}]}', r"bad.json: artifacts\[0\].name is null, expected a non-empty string"),
])
def test_bad_input_names_the_file_and_the_problem(tmp_path, content, message):
    path = tmp_path / ("missing.json" if content is None else "bad.json")
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputFileError, match=message) as caught:
        load_latency_set(path)
    assert caught.value.exit_code == 2


def test_a_build_folder_points_at_its_manifest(tmp_path):
    write(tmp_path / "build" / "manifest.json", manifest({"tflite-int8": latency_samples()}))
    with pytest.raises(InputFileError, match=r"build: is a folder, not a profile or manifest JSON file; did you mean "
                                             r".*build/manifest.json\?"):
        load_latency_set(tmp_path / "build")


def test_two_profiles_of_the_same_model_name_are_refused(tmp_path):
    document = {"profiles": [profile(latency_samples(), model="a/m.tflite"), profile(latency_samples(), model="b/m.tflite")]}
    with pytest.raises(InputFileError, match=r"two profiles of models named 'm.tflite'"):
        load(tmp_path, "p.json", document)


def test_a_model_beside_its_profile_is_found_by_its_sha256(tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(b"\0\0\0\0TFL3 a model")
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    found = load(tmp_path, "p.json", profile(latency_samples(), model="elsewhere/m.tflite", sha256=digest))
    assert found.model_paths == {"m.tflite": model}
    model.write_bytes(b"\0\0\0\0TFL3 rebuilt since")
    assert load(tmp_path, "p.json", profile(latency_samples(), model="m.tflite", sha256=digest)).model_paths == {}
