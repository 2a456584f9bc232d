"""`edgekit regress`: the one function the CLI calls, from file names to a report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from edgekit.errors import InputFileError
from edgekit.regress.compare import GateReport, compare_sets
from edgekit.regress.inputs import LatencySet, load_latency_set
from edgekit.regress.reprofile import Reprofile, is_model_file, profile_model_pair, reprofile_manifests
from edgekit.regress.stats import GateThresholds
from edgekit.regress.store import BaselineStore


@dataclass
class GateRequest:
    """What to compare and how.

    `baseline` is None when comparing with the latest baseline in `store`. Two .tflite files are always
    timed now, interleaved, as `timing` says (default: on host); two manifests are re-timed that way when
    `reprofile` is set.
    """

    current: Path
    baseline: Optional[Path] = None
    store: Optional[BaselineStore] = None
    thresholds: GateThresholds = GateThresholds()
    allow_device_change: bool = False
    fail_on_missing: bool = False
    reprofile: bool = False
    timing: Optional[Reprofile] = None

    def timing_or_default(self) -> Reprofile:
        if self.timing is not None:
            return self.timing
        from edgekit.adapters import ConnectionOptions
        from edgekit.profiling.profile import ProfileSettings

        return Reprofile(target=None, options=ConnectionOptions(), settings=ProfileSettings())


def run_gate(request: GateRequest) -> GateReport:
    """Load (or time) both sides and compare them artifact by artifact.

    Raises:
        InputFileError: unreadable or unsuitable input, or a .tflite file against a JSON file.
        DeviceError: re-profiling failed on the device.
    """
    baseline, current = _load_both(request)
    return compare_sets(baseline, current, request.thresholds, allow_device_change=request.allow_device_change,
                        fail_on_missing=request.fail_on_missing)


def _load_both(request: GateRequest) -> tuple[LatencySet, LatencySet]:
    if request.baseline is None:
        if request.store is None:
            raise ValueError("a GateRequest needs a baseline file or a store")
        current = load_latency_set(request.current)
        return request.store.latest_for(current, allow_device_change=request.allow_device_change), current
    models = [is_model_file(path) for path in (request.baseline, request.current)]
    if all(models):
        return profile_model_pair(request.baseline, request.current, request.timing_or_default())
    if any(models):
        model, other = (request.baseline, request.current) if models[0] else (request.current, request.baseline)
        raise InputFileError(f"{model} is a model and {other} is not: pass two .tflite files (timed now, "
                             f"interleaved) or two profile/manifest JSON files")
    baseline, current = load_latency_set(request.baseline), load_latency_set(request.current)
    if request.reprofile:
        return reprofile_manifests(baseline, current, request.timing_or_default())
    return baseline, current
