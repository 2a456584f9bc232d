"""The host target: the same interface as a board, with the device being this machine.

The profiler runs in a child process, as on a board: a model that crashes the runtime ends
that process, not the build, and the profile is not disturbed by the build's own threads.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

from edgekit import fsutil
from edgekit.adapters import remote_files
from edgekit.adapters.base import Adapter
from edgekit.errors import DeviceError


class LocalAdapter(Adapter):
    """Runs everything on this machine, in a temporary work folder."""

    name = "local"

    def __init__(self, target, options):
        super().__init__(target, options)
        self._workdir: Optional[Path] = None

    @property
    def python(self) -> str:
        # edgekit's own interpreter has ai-edge-litert; a target's `python: python3` would find another one.
        return self.options.remote_python or sys.executable

    def connect(self) -> None:
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="edgekit-local-"))

    def workdir(self) -> str:
        self.connect()
        return str(self._workdir)

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
            raise DeviceError(f"localhost: cannot write {remote}: {_reason(error)}") from None
        return str(destination)

    def private_folder(self) -> str:
        if self._private_folder is None:
            folder = remote_files.private_folder_name(self.target.workdir, os.getuid())
            try:
                Path(folder).parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.mkdir(folder, 0o700)
                except FileExistsError:
                    pass  # checked below, like one made by someone else
                facts = remote_files.FolderFacts.local(remote_files.parent_of(folder), folder)
            except OSError as error:
                raise DeviceError(f"localhost: cannot make the folder {folder}: {_reason(error)}") from None
            remote_files.check_private_folder(facts, address="localhost", folder=folder)
            self._private_folder = folder
        return self._private_folder

    def sha256(self, remote: str) -> str:
        try:
            kind = os.lstat(remote).st_mode
            if not stat.S_ISREG(kind):
                what = "a symbolic link, not a file edgekit wrote" if stat.S_ISLNK(kind) else "not a regular file"
                raise DeviceError(f"localhost: cannot compute the sha256 of {remote}: it is {what}")
            return fsutil.sha256_file(Path(remote))
        except OSError as error:
            raise DeviceError(f"localhost: cannot compute the sha256 of {remote}: {error.strerror}") from None

    def run(self, argv: list[str], *, timeout: Optional[float] = None) -> tuple[int, str, str]:
        try:
            completed = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        except FileNotFoundError as error:
            raise DeviceError(f"localhost: cannot run {argv[0]}: {error}") from None
        except subprocess.TimeoutExpired:
            raise DeviceError(f"localhost: {argv[0]} did not finish within {timeout} s") from None
        return completed.returncode, completed.stdout, completed.stderr

    def fetch(self, remote: str, local: Path) -> Path:
        with fsutil.atomic_path(local) as temporary:
            shutil.copyfile(remote, temporary)
        return Path(local)

    def close(self) -> None:
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None


def _same_file(local: Path, destination: Path) -> bool:
    # Not through a symlink at the destination: that one is replaced by a copy, whatever it points to.
    return destination.exists() and not destination.is_symlink() and os.path.samefile(local, destination)


def _reason(error: OSError) -> str:
    if isinstance(error, IsADirectoryError):
        return "a folder is in the way"
    return error.strerror or str(error)
