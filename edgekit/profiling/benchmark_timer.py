"""Timing with TFLite's own benchmark_model binary, over any transport: the timer of devices without Python
(Android phones: the target file's `runtime: benchmark_model`), and the per-op times of .tflite models on any
board whose target file names its `benchmark_model:`.

The binary is pushed to the target's `benchmark_binary.remote_path` and run pinned to the target's cores with
`taskset` (`cpu_mask`), with the target's delegate flags; its output is parsed by edgekit.profiling.benchmark_model,
which says what it can and cannot report (aggregates only: no per-run samples).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from edgekit.config.target import Target
from edgekit.errors import ToolError
from edgekit.profiling.benchmark_model import (benchmark_arguments, benchmark_memory, op_profile_arguments,
                                               op_profile_fields, parse_benchmark_output, profile_fields)
from edgekit.profiling.profile import ProfileSettings, build_profile
from edgekit.profiling.timer import Timer
from edgekit.transport import Transport
from edgekit.transport.base import COMMAND_NOT_FOUND, portable_name

#: the target files' `runtime:` that selects this timer
BENCHMARK_MODEL = "benchmark_model"
DEFAULT_REMOTE_BINARY = "/data/local/tmp/benchmark_model"
# benchmark_model stops itself after 150 s by default; this is the outer limit for one model.
_BENCHMARK_TIMEOUT_S = 900.0
# One probe of what the device is; on Linux (a board, or the lab's stand-in phone) the Android fields stay empty.
_DEVICE_PROBE = (
    'echo "machine=$(uname -m)"; '
    'echo "model=$(getprop ro.product.model 2>/dev/null)"; '
    'echo "release=$(getprop ro.build.version.release 2>/dev/null)"; '
    'echo "soc=$(getprop ro.soc.model 2>/dev/null)"; '
    'echo "os=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"; '
    'echo "cpu_count=$(nproc 2>/dev/null)"'
)


class BenchmarkModelTimer(Timer):
    """benchmark_model, pushed from this machine (`--benchmark-binary`, or the target's `benchmark_binary.path`)."""

    name = BENCHMARK_MODEL

    def __init__(self, target: Target, binary: Optional[Path] = None):
        super().__init__(target)
        self.binary = binary

    def local_binary(self) -> Path:
        """The local benchmark_model to push: --benchmark-binary, else the target file's `benchmark_binary.path`.

        Raises:
            ToolError: none configured, or the file is missing; the message says where to get it.
        """
        configured = self.target.benchmark_binary
        path = self.binary or (Path(configured.path).expanduser() if configured and configured.path else None)
        url = configured.url if configured and configured.url else "TFLite's prebuilt benchmark tools"
        if path is None:
            raise ToolError(f"target {self.target.name} times models with TFLite's benchmark_model binary, and none "
                            f"is configured: download it from {url}, then pass --benchmark-binary PATH "
                            f"(or set benchmark_binary.path in a copy of the target file)")
        if not Path(path).is_file():
            raise ToolError(f"benchmark_model not found at {path}: download it from {url}")
        return Path(path)

    @property
    def remote_binary(self) -> str:
        """Where the binary goes on the device."""
        return self.target.benchmark_binary.remote_path if self.target.benchmark_binary else DEFAULT_REMOTE_BINARY

    def measure(self, transport: Transport, models: list[Path], settings: ProfileSettings) -> list[dict[str, Any]]:
        """Push benchmark_model and each model; time each model in a run of its own (one after the other:
        benchmark_model times one model per process, so interleaving is not possible)."""
        binary = self.local_binary()
        transport.put(binary, self.remote_binary)
        transport.checked(["chmod", "755", self.remote_binary], f"cannot make {self.remote_binary} executable",
                          timeout=transport.command_timeout_s)
        device = describe_device(transport, self.target)
        return [self._measure_one(transport, model, index, device, settings) for index, model in enumerate(models)]

    def _measure_one(self, transport: Transport, model: Path, index: int, device: dict[str, Any],
                     settings: ProfileSettings) -> dict[str, Any]:
        remote_model = transport.push(model, f"{index}_{portable_name(model.name)}")
        command = pinned(self.target, [self.remote_binary])
        argv = command + benchmark_arguments(
            remote_model, runs=settings.runs, warmup=settings.warmup, min_seconds=settings.min_seconds,
            threads=settings.threads, delegate=self.target.delegate, delegate_library=self.target.delegate_library,
            peak_memory=True)
        run = transport.run(argv, timeout=_BENCHMARK_TIMEOUT_S)
        output = parse_benchmark_output(run.stdout + "\n" + run.stderr)
        measured: dict[str, Any] = {"warmup": settings.warmup}
        measured.update(profile_fields(output, what=f"{transport.address}: {model.name} (exit code {run.exit_code})"))
        memory = benchmark_memory(output.memory_mb, model.stat().st_size)
        if memory is not None:
            measured["memory"] = memory
        if settings.op_profile:
            measured.update(benchmark_op_profile(transport, self.target, command, remote_model, settings, model.name))
        return build_profile(model, measured, target=self.target.name, device=device, threads=settings.threads,
                             delegate=self.delegate_name(model))


def pinned(target: Target, command: list[str]) -> list[str]:
    """`command` run on the target's cores (`taskset MASK ...`) when the target file names a `cpu_mask`."""
    return (["taskset", target.cpu_mask] if target.cpu_mask else []) + command


def benchmark_op_profile(transport: Transport, target: Target, command: list[str], remote_model: str,
                         settings: ProfileSettings, what: str) -> dict[str, Any]:
    """Per-op times of one pushed .tflite from the device's benchmark_model (`command` runs it), in a run of its
    own: "op_profile" per node, "op_types" summed per op type, and where they came from.

    Raises:
        ToolError: the benchmark_model that `command` names is not on the device.
        DeviceError: it ran but reported no per-op times.
    """
    argv = command + op_profile_arguments(remote_model, runs=settings.runs, threads=settings.threads,
                                          delegate=target.delegate, delegate_library=target.delegate_library)
    run = transport.run(argv, timeout=_BENCHMARK_TIMEOUT_S)
    if run.exit_code == COMMAND_NOT_FOUND:
        raise ToolError(f"{transport.address}: benchmark_model is not at {command[-1]} on the device (target "
                        f"{target.name}: `benchmark_model:` names its path on the board): {run.detail()}")
    output = parse_benchmark_output(run.stdout + "\n" + run.stderr)
    runs = output.regular_runs.count if output.regular_runs else 0
    return op_profile_fields(output, runs=runs, what=f"{transport.address}: {what} (exit code {run.exit_code})")


def describe_device(transport: Transport, target: Target) -> dict[str, Any]:
    """The "device" record of a benchmark_model profile: machine, OS (Android's release where there is one), CPU."""
    answer = transport.checked(["sh", "-c", _DEVICE_PROBE], "cannot describe the device",
                               timeout=transport.command_timeout_s)
    facts = dict(line.split("=", 1) for line in answer.splitlines() if "=" in line)
    android = facts.get("release")
    return {
        "address": transport.address,
        "machine": facts.get("machine") or None,
        "os": f"Android {android}" if android else (facts.get("os") or None),
        "runtime": BENCHMARK_MODEL,
        "runtime_version": None,  # benchmark_model does not print its TFLite version
        "cpu": facts.get("soc") or facts.get("model") or None,
        "model": facts.get("model") or None,
        "cpu_count": int(facts["cpu_count"]) if facts.get("cpu_count", "").isdigit() else None,
        "cpu_mask": target.cpu_mask,
    }

