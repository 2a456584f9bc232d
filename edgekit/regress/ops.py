"""Which ops made a regressed model slower: per-op times of the two profiles compared, where both have them.

Per-op times come from benchmark_model's op profiling for .tflite (Android; ssh boards with `benchmark_model:`
in their target file) and from onnxruntime's profiler for .onnx. They are summed per op type (CONV_2D, ADD, ...)
and matched by type, and by node name for the single nodes; an op "grew" when its time rose by more than the
gate's max slowdown of its own baseline time and by at least GROWTH_FLOOR of the model's total op time (so a
0.001 ms op doubling is not named).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from edgekit.profiling.benchmark_model import op_type_totals

GROWTH_FLOOR = 0.01  # of the baseline's summed op time
MOST_NAMED = 5


@dataclass(frozen=True)
class OpGrowth:
    """One op type (or node) whose time per inference grew."""

    op: str
    baseline_ms: float
    current_ms: float

    @property
    def change_ms(self) -> float:
        return self.current_ms - self.baseline_ms

    def to_json(self) -> dict[str, Any]:
        change = self.change_ms / self.baseline_ms if self.baseline_ms > 0 else None
        return {"op": self.op, "baseline_ms": self.baseline_ms, "current_ms": self.current_ms,
                "change_ms": round(self.change_ms, 6), "change": change}

    def describe(self) -> str:
        """`CONV_2D +1.23 ms (+15%)`, or `(new)` for an op type the baseline did not have."""
        relative = f"{self.change_ms / self.baseline_ms:+.0%}" if self.baseline_ms > 0 else "new"
        return f"{self.op} +{self.change_ms:.3g} ms ({relative})"


def op_times(profile: dict[str, Any]) -> Optional[dict[str, float]]:
    """{op type: summed ms per inference} of a profile, or None when it has no per-op times."""
    types = profile.get("op_types")
    if not types and profile.get("op_profile"):
        types = op_type_totals(profile["op_profile"])
    if not types:
        return None
    return {str(entry["node_type"]): float(entry["avg_ms"]) for entry in types}


def node_times(profile: dict[str, Any]) -> dict[str, float]:
    """{"TYPE name": ms per inference} of each node of a profile's op profile."""
    return {f"{row['node_type']} {row['name']}": float(row["avg_ms"]) for row in profile.get("op_profile") or []}


def grown(baseline: dict[str, float], current: dict[str, float], max_slowdown: float) -> list[OpGrowth]:
    """The entries of `current` that grew beyond both thresholds, most grown first (at most MOST_NAMED)."""
    floor = GROWTH_FLOOR * sum(baseline.values())
    found = []
    for op, now in current.items():
        before = baseline.get(op, 0.0)
        if now - before > max(floor, max_slowdown * before):
            found.append(OpGrowth(op, before, now))
    return sorted(found, key=lambda growth: -growth.change_ms)[:MOST_NAMED]


def grown_ops(baseline_profile: dict[str, Any], current_profile: dict[str, Any],
              max_slowdown: float) -> Optional[dict[str, list[OpGrowth]]]:
    """{"types": [...], "nodes": [...]} of the ops that grew, or None when a side has no per-op times."""
    before, after = op_times(baseline_profile), op_times(current_profile)
    if before is None or after is None:
        return None
    return {"types": grown(before, after, max_slowdown),
            "nodes": grown(node_times(baseline_profile), node_times(current_profile), max_slowdown)}


def keep_op_times(recorded: dict[str, Any], timed: dict[str, Any]) -> dict[str, Any]:
    """A profile timed now, with the recorded per-op times when it has none of its own (interleaved re-timing
    runs edgekit's profiler only; the per-op times stay those of the recorded measurement)."""
    if timed.get("op_profile") or not recorded.get("op_profile"):
        return timed
    kept = {key: recorded[key] for key in ("op_profile", "op_types", "op_profile_source") if key in recorded}
    return {**timed, **kept, "op_profile_recorded": True}
