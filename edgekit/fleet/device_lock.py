"""The lock on the device itself: a folder made with `mkdir` in the target's work folder that holds the owner
record, refreshed by a heartbeat while held, and removed by the next waiter once stale (edgekit.fleet.locks
describes the whole protocol)."""

from __future__ import annotations

import json
import math
import os
import posixpath
import threading
from typing import Optional

from edgekit import console
from edgekit.adapters import Adapter
from edgekit.base.process import HOST, process_alive
from edgekit.errors import DeviceError, EdgekitError
from edgekit.fleet.lock_owner import Holder, WaitReporter, owner_record

DEVICE_LOCK_NAME = ".edgekit-device-lock"
# The holder refreshes its device lock this often; a lock not refreshed for STALE_AFTER_S is abandoned. The
# bound leaves room for a slow link: a dozen missed heartbeats before anyone takes the device over.
HEARTBEAT_S = 10.0
STALE_AFTER_S = 120.0
# Waiting on a device costs one remote command per poll, so the device is asked less and less often, up to every
# _DEVICE_POLL_MAX_S seconds.
_DEVICE_POLL_FIRST_S = 1.0
_DEVICE_POLL_MAX_S = 5.0
_REMOTE_TIMEOUT_S = 60.0

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
    if holder.host == HOST and holder.pid == os.getpid():
        return "left by an earlier run of this process"
    if holder.host == HOST and holder.pid is not None and not process_alive(holder.pid):
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

