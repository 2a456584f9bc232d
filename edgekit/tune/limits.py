"""When a tune search stops early: its time budget and trial limit."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Optional

from edgekit.tune.trials import Stopped


class Stop(Exception):
    """The budget or the trial limit is reached: the search ends with what it has."""

    def __init__(self, reason: Stopped):
        super().__init__(reason.value)
        self.reason = reason


@dataclass
class Limits:
    budget_s: Optional[float]
    max_trials: Optional[int]
    elapsed_before_s: float
    started: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return self.elapsed_before_s + time.monotonic() - self.started
