"""Time tune candidates on the target: a short profile at rung 0, and A/B rounds against the current best for
the survivors, so the winner is decided by timings taken side by side, not by the device's drift between two
runs minutes apart."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from edgekit.adapters import ConnectionOptions
from edgekit.config.target import Target
from edgekit.profiling.device.stats import summarize
from edgekit.profiling.profile import ProfileSettings
from edgekit.fleet.measure import profile_models


@dataclass
class Timing:
    """Latency samples of one model at one thread count, pooled over its profiles, and its peak memory."""

    samples_ms: list[float] = field(default_factory=list)
    peak_memory_mb: Optional[float] = None
    device: Optional[dict[str, Any]] = None

    def add(self, profile: dict[str, Any]) -> None:
        self.samples_ms.extend(float(value) for value in profile["samples_ms"])
        # The profiler's peak resident set of the process that ran this model alone (edgekit.profiling.profile).
        peak = (profile.get("memory") or {}).get("peak_rss_mb")
        if peak is not None:
            self.peak_memory_mb = max(self.peak_memory_mb or 0.0, float(peak))
        self.device = profile.get("device") or self.device

    @property
    def p50(self) -> float:
        return summarize(self.samples_ms)["median_ms"]

    @property
    def p90(self) -> float:
        return summarize(self.samples_ms)["p90_ms"]

    def latency(self) -> dict[str, float]:
        stats = summarize(self.samples_ms)
        return {"p50": round(stats["median_ms"], 4), "p90": round(stats["p90_ms"], 4)}


@dataclass(frozen=True)
class Timed:
    """A model file and the threads it runs with."""

    path: Path
    threads: int


class Timer:
    """Profiles models on the target through its adapter (the real profiler, as `edgekit profile` does)."""

    def __init__(self, target: Target, connection: ConnectionOptions, runs: int, *,
                 lock_timeout_s: Optional[float] = None):
        self.target = target
        self.connection = connection
        self.runs = runs
        self.lock_timeout_s = lock_timeout_s

    def quick(self, model: Timed) -> Timing:
        """A short profile (a quarter of the runs): enough to rule out what is far too slow at rung 0."""
        timing = Timing()
        timing.add(self._profile(model, runs=max(5, self.runs // 4), warmup=3, min_seconds=0.1))
        return timing

    def quick_many(self, models: list[Timed]) -> list[Timing]:
        """Short profiles of several models, those with the same threads in one profiler process (interleaved
        blocks, as `edgekit profile` does): one process start per build folder and thread count at rung 0, not
        one per candidate. The peak memory of such a process is all of its models', so it is not recorded for
        any of them (rung 0 does not judge memory; the fully trained survivors are profiled alone)."""
        timings: dict[Timed, Timing] = {}
        by_threads: dict[int, list[Timed]] = {}
        for model in dict.fromkeys(models):
            by_threads.setdefault(model.threads, []).append(model)
        for threads, group in by_threads.items():
            if len(group) == 1:
                timings[group[0]] = self.quick(group[0])
                continue
            settings = ProfileSettings(runs=max(5, self.runs // 4), warmup=3, min_seconds=0.1, threads=threads)
            profiles = profile_models([model.path for model in group], self.target, self.connection, settings,
                                      interleave=True, lock_timeout_s=self.lock_timeout_s)
            for model, profile in zip(group, profiles):
                timing = Timing()
                timing.add(profile)
                timing.peak_memory_mb = None
                timings[model] = timing
        return [timings[model] for model in models]

    def ab(self, survivor: Timed, best: Optional[Timed], rounds: int) -> tuple[Timing, Optional[Timing]]:
        """ABBA rounds: survivor then best, best then survivor, ...; each model in a process of its own, so each
        peak memory is its own. Without a best, the survivor's rounds alone."""
        mine, theirs = Timing(), Timing() if best is not None else None
        for round_index in range(rounds):
            order = [(survivor, mine), (best, theirs)] if round_index % 2 == 0 else [(best, theirs), (survivor, mine)]
            for model, timing in order:
                if model is not None:
                    timing.add(self._profile(model, runs=self.runs, warmup=5, min_seconds=0.25))
        return mine, theirs

    def _profile(self, model: Timed, *, runs: int, warmup: int, min_seconds: float) -> dict[str, Any]:
        settings = ProfileSettings(runs=runs, warmup=warmup, min_seconds=min_seconds, threads=model.threads)
        return profile_models([model.path], self.target, self.connection, settings,
                              lock_timeout_s=self.lock_timeout_s)[0]
