"""Facts about processes that lock records name: this host, this user, this command, and whether a pid lives."""

from __future__ import annotations

import getpass
import os
import socket
import sys
from pathlib import Path

HOST = socket.gethostname()


def process_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this machine (another user's counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def user_name() -> str:
    """The login name of this process, or its uid when the uid has no name (a container)."""
    try:
        return getpass.getuser()
    except Exception:  # getpass raises KeyError or OSError, by platform, for a uid without a name
        return str(os.getuid())


def command_line(limit: int = 160) -> str:
    """How a person would have typed this process's command: `edgekit build --device pi@shelf-1`, cut to
    `limit` characters."""
    program = Path(sys.argv[0]).name if sys.argv else "python"
    # `python -m edgekit.cli` names cli.py as the program; people know the command as edgekit.
    program = "edgekit" if program in ("cli.py", "__main__.py") else program
    command = " ".join([program, *sys.argv[1:]])
    return command if len(command) <= limit else command[:limit - 3] + "..."
