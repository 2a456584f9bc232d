"""One build per build folder at a time: an flock'd lock file that names its owner (edgekit.base.locks)."""

from __future__ import annotations

import json
import os
import sys
import time

from edgekit.base.locks import OwnedFileLock
from edgekit.base.process import HOST
from edgekit.errors import BuildLocked

# The latest Unix time a lock record may hold (the year 3000): time.localtime overflows not far beyond.
_LAST_TIME = 32_503_680_000.0


class BuildLock(OwnedFileLock):
    """Held for the whole build. A killed build never leaves the folder locked; the pid inside is only for the
    message."""

    def acquire(self) -> None:
        """Take the lock, or refuse at once, naming the build that holds it.

        Raises:
            BuildLocked: another process holds it.
        """
        holder = self.try_acquire({"pid": os.getpid(), "host": HOST, "started": time.time(), "argv": sys.argv})
        if holder is not None:
            raise BuildLocked(
                f"{self.path.parent.parent} is being built by another edgekit process ({_owner(holder)}); "
                f"wait for it to finish, or build into another folder with --out"
            )

    def __enter__(self) -> "BuildLock":
        self.acquire()
        return self


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
