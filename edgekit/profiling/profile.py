"""The profile JSON of DESIGN.md, built from what the device-side profiler printed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from edgekit import fsutil
from edgekit.profiling.device_profiler import summarize

PROFILE_KEYS = (
    "model", "target", "device", "threads", "delegate", "runs", "warmup",
    "min_ms", "median_ms", "mean_ms", "p90_ms", "p99_ms", "max_ms", "std_ms", "samples_ms", "init_ms", "first_ms",
)
DEVICE_KEYS = ("address", "machine", "os", "runtime", "runtime_version", "cpu")


@dataclass(frozen=True)
class ProfileSettings:
    """How to time a model: at least `runs` timed invokes and at least `min_seconds`, after `warmup`."""

    runs: int = 100
    warmup: int = 10
    min_seconds: float = 1.0
    threads: Optional[int] = None
    block: int = 10
    cooldown: float = 0.0

    def profiler_arguments(self) -> list[str]:
        """Command-line arguments of device_profiler.py for these settings."""
        arguments = ["--runs", str(self.runs), "--warmup", str(self.warmup), "--min-seconds", str(self.min_seconds),
                     "--block", str(self.block), "--cooldown", str(self.cooldown)]
        if self.threads:
            arguments += ["--threads", str(self.threads)]
        return arguments


def device_record(profiler_device: dict[str, Any], address: str) -> dict[str, Any]:
    """The "device" object of the profile JSON and the manifest."""
    record = {"address": address}
    record.update({key: profiler_device.get(key) for key in DEVICE_KEYS if key != "address"})
    # Extra facts the profiler found are kept after the contract keys.
    record.update({key: value for key, value in profiler_device.items() if key not in record})
    return record


def make_profile(
    local_model: Path,
    entry: dict[str, Any],
    *,
    target: str,
    device: dict[str, Any],
    threads: Optional[int],
    delegate: Optional[str],
) -> dict[str, Any]:
    """A profile JSON from one entry of the device profiler's "profiles" list.

    The statistics are recomputed from the samples here, so a profile can never disagree with its samples.
    """
    samples = [float(value) for value in entry["samples_ms"]]
    profile = {
        "model": {"path": str(local_model), "sha256": fsutil.sha256_file(local_model), "bytes": local_model.stat().st_size},
        "target": target,
        "device": device,
        "threads": threads,
        "delegate": delegate,
        "runs": len(samples),
        "warmup": entry.get("warmup"),
    }
    profile.update(summarize(samples))
    profile["samples_ms"] = samples
    profile["init_ms"] = entry.get("init_ms")
    profile["first_ms"] = entry.get("first_ms")
    return profile
