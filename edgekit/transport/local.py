"""This machine as a device: the same interface as a board, with commands run as child processes.

A command (the profiler, say) runs in a process of its own, as on a board: a model that crashes the runtime ends
that process, not the build, and a timing is not disturbed by the build's own threads.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

from edgekit import fsutil
from edgekit.errors import DeviceError
from edgekit.transport import remote_files
from edgekit.transport.base import COMMAND_NOT_FOUND, RunResult, Transport

# The shell's code for a program found but not executable.
_CANNOT_EXECUTE = 126


class LocalTransport(Transport):
    """Runs everything on this machine; a session's scratch folder is a fresh temporary folder."""

    name = "local"

    def __init__(self, address: Optional[str] = None, **settings):
        super().__init__(address, **settings)
        self._scratch: Optional[Path] = None

    def connect(self) -> None:
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="edgekit-local-"))

    def workdir(self) -> str:
        self.connect()
        return str(self._scratch)

    def close(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def run(self, argv: list[str], *, timeout: Optional[float] = None) -> RunResult:
        started = time.monotonic()
        try:
            completed = subprocess.run([str(argument) for argument in argv], stdin=subprocess.DEVNULL,
                                       capture_output=True, text=True, errors="replace", timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise self.timed_out(argv, timeout) from None
        except OSError as error:
            # What a shell answers: 127 for a program that is not there, 126 for one that cannot be executed.
            code = COMMAND_NOT_FOUND if error.errno == errno.ENOENT else _CANNOT_EXECUTE
            return RunResult(tuple(argv), code, "", f"cannot run {argv[0]}: {error.strerror}",
                             time.monotonic() - started)
        return RunResult(tuple(argv), completed.returncode, completed.stdout, completed.stderr,
                         time.monotonic() - started)

    def put(self, local: Path, remote: str) -> str:
        destination = Path(remote)
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
            if _same_file(local, destination):
                return str(destination)  # deployed onto itself: the file is already where it should be
            # mkstemp beside the destination (O_EXCL: never through a link), then rename(2) over it: a symlink
            # someone left at `remote` is replaced, and its target is not touched.
            with fsutil.atomic_path(destination) as temporary:
                shutil.copyfile(local, temporary)
        except OSError as error:
            raise DeviceError(f"{self.address}: cannot write {remote}: {_reason(error)}") from None
        return str(destination)

    def fetch(self, remote: str, local: Path) -> Path:
        try:
            with fsutil.atomic_path(local) as temporary:
                shutil.copyfile(remote, temporary)
        except OSError as error:
            raise DeviceError(f"{self.address}: cannot read {remote}: {_reason(error)}") from None
        return Path(local)

    def private_folder(self) -> str:
        if self._private_folder is None:
            folder = remote_files.private_folder_name(self.workdir_root, os.getuid())
            try:
                Path(folder).parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.mkdir(folder, 0o700)
                except FileExistsError:
                    pass  # checked below, like one made by someone else
                facts = remote_files.FolderFacts.local(remote_files.parent_of(folder), folder)
            except OSError as error:
                raise DeviceError(f"{self.address}: cannot make the folder {folder}: {_reason(error)}") from None
            remote_files.check_private_folder(facts, address=self.address, folder=folder)
            self._private_folder = folder
        return self._private_folder

    def sha256(self, remote: str) -> str:
        try:
            kind = os.lstat(remote).st_mode
            if not stat.S_ISREG(kind):
                what = "a symbolic link, not a file edgekit wrote" if stat.S_ISLNK(kind) else "not a regular file"
                raise DeviceError(f"{self.address}: cannot compute the sha256 of {remote}: it is {what}")
            return fsutil.sha256_file(Path(remote))
        except OSError as error:
            raise DeviceError(f"{self.address}: cannot compute the sha256 of {remote}: {error.strerror}") from None


def _same_file(local: Path, destination: Path) -> bool:
    # Not through a symlink at the destination: that one is replaced by a copy, whatever it points to.
    return destination.exists() and not destination.is_symlink() and os.path.samefile(local, destination)


def _reason(error: OSError) -> str:
    if isinstance(error, IsADirectoryError):
        return "a folder is in the way"
    return error.strerror or str(error)
