"""Timing with edgekit's own profiler (edgekit.profiling.device), run by the device's Python.

Every file of the profiler is pushed into the session's scratch folder as a package folder named
`edgekit_device_profiler` (each one's SHA-256 checked on the device), once per session, and run as
`python3 <folder> MODEL... [options]`: per-run samples from LiteRT (.tflite) and ONNX Runtime (.onnx).
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
from pathlib import Path
from typing import Any, Optional

from edgekit.config.target import Target
from edgekit.errors import DeviceError, RuntimeMissing
from edgekit.profiling.benchmark_timer import benchmark_op_profile
from edgekit.profiling.device.runtimes import EXIT_NO_RUNTIME
from edgekit.profiling.profile import ProfileSettings, build_profile, device_record, profiler_measurement
from edgekit.profiling.timer import Timer
from edgekit.transport import Transport
from edgekit.transport.base import portable_name

#: the profiler's files, pushed as they are
PROFILER_PACKAGE = Path(__file__).resolve().parent / "device"
#: the folder's name on the device (process listings show it: `python3 .../edgekit_device_profiler ...`)
REMOTE_FOLDER = "edgekit_device_profiler"
TFLITE_SUFFIX = ".tflite"


def profiler_files() -> list[Path]:
    """Every file the device needs to run the profiler (its modules), in a fixed order."""
    return sorted(PROFILER_PACKAGE.glob("*.py"))


class PythonProfilerTimer(Timer):
    """edgekit's profiler, run by `python` on the device."""

    name = "edgekit_profiler"

    def __init__(self, target: Target, python: str):
        super().__init__(target)
        self.python = python
        self._installed: Optional[str] = None

    def install(self, transport: Transport) -> str:
        """Push the profiler's files into this session's scratch folder (once per session); returns the folder.

        Raises:
            DeviceError: a copy's SHA-256 on the device differs from the file's here.
        """
        folder = posixpath.join(transport.workdir(), REMOTE_FOLDER)
        if self._installed != folder:
            for file in profiler_files():
                transport.deploy(file, posixpath.join(folder, file.name))
            self._installed = folder
        return folder

    def measure(self, transport: Transport, models: list[Path], settings: ProfileSettings) -> list[dict[str, Any]]:
        """Push the models and time them in one profiler process (interleaved when several)."""
        folder = self.install(transport)
        remote = [transport.push(model, f"{index}_{portable_name(model.name)}") for index, model in enumerate(models)]
        result = self.run_profiler(transport, folder, remote, settings)
        device = device_record(result["device"], transport.address)
        threads = result.get("threads")
        profiles = []
        for model, entry in zip(models, result["profiles"]):
            # The device record names the runtime that ran this model (LiteRT or ONNX Runtime; one run may use both).
            runtime = {"runtime": entry["runtime"], "runtime_version": entry.get("runtime_version")} \
                if entry.get("runtime") else {}
            profiles.append(build_profile(model, profiler_measurement(entry, model.stat().st_size),
                                          target=self.target.name, device={**device, **runtime}, threads=threads,
                                          delegate=self.delegate_name(model)))
        if settings.op_profile and self.target.benchmark_model:
            with_threads = dataclasses.replace(settings, threads=threads)
            for model, remote_model, profile in zip(models, remote, profiles):
                if model.suffix.lower() == TFLITE_SUFFIX:  # benchmark_model runs TFLite models only
                    profile.update(benchmark_op_profile(transport, self.target, [self.target.benchmark_model],
                                                        remote_model, with_threads, model.name))
        return profiles

    def run_profiler(self, transport: Transport, folder: str, remote_models: list[str],
                     settings: ProfileSettings) -> dict[str, Any]:
        """Run the pushed profiler over pushed models; returns its parsed JSON.

        Raises:
            RuntimeMissing: no runtime for a model on the device (the message says what to install).
            DeviceError: the profiler failed or printed something that is not its JSON.
        """
        argv = [self.python, folder, *remote_models, *settings.profiler_arguments()]
        if self.target.delegate_library:
            argv += ["--delegate", self.target.delegate_library]
            for key, value in self.target.delegate_options.items():
                argv += ["--delegate-option", f"{key}={value}"]
        run = transport.run(argv)
        result = last_json_line(run.stdout)
        if result is None:
            raise DeviceError(f"{transport.address}: the profiler failed: {run.detail(lines=5)}")
        if "error" in result:
            if run.exit_code == EXIT_NO_RUNTIME:
                setup = f" (target {self.target.name}: {self.target.setup})" if self.target.setup else ""
                raise RuntimeMissing(f"{transport.address}: {result['message']}{setup}")
            raise DeviceError(f"{transport.address}: {result['message']}")
        return result


def last_json_line(text: str) -> Optional[dict[str, Any]]:
    """The profiler's JSON: its last line starting with `{` (runtimes print banners such as "INFO: Created
    TensorFlow Lite XNNPACK delegate" on stdout on some builds), or None."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None
