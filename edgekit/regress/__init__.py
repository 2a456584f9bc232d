"""edgekit.regress: the latency regression gate (statistics, comparison, baselines, JUnit)."""

from edgekit.regress.compare import GateReport, GateRow, LatencyRegressed, compare_sets
from edgekit.regress.gate import GateRequest, Timing, run_gate
from edgekit.regress.inputs import LatencySet, load_latency_set
from edgekit.regress.stats import GateThresholds, SampleComparison, Verdict, compare_samples
from edgekit.regress.store import DEFAULT_STORE, BaselineStore, save_baseline_file

__all__ = [
    "DEFAULT_STORE", "BaselineStore", "GateReport", "GateRequest", "GateRow", "GateThresholds", "LatencyRegressed",
    "LatencySet", "SampleComparison", "Timing", "Verdict", "compare_samples", "compare_sets", "load_latency_set", "run_gate",
    "save_baseline_file",
]
