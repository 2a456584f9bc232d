"""The one interface of every way to reach a device: connect, put, fetch, run (a typed RunResult), close.

A transport moves files and runs commands; it knows nothing of models, targets or timing (edgekit.profiling's
timers run over any transport, edgekit.adapters puts the two together). What every transport shares lives here
once: the device's work folder (`workdir`, a private per-user folder and a scratch folder per session), the
connect timeout, the SHA-256 check of a copy, and the "stderr, else stdout, else the exit code" of a failure.
"""

from __future__ import annotations

import abc
import posixpath
import re
import shlex
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from edgekit.errors import DeviceError
from edgekit.fsutil import sha256_file
from edgekit.transport import remote_files

#: where a device's scratch folders live when the target file names no `workdir:`
DEFAULT_WORKDIR = "/tmp/edgekit"
DEFAULT_CONNECT_TIMEOUT_S = 15.0
#: the shell's exit code for "command not found"; every transport answers a missing program with it
COMMAND_NOT_FOUND = 127


@dataclass(frozen=True)
class RunResult:
    """What one command did on the device: its exit code, its output, and how long it took (seconds, measured
    on this machine, so the transport's own delay is in it: never a latency measurement)."""

    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def detail(self, lines: int = 1) -> str:
        """Why it failed, in a few words: the last `lines` lines of stderr, else of stdout, else the exit code."""
        text = self.stderr.strip() or self.stdout.strip()
        if not text:
            return f"exit code {self.exit_code}"
        return " / ".join(line.strip() for line in text.splitlines()[-lines:])

    def __iter__(self) -> Iterator[object]:
        """Unpacks as `code, stdout, stderr = transport.run(...)`, the tuple that run() returned before."""
        return iter((self.exit_code, self.stdout, self.stderr))


class Transport(abc.ABC):
    """A way to reach one device. Use as a context manager: `with transport: transport.run([...])`.

    Args:
        address: the device as the user named it (`--device`); None where the transport finds it itself.
        workdir: the target's work folder; this user's files go to `<workdir>-<uid>` (see private_folder).
        connect_timeout_s: how long connect() waits for the device to answer.
        label: who uses this transport, for messages ("target rpi4").
    """

    #: the name target files and the registry use (local, ssh, adb)
    name: str = ""

    def __init__(self, address: Optional[str] = None, *, workdir: str = DEFAULT_WORKDIR,
                 connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S, label: str = ""):
        self._address = address
        self.workdir_root = workdir
        self.connect_timeout_s = connect_timeout_s
        self.label = label
        self._private_folder: Optional[str] = None
        self._session_dir: Optional[str] = None

    @property
    def address(self) -> str:
        """How the device is named in messages and in the profile JSON."""
        return self._address or "localhost"

    # ------------------------------------------------------------------------------------------ the interface
    @abc.abstractmethod
    def connect(self) -> None:
        """Open the connection (or check the device answers). Safe to call twice.

        Raises:
            DeviceError: unreachable, authentication refused, unknown or changed host key, ...
        """

    @abc.abstractmethod
    def run(self, argv: list[str], *, timeout: Optional[float] = None) -> RunResult:
        """Run a command (a list of arguments, never a shell string; each one reaches the program unchanged).

        A program that is not on the device is exit code 127, as a shell says it, on every transport.

        Raises:
            DeviceError: it did not finish within `timeout` seconds.
            DeviceDisconnected: the device dropped the connection while it ran.
        """

    @abc.abstractmethod
    def put(self, local: Path, remote: str) -> str:
        """Copy a local file to exactly `remote` on the device (parent folders are made); returns `remote`.

        The copy goes to a fresh private temporary name beside `remote`, is checked, and is renamed into place:
        whatever was at `remote` (a symlink someone planted, say) is replaced, never written through.
        """

    @abc.abstractmethod
    def fetch(self, remote: str, local: Path) -> Path:
        """Copy a file from the device to `local` (written to a temporary name and renamed into place)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Remove this session's scratch folder and release the connection. Safe to call twice."""

    def __enter__(self) -> "Transport":
        self.connect()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------ shared parts
    def checked(self, argv: list[str], failure: str, *, timeout: Optional[float] = None) -> str:
        """Run `argv` and return its stdout.

        Raises:
            DeviceError: `{address}: {failure}: {why}` when it exits with another code than 0.
        """
        result = self.run(argv, timeout=timeout)
        if not result.ok:
            raise DeviceError(f"{self.address}: {failure}: {result.detail()}")
        return result.stdout

    def device_path(self, path: str) -> str:
        """`path` as the device's commands take it (ssh: `~/x` becomes `x`, relative to the home folder)."""
        return path

    def workdir(self) -> str:
        """This session's scratch folder on the device, `<private folder>/session-<random>` (removed by close())."""
        if self._session_dir is None:
            self._session_dir = posixpath.join(self.private_folder(), f"session-{uuid.uuid4().hex[:12]}")
        return self._session_dir

    def private_folder(self) -> str:
        """This user's own folder on the device, `<workdir>-<uid>` (made with mode 0700 on first use).

        Raises:
            UnsafeFolder: it is a symlink, belongs to another user, or others could change it (see remote_files).
        """
        if self._private_folder is None:
            workdir = self.device_path(self.workdir_root)
            answer = self.checked(remote_files.shell_argv(remote_files.PRIVATE_FOLDER, workdir,
                                                          remote_files.parent_of(workdir)),
                                  f"cannot make the folder {workdir}-<uid>", timeout=self.command_timeout_s)
            facts = remote_files.FolderFacts.parse(answer, address=self.address, folder=f"{workdir}-<uid>")
            folder = remote_files.private_folder_name(workdir, facts.uid)
            remote_files.check_private_folder(facts, address=self.address, folder=folder)
            self._private_folder = folder
        return self._private_folder

    @property
    def command_timeout_s(self) -> float:
        """The limit of a short housekeeping command (make a folder, hash a file): a few connect timeouts."""
        return self.connect_timeout_s * 4

    def push(self, local: Path, remote_name: str) -> str:
        """Copy a local file into this session's scratch folder under `remote_name`; returns its path there."""
        return self.put(local, posixpath.join(self.workdir(), remote_name))

    def sha256(self, remote: str) -> str:
        """The SHA-256 of the file at `remote`, computed on the device (`sha256sum < file`, so no name is escaped).

        Raises:
            DeviceError: the file is missing, a folder or a symbolic link, or the device has no sha256sum.
        """
        # No time limit: hashing a large model on a slow board takes what it takes; a dead link is noticed by
        # the transport itself (ssh keepalives, adb's device state).
        result = self.run(remote_files.shell_argv(remote_files.SHA256, self.device_path(remote)))
        digest = result.stdout.split()[0] if result.stdout.split() else ""
        if not result.ok or len(digest) != 64:
            raise DeviceError(f"{self.address}: cannot compute the sha256 of {remote}: {result.detail()}")
        return digest

    def deploy(self, local: Path, remote: str) -> str:
        """Copy `local` to `remote` and check the copy's SHA-256 on the device; returns the digest.

        Raises:
            DeviceError: the copy on the device differs from the local file.
        """
        expected = sha256_file(local)
        self.put(local, remote)
        found = self.sha256(remote)
        if found != expected:
            raise DeviceError(f"{self.address}: {remote} has sha256 {found} on the device, "
                              f"but {local} has {expected}: the copy is damaged")
        return found

    def remove_session_folder(self) -> None:
        """Remove this session's scratch folder, if one was made (best effort: close() must not fail over it)."""
        if self._session_dir is not None:
            try:
                self.run(["rm", "-rf", "--", self.device_path(self._session_dir)], timeout=self.connect_timeout_s)
            except DeviceError:
                pass  # a scratch folder left in /tmp is not worth failing a finished profile for
        self._session_dir = None

    def timed_out(self, argv: list[str], timeout: Optional[float]) -> DeviceError:
        """The error for a command that ran past its limit."""
        return DeviceError(f"{self.address}: {argv[0]} did not finish within {timeout:g} s")


def quote_command(argv: list[str]) -> str:
    """One remote command line with every argument quoted (for transports that take a string)."""
    return " ".join(shlex.quote(str(argument)) for argument in argv)


def portable_name(name: str) -> str:
    """`name` with every character but ASCII letters, digits, `.`, `_` and `-` replaced by `_`.

    A copy on the device needs no particular name, and one a device's runtime can open whatever its locale:
    a file name that is not UTF-8 (`\\udcff` here) cannot be passed to the interpreter's C++ loader.
    """
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)
