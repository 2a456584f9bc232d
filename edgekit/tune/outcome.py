"""What a finished (or stopped) search hands back: the chosen trial, the Pareto front, the closest misses, and the
chosen configuration as a ready edgekit.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import yaml

from edgekit import fsutil
from edgekit.errors import GateFailed
from edgekit.tune.builds import Variant, variant_config
from edgekit.tune.constraints import distance
from edgekit.tune.pareto import Point, pareto_front
from edgekit.tune.trials import Trial, TrialStatus

CHOSEN_CONFIG = "edgekit.yaml"
CLOSEST_SHOWN = 3


class NothingFits(GateFailed):
    """No candidate met every constraint (exit 1); the message names the closest and what each misses."""


def measured(trials: dict[str, Trial], rung: Optional[int] = None) -> list[Trial]:
    return [trial for trial in trials.values()
            if trial.status in (TrialStatus.MEASURED, TrialStatus.ELIMINATED) and trial.p90 is not None
            and trial.accuracy is not None and (rung is None or trial.rung == rung)]


def choose(best: Optional[Trial], trials: dict[str, Trial]) -> Optional[Trial]:
    """The search's best; without one (stopped before any full training fit), the most accurate rung-0 trial
    that fits, then the fastest."""
    if best is not None:
        return best
    fitting = [trial for trial in measured(trials, 0) if trial.fits]
    fitting.sort(key=lambda trial: (-trial.accuracy, trial.p90, trial.bytes))
    return fitting[0] if fitting else None


def front(trials: dict[str, Trial]) -> list[str]:
    """The Pareto front of the fully trained trials (rung 0's when none finished full training)."""
    full = measured(trials, 1)
    pool = full or measured(trials, 0)
    return pareto_front([Point(trial.id, trial.accuracy, trial.p90, trial.bytes) for trial in pool])


def closest(trials: dict[str, Trial]) -> list[Trial]:
    """The measured trials nearest to fitting, fully trained ones first."""
    pool = measured(trials)
    pool.sort(key=lambda trial: (trial.rung != 1, distance(trial.misses), -(trial.accuracy or 0.0)))
    return pool[:CLOSEST_SHOWN]


def nothing_fits_message(trials: dict[str, Trial], stopped: str) -> str:
    near = closest(trials)
    why = {"budget": "the time budget ran out before any candidate fit",
           "trials": "the trial limit was reached before any candidate fit"}.get(stopped, "no candidate fits")
    if not near:
        return f"tune: {why}; no candidate was measured"
    lines = [f"tune: {why}; the closest:"]
    for trial in near:
        misses = "; ".join(miss.describe() for miss in trial.misses) or "fits at rung 0 only (not fully trained)"
        lines.append(f"  {trial.id} {trial.candidate.label()} (rung {trial.rung}): {misses}")
    return "\n".join(lines)


def write_chosen_config(tune_dir: Path, chosen: Trial, base: dict[str, Any], loaded, full_epochs: int) -> Path:
    """tune/edgekit.yaml: the user's file with the chosen knobs, full epochs, and paths made absolute (the file
    lives in another folder than the one its relative paths were written for)."""
    candidate = chosen.candidate
    data = variant_config(base, loaded.config, Variant.of(candidate, full_epochs, short=False),
                          [candidate.quantization])
    data.setdefault("profile", {})["threads"] = candidate.threads
    for section, key in (("data", "path"), ("model", "file")):
        value = (data.get(section) or {}).get(key)
        if value:
            data[section][key] = str(loaded.resolve(value))
    header = (f"# Chosen by `edgekit tune` (trial {chosen.id}: accuracy {chosen.accuracy:.4f}, p90 {chosen.p90:.3f} "
              f"ms, {chosen.bytes:,} bytes, {candidate.threads} thread(s)).\n"
              f"# Build it with: edgekit build --config {tune_dir / CHOSEN_CONFIG}\n")
    path = tune_dir / CHOSEN_CONFIG
    fsutil.write_text(path, header + yaml.safe_dump(data, sort_keys=False))
    return path
