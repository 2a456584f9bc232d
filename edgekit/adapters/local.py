"""The host target: the same interface as a board, with the device being this machine.

The profiler runs in a child process, as on a board: a model that crashes the runtime ends
that process, not the build, and the profile is not disturbed by the build's own threads.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

from edgekit import fsutil
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
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, destination)
        return str(destination)

    def sha256(self, remote: str) -> str:
        try:
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
