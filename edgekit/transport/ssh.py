"""Boards reached over SSH, through the system's OpenSSH client.

Using `ssh` itself (not a Python SSH library) means the user's ~/.ssh/config, agent, jump hosts and
known_hosts work as they do in a terminal. One master connection (ControlMaster) is opened by connect()
and reused by every command, so profiling several artifacts does not log in again for each.

Files travel as `cat > file` over that connection into a fresh private temporary folder, and are renamed into
place once their SHA-256 matches (edgekit.transport.remote_files): it needs nothing on the board but a POSIX shell
and coreutils, and every path is a shlex-quoted argument of that shell, so names with spaces, quotes, backslashes
or newlines cannot inject anything.
"""

from __future__ import annotations

import math
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

from edgekit import fsutil
from edgekit.errors import ConfigError, DeviceDisconnected, DeviceError, ToolError
from edgekit.transport import remote_files
from edgekit.transport.base import RunResult, Transport
from edgekit.transport.ssh_address import SshDestination
from edgekit.transport.ssh_faults import classify_ssh_failure

# ssh exits 255 when ssh itself failed (connection, authentication, a dropped link); any other code is the
# remote command's own.
_SSH_FAILED = 255
# Keepalives notice a board that vanished without closing the connection (power cut, cable pulled) within
# about interval x count seconds, instead of waiting for TCP to give up.
_KEEPALIVE_INTERVAL_S = 5
_KEEPALIVE_COUNT = 3
# The master outlives a crashed edgekit by at most this long; close() ends it at once.
_MASTER_PERSIST_S = 300
# Beyond ssh's own ConnectTimeout: time for the key exchange and the login itself.
_LOGIN_GRACE_S = 30


class SshTransport(Transport):
    """A board at `user@host[:port]` (or an ssh config alias), optionally with an ssh config file (`-F`)."""

    name = "ssh"

    def __init__(self, address: Optional[str], *, ssh_config: Optional[Path] = None, **settings):
        super().__init__(address, **settings)
        if not address:
            who = self.label or "an ssh device"
            raise ConfigError(f"{who} needs --device: user@host[:port] or an ssh config alias")
        self.destination = SshDestination.parse(address)
        self.ssh_config = ssh_config
        self._control_dir: Optional[Path] = None
        self._dropped = False

    # ------------------------------------------------------------------------------------------ connection
    def connect(self) -> None:
        if self._control_dir is not None:
            return
        if shutil.which("ssh") is None:
            raise ToolError("the ssh client is not installed: install OpenSSH (`apt-get install openssh-client`)")
        # A private folder (mode 0700) for the master's socket: nobody else can ride on our login.
        self._control_dir = Path(tempfile.mkdtemp(prefix="edgekit-ssh-"))
        argv = self._ssh_argv("-o", "ControlMaster=yes", "-o", f"ControlPersist={_MASTER_PERSIST_S}") + ["--", "true"]
        # The master stays in the background holding its stderr open, so stderr goes to a file, not a pipe
        # (reading a pipe would wait for the master to end).
        with tempfile.TemporaryFile() as stderr_file:
            try:
                completed = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                           stderr=stderr_file, timeout=self.connect_timeout_s + _LOGIN_GRACE_S,
                                           check=False)
            except subprocess.TimeoutExpired:
                self._forget_master()
                raise classify_ssh_failure(self, "Connection timed out during login") from None
            stderr_file.seek(0)
            stderr = stderr_file.read().decode("utf-8", "replace")
        if completed.returncode != 0:
            self._forget_master()
            raise classify_ssh_failure(self, stderr)

    def close(self) -> None:
        if self._control_dir is None:
            return
        if not self._dropped:
            self.remove_session_folder()
            subprocess.run(self._ssh_argv("-O", "exit"), stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=self.connect_timeout_s, check=False)
        self._forget_master()

    def _forget_master(self) -> None:
        if self._control_dir is not None:
            shutil.rmtree(self._control_dir, ignore_errors=True)
        self._control_dir = None
        self._session_dir = None

    def _master_alive(self) -> bool:
        if self._control_dir is None:
            return False
        completed = subprocess.run(self._ssh_argv("-O", "check"), stdin=subprocess.DEVNULL, capture_output=True,
                                   timeout=10, check=False)
        return completed.returncode == 0

    def _ssh_argv(self, *extra: str) -> list[str]:
        """ssh with our options and `extra` options, ending with the destination (a command may follow)."""
        argv = ["ssh"]
        if self.ssh_config:
            argv += ["-F", str(self.ssh_config)]
        argv += [
            "-o", "BatchMode=yes",
            "-o", f"ConnectTimeout={max(1, math.ceil(self.connect_timeout_s))}",
            "-o", f"ServerAliveInterval={_KEEPALIVE_INTERVAL_S}",
            "-o", f"ServerAliveCountMax={_KEEPALIVE_COUNT}",
            "-o", f"ControlPath={self._control_dir}/%C",
            *extra,
        ]
        return argv + self.destination.arguments()

    # ------------------------------------------------------------------------------------------ commands
    def run(self, argv: list[str], *, timeout: Optional[float] = None) -> RunResult:
        return self._ssh_command(argv, remote_command(argv), timeout=timeout, what=str(argv[0]))

    def _ssh_command(self, argv: list[str], command: str, *, timeout: Optional[float] = None, stdin=None,
                     stdout=None, what: str = "a command") -> RunResult:
        """Run one remote shell command line (already quoted) over the master connection."""
        self.connect()
        ssh = self._ssh_argv("-o", "ControlMaster=no") + ["--", command]
        started = time.monotonic()
        try:
            completed = subprocess.run(ssh, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                       stdout=stdout if stdout is not None else subprocess.PIPE,
                                       stderr=subprocess.PIPE, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise DeviceError(f"{self.address}: {what} did not finish within {timeout:g} s") from None
        out = completed.stdout.decode("utf-8", "replace") if completed.stdout is not None else ""
        err = completed.stderr.decode("utf-8", "replace")
        if completed.returncode == _SSH_FAILED and not self._master_alive():
            self._dropped = True
            last = err.strip().splitlines()[-1] if err.strip() else "the connection closed"
            raise DeviceDisconnected(f"{self.address}: the device dropped the connection while running {what} "
                                     f"({last}); nothing from this run was kept")
        return RunResult(tuple(str(argument) for argument in argv), completed.returncode, out, err,
                         time.monotonic() - started)

    # ------------------------------------------------------------------------------------------ files
    def device_path(self, path: str) -> str:
        return home_relative(path)

    def put(self, local: Path, remote: str) -> str:
        remote = home_relative(remote)
        folder = remote_files.operand(remote_files.parent_of(remote))
        argv = remote_files.shell_argv(remote_files.WRITE_FROM_STDIN, folder, remote_files.operand(remote),
                                       *remote_files.upload_facts(local))
        with open(local, "rb") as source:
            result = self._ssh_command(argv, remote_command(argv), stdin=source,
                                       what=f"the copy of {Path(local).name}")
        if not result.ok:
            raise DeviceError(f"{self.address}: cannot write {remote}: {result.detail()}")
        return remote

    def fetch(self, remote: str, local: Path) -> Path:
        remote = home_relative(remote)
        argv = ["cat", "--", remote]
        with fsutil.atomic_path(local) as temporary, open(temporary, "wb") as sink:
            result = self._ssh_command(argv, remote_command(argv), stdout=sink, what=f"the copy of {remote}")
            if not result.ok:
                raise DeviceError(f"{self.address}: cannot read {remote}: {result.detail()}")
        return Path(local)


def remote_command(argv: list[str]) -> str:
    """A command line for the remote shell, every argument quoted.

    A leading `~/` of the program (a `--remote-python ~/venv/bin/python`) becomes "$HOME"/..., since a quoted
    tilde would not expand.
    """
    program, *arguments = [str(argument) for argument in argv]
    rendered = f'"$HOME"/{shlex.quote(program[2:])}' if program.startswith("~/") else shlex.quote(program)
    return " ".join([rendered, *(shlex.quote(argument) for argument in arguments)])


def home_relative(remote: str) -> str:
    """`~/x` as `x`: ssh runs commands in the home folder, and a quoted tilde would not expand."""
    return remote[2:] or "." if remote.startswith("~/") else remote
