"""The profile JSON of DESIGN.md, built in one place (build_profile) from what a timer measured."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from edgekit import fsutil
from edgekit.profiling.benchmark_model import op_type_totals
from edgekit.profiling.device.stats import summarize

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
    # Per-op times, from a run of their own so op profiling's overhead never touches the latency samples:
    # .tflite from benchmark_model where the target has one (Android; ssh boards with `benchmark_model:`),
    # .onnx from onnxruntime's own profiler, wherever onnxruntime runs.
    op_profile: bool = False

    def profiler_arguments(self) -> list[str]:
        """Command-line arguments of the device profiler (edgekit.profiling.device) for these settings."""
        arguments = ["--runs", str(self.runs), "--warmup", str(self.warmup), "--min-seconds", str(self.min_seconds),
                     "--block", str(self.block), "--cooldown", str(self.cooldown)]
        if self.threads:
            arguments += ["--threads", str(self.threads)]
        if self.op_profile:
            arguments.append("--op-profile")
        return arguments


def device_record(profiler_device: dict[str, Any], address: str) -> dict[str, Any]:
    """The "device" object of the profile JSON and the manifest."""
    record = {"address": address}
    record.update({key: profiler_device.get(key) for key in DEVICE_KEYS if key != "address"})
    # Extra facts the profiler found are kept after the contract keys.
    record.update({key: value for key, value in profiler_device.items() if key not in record})
    return record


def build_profile(model: Path, measured: dict[str, Any], *, target: str, device: dict[str, Any],
                  threads: Optional[int], delegate: Optional[str]) -> dict[str, Any]:
    """The profile JSON of one model, whichever timer measured it: the contract's keys first, in their order
    (PROFILE_KEYS; a key the timer cannot tell is null), then what only this timer tells, in its order.

    Args:
        model: the local model file that was timed (its path, SHA-256 and size are recorded).
        measured: the timer's fields: runs, warmup, statistics, samples_ms, init_ms, first_ms, memory, ...
        device: the "device" record (see device_record).
    """
    record = {
        "model": {"path": str(model), "sha256": fsutil.sha256_file(model), "bytes": model.stat().st_size},
        "target": target,
        "device": device,
        "threads": threads,
        "delegate": delegate,
        **measured,
    }
    ordered = {key: record.get(key) for key in PROFILE_KEYS}
    ordered.update({key: value for key, value in record.items() if key not in ordered})
    return ordered


def profiler_measurement(entry: dict[str, Any], model_bytes: int) -> dict[str, Any]:
    """The measured fields of one entry of the device profiler's "profiles" list.

    The statistics are recomputed from the samples here, so a profile can never disagree with its samples.
    """
    samples = [float(value) for value in entry["samples_ms"]]
    measured: dict[str, Any] = {"runs": len(samples), "warmup": entry.get("warmup")}
    measured.update(summarize(samples))
    measured.update({"samples_ms": samples, "init_ms": entry.get("init_ms"), "first_ms": entry.get("first_ms")})
    if isinstance(entry.get("memory"), dict):
        measured["memory"] = profiler_memory(entry["memory"], model_bytes)
    if entry.get("op_profile"):
        measured["op_profile"] = entry["op_profile"]
        measured["op_types"] = op_type_totals(entry["op_profile"])
        measured["op_profile_source"] = entry.get("op_profile_source")
    return measured


def profiler_memory(measured: dict[str, Any], model_bytes: int) -> dict[str, Any]:
    """The profile's "memory" record from the device profiler's readings (KiB) of one model.

    `rss_growth_mb` is what the model costs in RAM: the resident-set growth of the profiler process from before
    the model was loaded to the peak after its first runs. `peak_rss_mb` is the whole process's peak (Python
    and the runtime's libraries included). `flash_bytes` is the model file: what it takes in storage.
    """
    record = {
        "flash_bytes": model_bytes,
        "rss_growth_mb": _mib(measured.get("rss_growth_kb")),
        "load_growth_mb": _mib(measured.get("load_growth_kb")),
        "invoke_growth_mb": _mib(measured.get("invoke_growth_kb")),
        "peak_rss_mb": _mib(measured.get("peak_rss_kb")),
        "source": measured.get("source"),
    }
    record.update({key: value for key, value in measured.items() if key.endswith("_kb")})
    return record


def _mib(kib: Optional[float]) -> Optional[float]:
    return None if kib is None else round(kib / 1024.0, 3)
