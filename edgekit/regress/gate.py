"""`edgekit regress`: the one function the CLI calls, from file names to a report."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Optional

from edgekit.errors import InputFileError
from edgekit.regress.compare import GateReport, compare_sets
from edgekit.regress.inputs import LatencySet, load_latency_set
from edgekit.regress.reprofile import (Reprofile, default_reprofile, is_model_file, profile_model_pair,
                                       reprofile_sets, unlocated_models)
from edgekit.regress.stats import GateThresholds
from edgekit.regress.store import BaselineStore

INTERLEAVED_NOW = "interleaved now"
RECORDED = "recorded"


class Timing(str, Enum):
    """Which samples the gate compares.

    Separate runs false-alarm on a busy machine (10% and 25% of A/A comparisons in two runs of
    `scripts/bench regress` on the project's 2-core machine, at the default thresholds); pairs timed
    interleaved did not (0 of 40, twice), so AUTO re-times whenever it can.
    """

    AUTO = "auto"  # interleaved when every compared model file is at hand and the target is reachable
    INTERLEAVED = "interleaved"  # re-time every pair now; refuse when a model file is missing
    RECORDED = "recorded"  # compare the latencies the files hold


@dataclass
class GateRequest:
    """What to compare and how.

    `baseline` is None when comparing with the latest baseline in `store`. Two .tflite files are always
    timed now, interleaved; JSON inputs as `timing` says, through `reprofile` (default: host, `edgekit
    profile`'s settings).
    """

    current: Path
    baseline: Optional[Path] = None
    store: Optional[BaselineStore] = None
    thresholds: GateThresholds = GateThresholds()
    allow_device_change: bool = False
    fail_on_missing: bool = False
    timing: Timing = Timing.AUTO
    reprofile: Optional[Reprofile] = None


def run_gate(request: GateRequest) -> GateReport:
    """Load (or time) both sides and compare them artifact by artifact.

    Raises:
        InputFileError: unreadable or unsuitable input, a .tflite file against a JSON file, or
            --timing interleaved without the model files.
        DeviceError: re-timing failed on the device.
    """
    reprofile = request.reprofile or default_reprofile()
    models = [path is not None and is_model_file(path) for path in (request.baseline, request.current)]
    if all(models):
        if request.timing is Timing.RECORDED:
            raise InputFileError(f"{request.baseline} and {request.current} are models, with no recorded latency: "
                                 f"they are always timed now, interleaved")
        baseline, current = profile_model_pair(request.baseline, request.current, reprofile)
        return _compare(request, baseline, current, INTERLEAVED_NOW, note=None)
    if any(models):
        model, other = (request.baseline, request.current) if models[0] else (request.current, request.baseline)
        raise InputFileError(f"{model} is a model and {other} is not: pass two model files (.tflite or "
                             f".onnx, timed now, interleaved) or two profile/manifest JSON files")
    current = load_latency_set(request.current)
    if request.baseline is not None:
        baseline = load_latency_set(request.baseline)
    elif request.store is not None:
        baseline = request.store.latest_for(current, allow_device_change=request.allow_device_change)
    else:
        raise ValueError("a GateRequest needs a baseline file or a store")
    why_not = _why_not_interleaved(request.timing, baseline, current, reprofile)
    if why_not is None:
        baseline, current = reprofile_sets(baseline, current, reprofile)
        return _compare(request, baseline, current, INTERLEAVED_NOW, note=None)
    note = None if request.timing is Timing.RECORDED else (
        f"compared the recorded latencies ({why_not}); latencies from separate runs differ by several percent "
        f"on a busy machine, so timing both models now, interleaved, is more reliable")
    return _compare(request, baseline, current, RECORDED, note=note)


def _why_not_interleaved(timing: Timing, baseline: LatencySet, current: LatencySet,
                         reprofile: Reprofile) -> Optional[str]:
    """None when the pairs are to be re-timed now; else why they are not.

    Raises:
        InputFileError: --timing interleaved, and the target cannot be reached as given.
    """
    if timing is Timing.RECORDED:
        return "--timing recorded"
    unreachable = reprofile.unreachable_reason(baseline)
    if timing is Timing.INTERLEAVED and unreachable:
        raise InputFileError(f"--timing interleaved: {unreachable}")
    if timing is Timing.INTERLEAVED:
        return None  # reprofile_sets names any model file it cannot find
    unlocated = unlocated_models(baseline, current)
    if unlocated:
        return f"no model file with the profiled sha256 for {', '.join(unlocated)}"
    return unreachable


def _compare(request: GateRequest, baseline: LatencySet, current: LatencySet, timing: str,
             note: Optional[str]) -> GateReport:
    report = compare_sets(baseline, current, request.thresholds, allow_device_change=request.allow_device_change,
                          fail_on_missing=request.fail_on_missing)
    report.timing = timing
    if note:
        report.notes.append(note)
    return report


def record_in_build(report: GateReport, current: Path) -> Optional[Path]:
    """When CURRENT is a build's manifest.json, keep the verdicts beside it (regress.json) and redraw the
    build's report.html so it shows them. Returns the report's path, or None for other inputs."""
    from edgekit import fsutil
    from edgekit.report import REPORT_NAME, write_report

    if current.name != "manifest.json" or not (current.parent / REPORT_NAME).exists():
        return None
    fsutil.write_json(current.parent / "regress.json", report.to_json())
    return write_report(current.parent)
