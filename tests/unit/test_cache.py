"""The stage cache reuses a stage only when nothing that shapes it changed, and never half-written outputs."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from edgekit.pipeline.cache import StageCache, cache_key


def producer(calls, content="weights"):
    def produce(work):
        calls.append(work)
        (work / "model.bin").write_text(content)
        return {"accuracy": 0.9}

    return produce


def test_second_run_with_the_same_material_is_cached(tmp_path):
    calls = []
    first = StageCache(tmp_path).run("train", {"epochs": 3}, producer(calls))
    second = StageCache(tmp_path).run("train", {"epochs": 3}, producer(calls))
    assert len(calls) == 1
    assert not first.cached and second.cached
    assert second.meta == {"accuracy": 0.9}
    assert second.digest == first.digest
    assert (tmp_path / "train" / "model.bin").read_text() == "weights"


def test_changed_material_runs_again(tmp_path):
    calls = []
    StageCache(tmp_path).run("train", {"epochs": 3}, producer(calls))
    result = StageCache(tmp_path).run("train", {"epochs": 4}, producer(calls, "new weights"))
    assert len(calls) == 2 and not result.cached
    assert (tmp_path / "train" / "model.bin").read_text() == "new weights"


def test_edited_or_missing_output_runs_again(tmp_path):
    calls = []
    StageCache(tmp_path).run("train", {}, producer(calls))
    (tmp_path / "train" / "model.bin").write_text("tampered")
    assert not StageCache(tmp_path).run("train", {}, producer(calls)).cached
    (tmp_path / "train" / "model.bin").unlink()
    assert not StageCache(tmp_path).run("train", {}, producer(calls)).cached
    assert len(calls) == 3


def test_a_record_is_read_as_the_stage_typed_result_and_one_that_does_not_fit_runs_again(tmp_path):
    from pydantic import BaseModel, ValidationError

    class Scored(BaseModel):
        accuracy: float

    class Named(BaseModel):
        name: str

    calls = []
    fresh = StageCache(tmp_path).run("train", {}, producer(calls), output=Scored)
    cached = StageCache(tmp_path).run("train", {}, producer(calls), output=Scored)
    assert fresh.output == cached.output == Scored(accuracy=0.9) and cached.cached and len(calls) == 1
    # A record whose metadata has another shape (an older edgekit's): stale, never an error; the stage runs again.
    def named(work):
        calls.append(work)
        (work / "model.bin").write_text("weights")
        return {"name": "dense"}

    rerun = StageCache(tmp_path).run("train", {}, named, output=Named)
    assert not rerun.cached and rerun.output == Named(name="dense") and len(calls) == 2
    # What a stage returns that does not fit its own type is a bug: it is raised, naming the field.
    with pytest.raises(ValidationError, match="accuracy"):
        StageCache(tmp_path, always_run=("train",)).run("train", {}, named, output=Scored)


def test_force_from_a_stage_reruns_it_and_every_later_one(tmp_path):
    order = ("data", "train", "export")
    calls = []
    for stage in order:
        StageCache(tmp_path).run(stage, {}, producer(calls))
    forced = StageCache(tmp_path, force_from="train", order=order)
    results = {stage: forced.run(stage, {}, producer(calls)) for stage in order}
    assert [results[s].cached for s in order] == [True, False, False]


def test_failed_stage_leaves_previous_outputs_and_no_record(tmp_path):
    StageCache(tmp_path).run("train", {"v": 1}, producer([]))

    def explode(work):
        (work / "model.bin").write_text("half")
        raise RuntimeError("killed mid-way")

    with pytest.raises(RuntimeError):
        StageCache(tmp_path).run("train", {"v": 2}, explode)
    assert (tmp_path / "train" / "model.bin").read_text() == "weights"
    assert not list(tmp_path.glob(".train.tmp-*"))
    assert not (tmp_path / ".edgekit" / "stages" / "train.json").exists()


def test_sigkill_mid_stage_leaves_no_half_written_output_and_is_cleaned(tmp_path):
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from edgekit.pipeline.cache import StageCache
        def produce(work):
            (work / "model.bin").write_text("half")
            os.kill(os.getpid(), signal.SIGKILL)
        StageCache(Path({str(tmp_path)!r})).run("train", {{}}, produce)
    """)
    completed = subprocess.run([sys.executable, "-c", script], check=False)
    assert completed.returncode == -9
    assert not (tmp_path / "train").exists()
    assert list(tmp_path.glob(".train.tmp-*")), "the temporary folder of the killed stage"
    cache = StageCache(tmp_path)
    cache.clean_stale_temporaries()
    assert not list(tmp_path.glob(".train.tmp-*"))
    assert not cache.run("train", {}, producer([])).cached


def test_key_is_canonical():
    assert cache_key({"a": 1, "b": [1, 2]}) == cache_key({"b": [1, 2], "a": 1})
    assert cache_key({"a": 1}) != cache_key({"a": 2})


def test_record_lists_files_with_hashes(tmp_path):
    result = StageCache(tmp_path).run("train", {}, producer([]))
    record = json.loads((tmp_path / ".edgekit" / "stages" / "train.json").read_text())
    assert record["files"] == result.files and list(record["files"]) == ["model.bin"]
    assert record["key"] == result.key
    assert os.path.getsize(tmp_path / "train" / "model.bin") == len("weights")


def test_written_files_get_the_umask_modes_not_owner_only(tmp_path, monkeypatch):
    from edgekit import fsutil

    monkeypatch.setattr(fsutil, "_UMASK", 0o022)
    fsutil.write_text(tmp_path / "report.html", "<html></html>")
    StageCache(tmp_path).run("train", {}, producer([]))
    assert (tmp_path / "report.html").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "train").stat().st_mode & 0o777 == 0o755
