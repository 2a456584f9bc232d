"""Terminal output: one rich console for messages and progress (stderr), tables and JSON on stdout.

Colours are off when the stream is not a terminal (rich decides), and when NO_COLOR is set.
"""

from __future__ import annotations

import json
import re
import sys
from contextlib import contextmanager
from typing import Any, Iterator, Optional

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from edgekit.safetext import finite_json, printable, printable_message

_state = {"quiet": False}

# Messages and progress go to stderr so `--json` output on stdout stays machine-readable.
# Piped into a file or a CI log, rich would assume 80 columns and fold every table; use a wide page instead.
_PIPE_WIDTH = 160
# A file name that is not UTF-8 reaches Python as lone surrogates (os.fsdecode: b"\xe8" -> "\udce8"), which no
# terminal encoding can print: shown as `\xe8`, as Python's repr would, instead of failing the whole command.
_UNDECODABLE_BYTE = re.compile("[\udc80-\udcff]")


def _undecodable_bytes_shown(text: str) -> str:
    """`text` with each byte that was not UTF-8 in a file name shown as `\\xNN` (and nothing else changed: the
    rendered buffer holds rich's own colour escapes)."""
    return _UNDECODABLE_BYTE.sub(lambda match: f"\\x{ord(match.group()) - 0xDC00:02x}", text)


class _Console(Console):
    """rich's Console, printing undecodable file-name bytes as `\\xNN` instead of raising; a last guard behind
    `printable`, which every name from a file goes through."""

    def _render_buffer(self, buffer) -> str:
        return _undecodable_bytes_shown(super()._render_buffer(buffer))


err = _Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else _PIPE_WIDTH)
out = _Console(highlight=False, width=None if sys.stdout.isatty() else _PIPE_WIDTH)


def set_quiet(quiet: bool) -> None:
    """In quiet mode only errors and the final result are printed."""
    _state["quiet"] = quiet


def is_quiet() -> bool:
    return _state["quiet"]


def cell(value: Any) -> str:
    """A value from a file, ready for a rich table cell or a markup message: control characters escaped (see
    edgekit.safetext) and rich markup escaped (a name like `[/b]` would otherwise end the cell's markup)."""
    return escape(printable(value))


def info(message: str) -> None:
    """A progress message (suppressed by --quiet). It may hold rich markup; names in it go through `cell`."""
    if not _state["quiet"]:
        err.print(printable_message(message))


def warn(message: str) -> None:
    """Something the user should know; printed even in quiet mode. Plain text (no markup)."""
    err.print(f"[yellow]warning:[/yellow] {escape(printable_message(message))}")


def error(message: str) -> None:
    """The one message of a failed command. Plain text: the names it quotes come from files, so neither markup
    nor terminal control characters in them take effect."""
    err.print(f"[bold red]error:[/bold red] {escape(printable_message(message))}", markup=True, highlight=False,
              soft_wrap=True)


class Steps:
    """A progress bar over a known number of steps (epochs, artifacts, runs); a no-op when quiet."""

    def __init__(self, progress: Optional[Progress], description: str, total: int):
        self._progress = progress
        self._task = progress.add_task(description, total=total) if progress else None

    def advance(self, steps: int = 1, description: Optional[str] = None) -> None:
        if self._progress is not None:
            if description is not None:
                self._progress.update(self._task, description=description)
            self._progress.advance(self._task, steps)


@contextmanager
def steps(description: str, total: int) -> Iterator[Steps]:
    """Show a progress bar for `total` steps while the block runs."""
    if _state["quiet"] or not err.is_terminal:
        # A progress bar in a log file is noise; the stage messages say what happened.
        yield Steps(None, description, total)
        return
    progress = Progress(
        TextColumn("  {task.description}"),
        BarColumn(bar_width=30),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    with progress:
        yield Steps(progress, description, total)


def write_json(document: Any) -> None:
    """`document` as indented JSON on stdout; NaN and infinities are written as the strings "NaN", "Infinity"
    and "-Infinity" (edgekit.safetext.finite_json), so the output is always valid JSON."""
    write_stdout(json.dumps(finite_json(document), indent=2, allow_nan=False))


def write_stdout(text: str) -> None:
    """Plain text on stdout (JSON for scripts), untouched by rich."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()
