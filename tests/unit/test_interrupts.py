"""A Ctrl-C swallowed by a finalizer is raised again at the next check (edgekit.base.interrupts)."""

import gc
import os
import signal

import pytest

from edgekit.base import interrupts


def test_a_swallowed_interrupt_is_raised_again_at_the_next_check(monkeypatch):
    monkeypatch.setattr(interrupts, "_pending", False)
    previous = signal.getsignal(signal.SIGINT)
    interrupts.install()
    try:
        interrupts.check()  # nothing received: nothing raised

        class Finalized:
            def __del__(self):
                os.kill(os.getpid(), signal.SIGINT)  # delivered while the finalizer runs: Python ignores it

        Finalized()
        gc.collect()
        with pytest.raises(KeyboardInterrupt):
            interrupts.check()
    finally:
        signal.signal(signal.SIGINT, previous)
