"""Android devices (a USB serial, or host:port after `adb tcpip`) through the adb client.

`adb shell` joins its arguments into one command line for the device's shell, so every argument is
shlex-quoted; `adb push`/`adb pull` take paths literally (adb's sync protocol, no shell), after a `--`.
A push goes into a fresh private temporary folder and is renamed into place once its SHA-256 matches
(edgekit.transport.remote_files).
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Optional

from edgekit import fsutil
from edgekit.errors import (AuthenticationFailed, ConfigError, DeviceDisconnected, DeviceError, TargetUnreachable,
                            ToolError)
from edgekit.transport import remote_files
from edgekit.transport.base import RunResult, Transport, quote_command

_NETWORK_SERIAL = re.compile(r"^(?:\[[^\]]+\]|[^:\s]+):\d+$")
# adb shell's exit status is lost when the link drops (the client may even exit 0), so each command prints
# its status after itself: no status line means the command did not run to its end.
_STATUS_MARK = "__edgekit_exit_status__="
_STATUS_LINE = re.compile(r"\n?" + re.escape(_STATUS_MARK) + r"(\d+)\n?$")


class AdbTransport(Transport):
    """One adb device; without an address, the only device `adb devices` lists."""

    name = "adb"

    def __init__(self, address: Optional[str] = None, **settings):
        super().__init__(address, **settings)
        self._connected = False

    @property
    def address(self) -> str:
        return self._address or "the adb device"

    # ------------------------------------------------------------------------------------------ connection
    def connect(self) -> None:
        if self._connected:
            return
        if shutil.which("adb") is None:
            raise ToolError("the adb client is not installed: `apt-get install adb` (Debian/Ubuntu), "
                            "or Android SDK platform-tools")
        if self._address and _NETWORK_SERIAL.match(self._address):
            self._adb_connect()
        elif not self._address:
            self._address = self._only_device()
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
            completed = self._adb("connect", self._address, timeout=self.connect_timeout_s, serial=False)
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
            who = self.label or "an adb device"
            raise ConfigError(f"{who} needs --device SERIAL (or host:port): "
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
            self.remove_session_folder()
        self._session_dir = None
        self._connected = False

    def _adb(self, *arguments: str, timeout: Optional[float] = None,
             serial: bool = True) -> subprocess.CompletedProcess:
        argv = ["adb", *(["-s", self._address] if serial and self._address else []), *arguments]
        return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, errors="replace", timeout=timeout, check=False)

    def _dropped(self, what: str, detail: str) -> DeviceDisconnected:
        return DeviceDisconnected(f"{self.address}: the device dropped the connection while running {what} "
                                  f"({detail or 'no exit status came back'}); nothing from this run was kept")

    # ------------------------------------------------------------------------------------------ commands
    def run(self, argv: list[str], *, timeout: Optional[float] = None) -> RunResult:
        self.connect()
        command = f"{quote_command(argv)}; printf '\\n{_STATUS_MARK}%s\\n' \"$?\""
        started = time.monotonic()
        try:
            completed = self._adb("shell", command, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise self.timed_out(argv, timeout) from None
        status = _STATUS_LINE.search(completed.stdout)
        if status is None:
            if self._state() != "device":
                raise self._dropped(str(argv[0]), completed.stderr.strip())
            raise DeviceError(f"{self.address}: {argv[0]} ended without an exit status: "
                              f"{completed.stderr.strip() or completed.stdout.strip()[-200:]}")
        return RunResult(tuple(str(argument) for argument in argv), int(status.group(1)),
                         completed.stdout[:status.start()], completed.stderr, time.monotonic() - started)

    # ------------------------------------------------------------------------------------------ files
    def put(self, local: Path, remote: str) -> str:
        self.connect()
        folder = remote_files.operand(remote_files.parent_of(remote))
        made = self.checked(remote_files.shell_argv(remote_files.MAKE_TEMPORARY_FOLDER, folder),
                            f"cannot make a temporary folder beside {remote}", timeout=self.command_timeout_s)
        temporary = made[:-1] if made.endswith("\n") else made  # mktemp's path, which may itself hold newlines
        # `--`, and an absolute local path: a local file called `-q` must not read as an option of adb push.
        completed = self._adb("push", "--", os.path.abspath(local), posixpath.join(temporary, "file"))
        if completed.returncode != 0:
            if self._state() != "device":
                raise self._dropped(f"the copy of {Path(local).name}", completed.stderr.strip())
            self.run(remote_files.shell_argv(remote_files.REMOVE_TEMPORARY_FOLDER, temporary))
            raise DeviceError(f"{self.address}: adb push {local} failed: {completed.stderr.strip()}")
        self.checked(remote_files.shell_argv(remote_files.FINISH_UPLOAD, temporary, remote_files.operand(remote),
                                             *remote_files.upload_facts(local)), f"cannot write {remote}",
                     timeout=self.command_timeout_s)
        return remote

    def fetch(self, remote: str, local: Path) -> Path:
        self.connect()
        with fsutil.atomic_path(local) as temporary:
            completed = self._adb("pull", "--", remote, str(temporary))
            if completed.returncode != 0:
                raise DeviceError(f"{self.address}: adb pull {remote} failed: {completed.stderr.strip()}")
        return Path(local)
