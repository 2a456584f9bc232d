"""The Pareto front of the measured trials: accuracy (higher is better) against p90 latency and bytes (lower)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Point:
    """A measured trial on the three axes."""

    id: str
    accuracy: float
    p90_ms: float
    bytes: int

    def dominates(self, other: "Point") -> bool:
        """At least as good on every axis and better on one."""
        at_least = self.accuracy >= other.accuracy and self.p90_ms <= other.p90_ms and self.bytes <= other.bytes
        better = self.accuracy > other.accuracy or self.p90_ms < other.p90_ms or self.bytes < other.bytes
        return at_least and better


def pareto_front(points: list[Point]) -> list[str]:
    """The ids of the points no other point dominates, most accurate first (then fastest)."""
    front = [point for point in points if not any(other.dominates(point) for other in points)]
    return [point.id for point in sorted(front, key=lambda point: (-point.accuracy, point.p90_ms, point.bytes))]
