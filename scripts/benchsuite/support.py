"""What the pipeline, rebuild, artifacts, profiler and training parts share: timed runs, configs, tables, spread."""

from __future__ import annotations

import copy
import os
import shutil
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
# Scratch space of the benchmark parts; build/ is ignored by git.
WORK_ROOT = ROOT / "build" / "bench"
PYTHON = Path(sys.executable)
EDGEKIT = PYTHON.parent / "edgekit"


@dataclass(frozen=True)
class Timed:
    """A finished child process: wall seconds, CPU seconds (user + system of it and its children), output."""

    wall_s: float
    cpu_s: float
    returncode: int
    stdout: str
    stderr: str


def run_timed(command: list[str], *, cwd: Path, env: Optional[dict[str, str]] = None) -> Timed:
    """Run `command` (no shell) and time it; CPU time comes from the kernel's accounting of the child.

    Raises:
        RuntimeError: the command failed; its last lines are in the message.
    """
    started = time.perf_counter()
    before = os.times()
    completed = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    if completed.returncode != 0:
        tail = "\n".join((completed.stdout + completed.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"{' '.join(command)} exited with {completed.returncode}:\n{tail}")
    return Timed(wall, cpu, completed.returncode, completed.stdout, completed.stderr)


def fresh_folder(part: str, name: str) -> Path:
    """An empty folder build/bench/<part>/<name> (removed first when it exists)."""
    folder = WORK_ROOT / part / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def example_config() -> dict[str, Any]:
    """examples/digits/edgekit.yaml as a dict (a fresh copy each call)."""
    return copy.deepcopy(yaml.safe_load(EXAMPLE_CONFIG.read_text()))


def write_config(folder: Path, config: dict[str, Any]) -> Path:
    """Write `config` as folder/edgekit.yaml; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "edgekit.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def edgekit_build(folder: Path, *extra: str) -> Timed:
    """`edgekit build --quiet` in `folder` (its edgekit.yaml, build/host), as a user runs it."""
    return run_timed([str(EDGEKIT), "build", "--quiet", *extra], cwd=folder)


def manifest_of(folder: Path) -> dict[str, Any]:
    import json

    return json.loads((folder / "build" / "host" / "manifest.json").read_text())


def artifact(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    """The manifest's artifact called `name`."""
    for entry in manifest["artifacts"]:
        if entry["name"] == name:
            return entry
    raise KeyError(f"the manifest has no artifact '{name}'; it has {[a['name'] for a in manifest['artifacts']]}")


def stage_seconds(manifest: dict[str, Any]) -> dict[str, float]:
    return {stage["name"]: stage["seconds"] for stage in manifest["stages"]}


# ------------------------------------------------------------------------------------------------ statistics
def spread(values: Iterable[float]) -> dict[str, float]:
    """Median, min, max and count of repeated measurements."""
    values = list(values)
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def spread_text(summary: dict[str, float], spec: str = ".3f") -> str:
    """'1.234 (1.1–1.3, n=3)', or just the value for one measurement."""
    if summary["n"] == 1:
        return format(summary["median"], spec)
    return f"{summary['median']:{spec}} ({summary['min']:{spec}}–{summary['max']:{spec}}, n={summary['n']})"


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages: how busy the machine was (it has os.cpu_count() cores)."""
    return [round(value, 2) for value in os.getloadavg()]


def busy_note(before: list[float], after: list[float]) -> str:
    cores = os.cpu_count() or 1
    peak = max(before[0], after[0])
    state = "busy (other work shared the cores)" if peak > 0.5 * cores + 0.5 else "mostly idle"
    return f"load average {before[0]:.2f} → {after[0]:.2f} on {cores} cores: {state}"


# ------------------------------------------------------------------------------------------------ output
def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """A plain text table (left-aligned first column, right-aligned others)."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(columns[index]), *(len(row[index]) for row in cells)) if cells else len(columns[index])
              for index in range(len(columns))]

    def line(row: list[str]) -> str:
        return "  ".join(cell.ljust(width) if index == 0 else cell.rjust(width)
                         for index, (cell, width) in enumerate(zip(row, widths)))

    print(f"\n{title}")
    print(line(columns))
    print("  ".join("-" * width for width in widths))
    for row in cells:
        print(line(row))
    sys.stdout.flush()


def target_mark(ok: Optional[bool]) -> str:
    return "-" if ok is None else ("✅" if ok else "❌")


def kib(size: int) -> str:
    return f"{size / 1024:.1f} KiB" if size < 1024 * 1024 else f"{size / 1024 / 1024:.2f} MiB"


def note(text: str) -> None:
    """A progress line on stderr (the tables go to stdout)."""
    print(f"bench: {text}", file=sys.stderr, flush=True)
