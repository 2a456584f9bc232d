"""An adapter is a transport and a timer for one target: how the device is reached (edgekit.transport: local,
ssh, adb) and how models are timed there (edgekit.profiling's timers: edgekit's Python profiler, or TFLite's
benchmark_model where the target file says `runtime: benchmark_model`).

Adapters are what the rest of edgekit holds: `with open_adapter(target, options) as adapter: adapter.profile(...)`.
Whether the target accepts a model is checked here, in profile(), before anything is pushed.
"""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from edgekit.adapters.acceptance import check_accepted
from edgekit.config.target import Target
from edgekit.profiling.benchmark_timer import BENCHMARK_MODEL, BenchmarkModelTimer
from edgekit.profiling.profile import ProfileSettings
from edgekit.profiling.python_timer import PythonProfilerTimer
from edgekit.profiling.timer import Timer
from edgekit.transport import RunResult, Transport


@dataclass
class ConnectionOptions:
    """What the CLI or the build passes to an adapter besides the target."""

    address: Optional[str] = None
    ssh_config: Optional[Path] = None
    remote_python: Optional[str] = None
    benchmark_binary: Optional[Path] = None
    connect_timeout_s: Optional[float] = None
    extra: dict[str, Any] = field(default_factory=dict)


class Adapter(abc.ABC):
    """A target's device: its transport (`self.transport`) and its timer (`self.timer`). Use as a context manager:
    `with adapter: adapter.profile(...)`; the file and command methods are the transport's."""

    #: the name target files use in their `adapter:` key
    name: str = ""

    def __init__(self, target: Target, options: ConnectionOptions):
        self.target = target
        self.options = options
        self.transport: Transport = self.make_transport()
        self.timer: Timer = self.make_timer()

    # ------------------------------------------------------------------------------------------ composition
    @abc.abstractmethod
    def make_transport(self) -> Transport:
        """This adapter's way of reaching the device, built with transport_settings().

        Raises:
            ConfigError: the options do not name a device this transport can reach.
        """

    def transport_settings(self) -> dict[str, Any]:
        """What every transport takes from the target and the options: work folder, connect timeout, label."""
        return {"workdir": self.target.workdir, "connect_timeout_s": self.connect_timeout_s,
                "label": f"target {self.target.name}"}

    @property
    def connect_timeout_s(self) -> float:
        """`ConnectionOptions.connect_timeout_s` when a caller gives one, else the target file's."""
        return self.options.connect_timeout_s or self.target.connect_timeout_s

    @property
    def python(self) -> str:
        """The Python interpreter that runs edgekit's profiler on the device."""
        return self.options.remote_python or self.target.python

    def make_timer(self) -> Timer:
        """benchmark_model for targets whose `runtime:` is benchmark_model, else edgekit's Python profiler."""
        if self.target.runtime == BENCHMARK_MODEL:
            return BenchmarkModelTimer(self.target, self.options.benchmark_binary)
        return PythonProfilerTimer(self.target, self.python)

    # ------------------------------------------------------------------------------------------ profiling
    def profile(self, models: list[Path], settings: ProfileSettings) -> list[dict[str, Any]]:
        """Push and time local .tflite/.onnx files (interleaved when the timer can); one profile JSON each.

        With `settings.op_profile`, .onnx profiles get per-op times from onnxruntime's profiler and .tflite ones
        from benchmark_model (the target's `benchmark_model:` on boards, the pushed binary on phones), each in a
        run of its own.

        Raises:
            ArtifactNotAccepted: the target cannot run one of the models (checked before anything is pushed).
            RuntimeMissing: no runtime for one of the models on the device (LiteRT, or onnxruntime for .onnx).
            ToolError: the target's timing tool (benchmark_model, a compiler) is missing.
        """
        for model in models:
            check_accepted(self.target, model)
        if settings.threads is None:
            settings = dataclasses.replace(settings, threads=self.target.threads)
        return self.measure(models, settings)

    def measure(self, models: list[Path], settings: ProfileSettings) -> list[dict[str, Any]]:
        """The timer's measurement of already accepted models (adapters that prepare models first extend this)."""
        return self.timer.measure(self.transport, models, settings)

    # ------------------------------------------------------------------------------------------ the transport's
    @property
    def address(self) -> str:
        """How the device is named in messages and in the profile JSON."""
        return self.transport.address

    def connect(self) -> None:
        self.transport.connect()

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> "Adapter":
        self.connect()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def run(self, argv: list[str], *, timeout: Optional[float] = None) -> RunResult:
        """Run a command on the device (see Transport.run)."""
        return self.transport.run(argv, timeout=timeout)

    def put(self, local: Path, remote: str) -> str:
        """Copy a local file to exactly `remote` on the device (see Transport.put)."""
        return self.transport.put(local, remote)

    def fetch(self, remote: str, local: Path) -> Path:
        """Copy a file from the device to `local`."""
        return self.transport.fetch(remote, local)

    def push(self, local: Path, remote_name: str) -> str:
        """Copy a local file into this session's scratch folder; returns its path there."""
        return self.transport.push(local, remote_name)

    def workdir(self) -> str:
        """This session's scratch folder on the device."""
        return self.transport.workdir()

    def private_folder(self) -> str:
        """This user's own folder on the device, `<target workdir>-<uid>`."""
        return self.transport.private_folder()

    def sha256(self, remote: str) -> str:
        """The SHA-256 of a file on the device, computed there."""
        return self.transport.sha256(remote)

    def deploy(self, local: Path, remote: str) -> str:
        """Copy `local` to `remote` and check its SHA-256 on the device; returns the digest."""
        return self.transport.deploy(local, remote)

    def device_path(self, path: str) -> str:
        """`path` as the device's commands take it."""
        return self.transport.device_path(path)
