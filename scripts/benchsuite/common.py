"""What every benchmark part receives (BenchContext) and returns (PartResult), and machine facts."""

from __future__ import annotations

import datetime
import os
import platform
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

# The packages whose versions shape the numbers; recorded with every part's results.
VERSIONED_PACKAGES = ("edgekit", "tensorflow", "tf-keras", "ai-edge-litert", "numpy", "scipy", "onnxruntime")


@dataclass(frozen=True)
class BenchContext:
    """`root`: the repository; `scratch`: an empty folder the part may fill (removed afterwards);
    `quick`: run a small version that checks the part works, not one whose numbers mean anything;
    `options`: the `--set PART.KEY=VALUE` settings of the command line (each part documents its own)."""

    root: Path
    scratch: Path
    quick: bool = False
    options: dict[str, str] = field(default_factory=dict)


@dataclass
class PartResult:
    """`table`: Markdown, printed and kept (so the README can quote it); `results`: the numbers, as JSON."""

    table: str
    results: dict[str, Any] = field(default_factory=dict)


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table: a header row, a rule, then the rows."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_info() -> dict[str, Any]:
    """CPU model, cores, load, Python and package versions, and the date: what a number is only true for."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "machine": platform.machine(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": {name: _version(name) for name in VERSIONED_PACKAGES},
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
