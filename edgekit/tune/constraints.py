"""The budget a tuned model must fit: measured p90 latency, file bytes, peak memory and accuracy."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Optional

from edgekit.errors import ConfigError


@dataclass(frozen=True)
class Miss:
    """One constraint a candidate misses: its limit and what was measured."""

    constraint: str
    limit: float
    measured: float

    def to_dict(self) -> dict[str, Any]:
        return {"constraint": self.constraint, "limit": self.limit, "measured": self.measured}

    def excess(self) -> float:
        """How far past the limit, as a fraction of it (0.2: 20 % over a maximum, or 20 % under a minimum)."""
        scale = abs(self.limit) or 1.0
        if self.constraint.startswith("min_"):
            return (self.limit - self.measured) / scale
        return (self.measured - self.limit) / scale

    def describe(self) -> str:
        what, unit = DESCRIPTIONS[self.constraint]
        relation = "<" if self.constraint.startswith("min_") else ">"
        return f"{what} {_number(self.measured)}{unit} {relation} {_number(self.limit)}{unit}"


# constraint -> (what it limits, unit), for messages
DESCRIPTIONS = {
    "max_latency_ms": ("p90 latency", " ms"),
    "max_bytes": ("file size", " bytes"),
    "max_ram_mb": ("peak memory", " MB"),
    "min_accuracy": ("accuracy", ""),
    "max_accuracy_drop": ("accuracy drop from the default build's float model", ""),
}


@dataclass(frozen=True)
class Measured:
    """What a trial measured (None: not measured)."""

    accuracy: Optional[float] = None
    bytes: Optional[int] = None
    p90_ms: Optional[float] = None
    peak_memory_mb: Optional[float] = None


@dataclass(frozen=True)
class Constraints:
    """Limits a candidate must meet; None: no limit."""

    max_latency_ms: Optional[float] = None
    max_bytes: Optional[int] = None
    max_ram_mb: Optional[float] = None
    min_accuracy: Optional[float] = None
    max_accuracy_drop: Optional[float] = None

    def __post_init__(self):
        checks = {"max_latency_ms": (0, None), "max_bytes": (0, None), "max_ram_mb": (0, None),
                  "min_accuracy": (None, 1), "max_accuracy_drop": (None, 1)}
        for name, (above, at_most) in checks.items():
            value = getattr(self, name)
            if value is None:
                continue
            flag = "--" + name.replace("_", "-")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
                raise ConfigError(f"{flag}: expected a number, got {value!r}")
            if above is not None and value <= above:
                raise ConfigError(f"{flag} must be above 0, got {value:g}")
            if at_most is not None and not 0 <= value <= at_most:
                raise ConfigError(f"{flag} is a fraction from 0 to 1 (0.9 for 90 %), got {value:g}")
        if self.min_accuracy is not None and self.max_accuracy_drop is not None:
            raise ConfigError("give --min-accuracy or --max-accuracy-drop, not both (one limits accuracy, the other "
                              "its drop from the default build's float model)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def check(self, measured: Measured, reference_accuracy: Optional[float], *,
              skip: tuple[str, ...] = ()) -> list[Miss]:
        """The constraints `measured` misses. A quantity not measured cannot miss (peak memory where the profiler
        reads none). `reference_accuracy` is the default build's float model, for max_accuracy_drop."""
        misses = []
        maxima = {"max_latency_ms": measured.p90_ms, "max_bytes": measured.bytes,
                  "max_ram_mb": measured.peak_memory_mb}
        for name, value in maxima.items():
            limit = getattr(self, name)
            if name not in skip and limit is not None and value is not None and value > limit:
                misses.append(Miss(name, limit, value))
        if "min_accuracy" not in skip and self.min_accuracy is not None and measured.accuracy is not None \
                and measured.accuracy < self.min_accuracy:
            misses.append(Miss("min_accuracy", self.min_accuracy, measured.accuracy))
        if ("max_accuracy_drop" not in skip and self.max_accuracy_drop is not None and measured.accuracy is not None
                and reference_accuracy is not None):
            drop = reference_accuracy - measured.accuracy
            # a hair of float rounding must not turn an exact limit into a miss
            if drop > self.max_accuracy_drop + 1e-9:
                misses.append(Miss("max_accuracy_drop", self.max_accuracy_drop, round(drop, 6)))
        return misses


def distance(misses: list[Miss]) -> float:
    """How far a candidate is from fitting: the sum of its relative excesses (0 when it fits)."""
    return sum(max(miss.excess(), 0.0) for miss in misses)


def _number(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"
