"""Android phones over adb: TFLite's own benchmark_model binary times the model on the phone.

The phone has no Python, so edgekit's profiler cannot run there: benchmark_model (pushed once per session)
runs pinned to the target's big cores with `taskset`, with the target's delegate flags, and its output is
parsed into the profile JSON (see edgekit.profiling.benchmark_model for what it can and cannot report).

`adb shell` joins its arguments into one command line for the phone's shell, so every argument is
shlex-quoted; `adb push`/`adb pull` take paths literally (adb's sync protocol, no shell), after a `--`.
A push goes into a fresh private temporary folder and is renamed into place once its SHA-256 matches
(edgekit.adapters.remote_files).
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Optional

from edgekit import fsutil
from edgekit.adapters import remote_files
from edgekit.adapters.acceptance import check_accepted
from edgekit.adapters.base import Adapter, quote_command
from edgekit.errors import (AuthenticationFailed, ConfigError, DeviceDisconnected, DeviceError, TargetUnreachable,
                            ToolError)
from edgekit.profiling.benchmark_model import (benchmark_arguments, benchmark_memory, parse_benchmark_output,
                                               profile_fields)
from edgekit.profiling.profile import PROFILE_KEYS, ProfileSettings

_NETWORK_SERIAL = re.compile(r"^(?:\[[^\]]+\]|[^:\s]+):\d+$")
# adb shell's exit status is lost when the link drops (the client may even exit 0), so each command prints
# its status after itself: no status line means the command did not run to its end.
_STATUS_MARK = "__edgekit_exit_status__="
_STATUS_LINE = re.compile(r"\n?" + re.escape(_STATUS_MARK) + r"(\d+)\n?$")
# One probe of what the phone is; on a Linux stand-in without getprop the Android fields stay empty.
_DEVICE_PROBE = (
    'echo "machine=$(uname -m)"; '
    'echo "model=$(getprop ro.product.model 2>/dev/null)"; '
    'echo "release=$(getprop ro.build.version.release 2>/dev/null)"; '
    'echo "soc=$(getprop ro.soc.model 2>/dev/null)"; '
    'echo "os=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"; '
    'echo "cpu_count=$(nproc 2>/dev/null)"'
)
# benchmark_model stops itself after 150 s by default; this is the outer limit for one model.
_BENCHMARK_TIMEOUT_S = 900.0


class AdbAdapter(Adapter):
    """An Android device (USB serial or host:port) through the adb client."""

    name = "adb"

    def __init__(self, target, options):
        super().__init__(target, options)
        self.serial: Optional[str] = options.address
        self._session_dir: Optional[str] = None
        self._connected = False

    @property
    def address(self) -> str:
        return self.serial or "the adb device"

    @property
    def connect_timeout_s(self) -> float:
        return self.options.connect_timeout_s or self.target.connect_timeout_s

    # ------------------------------------------------------------------------------------------ connection
    def connect(self) -> None:
        if self._connected:
            return
        if shutil.which("adb") is None:
            raise ToolError("the adb client is not installed: `apt-get install adb` (Debian/Ubuntu), "
                            "or Android SDK platform-tools")
        if self.serial and _NETWORK_SERIAL.match(self.serial):
            self._adb_connect()
        elif not self.serial:
            self.serial = self._only_device()
        state = self._settled_state()
        if state == "unauthorized":
            raise AuthenticationFailed(f"{self.address}: the device has not authorized this computer: unlock it "
                                       f"and accept the 'Allow USB debugging?' prompt, then try again")
        if state != "device":
            listed = self._adb("devices", timeout=self.connect_timeout_s).stdout.strip().splitlines()[1:]
            raise TargetUnreachable(f"{self.address}: no such adb device (state: {state or 'not found'}); "
                                    f"`adb devices` lists: {', '.join(listed) or 'nothing'}")
        self._connected = True

    def _adb_connect(self) -> None:
        try:
            completed = self._adb("connect", self.serial, timeout=self.connect_timeout_s, serial=False)
        except subprocess.TimeoutExpired:
            raise TargetUnreachable(f"{self.address}: no answer within the connect timeout "
                                    f"({self.connect_timeout_s:g} s). Is adbd listening (`adb tcpip 5555`)?") from None
        said = (completed.stdout + completed.stderr).strip()
        if "failed to authenticate" in said:
            raise AuthenticationFailed(f"{self.address}: {said}: accept the debugging prompt on the device")
        if "connected to" not in said:  # "connected to", "already connected to"
            raise TargetUnreachable(f"{self.address}: adb connect failed: {said or 'no answer'}")

    def _only_device(self) -> str:
        listed = self._adb("devices", timeout=self.connect_timeout_s, serial=False).stdout.strip().splitlines()[1:]
        ready = [line.split()[0] for line in listed if line.split()[1:2] == ["device"]]
        if len(ready) != 1:
            raise ConfigError(f"target {self.target.name} needs --device SERIAL (or host:port): "
                              f"`adb devices` lists {len(ready)} ready devices: {', '.join(ready) or 'none'}")
        return ready[0]

    def _settled_state(self) -> str:
        # Right after `adb connect` a device is "offline" or "connecting" for a moment.
        deadline = time.monotonic() + self.connect_timeout_s
        state = self._state()
        while state in ("offline", "connecting", "authorizing") and time.monotonic() < deadline:
            time.sleep(0.2)
            state = self._state()
        return state

    def _state(self) -> str:
        try:
            completed = self._adb("get-state", timeout=self.connect_timeout_s)
        except subprocess.TimeoutExpired:
            return ""
        return completed.stdout.strip()

    def close(self) -> None:
        if self._connected and self._session_dir is not None and self._state() == "device":
            try:
                self.run(["rm", "-rf", self._session_dir], timeout=self.connect_timeout_s)
            except DeviceError:
                pass  # best effort: a leftover scratch folder is not worth failing a finished profile for
        self._session_dir = None
        self._connected = False

    def _adb(self, *arguments: str, timeout: Optional[float] = None, serial: bool = True,
             stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
        argv = ["adb", *(["-s", self.serial] if serial and self.serial else []), *arguments]
        return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE, text=True,
                              timeout=timeout, check=False)

    def _dropped(self, what: str, detail: str) -> DeviceDisconnected:
        return DeviceDisconnected(f"{self.address}: the device dropped the connection while running {what} "
                                  f"({detail or 'no exit status came back'}); nothing from this run was kept")

    # ------------------------------------------------------------------------------------------ commands
    def run(self, argv: list[str], *, timeout: Optional[float] = None) -> tuple[int, str, str]:
        self.connect()
        command = f"{quote_command(argv)}; printf '\\n{_STATUS_MARK}%s\\n' \"$?\""
        try:
            completed = self._adb("shell", command, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise DeviceError(f"{self.address}: {argv[0]} did not finish within {timeout:g} s") from None
        status = _STATUS_LINE.search(completed.stdout)
        if status is None:
            if self._state() != "device":
                raise self._dropped(argv[0], completed.stderr.strip())
            raise DeviceError(f"{self.address}: {argv[0]} ended without an exit status: "
                              f"{completed.stderr.strip() or completed.stdout.strip()[-200:]}")
        return int(status.group(1)), completed.stdout[:status.start()], completed.stderr

    # ------------------------------------------------------------------------------------------ files
    def workdir(self) -> str:
        if self._session_dir is None:
            self._session_dir = posixpath.join(self.private_folder(), f"session-{uuid.uuid4().hex[:12]}")
        return self._session_dir

    def put(self, local: Path, remote: str) -> str:
        self.connect()
        folder = remote_files.operand(remote_files.parent_of(remote))
        made = self._checked(remote_files.shell_argv(remote_files.MAKE_TEMPORARY_FOLDER, folder),
                             f"cannot make a temporary folder beside {remote}")
        temporary = made[:-1] if made.endswith("\n") else made  # mktemp's path, which may itself hold newlines
        # `--`, and an absolute local path: a local file called `-q` must not read as an option of adb push.
        completed = self._adb("push", "--", os.path.abspath(local), posixpath.join(temporary, "file"), timeout=None)
        if completed.returncode != 0:
            if self._state() != "device":
                raise self._dropped(f"the copy of {Path(local).name}", completed.stderr.strip())
            self.run(remote_files.shell_argv(remote_files.REMOVE_TEMPORARY_FOLDER, temporary))
            raise DeviceError(f"{self.address}: adb push {local} failed: {completed.stderr.strip()}")
        self._checked(remote_files.shell_argv(remote_files.FINISH_UPLOAD, temporary, remote_files.operand(remote),
                                              *remote_files.upload_facts(local)), f"cannot write {remote}")
        return remote

    def fetch(self, remote: str, local: Path) -> Path:
        self.connect()
        with fsutil.atomic_path(local) as temporary:
            completed = self._adb("pull", "--", remote, str(temporary), timeout=None)
            if completed.returncode != 0:
                raise DeviceError(f"{self.address}: adb pull {remote} failed: {completed.stderr.strip()}")
        return Path(local)

    def _checked(self, argv: list[str], failure: str) -> str:
        code, stdout, stderr = self.run(argv, timeout=self.connect_timeout_s * 4)
        if code != 0:
            raise DeviceError(f"{self.address}: {failure}: {(stderr or stdout).strip() or f'exit code {code}'}")
        return stdout

    # ------------------------------------------------------------------------------------------ profiling
    def device_info(self) -> dict[str, Any]:
        """The "device" record of the profile JSON: machine, OS, CPU, runtime."""
        facts = dict(line.split("=", 1) for line in self._checked(["sh", "-c", _DEVICE_PROBE], "cannot describe the "
                                                                   "device").splitlines() if "=" in line)
        android = facts.get("release")
        return {
            "address": self.address,
            "machine": facts.get("machine") or None,
            "os": f"Android {android}" if android else (facts.get("os") or None),
            "runtime": "benchmark_model",
            "runtime_version": None,  # benchmark_model does not print its TFLite version
            "cpu": facts.get("soc") or facts.get("model") or None,
            "model": facts.get("model") or None,
            "cpu_count": int(facts["cpu_count"]) if facts.get("cpu_count", "").isdigit() else None,
            "cpu_mask": self.target.cpu_mask,
        }

    def benchmark_binary(self) -> Path:
        """The local benchmark_model to push: --benchmark-binary, else the target file's `benchmark_binary.path`.

        Raises:
            ToolError: none configured, or the file is missing; the message says where to get it.
        """
        configured = self.target.benchmark_binary
        path = self.options.benchmark_binary or (Path(configured.path).expanduser() if configured and configured.path
                                                 else None)
        url = configured.url if configured and configured.url else "TFLite's prebuilt benchmark tools"
        if path is None:
            raise ToolError(f"target {self.target.name} times models with TFLite's benchmark_model binary, and none "
                            f"is configured: download it from {url}, then pass --benchmark-binary PATH "
                            f"(or set benchmark_binary.path in a copy of the target file)")
        if not Path(path).is_file():
            raise ToolError(f"benchmark_model not found at {path}: download it from {url}")
        return Path(path)

    def profile(self, models: list[Path], settings: ProfileSettings) -> list[dict[str, Any]]:
        """Push benchmark_model and each model; time each model on the device (one after the other).

        benchmark_model times one model per process, so `interleave` is not possible here.
        """
        for model in models:
            check_accepted(self.target, model)
        binary = self.benchmark_binary()
        threads = settings.threads or self.target.threads
        settings = dataclasses.replace(settings, threads=threads)
        self.connect()
        remote_binary = (self.target.benchmark_binary.remote_path if self.target.benchmark_binary
                         else "/data/local/tmp/benchmark_model")
        self.put(binary, remote_binary)
        self._checked(["chmod", "755", remote_binary], f"cannot make {remote_binary} executable")
        device = self.device_info()
        return [self._profile_one(model, index, remote_binary, device, settings) for index, model in enumerate(models)]

    def _profile_one(self, model: Path, index: int, remote_binary: str, device: dict[str, Any],
                     settings: ProfileSettings) -> dict[str, Any]:
        remote_model = self.push(model, f"{index}_{model.name}")
        pin = ["taskset", self.target.cpu_mask] if self.target.cpu_mask else []
        argv = pin + [remote_binary] + benchmark_arguments(
            remote_model, runs=settings.runs, warmup=settings.warmup, min_seconds=settings.min_seconds,
            threads=settings.threads, delegate=self.target.delegate, delegate_library=self.target.delegate_library,
            peak_memory=True)
        code, stdout, stderr = self.run(argv, timeout=_BENCHMARK_TIMEOUT_S)
        output = parse_benchmark_output(stdout + "\n" + stderr)
        fields = profile_fields(output, what=f"{self.address}: {model.name} (exit code {code})")
        memory = benchmark_memory(output.memory_mb, model.stat().st_size)
        if memory is not None:
            fields["memory"] = memory
        if settings.op_profile or self.options.extra.get("op_profiling"):
            fields.update(self.benchmark_op_profile(pin + [remote_binary], remote_model, settings, model.name))
        profile = {
            "model": {"path": str(model), "sha256": fsutil.sha256_file(model), "bytes": model.stat().st_size},
            "target": self.target.name,
            "device": device,
            "threads": settings.threads,
            "delegate": self._delegate_name(),
            "warmup": settings.warmup,
        }
        profile.update(fields)
        # The contract's keys first, in their order; what only benchmark_model tells after them.
        ordered = {key: profile.get(key) for key in PROFILE_KEYS}
        ordered.update({key: value for key, value in profile.items() if key not in ordered})
        return ordered
