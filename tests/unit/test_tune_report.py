"""tune/report.html from tune/ folders in the contract's format: a finished run, nothing fits, stopped by budget,
and hand-edited files that must give one clear message (the browser test: tests/integration/test_tune_report_browser.py)."""

from __future__ import annotations

import base64
import json
import re

import pytest

from edgekit.errors import InputFileError
from edgekit.tune.report import write_tune_report
from edgekit.tune.report_data import load_tune
from tests.unit.tune_fixtures import write_tune_dir


def plot_svgs(page: str) -> dict[str, str]:
    """figure id -> the SVG text of its embedded image."""
    found = re.findall(r'<figure class="plot" id="([^"]+)"><img alt="[^"]*" src="data:image/svg\+xml;base64,([^"]+)"',
                       page)
    return {identifier: base64.b64decode(data).decode("utf-8") for identifier, data in found}


def section(page: str, identifier: str) -> str:
    """The HTML from <h2 id=identifier> to the next <h2>."""
    start = page.index(f'<h2 id="{identifier}">')
    end = page.find("<h2 ", start + 1)
    return page[start:end if end > 0 else None]


def test_a_finished_run_shows_the_chosen_point_the_front_and_the_budget(tmp_path):
    folder = write_tune_dir(tmp_path / "tune")
    path = write_tune_report(folder)
    assert path == folder / "report.html"
    page = path.read_text()
    run = load_tune(folder)
    assert run.state.chosen == "t0002" and run.chosen.fits  # width 1.0, int8: the most accurate that fits
    outcome = section(page, "outcome")
    assert "t0002 <b>(chosen)</b>" in outcome and "t0001 <b>(default build)</b>" in outcome
    assert "Against the default build (t0001): accuracy -0.0040; p90 latency 2.50× faster; file 4.00× smaller" in outcome
    assert "max p90 latency</td><td>0.5 ms" in outcome and "0.02 from the default build (floor 0.9500)" in outcome
    front = section(page, "front")
    assert sorted(re.findall(r"<tr><td>(t\d{4})", front)) == sorted(run.state.front) and len(run.state.front) >= 3
    svgs = plot_svgs(page)
    assert list(svgs) == ["plot-tune-latency", "plot-tune-bytes"]  # no RAM budget: no memory plot
    assert "max latency 0.5" in svgs["plot-tune-latency"] and "max bytes 40000" in svgs["plot-tune-bytes"]
    assert "min accuracy 0.95" in svgs["plot-tune-latency"] and "chosen t0002" in svgs["plot-tune-latency"]
    assert "default build t0001" in svgs["plot-tune-latency"]


def test_the_trials_table_names_each_miss_and_escapes_text(tmp_path):
    page = write_tune_report(write_tune_dir(tmp_path / "tune")).read_text()
    trials = section(page, "trials")
    assert trials.count("<tr") == 1 + 13  # header + every trial, eliminated and failed included
    # width 0.5 dense float32: 1 ms? no: 0.45 ms, 60000 bytes > 40000, accuracy 0.935 is a drop of 0.035 > 0.02
    row = next(line for line in trials.split("</tr>") if "<td>t0006</td>" in line)
    assert "misses</span> file 58.6 KiB &gt; 39.1 KiB; accuracy drop 0.035 &gt; 0.02" in row
    assert '<tr class="chosen"><td>t0002 <b>(chosen)</b>' in trials
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; converter refused" in trials
    assert "halving: rung 0 accuracy 0.71 in the lower half" in trials


def test_the_variants_table_puts_the_uncompressed_model_first(tmp_path):
    page = write_tune_report(write_tune_dir(tmp_path / "tune")).read_text()
    rows = re.findall(r"<tr><td>([^<]+)</td><td>(\d+)</td><td>(t\d{4})</td>", section(page, "variants"))
    assert rows == [("uncompressed", "2", "t0001"), ("mixed_float16 training", "2", "t0005"),
                    ("quantized int8", "2", "t0002"), ("pruned 2:4 + quantized int8", "2", "t0004"),
                    ("pruned 50% + quantized int8", "2", "t0003"), ("pruned 75% + quantized int8", "2", "t0012")]
    # every fully trained kind above the one whose trials were all eliminated after the short rung 0
    assert "<td>t0012</td><td>width 1 · sparsity 75% · int8 · float32 training · 2 threads</td><td>0 / 1</td>" in page


def test_nothing_fits_lists_the_closest_candidates_and_what_each_misses(tmp_path):
    page = write_tune_report(write_tune_dir(tmp_path / "tune", "nothing_fits")).read_text()
    outcome = section(page, "outcome")
    assert "no candidate meets every constraint" in outcome and "nothing fits the budget" in page
    # Ordered by the sum of how far past each limit a trial is (relative to the limit), as edgekit tune orders them;
    # an eliminated trial (measured after its short training) counts too.
    closest = re.findall(r"<tr><td>(t\d{4})", outcome)
    assert closest == ["t0009", "t0011", "t0007", "t0008", "t0004"]
    assert "p90 latency 0.144 &gt; 0.05 ms; accuracy 0.921 &lt; 0.99" in outcome
    assert "p90 latency 0.15 &gt; 0.05 ms; accuracy 0.71 &lt; 0.99" in outcome
    assert "(chosen)" not in page and "chosen t" not in plot_svgs(page)["plot-tune-latency"]


def test_a_chosen_point_that_is_the_default_builds_candidate_says_so(tmp_path):
    folder = write_tune_dir(tmp_path / "tune")
    baseline = json.loads((folder / "trials" / "t0001.json").read_text())
    (folder / "trials" / "t0020.json").write_text(json.dumps({**baseline, "id": "t0020"}))
    edit(folder / "state.json", chosen="t0020")
    outcome = section(write_tune_report(folder).read_text(), "outcome")
    assert ("The chosen configuration is the default build's own: nothing in the space beats it (t0020 is the same "
            "candidate trained and timed again in the search" in outcome)


def test_a_run_stopped_by_its_budget_says_so_and_shows_the_best_so_far(tmp_path):
    page = write_tune_report(write_tune_dir(tmp_path / "tune", "budget")).read_text()
    assert "stopped by --budget-minutes: the best so far" in page
    assert "6 measured, 2 pending" in page and "not finished" in page
    assert "t0002 <b>(chosen)</b>" in section(page, "outcome")


def test_the_same_folder_gives_the_same_bytes(tmp_path):
    folder = write_tune_dir(tmp_path / "tune")
    first = write_tune_report(folder).read_bytes()
    assert write_tune_report(folder).read_bytes() == first
    assert sorted(path.name for path in folder.iterdir()) == ["report.html", "state.json", "trials"]


def edit(path, **changes):
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("change, message", [
    ({"accuracy": "high"}, r"t0003\.json is not what edgekit tune writes:\n  accuracy: Input should be a valid "
                           r"number \(got 'high'\)"),
    ({"accuracy": "0.9"}, r"accuracy: Input should be a valid number \(got '0.9'\)"),
    ({"status": "done"}, r"status: Input should be 'measured', 'eliminated', 'failed' or 'pending' \(got 'done'\)"),
    ({"latency_ms": {"p50": 1.0}}, r"latency_ms\.p90: required key is missing"),
    ({"bytes": -5}, r"bytes: Input should be greater than or equal to 0 \(got -5\)"),
    ({"id": "t0009"}, r"t0003\.json: its \"id\" is 't0009' but the file is named t0003\.json"),
])
def test_a_hand_edited_trial_file_is_one_clear_message(tmp_path, change, message):
    folder = write_tune_dir(tmp_path / "tune")
    edit(folder / "trials" / "t0003.json", **change)
    with pytest.raises(InputFileError, match=message):
        write_tune_report(folder)
    assert not (folder / "report.html").exists()


def test_files_that_are_not_json_or_not_a_tune_folder(tmp_path):
    with pytest.raises(InputFileError, match="is not a tune folder \\(no such folder\\)"):
        write_tune_report(tmp_path / "missing")
    with pytest.raises(InputFileError, match="has no state.json: it is not a folder `edgekit tune` wrote"):
        write_tune_report(tmp_path)
    folder = write_tune_dir(tmp_path / "tune")
    (folder / "trials" / "t0004.json").write_text('{"id": "t0004", "accuracy": NaN}')
    with pytest.raises(InputFileError, match="t0004.json: NaN is not a number edgekit writes"):
        write_tune_report(folder)
    (folder / "trials" / "t0004.json").write_text("[1, 2]")
    with pytest.raises(InputFileError, match="t0004.json holds a JSON list, not the object edgekit tune writes"):
        write_tune_report(folder)
    (folder / "trials" / "t0004.json").write_text('{"id": ')
    with pytest.raises(InputFileError, match="t0004.json cannot be read as JSON: Expecting value: line 1"):
        write_tune_report(folder)


def test_a_state_that_names_a_missing_trial_or_a_newer_schema(tmp_path):
    folder = write_tune_dir(tmp_path / "tune")
    (folder / "trials" / "t0002.json").unlink()
    with pytest.raises(InputFileError, match=r'state.json: "chosen" names trial t0002, which has no file in .*'
                                             r'\(12 trial files there\)'):
        write_tune_report(folder)
    edit(folder / "state.json", schema_version=2, chosen="t0001")
    with pytest.raises(InputFileError, match="schema_version is 2; this edgekit reads version 1"):
        write_tune_report(folder)
    edit(folder / "state.json", schema_version=1, stopped="finished")
    with pytest.raises(InputFileError, match=r"stopped: Input should be 'done', 'budget', 'trials', 'nothing_fits' "
                                             r"or 'running' \(got 'finished'\)"):
        write_tune_report(folder)


def test_a_run_with_no_measured_trial_yet(tmp_path):
    folder = write_tune_dir(tmp_path / "tune", "budget")
    for path in (folder / "trials").glob("*.json"):
        if json.loads(path.read_text())["status"] == "measured":
            path.unlink()
    edit(folder / "state.json", chosen=None, baseline=None, front=[], stopped="running")
    page = write_tune_report(folder).read_text()
    assert "No trial has both an accuracy and a latency yet" in page
    assert "No trial was measured yet, so nothing could be chosen." in page
    assert "still running (or killed)" in page and plot_svgs(page) == {}
