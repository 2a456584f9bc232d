"""Ctrl-C that is not lost.

Python raises KeyboardInterrupt wherever the main thread happens to be when SIGINT arrives. When that is inside
a finalizer (a `__del__` or weakref callback: TensorFlow runs many while it builds and trains models), Python
prints "Exception ignored in ..." and carries on, and a build interrupted at the start of QAT went on to the end
(seen twice in CI runs of tests/integration/test_resume.py). So the command line's handler also records the
interrupt, and the long loops (every training batch, every stage) call `check()`, which raises it again.
"""

from __future__ import annotations

import signal
import threading

_pending = False


def install() -> None:
    """Handle SIGINT this way in this process (from the main thread; elsewhere Python's own handler stays)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _on_interrupt)


def _on_interrupt(signum, frame) -> None:
    global _pending
    _pending = True
    raise KeyboardInterrupt


def check() -> None:
    """Raise KeyboardInterrupt if one was received (and perhaps swallowed) since `install()`.

    Raises:
        KeyboardInterrupt: Ctrl-C (SIGINT) was received.
    """
    if _pending:
        raise KeyboardInterrupt
