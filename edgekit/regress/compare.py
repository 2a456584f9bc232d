"""Comparing two latency sets artifact by artifact: the gate's report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from edgekit.errors import GateFailed, InputFileError
from edgekit.regress.inputs import LatencySet, SetKind, describe_device, device_identity
from edgekit.regress.ops import OpGrowth, grown_ops
from edgekit.regress.stats import GateThresholds, SampleComparison, Verdict, compare_samples


class LatencyRegressed(GateFailed):
    """At least one artifact is slower than the baseline by more than --max-slowdown, significantly."""


@dataclass(frozen=True)
class GateRow:
    """One artifact's outcome. `comparison` is None for a missing artifact; `reason` says what is missing.
    `grown_ops` names the op types and nodes whose time grew, for a regression whose two profiles have per-op
    times (None when they have not)."""

    artifact: str
    verdict: Verdict
    comparison: Optional[SampleComparison] = None
    reason: str = ""
    grown_ops: Optional[dict[str, list[OpGrowth]]] = None

    def to_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {"artifact": self.artifact, "verdict": self.verdict.value}
        if self.comparison is not None:
            result = self.comparison
            row.update({
                "baseline_median_ms": result.baseline_median_ms, "current_median_ms": result.current_median_ms,
                "ratio": result.ratio, "ratio_ci": [result.ratio_low, result.ratio_high], "p_value": result.p_value,
                "baseline_runs": result.baseline_runs, "current_runs": result.current_runs,
            })
        if self.reason:
            row["reason"] = self.reason
        if self.grown_ops is not None:
            row["grown_ops"] = [growth.to_json() for growth in self.grown_ops["types"]]
            row["grown_nodes"] = [growth.to_json() for growth in self.grown_ops["nodes"]]
        return row


@dataclass
class GateReport:
    """Every artifact's row, and what the comparison was made with."""

    baseline: str
    current: str
    target: Optional[str]
    device: Optional[dict[str, Any]]
    thresholds: GateThresholds
    rows: list[GateRow]
    fail_on_missing: bool = False
    unprofiled: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timing: str = "recorded"  # or "interleaved now": where the compared samples came from

    def rows_with(self, verdict: Verdict) -> list[GateRow]:
        return [row for row in self.rows if row.verdict is verdict]

    @property
    def failures(self) -> list[GateRow]:
        """The rows that fail the gate: regressions, and missing artifacts under fail_on_missing."""
        failing = {Verdict.REGRESSION, Verdict.MISSING} if self.fail_on_missing else {Verdict.REGRESSION}
        return [row for row in self.rows if row.verdict in failing]

    @property
    def passed(self) -> bool:
        return not self.failures

    def error(self) -> Optional[LatencyRegressed]:
        """The error to exit with when the gate failed, naming each failing artifact."""
        if self.passed:
            return None
        parts = [describe_row(row) for row in self.failures]
        return LatencyRegressed(f"latency gate failed (max slowdown {self.thresholds.max_slowdown:.1%}, "
                                f"alpha {self.thresholds.alpha:g}): " + "; ".join(parts))

    def to_json(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "current": self.current,
            "target": self.target,
            "device": self.device,
            "timing": self.timing,
            "max_slowdown": self.thresholds.max_slowdown,
            "alpha": self.thresholds.alpha,
            "confidence": self.thresholds.confidence,
            "bootstrap_resamples": self.thresholds.resamples,
            "seed": self.thresholds.seed,
            "passed": self.passed,
            "counts": {verdict.value: len(self.rows_with(verdict)) for verdict in Verdict},
            "artifacts": [row.to_json() for row in self.rows],
            "unprofiled": self.unprofiled,
            "notes": self.notes,
        }


def describe_row(row: GateRow) -> str:
    """One artifact's outcome in a phrase: `tflite-int8 +12.3% (0.0110 → 0.0124 ms, p 3e-12)`."""
    if row.comparison is None:
        return f"{row.artifact} missing ({row.reason})"
    result = row.comparison
    text = (f"{row.artifact} {result.change:+.1%} ({result.baseline_median_ms:.4g} → "
            f"{result.current_median_ms:.4g} ms, p {result.p_value:.2g})")
    if row.grown_ops and row.grown_ops["types"]:
        text += "; ops that grew: " + ", ".join(growth.describe() for growth in row.grown_ops["types"])
    return text


def compare_sets(baseline: LatencySet, current: LatencySet, thresholds: GateThresholds = GateThresholds(), *,
                 allow_device_change: bool = False, fail_on_missing: bool = False) -> GateReport:
    """Compare artifacts matched by name (two single profiles are compared whatever their model files are called).

    An artifact with latency on one side only is a "missing" row, never dropped.

    Raises:
        InputFileError: a single profile against a manifest, or different targets or devices without
            `allow_device_change`.
    """
    pairs = match_names(baseline, current)
    notes: list[str] = []
    rows: list[GateRow] = []
    for name, baseline_name, current_name in pairs:
        if baseline_name is None:
            rows.append(GateRow(name, Verdict.MISSING, reason=_absence(baseline, name)))
            continue
        if current_name is None:
            rows.append(GateRow(name, Verdict.MISSING, reason=_absence(current, name)))
            continue
        baseline_profile = baseline.profiles[baseline_name]
        current_profile = current.profiles[current_name]
        note = check_same_device(baseline, baseline_profile, current, current_profile, allow_device_change)
        if note and note not in notes:
            notes.append(note)
        comparison = compare_samples(baseline_profile["samples_ms"], current_profile["samples_ms"], thresholds)
        ops = (grown_ops(baseline_profile, current_profile, thresholds.max_slowdown)
               if comparison.verdict is Verdict.REGRESSION else None)
        rows.append(GateRow(name, comparison.verdict, comparison, grown_ops=ops))
    unprofiled = sorted(set(baseline.unprofiled) | set(current.unprofiled))
    return GateReport(baseline=baseline.source, current=current.source, target=current.target, device=current.device,
                      thresholds=thresholds, rows=rows, fail_on_missing=fail_on_missing,
                      unprofiled=[name for name in unprofiled if name not in {row.artifact for row in rows}],
                      notes=notes)


def match_names(baseline: LatencySet, current: LatencySet) -> list[tuple[str, Optional[str], Optional[str]]]:
    """(row name, baseline name, current name), baseline order first, then what only the current set has."""
    if baseline.kind is SetKind.PROFILE and current.kind is SetKind.PROFILE:
        # Two profiles are two measurements of "the model", whatever the files are called (old/new.tflite).
        (baseline_name,), (current_name,) = baseline.profiles, current.profiles
        name = current_name if baseline_name == current_name else f"{baseline_name} → {current_name}"
        return [(name, baseline_name, current_name)]
    if SetKind.PROFILE in (baseline.kind, current.kind) and SetKind.MANIFEST in (baseline.kind, current.kind):
        raise InputFileError(f"{baseline.source} is a {baseline.kind.value} and {current.source} a "
                             f"{current.kind.value}: compare a profile with a profile, or a manifest with a manifest")
    names = list(baseline.profiles) + [name for name in current.profiles if name not in baseline.profiles]
    return [(name, name if name in baseline.profiles else None, name if name in current.profiles else None)
            for name in names]


def _absence(latency_set: LatencySet, name: str) -> str:
    if name in latency_set.unprofiled:
        return f"no latency in {latency_set.source}"
    return f"not in {latency_set.source}"


def check_same_device(baseline: LatencySet, baseline_profile: dict[str, Any], current: LatencySet,
                      current_profile: dict[str, Any], allow_device_change: bool) -> Optional[str]:
    """None when both profiles come from the same target and device; with `allow_device_change`, a note saying
    what changed.

    Raises:
        InputFileError: target or device differ and `allow_device_change` is False.
    """
    before = (baseline_profile.get("target"), device_identity(baseline_profile.get("device")))
    after = (current_profile.get("target"), device_identity(current_profile.get("device")))
    if before == after:
        return None
    change = (f"{baseline.source} was measured on target {before[0]!r}, device "
              f"{describe_device(baseline_profile.get('device'))}; {current.source} on target {after[0]!r}, device "
              f"{describe_device(current_profile.get('device'))}")
    if not allow_device_change:
        raise InputFileError(f"{change}: latencies from different devices are not comparable "
                             f"(pass --allow-device-change to compare them anyway)")
    return f"device changed: {change}"
