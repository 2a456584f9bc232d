"""The two locks that keep a device to one edgekit process: the flock on this machine, and the lock folder on the
device, here on the host target's device (this machine, through the local adapter and its real `sh`)."""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from edgekit.adapters import ConnectionOptions, open_adapter
from edgekit.config.target import load_target
from edgekit.errors import DeviceBusy
from edgekit.fleet import device_lock, locks
from edgekit.fleet.device_lock import DEVICE_LOCK_NAME, DeviceLock, stale_reason
from edgekit.fleet.lock_owner import Deadline, Holder, WaitReporter
from edgekit.fleet.locks import LocalDeviceLock, local_lock_path, locked_device


@pytest.fixture(autouse=True)
def lock_folder(tmp_path, monkeypatch):
    folder = tmp_path / "locks"
    monkeypatch.setenv(locks.LOCK_DIR_VARIABLE, str(folder))
    return folder


@pytest.fixture
def host(tmp_path):
    """The host target with its work folder (where the device lock lives) in this test's folder."""
    return load_target("host").model_copy(update={"workdir": str(tmp_path / "device")})


def hold_in_another_process(code: str) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, text=True,
                              env=os.environ.copy())
    assert holder.stdout.readline().strip() == "held"
    return holder


# ---------------------------------------------------------------------------------------------- this machine
def test_local_lock_names_its_device_and_lives_in_the_lock_folder(lock_folder):
    path = local_lock_path("ssh", "pi@shelf 1.local")
    assert path.parent == lock_folder
    assert path.name.startswith("ssh-pi@shelf_1.local-") and path.suffix == ".lock"
    assert local_lock_path("adb", "pi@shelf 1.local") != path  # keyed by adapter and address


def test_a_busy_local_lock_says_who_holds_it_and_gives_up_at_the_timeout(capsys):
    path = local_lock_path("ssh", "pi@a")
    holder = hold_in_another_process(f"""
        import time
        from pathlib import Path
        from edgekit.fleet.lock_owner import Deadline, WaitReporter
        from edgekit.fleet.locks import LocalDeviceLock
        lock = LocalDeviceLock(Path({str(path)!r}))
        lock.acquire(WaitReporter("pi@a", Deadline(None)))
        print("held", flush=True)
        time.sleep(60)
    """)
    try:
        started = time.monotonic()
        with pytest.raises(DeviceBusy, match=rf"pi@a: busy: the device is held by pid {holder.pid} on "
                                             rf"{socket.gethostname()} as .*, since \d\d:\d\d:\d\d \(lock {path} on "
                                             rf"this machine\); gave up after 0.5 s \(--lock-timeout 0.5\)"):
            LocalDeviceLock(path).acquire(WaitReporter("pi@a", Deadline(0.5)))
        assert 0.5 <= time.monotonic() - started < 3
        said = capsys.readouterr().err
        # said once, however many times the lock was tried
        assert said.count(f"waiting for pi@a: held by pid {holder.pid}") == 1
        assert "waiting up to 0.5 s (--lock-timeout)" in said
    finally:
        holder.kill()
        holder.wait()
    # The kernel released the killed holder's flock.
    lock = LocalDeviceLock(path)
    lock.acquire(WaitReporter("pi@a", Deadline(2)))
    assert json.loads(path.read_text())["pid"] == os.getpid()
    lock.release()


def test_zero_timeout_fails_at_once():
    path = local_lock_path("ssh", "pi@b")
    first = LocalDeviceLock(path)
    first.acquire(WaitReporter("pi@b", Deadline(None)))
    try:
        with pytest.raises(DeviceBusy, match=r"gave up after 0 s \(--lock-timeout 0\)"):
            LocalDeviceLock(path).acquire(WaitReporter("pi@b", Deadline(0)))
    finally:
        first.release()


# ---------------------------------------------------------------------------------------------- the device
def test_device_lock_is_a_folder_with_its_owner_and_is_removed_on_release(host, tmp_path):
    with open_adapter(host, ConnectionOptions()) as adapter:
        lock = DeviceLock(adapter)
        lock.acquire(WaitReporter("localhost", Deadline(1)))
        folder = tmp_path / "device" / DEVICE_LOCK_NAME
        owner = json.loads((folder / "owner.json").read_text())
        assert owner["pid"] == os.getpid() and owner["host"] == socket.gethostname()
        assert set(owner) == {"token", "pid", "host", "user", "command", "since"}
        lock.release()
        assert not folder.exists()


def test_a_held_device_lock_is_waited_for_and_the_wait_is_bounded(host, tmp_path, capsys):
    with open_adapter(host, ConnectionOptions()) as adapter:
        first = DeviceLock(adapter)
        first.acquire(WaitReporter("localhost", Deadline(1)))
        try:
            # Another thread of this process (the same board under two names) is a live holder: it is waited for.
            with pytest.raises(DeviceBusy, match=rf"localhost: busy: the device is held by pid {os.getpid()} .*"
                                                 rf"last heartbeat \d+ s ago \(lock {tmp_path}/device/"
                                                 rf"{DEVICE_LOCK_NAME} on the device\); gave up after 1.5 s"):
                DeviceLock(adapter).acquire(WaitReporter("localhost", Deadline(1.5)))
        finally:
            first.release()
    assert "waiting for localhost: held by pid" in capsys.readouterr().err


def write_foreign_lock(host, record: dict, age_s: float):
    folder = os.path.join(host.workdir, DEVICE_LOCK_NAME)
    os.makedirs(folder)
    owner = os.path.join(folder, "owner.json")
    with open(owner, "w") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")
    then = time.time() - age_s
    os.utime(owner, (then, then))
    return folder


def test_a_lock_without_heartbeat_for_the_bound_is_removed_saying_whose_it_was(host, capsys):
    record = {"token": "t1", "pid": 4242, "host": "ci-runner-7", "user": "ci", "command": "edgekit build",
              "since": time.time() - 900}
    folder = write_foreign_lock(host, record, age_s=device_lock.STALE_AFTER_S + 60)
    with open_adapter(host, ConnectionOptions()) as adapter:
        lock = DeviceLock(adapter)
        lock.acquire(WaitReporter("localhost", Deadline(5)))
        assert json.loads(open(os.path.join(folder, "owner.json")).read())["token"] == lock.record["token"]
        lock.release()
    said = capsys.readouterr().err
    assert "localhost: removing a stale device lock (no heartbeat for 180 s; a holder refreshes its lock every " \
           "10 s): it was held by pid 4242 on ci-runner-7 as ci (edgekit build)" in " ".join(said.split())


def test_a_recent_lock_of_another_machine_is_not_stale(host):
    record = {"token": "t2", "pid": 1, "host": "ci-runner-7", "user": "ci", "command": "edgekit build",
              "since": time.time()}
    write_foreign_lock(host, record, age_s=5)
    with open_adapter(host, ConnectionOptions()) as adapter:
        with pytest.raises(DeviceBusy, match="held by pid 1 on ci-runner-7 as ci .*last heartbeat [5-9] s ago"):
            DeviceLock(adapter).acquire(WaitReporter("localhost", Deadline(0.5)))


def test_the_lock_of_an_ended_process_of_this_machine_is_stale_at_once(host, capsys):
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(ended.stdout)
    record = {"token": "t3", "pid": pid, "host": socket.gethostname(), "user": "me", "command": "edgekit profile",
              "since": time.time()}
    write_foreign_lock(host, record, age_s=0)
    with open_adapter(host, ConnectionOptions()) as adapter:
        lock = DeviceLock(adapter)
        lock.acquire(WaitReporter("localhost", Deadline(0)))  # no waiting needed
        lock.release()
    assert f"its process {pid} on {socket.gethostname()} has ended" in capsys.readouterr().err


def test_stale_rules():
    here = socket.gethostname()
    assert stale_reason(Holder({"token": "x", "pid": os.getpid(), "host": here})) == \
        "left by an earlier run of this process"
    assert stale_reason(Holder({"token": "x", "pid": os.getppid(), "host": here}, age_s=5)) is None
    assert stale_reason(Holder({"token": "x", "pid": 1, "host": "elsewhere"}, age_s=5)) is None
    assert "no heartbeat for 121 s" in stale_reason(Holder({"pid": 1, "host": "elsewhere"}, age_s=121))
    # a folder without an owner record (its maker was killed between mkdir and writing it)
    assert stale_reason(Holder({}, age_s=device_lock.STALE_AFTER_S + 1)) is not None
    assert stale_reason(Holder({}, age_s=1)) is None


def test_a_lock_taken_over_while_held_is_reported_on_release(host, tmp_path, capsys):
    with open_adapter(host, ConnectionOptions()) as adapter:
        lock = DeviceLock(adapter)
        lock.acquire(WaitReporter("localhost", Deadline(1)))
        owner = tmp_path / "device" / DEVICE_LOCK_NAME / "owner.json"
        owner.write_text(json.dumps({"token": "someone else"}))
        lock.release()
        assert owner.exists()  # not ours any more: left alone
    assert "another process took over the device lock" in " ".join(capsys.readouterr().err.split())


def test_locked_device_releases_both_locks_when_the_block_fails(host, tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        with locked_device(host, ConnectionOptions(), lock_timeout_s=1):
            assert (tmp_path / "device" / DEVICE_LOCK_NAME).is_dir()
            raise RuntimeError("boom")
    assert not (tmp_path / "device" / DEVICE_LOCK_NAME).exists()
    with locked_device(host, ConnectionOptions(), lock_timeout_s=0) as session:
        assert session.waited_s == 0.0
