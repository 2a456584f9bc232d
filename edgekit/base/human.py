"""Numbers as people read them in tables and messages: sizes in binary units, durations in s/min/h."""

from __future__ import annotations

from typing import Optional


def human_bytes(count: Optional[int]) -> str:
    """1234567 -> '1.2 MiB'; None -> '-'."""
    if count is None:
        return "-"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
