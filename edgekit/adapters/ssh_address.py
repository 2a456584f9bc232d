"""`--device` for SSH targets: `user@host[:port]`, `[v6addr]:port`, `ssh://user@host:port`, or an ssh config alias."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from edgekit.errors import ConfigError

_URL = re.compile(r"^ssh://(?P<rest>.+)$")
_BRACKETED = re.compile(r"^(?P<user>[^@\s]+@)?\[(?P<host>[^\]\s]+)\](?::(?P<port>\d+))?$")
_PLAIN = re.compile(r"^(?P<user>[^@\s]+@)?(?P<host>[^@:\s\[\]]+)(?::(?P<port>\d+))?$")


@dataclass(frozen=True)
class SshDestination:
    """Where ssh connects: `login` (user@host or an alias, as ssh takes it) and an optional port."""

    login: str
    port: Optional[int] = None

    @classmethod
    def parse(cls, address: str) -> "SshDestination":
        """Parse a --device address.

        Raises:
            ConfigError: not an address ssh understands (and never one that ssh would read as an option).
        """
        text = address.strip()
        url = _URL.match(text)
        if url:
            text = url.group("rest").rstrip("/")
        match = _BRACKETED.match(text) or _PLAIN.match(text)
        if not text or text.startswith("-") or match is None:
            raise ConfigError(f"--device {address!r} is not an SSH address: use user@host, user@host:port "
                              f"or an alias from your ssh config")
        port = match.group("port")
        if port is not None and not 0 < int(port) < 65536:
            raise ConfigError(f"--device {address!r}: port {port} is out of range 1-65535")
        login = f"{match.group('user') or ''}{match.group('host')}"
        return cls(login, int(port) if port else None)

    @property
    def host(self) -> str:
        return self.login.rpartition("@")[2]

    def arguments(self) -> list[str]:
        """ssh's arguments for this destination (options first: ssh stops reading options at the destination)."""
        return (["-p", str(self.port)] if self.port else []) + [self.login]

    def __str__(self) -> str:
        return self.login + (f":{self.port}" if self.port else "")
