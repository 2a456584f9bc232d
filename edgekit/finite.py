"""Numbers read from files, checked: a JSON number (not a boolean), finite, within the range its field allows.

Python's json module reads `NaN`, `Infinity` and `1e999` as floats; a comparison such as `value > 0` lets
infinity through and is False for NaN, so every reader checks with these helpers instead.
"""

from __future__ import annotations

import math
from typing import Any

# A latency sample outside this range is a damaged or forged file, not a measurement: the profilers read clocks
# with nanosecond resolution (1e-6 ms), and no single inference of a profile takes a day. The bounds also keep
# every median ratio the gate computes finite.
MIN_SAMPLE_MS = 1e-6
MAX_SAMPLE_MS = 86_400_000.0


def is_number(value: Any) -> bool:
    """An int or float from JSON; True and False are not numbers here."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_finite(value: Any, low: float = -math.inf, high: float = math.inf) -> bool:
    """A finite number from `low` to `high` (both included)."""
    return is_number(value) and math.isfinite(value) and low <= value <= high


def is_latency(value: Any) -> bool:
    """A latency sample the gate and the report can use: finite, from MIN_SAMPLE_MS to MAX_SAMPLE_MS."""
    return is_finite(value, MIN_SAMPLE_MS, MAX_SAMPLE_MS)


def is_count(value: Any) -> bool:
    """A whole number of something (bytes, runs): an int, zero or more."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
