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
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from edgekit import console
from edgekit.adapters import Adapter, ConnectionOptions, open_adapter
from edgekit.base.locks import OwnedFileLock
from edgekit.base.paths import folder_from_variable, user_cache_folder
from edgekit.config.target import Target
from edgekit.errors import DeviceDisconnected
from edgekit.fleet.device_lock import DeviceLock
from edgekit.fleet.lock_owner import Deadline, Holder, WaitReporter, owner_record

LOCK_DIR_VARIABLE = "EDGEKIT_LOCK_DIR"
# Waiting on this machine costs nothing: the flock is tried often.
_LOCAL_POLL_S = 0.2


def lock_folder() -> Path:
    """Where the locks of this machine live: $EDGEKIT_LOCK_DIR, else ~/.cache/edgekit/locks."""
    return folder_from_variable(LOCK_DIR_VARIABLE, user_cache_folder() / "locks")


def local_lock_path(adapter: str, address: str) -> Path:
    """The flock file of one device, named so a person can tell which (and hashed, so it is unique)."""
    readable = re.sub(r"[^A-Za-z0-9._@-]+", "_", f"{adapter}-{address}")[:80]
    digest = hashlib.sha256(f"{adapter}\0{address}".encode()).hexdigest()[:10]
    return lock_folder() / f"{readable}-{digest}.lock"


class LocalDeviceLock(OwnedFileLock):
    """The flock of one device on this machine; its file holds the owner record for waiters' messages. Unlike a
    build folder's lock, a busy device is waited for."""

    def acquire(self, reporter: Optional[WaitReporter] = None) -> None:
        """Wait until this machine's lock of the device is free and take it.

        Raises:
            DeviceBusy: still held when the reporter's deadline passed.
        """
        reporter = reporter or WaitReporter(str(self.path), Deadline(None))
        while (holder := self.try_acquire(owner_record())) is not None:
            reporter.waiting(Holder.parse(holder), f"{self.path} on this machine")
            reporter.deadline.pause(_LOCAL_POLL_S)


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

