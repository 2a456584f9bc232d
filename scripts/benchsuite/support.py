"""What the pipeline, rebuild, artifacts, profiler and training parts share: timed child processes,
edgekit.yaml variants of the example, manifests, spreads of repeated measurements, table cells."""

from __future__ import annotations

import copy
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = ROOT / "examples" / "digits" / "edgekit.yaml"
PYTHON = Path(sys.executable)
EDGEKIT = PYTHON.parent / "edgekit"


@dataclass(frozen=True)
class Timed:
    """A finished child process: wall seconds, CPU seconds (user + system of it and its children), output."""

    wall_s: float
    cpu_s: float
    stdout: str
    stderr: str = ""

    def lock_wait_s(self) -> float:
        """Seconds an edgekit process waited for the profiling device (here: this machine) while another
        edgekit held it: part of its wall time that is not its own work."""
        return sum(float(match) for match in re.findall(r"free after ([0-9.]+) s of waiting", self.stderr))


def run_timed(command: list[str], *, cwd: Path) -> Timed:
    """Run `command` (no shell) and time it; CPU time is the kernel's accounting of the child.

    Raises:
        RuntimeError: the command failed; its last lines are in the message.
    """
    before = os.times()
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    if completed.returncode != 0:
        tail = "\n".join((completed.stdout + completed.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"{' '.join(command)} exited with {completed.returncode}:\n{tail}")
    return Timed(wall, cpu, completed.stdout, completed.stderr)


def folder(base: Path, name: str) -> Path:
    """base/name, created (the parts work in the scratch folder the suite gives them)."""
    path = base / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def example_config() -> dict[str, Any]:
    """examples/digits/edgekit.yaml as a dict (a fresh copy each call)."""
    return copy.deepcopy(yaml.safe_load(EXAMPLE_CONFIG.read_text()))


def write_config(directory: Path, config: dict[str, Any]) -> Path:
    """Write `config` as directory/edgekit.yaml; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "edgekit.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def edgekit_build(directory: Path) -> Timed:
    """`edgekit build --quiet` in `directory` (its edgekit.yaml, into build/host), as a user runs it."""
    return run_timed([str(EDGEKIT), "build", "--quiet"], cwd=directory)


def manifest_of(directory: Path) -> dict[str, Any]:
    """The host build's manifest in `directory`, read (and checked) by edgekit's one reader, as JSON data."""
    import edgekit

    return edgekit.load_manifest(directory / "build" / "host").document()


def artifact(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    """The manifest's artifact called `name`."""
    for entry in manifest["artifacts"]:
        if entry["name"] == name:
            return entry
    raise KeyError(f"the manifest has no artifact '{name}'; it has {[a['name'] for a in manifest['artifacts']]}")


def stage_seconds(manifest: dict[str, Any]) -> dict[str, float]:
    return {stage["name"]: stage["seconds"] for stage in manifest["stages"]}


def rotated(items: tuple, round_index: int) -> tuple:
    """`items` starting at position round_index (mod its length): each kind goes first in turn."""
    shift = round_index % len(items)
    return items[shift:] + items[:shift]


# ------------------------------------------------------------------------------------------------ statistics
def spread(values: Iterable[float]) -> dict[str, float]:
    """Median, min, max and count of repeated measurements."""
    values = list(values)
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def spread_text(summary: dict[str, float], spec: str = ".3f") -> str:
    """'1.234 (1.1–1.3)' for several measurements, the value alone for one."""
    if summary["n"] == 1:
        return format(summary["median"], spec)
    return f"{summary['median']:{spec}} ({summary['min']:{spec}}–{summary['max']:{spec}})"


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages: how busy the machine was."""
    return [round(value, 2) for value in os.getloadavg()]


def load_note(before: list[float], after: list[float]) -> str:
    """'load 3.9 → 4.0 on 2 cores: busy', so a reader knows how much to trust a wall time."""
    cores = os.cpu_count() or 1
    busy = max(before[0], after[0]) > 0.5 * cores + 0.5
    return (f"load average {before[0]:.1f} → {after[0]:.1f} on {cores} cores"
            f"{': busy, other work shared the cores' if busy else ''}")


# ------------------------------------------------------------------------------------------------ output
def mark(ok: Optional[bool]) -> str:
    """The suite's status legend."""
    return "-" if ok is None else ("✅" if ok else "❌")


def note(text: str) -> None:
    """A progress line on stderr (the tables are printed by the suite)."""
    print(f"bench: {text}", file=sys.stderr, flush=True)
