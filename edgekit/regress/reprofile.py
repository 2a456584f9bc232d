"""Timing the baseline and the current model now, interleaved, instead of trusting two separate runs.

Two profiles measured minutes or days apart differ by whatever the machine was doing at the time: on the
project's shared 2-core machine the median of the same model moved by -10%..+10% between separate runs
(95% of A/A pairs, `scripts/bench regress`), as much as the slowdowns a gate must catch. Timed in one
profiler process, alternating blocks of runs, both models see the same load and only their own difference
remains (-1%..+1.5% there).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from edgekit.errors import InputFileError
from edgekit.regress.compare import match_names
from edgekit.regress.inputs import MODEL_SUFFIXES, LatencySet, SetKind
from edgekit.regress.ops import keep_op_times

if TYPE_CHECKING:  # the adapters are imported only when something is profiled
    from edgekit.adapters import ConnectionOptions
    from edgekit.profiling.profile import ProfileSettings

HOST_TARGET = "host"


@dataclass
class Reprofile:
    """Where and how to time pairs of models: a target (None: the baseline's, else host), how to reach it,
    and the profiler's settings."""

    target: Optional[str]
    options: "ConnectionOptions"
    settings: "ProfileSettings"

    def target_for(self, baseline: LatencySet) -> str:
        return self.target or baseline.target or HOST_TARGET

    def unreachable_reason(self, baseline: LatencySet) -> Optional[str]:
        """Why the target cannot be reached as given (a board with no --device), or None."""
        target = self.target_for(baseline)
        if target == HOST_TARGET or self.options.address:
            return None
        return f"target {target!r} needs --device to be re-timed"


def is_model_file(path: Path) -> bool:
    return path.suffix.lower() in MODEL_SUFFIXES


def default_reprofile() -> Reprofile:
    """The host, with `edgekit profile`'s default settings."""
    from edgekit.adapters import ConnectionOptions
    from edgekit.profiling.profile import ProfileSettings

    return Reprofile(target=None, options=ConnectionOptions(), settings=ProfileSettings())


def profile_model_pair(baseline: Path, current: Path, reprofile: Reprofile) -> tuple[LatencySet, LatencySet]:
    """Time two model files (.tflite or .onnx) interleaved on the target; returns them as two single-profile sets.

    Raises:
        InputFileError: a file is missing or not a .tflite/.onnx model.
        DeviceError: the device failed.
    """
    timed_baseline, timed_current = profile_pairs({current.name: (baseline, current)},
                                                  reprofile.target or HOST_TARGET, reprofile)
    return (LatencySet(str(baseline), SetKind.PROFILE, {baseline.name: timed_baseline.profiles[current.name]},
                       model_paths={baseline.name: baseline}),
            LatencySet(str(current), SetKind.PROFILE, timed_current.profiles, model_paths={current.name: current}))


def unlocated_models(baseline: LatencySet, current: LatencySet) -> list[str]:
    """The artifacts compared on both sides whose model file (with its recorded sha256) was not found."""
    return [name for name, baseline_name, current_name in match_names(baseline, current)
            if baseline_name and current_name
            and (baseline_name not in baseline.model_paths or current_name not in current.model_paths)]


def reprofile_sets(baseline: LatencySet, current: LatencySet, reprofile: Reprofile) -> tuple[LatencySet, LatencySet]:
    """Re-time every artifact that has latency on both sides, each (baseline, current) pair interleaved;
    artifacts on one side only keep their (missing) rows.

    Raises:
        InputFileError: an artifact's model file was not found with the sha256 its profile records.
    """
    unlocated = unlocated_models(baseline, current)
    if unlocated:
        raise InputFileError(f"cannot re-time {', '.join(unlocated)}: the model file with the recorded sha256 was not "
                             f"found beside {baseline.source} or {current.source} (rebuilt or moved since it was "
                             f"profiled?); compare the recorded latencies with --timing recorded")
    pairs, names = {}, {}
    for name, baseline_name, current_name in match_names(baseline, current):
        if baseline_name and current_name:
            pairs[name] = (baseline.model_paths[baseline_name], current.model_paths[current_name])
            names[name] = (baseline_name, current_name)
    timed_baseline, timed_current = profile_pairs(pairs, reprofile.target_for(baseline), reprofile)
    return (dataclasses.replace(baseline, profiles={**baseline.profiles, **{
                names[name][0]: keep_op_times(baseline.profiles[names[name][0]], profile)
                for name, profile in timed_baseline.profiles.items()}}),
            dataclasses.replace(current, profiles={**current.profiles, **{
                names[name][1]: keep_op_times(current.profiles[names[name][1]], profile)
                for name, profile in timed_current.profiles.items()}}))


def profile_pairs(pairs: dict[str, tuple[Path, Path]], target: str,
                  reprofile: Reprofile) -> tuple[LatencySet, LatencySet]:
    """Profile each (baseline, current) pair in one profiler process, interleaved in blocks.

    One connection to the device serves every pair, held under the device's locks so no other edgekit
    process profiles on it meanwhile. Returns the baseline and the current profiles by name.
    """
    from edgekit.config.target import load_target
    from edgekit.fleet.locks import locked_device
    from edgekit.fleet.measure import check_models

    loaded_target = load_target(target)
    check_models([path for paths in pairs.values() for path in paths], loaded_target)
    baseline_profiles, current_profiles = {}, {}
    with locked_device(loaded_target, reprofile.options) as session:
        for name, (baseline_path, current_path) in pairs.items():
            baseline_profiles[name], current_profiles[name] = session.adapter.profile([baseline_path, current_path],
                                                                                      reprofile.settings)
    return (LatencySet("baseline (re-profiled)", SetKind.PROFILES, baseline_profiles),
            LatencySet("current (re-profiled)", SetKind.PROFILES, current_profiles))
