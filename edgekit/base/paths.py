"""Per-user folders edgekit keeps state in, outside any project."""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_folder() -> Path:
    """edgekit's folder in the user's cache: $XDG_CACHE_HOME/edgekit, else ~/.cache/edgekit."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "edgekit"


def folder_from_variable(variable: str, default: Path) -> Path:
    """The folder an environment variable names (`~` expanded), else `default`."""
    configured = os.environ.get(variable)
    return Path(configured).expanduser() if configured else default
