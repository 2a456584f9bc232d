"""Two builds into one folder: the second is refused with the first one's pid."""

import subprocess
import sys
import textwrap
import time

import pytest

from edgekit.errors import BuildLocked
from edgekit.pipeline.lock import BuildLock


def test_second_holder_is_refused_naming_the_first(tmp_path):
    lock_path = tmp_path / "build" / ".edgekit" / "build.lock"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from edgekit.pipeline.lock import BuildLock
        with BuildLock(Path({str(lock_path)!r})):
            print("held", flush=True)
            time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(BuildLocked, match=rf"being built by another edgekit process \(pid {holder.pid} on .*\); wait"):
            BuildLock(lock_path).acquire()
    finally:
        holder.kill()
        holder.wait()
    # A killed holder releases the lock (the kernel drops flocks of dead processes).
    deadline = time.time() + 5
    with BuildLock(lock_path):
        assert time.time() < deadline


def test_lock_is_reentrant_after_release(tmp_path):
    lock = BuildLock(tmp_path / "l")
    with lock:
        pass
    with lock:
        pass
