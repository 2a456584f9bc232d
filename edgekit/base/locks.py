"""An flock'd file that names its holder: the core of the build folder's lock and of a device's lock on this
machine.

The kernel releases an flock when its process dies, even by SIGKILL, so a killed holder never leaves the file
locked; the owner record written into the file is only there to tell a waiter who holds it.
"""

from __future__ import annotations

import fcntl
import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Optional


class OwnedFileLock(ABC):
    """One flock on `path`, taken without blocking; the holder writes its owner record into the file.

    Subclasses decide what an occupied lock means: refuse at once (a build folder) or wait (a device).
    """

    def __init__(self, path: Path):
        self.path = path
        self._handle = None

    def try_acquire(self, record: dict[str, Any]) -> Optional[str]:
        """Take the lock and write `record` (as JSON) into its file; when another process holds it, return the
        holder's record as its file holds it (any text: it is only shown) and leave the lock alone.

        Returns:
            None once the lock is ours, else the text of the holder's record.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8", errors="replace")  # any bytes: the record is only shown
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read()
            handle.close()
            return holder
        except BaseException:
            handle.close()
            raise
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(record))
        handle.flush()
        self._handle = handle
        return None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._handle is not None

    def release(self) -> None:
        """Give the lock up (the file stays, with the last record in it); nothing happens when it is not held."""
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    @abstractmethod
    def acquire(self) -> None:
        """Take the lock; what a lock held by another process means (refuse, or wait) is the subclass's."""

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()
