"""Terminal output: one rich console for messages and progress (stderr), tables and JSON on stdout.

Colours are off when the stream is not a terminal (rich decides), and when NO_COLOR is set.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator, Optional

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

_state = {"quiet": False}

# Messages and progress go to stderr so `--json` output on stdout stays machine-readable.
# Piped into a file or a CI log, rich would assume 80 columns and fold every table; use a wide page instead.
_PIPE_WIDTH = 160
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else _PIPE_WIDTH)
out = Console(highlight=False, width=None if sys.stdout.isatty() else _PIPE_WIDTH)


def set_quiet(quiet: bool) -> None:
    """In quiet mode only errors and the final result are printed."""
    _state["quiet"] = quiet


def is_quiet() -> bool:
    return _state["quiet"]


def info(message: str) -> None:
    """A progress message (suppressed by --quiet)."""
    if not _state["quiet"]:
        err.print(message)


def warn(message: str) -> None:
    """Something the user should know; printed even in quiet mode.

    The message is plain text, never markup: `exclude: [conv1]` must print as written.
    """
    err.print(Text.assemble(("warning:", "yellow"), " ", message))


def error(message: str) -> None:
    """The one message of a failed command (plain text, never read as markup)."""
    err.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True)


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


def write_stdout(text: str) -> None:
    """Plain text on stdout (JSON for scripts), untouched by rich."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()
