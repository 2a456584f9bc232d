"""tune/report.html: one self-contained page of an `edgekit tune` run (inline CSS, plots as embedded SVG images,
no script, no network), read from tune/state.json and tune/trials/*.json.

    from edgekit.tune.report import write_tune_report
    write_tune_report(Path("build/tune"))   # -> build/tune/report.html
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Optional

from edgekit import fsutil
from edgekit.base.version import __version__
# The build report's page pieces: its style sheet, figures, tables and number cells.
from edgekit.report.page import CSS, html_figure, html_table
from edgekit.tune.report_data import Stopped, Trial, TrialStatus, TuneRun, load_tune
from edgekit.tune.report_plots import Axis, trials_svg
from edgekit.tune.report_tables import TRIAL_HEADERS, candidate_text, constraint_rows, trial_cells, variant_rows

REPORT_NAME = "report.html"
# How many of the closest candidates a run where nothing fits lists.
CLOSEST = 5

_EXTRA_CSS = """
.chosen td { background: #fff1f0; } .baseline td { background: #f0f5ff; }
.stopped { background: #fff4d6; color: #7a5b00; }
table.trials td:nth-child(2), table.trials td:nth-child(3), table.variants td:nth-child(4) { text-align: left; }
table.trials td:last-child, table.variants td:last-child { text-align: left; white-space: normal; min-width: 14em; }
table.trials td:nth-child(3) { white-space: normal; min-width: 7em; max-width: 20em; font-size: 13px; }
"""


def write_tune_report(tune_dir: Path) -> Path:
    """Write TUNE_DIR/report.html (atomically) from the run's state.json and trials/*.json.

    A run that is still going, stopped by its budget, or where nothing fits gets a page too: it says so.

    Raises:
        InputFileError: the folder has no state.json, or a file in it is not what `edgekit tune` writes.
    """
    tune_dir = Path(tune_dir)
    run = load_tune(tune_dir)
    path = tune_dir / REPORT_NAME
    fsutil.write_text(path, render_tune_page(run))
    return path


def render_tune_page(run: TuneRun) -> str:
    """The whole page."""
    sections = [_header(run), _outcome(run), _plots(run), _front(run), _variants(run), _trials(run), _facts(run)]
    body = "\n".join(section for section in sections if section)
    title = f"edgekit tune: {run.state.target}"
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{escape(title)}</title>\n<style>{CSS}{_EXTRA_CSS}</style>\n</head>\n<body>\n<main>\n{body}\n"
            f"<p class=\"note\">Written by edgekit {escape(__version__)} from state.json and "
            f"{len(run.trials)} trial files.</p>\n</main>\n</body>\n</html>\n")


def _header(run: TuneRun) -> str:
    state = run.state
    where = f"target <b>{escape(state.target)}</b> · device {escape(state.device or 'this machine')}"
    counts = {status: sum(trial.status is status for trial in run.trials) for status in TrialStatus}
    tally = ", ".join(f"{count} {status.value}" for status, count in counts.items() if count)
    wall = f" in {_duration(state.wall_seconds)}" if state.wall_seconds is not None else ""
    return (f"<h1>edgekit tune: {escape(state.target)}</h1>\n<p class=\"subtitle\">{where}</p>\n"
            f"<p>{len(run.trials)} trials ({escape(tally or 'none yet')}){escape(wall)}; "
            f"{_stopped_badge(state.stopped)}</p>")


_STOPPED_TEXT = {Stopped.DONE: ("pass", "search finished"),
                 Stopped.BUDGET: ("stopped", "stopped by --budget-minutes: the best so far"),
                 Stopped.TRIALS: ("stopped", "stopped at --trials: the best so far"),
                 Stopped.NOTHING_FITS: ("fail", "nothing fits the budget"),
                 Stopped.RUNNING: ("neutral", "still running (or killed): resume with edgekit tune")}


def _stopped_badge(stopped: Stopped) -> str:
    css, text = _STOPPED_TEXT[stopped]
    return f"<span class=\"badge {css}\">{escape(text)}</span>"


def _outcome(run: TuneRun) -> str:
    """The chosen point against the default build, or, when nothing fits, the closest candidates and their misses."""
    title = "<h2 id=\"outcome\">Chosen configuration</h2>\n"
    constraints = html_table(["constraint", "limit"], constraint_rows(run), css="facts")
    chosen, baseline = run.chosen, run.baseline
    if chosen is None:
        closest = _closest(run)
        text = ("<p><span class=\"badge fail\">no candidate meets every constraint</span> "
                "<span class=\"note\">edgekit tune exits 1; the closest candidates and what each misses:</span></p>")
        if not closest:
            text = "<p class=\"note\">No trial was measured yet, so nothing could be chosen.</p>"
        body = html_table(TRIAL_HEADERS, [trial_cells(trial, run) for trial in closest], css="trials")
        return title + constraints + text + (body if closest else "")
    rows = [trial for trial in (chosen, baseline) if trial is not None]
    if baseline is chosen:
        rows = [chosen]
    body = html_table(TRIAL_HEADERS, [trial_cells(trial, run) for trial in rows], css="trials")
    written = ("<p class=\"note\">Written as a ready config: <code>tune/edgekit.yaml</code>"
               f" ({escape(candidate_text(chosen))}).</p>")
    compare = _against_baseline(chosen, baseline)
    return title + constraints + body + compare + written


def _against_baseline(chosen: Trial, baseline: Optional[Trial]) -> str:
    if baseline is None:
        return ""
    if baseline is chosen or baseline.candidate == chosen.candidate:
        again = "" if baseline is chosen else (f" ({escape(chosen.id)} is the same candidate trained and timed again "
                                               f"in the search; its numbers differ from {escape(baseline.id)}'s by "
                                               f"the device's timing noise)")
        return f"<p>The chosen configuration is the default build's own: nothing in the space beats it{again}.</p>"
    facts = []
    if chosen.accuracy is not None and baseline.accuracy is not None:
        facts.append(f"accuracy {chosen.accuracy - baseline.accuracy:+.4f}")
    if chosen.p90 and baseline.p90:
        facts.append(f"p90 latency {baseline.p90 / chosen.p90:.2f}× faster" if chosen.p90 <= baseline.p90
                     else f"p90 latency {chosen.p90 / baseline.p90:.2f}× slower")
    if chosen.bytes and baseline.bytes:
        facts.append("file the same size" if chosen.bytes == baseline.bytes
                     else f"file {baseline.bytes / chosen.bytes:.2f}× smaller" if chosen.bytes < baseline.bytes
                     else f"file {chosen.bytes / baseline.bytes:.2f}× larger")
    return (f"<p>Against the default build ({escape(baseline.id)}): " + escape("; ".join(facts)) + ".</p>"
            if facts else "")


def _closest(run: TuneRun) -> list[Trial]:
    """Measured trials ordered by how far they miss: the sum over their misses of how far past the limit each is,
    as a fraction of the limit (as `edgekit tune` orders them in its message)."""
    # Eliminated trials were ranked too (rung 0): where every trial stopped at rung 0, they are
    # all there is to show.
    measured = [trial for trial in run.trials if trial.status in (TrialStatus.MEASURED, TrialStatus.ELIMINATED)]

    def distance(trial: Trial) -> float:
        total = 0.0
        for miss in trial.misses:
            if miss.limit is not None and miss.measured is not None:
                minimum = miss.constraint.startswith("min_")
                beyond = miss.limit - miss.measured if minimum else miss.measured - miss.limit
                total += max(beyond, 0.0) / (abs(miss.limit) or 1.0)
        return total

    return sorted(measured, key=lambda trial: (distance(trial), -trial.rung))[:CLOSEST]


def _plots(run: TuneRun) -> str:
    constraints = run.state.constraints
    latency = trials_svg(run, Axis(lambda trial: trial.p90, "p90 latency on the device (ms)",
                                   constraints.max_latency_ms, "max latency"), area_by_bytes=True)
    title = "<h2 id=\"trials-plot\">Trials: accuracy, latency and size</h2>\n"
    if latency is None:
        return title + "<p class=\"note\">No trial has both an accuracy and a latency yet.</p>"
    parts = [html_figure("plot-tune-latency", latency,
                     "Each measured trial's test accuracy against its p90 latency on the device; point area is "
                     "proportional to the model file's bytes, colour is its quantization, a hollow point misses a "
                     "constraint, a faint one is rung 0's ranking (its float model pruned in memory, often after a "
                     "shorter training; the probe's size and latency), not a build. Black rings: the Pareto front "
                     "(accuracy, p90 latency, bytes); the dashed step joins the front's points that stay optimal in "
                     "this plane. Red lines: the budget.")]
    size = trials_svg(run, Axis(lambda trial: None if trial.bytes is None else float(trial.bytes),
                                "model file (bytes)", None if constraints.max_bytes is None
                                else float(constraints.max_bytes), "max bytes"), area_by_bytes=False)
    if size is not None:
        parts.append(html_figure("plot-tune-bytes", size, "The same trials' accuracy against the model file's bytes, "
                                                      "with the byte budget."))
    memory = trials_svg(run, Axis(lambda trial: trial.peak_memory_mb, "peak memory on the device (MB)",
                                  constraints.max_ram_mb, "max RAM MB"), area_by_bytes=False)
    if memory is not None and constraints.max_ram_mb is not None:
        parts.append(html_figure("plot-tune-memory", memory, "Accuracy against peak memory on the device, with the "
                                                         "RAM budget."))
    return title + "\n".join(parts)


def _front(run: TuneRun) -> str:
    front = sorted(run.front, key=lambda trial: (trial.p90 is None, trial.p90 or 0.0))
    title = "<h2 id=\"front\">Pareto front</h2>\n"
    if not front:
        return title + "<p class=\"note\">The front is empty: no trial was measured.</p>"
    note = ("<p class=\"note\">No other measured trial is at least as accurate, as fast (p90) and as small, and "
            "better in one of the three.</p>")
    return title + html_table(TRIAL_HEADERS, [trial_cells(trial, run) for trial in front], css="trials") + note


def _variants(run: TuneRun) -> str:
    headers = ["variant", "trials", "best trial", "candidate", "rung / epochs", "train s", "accuracy", "bytes", "p50 ms", "p90 ms",
               "peak MB", "fits"]
    rows = variant_rows(run)
    title = "<h2 id=\"variants\">What each variant costs on this device</h2>\n"
    if not rows:
        return title + "<p class=\"note\">No trial was measured yet.</p>"
    note = ("<p class=\"note\">One row per kind of model (sparsity × quantization × training precision): its most "
            "accurate fully trained trial (rung 0's ranking where successive halving eliminated "
            "every trial of that kind), over every width, input size and thread count tried. Train seconds: what its training "
            "stages (train, prune, QAT) took when they ran, so a training that trials share through the stage cache "
            "is counted in each of them: the cost of building that variant alone.</p>")
    return title + html_table(headers, rows, css="variants") + note


def _trials(run: TuneRun) -> str:
    rows = []
    for trial in run.trials:
        css = "chosen" if trial is run.chosen else "baseline" if trial is run.baseline else ""
        rows.append((css, trial_cells(trial, run)))
    table = html_table(TRIAL_HEADERS, [cells for _, cells in rows], css="trials")
    # Row classes mark the chosen and the default build; html_table writes plain rows, so they are added here.
    for css, cells in rows:
        if css:
            plain = "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"
            table = table.replace(plain, plain.replace("<tr>", f"<tr class=\"{css}\">", 1), 1)
    return ("<h2 id=\"trials\">Trials</h2>\n" + table +
            "<p class=\"note\">rung: the successive-halving round (0: the shortest training; when shorter than "
            "the full one, a rung-0 accuracy is its float model's, pruned in memory, and its size and latency are "
            "the structure probe's untrained file's); fits: meets every constraint, else which one it misses and "
            "by how much. Red: the chosen trial; blue: the default build.</p>")


def _facts(run: TuneRun) -> str:
    state = run.state
    space = [[escape(key), escape(", ".join(str(value) for value in values))] for key, values in state.space.items()]
    extra = state.model_extra or {}
    direction = "higher" if state.higher_is_better else "lower"
    facts = [("config tuned", state.config), ("metric", f"{state.metric} ({direction} is better)"),
             ("measured on", extra.get("measured_on")), ("started", state.started),
             ("finished", state.finished or "not finished"),
             ("wall time", _duration(state.wall_seconds) if state.wall_seconds is not None else None),
             ("stopped", state.stopped.value), ("edgekit", state.edgekit)]
    notes = extra.get("space_notes")
    notes_html = ("<ul class=\"note\">" + "".join(f"<li>{escape(str(note))}</li>" for note in notes) + "</ul>"
                  if isinstance(notes, list) and notes else "")
    return ("<h2 id=\"space\">Search space and run</h2>\n"
            + html_table(["axis", "values"], space, css="facts") + notes_html
            + html_table(["", ""], [[escape(key), escape(str(value))] for key, value in facts if value], css="facts"))


def _duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"

