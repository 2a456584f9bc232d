"""The table `edgekit tune` prints: every fully trained trial (and rung 0's best), the default build, the choice."""

from __future__ import annotations

from edgekit import console
from edgekit.tune.trials import Trial, TrialStatus


def summary_lines(result) -> list[str]:
    """Plain-text lines: one per trial worth seeing, then the verdict and where the files are."""
    state = result.state
    rows = [trial for trial in result.trials.values() if trial.rung == 1 or trial.id in state["front"]]
    lines = [f"{'trial':<6} {'rung':>4} {'candidate':<44} {'accuracy':>8} {'p90 ms':>9} {'bytes':>10} "
             f"{'peak MB':>8} {'train s':>8}  verdict"]
    for trial in sorted(rows, key=lambda t: t.id):
        lines.append(_row(trial, state))
    done = sum(trial.status != TrialStatus.PENDING for trial in result.trials.values())
    lines.append(f"{done} trials ({state.get('trials_reused', 0)} from an earlier run), "
                 f"{state['wall_seconds']:.0f} s, stopped: {state['stopped']}; measured on {state['measured_on']}")
    if result.chosen is not None:
        lines.append(f"chosen: {result.chosen.id} {result.chosen.candidate.label()} -> {result.config_path}")
    if result.report_path is not None:
        lines.append(f"report: {result.report_path}")
    return lines


def _row(trial: Trial, state) -> str:
    def number(value, spec):
        return format(value, spec) if value is not None else "-"

    tags = []
    if trial.id == state.get("chosen"):
        tags.append("CHOSEN")
    if trial.id == state.get("baseline"):
        tags.append("default build")
    if trial.id in state.get("front", []):
        tags.append("front")
    if trial.status == TrialStatus.FAILED:
        verdict = f"failed: {trial.reason}"
    elif trial.misses:
        verdict = "misses " + "; ".join(miss.describe() for miss in trial.misses)
    else:
        verdict = "fits" if trial.fits else (trial.reason or trial.status)
    label = trial.candidate.label()
    return (f"{trial.id:<6} {trial.rung:>4} {label[:44]:<44} {number(trial.accuracy, '.4f'):>8} "
            f"{number(trial.p90, '.3f'):>9} {number(trial.bytes, ','):>10} {number(trial.peak_memory_mb, '.1f'):>8} "
            f"{number(trial.train_seconds, '.1f'):>8}  {verdict}{' [' + ', '.join(tags) + ']' if tags else ''}")


def print_summary(result) -> None:
    console.write_stdout("\n".join(summary_lines(result)) + "\n")
