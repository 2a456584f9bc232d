"""The fleet summary: one model's median latency on each device of a pool, and how far the devices agree."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any, Optional

from rich.table import Table

from edgekit import console
from edgekit.safetext import printable_message


def fleet_statistics(medians: dict[str, Optional[float]]) -> Optional[dict[str, Any]]:
    """Median of the devices' medians, and the spread: min and max of the medians, their difference, and that
    difference relative to the median of medians.

    Args:
        medians: median latency (ms) by device address; None where a device reports no median (some
            benchmark_model builds), left out of the statistics.

    Returns:
        None when no device has a median.
    """
    known = {address: value for address, value in medians.items() if value is not None}
    if not known:
        return None
    middle = statistics.median(known.values())
    low, high = min(known.values()), max(known.values())
    return {
        "devices": len(known),
        "median_of_medians_ms": middle,
        "min_median_ms": low,
        "max_median_ms": high,
        "spread_ms": high - low,
        # 0.25: the slowest device's median is a quarter of the fleet's median above the fastest one's
        "relative_spread": (high - low) / middle if middle > 0 else None,
        "fastest": min(known, key=known.__getitem__),
        "slowest": max(known, key=known.__getitem__),
        "median_ms_by_device": dict(medians),
    }


def fleet_by_name(profiles_by_device: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Optional[dict[str, Any]]]:
    """Fleet statistics of each model (or artifact), from {address: {name: profile}}, in first-seen order."""
    names: list[str] = []
    for profiles in profiles_by_device.values():
        names += [name for name in profiles if name not in names]
    return {name: fleet_statistics({address: (profiles.get(name) or {}).get("median_ms")
                                    for address, profiles in profiles_by_device.items()})
            for name in names}


def profiles_by_model(profiles: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A device's profiles by model file name (how `edgekit regress` names them too)."""
    return {Path(profile["model"]["path"]).name: profile for profile in profiles}


def print_fleet_table(target: str, fleet: dict[str, Optional[dict[str, Any]]], addresses: list[str],
                      failures: list[dict[str, str]], *, names: str = "model") -> None:
    """A table: each model's median on every device that succeeded (`addresses`), the median of medians and the
    spread; then the devices that failed, each with its error."""
    title = (f"fleet · {console.cell(target)} · {len(addresses)} of {len(addresses) + len(failures)} devices"
             + (f" ({len(failures)} failed)" if failures else ""))
    table = Table(title=title, title_justify="left")
    table.add_column(names, justify="left")
    for address in addresses:
        table.add_column(f"{console.cell(address)} ms", justify="right")
    for column in ("median of medians", "min–max", "spread"):
        table.add_column(column, justify="right")
    for name, stats in fleet.items():
        if stats is None:
            table.add_row(console.cell(name), *["-"] * (len(addresses) + 3))
            continue
        by_device = stats["median_ms_by_device"]
        spread = stats["relative_spread"]
        table.add_row(
            console.cell(name),
            *[_ms(by_device.get(address)) for address in addresses],
            _ms(stats["median_of_medians_ms"]),
            f"{_ms(stats['min_median_ms'])}–{_ms(stats['max_median_ms'])}",
            "-" if spread is None else f"{spread:.1%}",
        )
    console.out.print(table)
    for failure in failures:
        console.out.print(printable_message(f"failed: {failure['address']}: {failure['error']}"), markup=False,
                          soft_wrap=True)


def _ms(value: Optional[float]) -> str:
    return "-" if value is None else format(value, ".4g")
