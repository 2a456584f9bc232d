"""Who holds a device's lock, and waiting for it: the owner record every lock holds, how a waiter reads it
(Holder), the deadline of the wait, and the messages a waiting process prints."""

from __future__ import annotations

import json
import math
import os
import time
import uuid
from dataclasses import dataclass
from typing import Optional

from edgekit import console
from edgekit.base.process import HOST, command_line, user_name
from edgekit.errors import DeviceBusy
from edgekit.safetext import printable

# Bounds of the numbers an owner record may hold: Linux pids stay below 2**22; `since` is a Unix time before the
# year 3000 (time.localtime overflows not far beyond).
_MAX_PID = 1 << 22
_MAX_SINCE = 32_503_680_000.0


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, from its owner record; `age_s` is the time since its last heartbeat (device locks).

    The record is written by whoever holds the lock, on a board other users share: every field is checked
    before use, and one of the wrong type or out of range reads as absent (an unknown holder), never as an
    error that would stop every other run.
    """

    record: dict
    age_s: Optional[float] = None
    text: str = ""

    @classmethod
    def parse(cls, text: str, age_s: Optional[float] = None) -> "Holder":
        try:
            record = json.loads(text) if text.strip() else {}
        except (json.JSONDecodeError, RecursionError):
            record = {}
        if age_s is not None and not (math.isfinite(age_s) and age_s >= 0):
            age_s = None  # a clock that says nothing useful: no age, so no staleness by age either
        return cls(record if isinstance(record, dict) else {}, age_s, text.strip())

    def _text(self, key: str) -> Optional[str]:
        value = self.record.get(key)
        return value if isinstance(value, str) and value else None

    @property
    def token(self) -> Optional[str]:
        return self._text("token")

    @property
    def host(self) -> Optional[str]:
        return self._text("host")

    @property
    def pid(self) -> Optional[int]:
        """A process id, or None: pids are positive, and 0 or a negative number would name a process group to
        the liveness check."""
        pid = self.record.get("pid")
        return pid if isinstance(pid, int) and not isinstance(pid, bool) and 0 < pid <= _MAX_PID else None

    @property
    def since(self) -> Optional[float]:
        since = self.record.get("since")
        if isinstance(since, bool) or not isinstance(since, (int, float)) or not 0 <= since <= _MAX_SINCE:
            return None
        return float(since)

    def describe(self) -> str:
        """`pid 4242 on ci-2 (edgekit build --device pi@shelf-1), since 12:01:02, last heartbeat 3 s ago`."""
        if not self.record:
            who = "an owner that has not written its record yet"
        else:
            since = "an unknown time" if self.since is None else time.strftime("%H:%M:%S", time.localtime(self.since))
            who = (f"pid {self.pid or '?'} on {printable(self.host or '?')} as {printable(self._text('user') or '?')} "
                   f"({printable(self._text('command') or '?')}), since {since}")
        return who if self.age_s is None else f"{who}, last heartbeat {self.age_s:.0f} s ago"


def owner_record() -> dict:
    """What a lock says about its holder: a unique token, and the pid, host, user and command for people."""
    return {"token": uuid.uuid4().hex, "pid": os.getpid(), "host": HOST, "user": user_name(),
            "command": command_line(), "since": round(time.time(), 3)}


class Deadline:
    """The end of waiting for a device, shared by its two locks; no timeout waits without end."""

    def __init__(self, timeout_s: Optional[float]):
        self.timeout_s = timeout_s
        self._end = None if timeout_s is None else time.monotonic() + timeout_s

    def expired(self) -> bool:
        return self._end is not None and time.monotonic() >= self._end

    def pause(self, seconds: float) -> None:
        """Sleep `seconds`, or until the deadline when that comes first."""
        if self._end is not None:
            seconds = min(seconds, max(0.0, self._end - time.monotonic()))
        time.sleep(seconds)


class WaitReporter:
    """Says once what a process waits for, and again only when the holder changes."""

    def __init__(self, address: str, deadline: Deadline):
        self.address = address
        self.deadline = deadline
        self.waited_since: Optional[float] = None
        self._told: Optional[tuple] = None

    def waiting(self, holder: Holder, where: str) -> None:
        """Report the holder, or raise when the deadline has passed.

        Raises:
            DeviceBusy: `--lock-timeout` ran out.
        """
        if self.waited_since is None:
            self.waited_since = time.monotonic()
        if self.deadline.expired():
            limit = self.deadline.timeout_s
            raise DeviceBusy(f"{self.address}: busy: the device is held by {holder.describe()} (lock {where}); "
                             f"gave up after {limit:g} s (--lock-timeout {limit:g})")
        identity = (where, holder.token, holder.pid, holder.host)
        if identity != self._told:
            self._told = identity
            bound = ("without a time limit (--lock-timeout bounds the wait)" if self.deadline.timeout_s is None
                     else f"up to {self.deadline.timeout_s:g} s (--lock-timeout)")
            console.err.print(f"waiting for {self.address}: held by {holder.describe()} (lock {where}); "
                              f"waiting {bound}", markup=False, soft_wrap=True)

    @property
    def waited_s(self) -> float:
        return 0.0 if self.waited_since is None else time.monotonic() - self.waited_since

