"""One edgekit process at a time on a device: a lock on this machine, and a lock on the device itself.

The model is the per-key queue of TVM's RPC tracker: whoever wants a device waits until it is free, and is
told who has it. Without a tracker server, the queue lives in two locks, taken in this order:

1. On this machine, an flock on `~/.cache/edgekit/locks/<adapter>-<address>-<hash>.lock` (`$EDGEKIT_LOCK_DIR`
   moves the folder; point several users at one folder to share it). Processes of this machine wait here
   without touching the device. The kernel drops an flock when its process dies, even by SIGKILL.
2. On the device, a folder `<target workdir>/.edgekit-device-lock` made with `mkdir` (atomic on every POSIX
   file system) holding `owner.json` (token, pid, host, user, command, since). This is what makes two CI runners
   that share a board queue instead of colliding. The holder touches `owner.json` every HEARTBEAT_S seconds;
   a waiter asks the device every few seconds (one short command, so waiting barely disturbs the holder).

A device lock is stale, and is removed by the next process that wants the device, when
- its holder ran on this machine (same host name) and its process has ended, or is this very process but
  no longer holds it (a device that dropped mid-run cannot be unlocked by its holder); or
- its owner.json was not touched for STALE_AFTER_S seconds (measured with the device's own clock): a holder
  killed on another machine, or cut off from the device.
Removal renames the folder only if it still holds the owner record that was judged stale, so two waiters
cannot both break one lock and then take two.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import hashlib
import json
import math
import os
import posixpath
import re
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from edgekit import console
from edgekit.adapters import Adapter, ConnectionOptions, open_adapter
from edgekit.config.target import Target
from edgekit.errors import DeviceBusy, DeviceDisconnected, DeviceError, EdgekitError
from edgekit.pipeline.lock import BuildLock, process_alive
from edgekit.safetext import printable

LOCK_DIR_VARIABLE = "EDGEKIT_LOCK_DIR"
DEVICE_LOCK_NAME = ".edgekit-device-lock"
# The holder refreshes its device lock this often; a lock not refreshed for STALE_AFTER_S is abandoned. The
# bound leaves room for a slow link: a dozen missed heartbeats before anyone takes the device over.
HEARTBEAT_S = 10.0
STALE_AFTER_S = 120.0
# Waiting on this machine costs nothing; waiting on a device costs one remote command per poll, so the device
# is asked less and less often, up to every _DEVICE_POLL_MAX_S seconds.
_LOCAL_POLL_S = 0.2
_DEVICE_POLL_FIRST_S = 1.0
_DEVICE_POLL_MAX_S = 5.0
_REMOTE_TIMEOUT_S = 60.0
# Bounds of the numbers an owner record may hold: Linux pids stay below 2**22; `since` is a Unix time before the
# year 3000 (time.localtime overflows not far beyond).
_MAX_PID = 1 << 22
_MAX_SINCE = 32_503_680_000.0
_HOST = socket.gethostname()

# Tokens of the device locks this process holds now (any thread): a lock of ours with another token is stale.
_held_tokens: set[str] = set()
_held_guard = threading.Lock()

# The device side, in POSIX sh (also Android's toybox sh): `sh -c SCRIPT edgekit-lock ACTION LOCK TEXT`.
#   acquire  TEXT=owner record: prints "acquired", or "held AGE" and the holder's owner.json
#   beat     TEXT=our record: touches owner.json if the lock is still ours; prints "ours" or "lost"
#   release  TEXT=our record: removes the lock if it is still ours; prints "released" or "lost"
#   break    TEXT=the record judged stale: removes the lock if it still holds that record
_DEVICE_SCRIPT = r'''
action=$1 lock=$2 text=$3
case $lock in "~/"*) lock="$HOME/${lock#??}" ;; esac
owner="$lock/owner.json"
age() { now=$(date +%s); changed=$(stat -c %Y "$1" 2>/dev/null || echo "$now"); echo $((now - changed)); }
# The owner record as waiters see it and compare it: edgekit writes one short line of printable ASCII, so at most
# 4 KiB of it, without control or non-ASCII bytes and without blanks around it (a record anyone else wrote can
# make the answer neither undecodable nor huge, and still reads back as what a waiter was shown).
shown() { head -c 4096 "$owner" 2>/dev/null | tr -d '\000-\037\177-\377' | sed 's/^ *//; s/ *$//'; }
ours() { [ "$(shown)" = "$text" ]; }
case $action in
acquire)
  mkdir -p "$(dirname "$lock")" || exit 3
  if mkdir "$lock" 2>/dev/null; then
    if printf '%s\n' "$text" > "$owner.partial" && mv -f "$owner.partial" "$owner"; then echo acquired; exit 0; fi
    rm -rf "$lock"; exit 3
  fi
  if [ -f "$owner" ]; then echo "held $(age "$owner")"; shown; else echo "held $(age "$lock")"; fi ;;
beat) if ours && touch -c "$owner"; then echo ours; else echo lost; fi ;;
release) if ours; then rm -rf "$lock" && echo released; else echo lost; fi ;;
break)
  if [ -f "$owner" ] || [ -n "$text" ]; then ours || { echo changed; exit 0; }; fi
  aside="$lock.stale-$$"
  if mv "$lock" "$aside" 2>/dev/null; then rm -rf "$aside"; echo broken; else echo failed; fi ;;
esac
'''


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
    program = Path(sys.argv[0]).name if sys.argv else "python"
    # `python -m edgekit.cli` names cli.py as the program; people know the command as edgekit.
    program = "edgekit" if program in ("cli.py", "__main__.py") else program
    command = " ".join([program, *sys.argv[1:]])
    return {"token": uuid.uuid4().hex, "pid": os.getpid(), "host": _HOST, "user": _user(),
            "command": command if len(command) <= 160 else command[:157] + "...", "since": round(time.time(), 3)}


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no name for this uid (a container): the number says enough
        return str(os.getuid())


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


# ---------------------------------------------------------------------------------------------- this machine
def lock_folder() -> Path:
    """Where the locks of this machine live: $EDGEKIT_LOCK_DIR, else ~/.cache/edgekit/locks."""
    configured = os.environ.get(LOCK_DIR_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "edgekit" / "locks"


def local_lock_path(adapter: str, address: str) -> Path:
    """The flock file of one device, named so a person can tell which (and hashed, so it is unique)."""
    readable = re.sub(r"[^A-Za-z0-9._@-]+", "_", f"{adapter}-{address}")[:80]
    digest = hashlib.sha256(f"{adapter}\0{address}".encode()).hexdigest()[:10]
    return lock_folder() / f"{readable}-{digest}.lock"


class LocalDeviceLock(BuildLock):
    """The flock of one device on this machine; its file holds the owner record for waiters' messages. Unlike a
    build folder's lock, a busy device is waited for."""

    def acquire(self, reporter: Optional[WaitReporter] = None) -> None:
        """Wait until this machine's lock of the device is free and take it.

        Raises:
            DeviceBusy: still held when the reporter's deadline passed.
        """
        reporter = reporter or WaitReporter(str(self.path), Deadline(None))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8", errors="replace")  # any bytes: the record is only shown
        try:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    handle.seek(0)
                    reporter.waiting(Holder.parse(handle.read()), f"{self.path} on this machine")
                    reporter.deadline.pause(_LOCAL_POLL_S)
        except BaseException:
            handle.close()
            raise
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(owner_record()))
        handle.flush()
        self._handle = handle


# ---------------------------------------------------------------------------------------------- the device
class DeviceLock:
    """The lock folder on the device, with a heartbeat thread while it is held."""

    def __init__(self, adapter: Adapter):
        self.adapter = adapter
        self.path = posixpath.join(adapter.target.workdir, DEVICE_LOCK_NAME)
        self.record = owner_record()
        self.text = json.dumps(self.record, sort_keys=True)
        self.lost = False
        self._stop = threading.Event()
        self._heartbeat: Optional[threading.Thread] = None
        self._broken: set[str] = set()  # owner records this process asked the device to remove

    @property
    def where(self) -> str:
        return f"{self.path} on the device"

    def acquire(self, reporter: WaitReporter) -> None:
        """Wait until the device's lock is free (removing a stale one) and take it.

        Raises:
            DeviceBusy: still held when the reporter's deadline passed.
            DeviceError: the lock folder cannot be made, or a stale one cannot be removed.
        """
        delay = _DEVICE_POLL_FIRST_S
        while True:
            first, _, rest = self._device("acquire", self.text).partition("\n")
            if first == "acquired":
                break
            if not first.startswith("held "):
                raise DeviceError(f"{self.adapter.address}: unexpected answer from the device lock {self.path}: "
                                  f"{first!r}")
            holder = Holder.parse(rest, _seconds(first.split()[1:]))
            reason = stale_reason(holder)
            if reason is not None:
                self._break(holder, reason)
                continue
            reporter.waiting(holder, self.where)
            reporter.deadline.pause(delay)
            delay = min(delay * 1.5, _DEVICE_POLL_MAX_S)
        with _held_guard:
            _held_tokens.add(self.record["token"])
        self._heartbeat = threading.Thread(target=self._beat, name=f"edgekit-lock-{self.adapter.address}",
                                           daemon=True)
        self._heartbeat.start()

    def release(self, *, device_gone: bool = False) -> None:
        """Stop the heartbeat and remove the lock folder if it is still ours (not when the device is gone:
        then the lock goes stale, see the module's docstring)."""
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        with _held_guard:
            _held_tokens.discard(self.record["token"])
        if device_gone:
            return
        try:
            answer = self._device("release", self.text)
        except EdgekitError:
            return  # the device went away just now: the lock goes stale
        if answer == "lost":
            self._warn_lost()

    def _break(self, holder: Holder, reason: str) -> None:
        console.warn(f"{self.adapter.address}: removing a stale device lock ({reason}): it was held by "
                     f"{holder.describe()}")
        # The device removes the lock only if it still holds the record judged stale, as the waiter was shown it.
        # Should one never match (a transport that alters what it carries), asking about the same record a second
        # time would loop for ever: stop with a message instead.
        repeated = holder.text in self._broken
        self._broken.add(holder.text)
        answer = "failed" if repeated else self._device("break", holder.text)
        if answer == "failed":
            raise DeviceError(f"{self.adapter.address}: cannot remove the stale lock {self.path} on the device; "
                              f"remove it by hand (rm -r {self.path})")

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                answer = self._device("beat", self.text)
            except EdgekitError:
                continue  # a dropped device fails the profile itself; that error is the one to report
            if answer == "lost":
                self._warn_lost()

    def _warn_lost(self) -> None:
        if not self.lost:
            self.lost = True
            console.warn(f"{self.adapter.address}: another process took over the device lock {self.path} while this "
                         f"one held it (no heartbeat arrived for {STALE_AFTER_S:g} s?); timings of this run may "
                         f"be disturbed")

    def _device(self, action: str, text: str) -> str:
        code, stdout, stderr = self.adapter.run(["sh", "-c", _DEVICE_SCRIPT, "edgekit-lock", action, self.path, text],
                                                timeout=_REMOTE_TIMEOUT_S)
        if code != 0:
            detail = (stderr.strip() or stdout.strip() or f"exit code {code}").splitlines()[-1]
            raise DeviceError(f"{self.adapter.address}: cannot use the device lock {self.path}: {detail}")
        return stdout.strip()


def stale_reason(holder: Holder) -> Optional[str]:
    """Why a device lock's holder has abandoned it, or None while it may still be working."""
    if holder.token is not None:
        with _held_guard:
            if holder.token in _held_tokens:
                return None  # held by another thread of this process (one board under two names)
    if holder.host == _HOST and holder.pid == os.getpid():
        return "left by an earlier run of this process"
    if holder.host == _HOST and holder.pid is not None and not process_alive(holder.pid):
        return f"its process {holder.pid} on {holder.host} has ended"
    if holder.age_s is not None and holder.age_s > STALE_AFTER_S:
        return f"no heartbeat for {holder.age_s:.0f} s; a holder refreshes its lock every {HEARTBEAT_S:g} s"
    return None


def _seconds(words: list[str]) -> Optional[float]:
    # A device whose `date` or `stat` cannot say how old the lock is: no age, so it never goes stale by age.
    try:
        seconds = float(words[0])
    except (IndexError, ValueError):
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


# ---------------------------------------------------------------------------------------------- both
@dataclass
class LockedSession:
    """A connected adapter whose device this process holds; `waited_s` is how long it waited for the locks."""

    adapter: Adapter
    waited_s: float


@contextlib.contextmanager
def locked_device(target: Target, options: ConnectionOptions,
                  lock_timeout_s: Optional[float] = None) -> Iterator[LockedSession]:
    """Connect to a device once no other edgekit process uses it, and hold it for the block.

    The lock of this machine is taken before connecting, so processes here wait without touching the device;
    both locks are released on every way out of the block.

    Raises:
        DeviceBusy: the device stayed busy for longer than `lock_timeout_s` (None: wait without end).
        DeviceError: the device cannot be reached, or its lock cannot be used.
    """
    address = options.address or "localhost"
    reporter = WaitReporter(address, Deadline(lock_timeout_s))
    local = LocalDeviceLock(local_lock_path(target.adapter, address))
    local.acquire(reporter)
    try:
        with open_adapter(target, options) as adapter:
            reporter.address = adapter.address
            device = DeviceLock(adapter)
            device.acquire(reporter)
            gone = False
            try:
                if reporter.waited_since is not None:
                    console.err.print(f"{adapter.address}: free after {reporter.waited_s:.1f} s of waiting",
                                      markup=False, soft_wrap=True)
                yield LockedSession(adapter, reporter.waited_s)
            except DeviceDisconnected:
                gone = True
                raise
            finally:
                device.release(device_gone=gone)
    finally:
        local.release()
