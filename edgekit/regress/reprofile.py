"""Timing the baseline and the current model now, interleaved, instead of trusting two separate runs.

Two profiles measured minutes or days apart differ by whatever the machine was doing at the time: on a
shared 2-core CI runner the median of the same model moves by ±10% from one run to the next (see the
README's performance section), more than the slowdowns a gate must catch. Timed in one profiler process,
alternating blocks of runs, both models see the same load, and only their own difference remains.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from edgekit.errors import InputFileError
from edgekit.regress.inputs import LatencySet, SetKind

if TYPE_CHECKING:  # the adapters are imported only when something is profiled
    from edgekit.adapters import ConnectionOptions
    from edgekit.profiling.profile import ProfileSettings

TFLITE_SUFFIX = ".tflite"


@dataclass
class Reprofile:
    """Where and how to time pairs of models: a target (None: the baseline's, else host), how to reach it,
    and the profiler's settings."""

    target: Optional[str]
    options: "ConnectionOptions"
    settings: "ProfileSettings"


def is_model_file(path: Path) -> bool:
    return path.suffix.lower() == TFLITE_SUFFIX


def profile_model_pair(baseline: Path, current: Path, reprofile: Reprofile) -> tuple[LatencySet, LatencySet]:
    """Time two .tflite files interleaved on the target; returns them as two single-profile sets.

    Raises:
        InputFileError: a file is missing or not a .tflite model.
        DeviceError: the device failed.
    """
    pairs = {current.name: (baseline, current)}
    baseline_set, current_set = profile_pairs(pairs, reprofile.target or "host", reprofile)
    return (LatencySet(str(baseline), SetKind.PROFILE, {baseline.name: baseline_set.profiles[current.name]}),
            LatencySet(str(current), SetKind.PROFILE, current_set.profiles))


def reprofile_manifests(baseline: LatencySet, current: LatencySet, reprofile: Reprofile) -> tuple[LatencySet, LatencySet]:
    """Re-time every artifact profiled in both manifests, each pair interleaved; other artifacts keep their rows
    (missing on one side) as they were.

    Raises:
        InputFileError: not two manifests, or an artifact's .tflite file is gone from its build folder.
    """
    for latency_set in (baseline, current):
        if latency_set.kind is not SetKind.MANIFEST:
            raise InputFileError(f"{latency_set.source}: is a {latency_set.kind.value}; re-profiling needs manifests "
                                 f"(they name each artifact's file); to time two models now, pass the two .tflite files")
    shared = [name for name in current.profiles if name in baseline.profiles]
    pairs = {}
    for name in shared:
        paths = tuple(latency_set.model_paths.get(name) for latency_set in (baseline, current))
        for latency_set, path in zip((baseline, current), paths):
            if path is None or not path.is_file():
                raise InputFileError(f"{latency_set.source}: the model file of {name!r} ({path}) is missing, "
                                     f"so it cannot be re-profiled")
        pairs[name] = paths
    target = reprofile.target or baseline.target or "host"
    timed_baseline, timed_current = profile_pairs(pairs, target, reprofile)
    return (dataclasses.replace(baseline, profiles={**baseline.profiles, **timed_baseline.profiles}),
            dataclasses.replace(current, profiles={**current.profiles, **timed_current.profiles}))


def profile_pairs(pairs: dict[str, tuple[Path, Path]], target: str,
                  reprofile: Reprofile) -> tuple[LatencySet, LatencySet]:
    """Profile each (baseline, current) pair in one profiler process, interleaved in blocks.

    One connection to the device serves every pair. Returns the baseline and the current profiles by name.
    """
    from edgekit.adapters import open_adapter
    from edgekit.adapters.acceptance import check_accepted
    from edgekit.config.target import load_target
    from edgekit.profiling.run import check_tflite_file

    loaded_target = load_target(target)
    for paths in pairs.values():
        for path in paths:
            check_tflite_file(path)
            check_accepted(loaded_target, path)
    baseline_profiles, current_profiles = {}, {}
    with open_adapter(loaded_target, reprofile.options) as adapter:
        for name, (baseline_path, current_path) in pairs.items():
            baseline_profiles[name], current_profiles[name] = adapter.profile([baseline_path, current_path],
                                                                              reprofile.settings)
    return (LatencySet("baseline (re-profiled)", SetKind.PROFILES, baseline_profiles),
            LatencySet("current (re-profiled)", SetKind.PROFILES, current_profiles))
