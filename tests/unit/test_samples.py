"""Latency samples beside the manifest: written once per profiled artifact, read back checked."""

import json

import pytest

from edgekit.errors import InputFileError
from edgekit.profiling.samples import externalize_samples, remove_stale_samples, with_samples


def manifest_with(samples):
    latency = {"model": {"path": "export/m-int8.tflite"}, "runs": len(samples), "median_ms": 1.0,
               "samples_ms": samples}
    return {"artifacts": [{"name": "tflite-int8", "latency": latency},
                          {"name": "keras-dense", "latency": None},
                          {"name": "android", "latency": {"runs": 50, "samples_ms": []}}]}


def test_samples_move_out_and_come_back_unchanged(tmp_path):
    samples = [0.5 + index / 1000 for index in range(100_000)]
    reduced = externalize_samples(tmp_path, manifest_with(samples))
    latency = reduced["artifacts"][0]["latency"]
    assert "samples_ms" not in latency and latency["samples"]["path"].startswith("profiles/tflite-int8-")
    assert latency["samples"]["count"] == 100_000 and latency["median_ms"] == 1.0
    assert len(json.dumps(reduced)) < 1000  # whatever the number of runs
    assert with_samples(latency, tmp_path)["samples_ms"] == samples
    # aggregates without samples (Android) and unprofiled artifacts stay as they are
    assert reduced["artifacts"][1]["latency"] is None and reduced["artifacts"][2]["latency"]["samples_ms"] == []
    # a profile written before (samples inline) reads as it is
    inline = manifest_with([1.0, 2.0])["artifacts"][0]["latency"]
    assert with_samples(inline, tmp_path) is inline


def test_files_are_named_by_content_and_stale_ones_removed_once_the_new_manifest_is_written(tmp_path):
    old = externalize_samples(tmp_path, manifest_with([1.0, 2.0]))
    new = externalize_samples(tmp_path, manifest_with([1.0, 3.0]))
    # until the new manifest is written, the old one still finds its own samples
    assert with_samples(old["artifacts"][0]["latency"], tmp_path)["samples_ms"] == [1.0, 2.0]
    remove_stale_samples(tmp_path, new)
    kept = new["artifacts"][0]["latency"]["samples"]["path"]
    assert [f"profiles/{path.name}" for path in (tmp_path / "profiles").iterdir()] == [kept]
    assert with_samples(new["artifacts"][0]["latency"], tmp_path)["samples_ms"] == [1.0, 3.0]


def test_altered_missing_or_escaping_sample_files_are_refused(tmp_path):
    latency = externalize_samples(tmp_path, manifest_with([1.0, 2.0]))["artifacts"][0]["latency"]
    file = tmp_path / latency["samples"]["path"]
    file.write_text(file.read_text().replace("1.0", "9.0"))
    with pytest.raises(InputFileError, match="changed since the build wrote it"):
        with_samples(latency, tmp_path)
    # a forged pair (file and manifest sha256 changed together) still holds only finite latencies
    forged = json.dumps({"artifact": "tflite-int8", "samples_ms": [1.0, float("inf")]}).encode()
    file.write_bytes(forged)
    from edgekit.fsutil import sha256_bytes

    with pytest.raises(InputFileError, match="not a latency in milliseconds"):
        with_samples({**latency, "samples": {**latency["samples"], "sha256": sha256_bytes(forged)}}, tmp_path)
    file.unlink()
    with pytest.raises(InputFileError, match="latency samples profiles/tflite-int8-[0-9a-f]{12}.json are missing"):
        with_samples(latency, tmp_path)
    for bad in ("/etc/passwd", "../outside.json", 7):
        with pytest.raises(InputFileError, match="not a path inside the build folder"):
            with_samples({**latency, "samples": {**latency["samples"], "path": bad}}, tmp_path)
