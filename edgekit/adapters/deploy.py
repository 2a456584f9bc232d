"""`edgekit deploy`: copy artifacts to a device and check each copy's SHA-256 there."""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from edgekit.adapters.acceptance import check_accepted
from edgekit.adapters.base import ConnectionOptions
from edgekit.adapters.registry import open_adapter
from edgekit.config.target import Target, load_target
from edgekit.errors import InputFileError


@dataclass(frozen=True)
class Deployed:
    """One artifact on the device: where it is and the SHA-256 the device computed."""

    local: Path
    remote: str
    sha256: str
    bytes: int


def deploy_artifacts(artifacts: list[Path], target: Target | str, options: ConnectionOptions,
                     dest: Optional[str] = None) -> list[Deployed]:
    """Copy each artifact into `dest` on the device, verifying its SHA-256.

    `dest` defaults to this user's private folder there, `<target workdir>-<uid>` (/tmp/edgekit-1000), made with
    mode 0700 and checked for owner and mode. Each copy is written to a fresh temporary name and renamed into
    place, so a symlink at the destination is replaced, never followed. .tflite artifacts the target cannot run
    are refused before anything is copied.

    Raises:
        InputFileError: an artifact is missing, a folder, or unreadable.
        ArtifactNotAccepted: the target cannot run one of the artifacts.
        UnsafeFolder: the default folder is a symlink, someone else's, or writable by others.
        DeviceError: the device cannot be reached, or a copy differs from its original.
    """
    target = load_target(target) if isinstance(target, str) else target
    for artifact in artifacts:
        if not artifact.is_file():
            raise InputFileError(f"{artifact}: no such file" if not artifact.exists() else f"{artifact}: is a folder")
        if not os.access(artifact, os.R_OK):
            raise InputFileError(f"{artifact}: cannot be read (permission denied)")
        if artifact.suffix == ".tflite":
            check_accepted(target, artifact)
    deployed = []
    with open_adapter(target, options) as adapter:
        folder = dest or adapter.private_folder()
        for artifact in artifacts:
            remote = posixpath.join(folder, artifact.name)
            digest = adapter.deploy(artifact, remote)
            deployed.append(Deployed(artifact, remote, digest, artifact.stat().st_size))
    return deployed
