"""One build per build folder at a time: an flock'd lock file that names its owner."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

from edgekit.errors import BuildLocked

# The latest Unix time a lock record may hold (the year 3000): time.localtime overflows not far beyond.
_LAST_TIME = 32_503_680_000.0


class BuildLock:
    """Held for the whole build. The kernel releases an flock when its process dies, even by SIGKILL,
    so a killed build never leaves the folder locked; the pid inside is only for the message."""

    def __init__(self, path: Path):
        self.path = path
        self._handle = None

    def acquire(self) -> None:
        """Take the lock, or refuse at once, naming the build that holds it.

        Raises:
            BuildLocked: another process holds it.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8", errors="replace")  # any bytes: the record is only shown
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = _owner(handle.read())
            handle.close()
            raise BuildLocked(
                f"{self.path.parent.parent} is being built by another edgekit process ({owner}); "
                f"wait for it to finish, or build into another folder with --out"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
                                 "argv": sys.argv}))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> "BuildLock":
        self.acquire()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()


def _owner(text: str) -> str:
    """The holder in words, from the record it wrote; fields of the wrong type or out of range read as unknown."""
    try:
        record = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return "owner unknown"
    if not isinstance(record, dict):
        return "owner unknown"
    pid, host, started = record.get("pid"), record.get("host"), record.get("started")
    pid = pid if isinstance(pid, int) and not isinstance(pid, bool) and pid > 0 else "?"
    host = host if isinstance(host, str) else "?"
    if isinstance(started, (int, float)) and not isinstance(started, bool) and 0 <= started <= _LAST_TIME:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started))
    else:
        started = "at an unknown time"
    return f"pid {pid} on {host}, started {started}"


def process_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this machine (another user's counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
