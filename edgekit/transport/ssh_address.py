"""`--device` for SSH targets: `user@host[:port]`, `[v6addr]:port`, `ssh://user@host:port`, or an ssh config alias."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from edgekit.errors import ConfigError

_URL = re.compile(r"^ssh://(?P<rest>.+)$")
_BRACKETED = re.compile(r"^(?:(?P<user>[^@\s]+)@)?\[(?P<host>[^\]\s]+)\](?::(?P<port>\d+))?$")
_PLAIN = re.compile(r"^(?:(?P<user>[^@\s]+)@)?(?P<host>[^@:\s\[\]]+)(?::(?P<port>\d+))?$")
# What edgekit itself accepts, before ssh sees anything: a shell or ssh's own `%` tokens must never find
# anything to act on in an address, even where a ProxyCommand or a wrapper pastes it into a command line.
# POSIX portable user names; host names, IPv4 addresses and ssh config aliases; IPv6 in brackets, with a zone.
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
_HOST = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
_IPV6 = re.compile(r"^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(?:%[A-Za-z0-9._-]+)?$")
_ALLOWED = "letters, digits, '.', '_' and '-'"


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
        user, host, port = match.group("user"), match.group("host"), match.group("port")
        _check_part(address, "user name", user, _USER)
        _check_part(address, "host", host, _IPV6 if match.re is _BRACKETED else _HOST)
        if port is not None and not 0 < int(port) < 65536:
            raise ConfigError(f"--device {address!r}: port {port} is out of range 1-65535")
        login = f"{user}@{host}" if user else host
        return cls(login, int(port) if port else None)

    @property
    def host(self) -> str:
        return self.login.rpartition("@")[2]

    def arguments(self) -> list[str]:
        """ssh's arguments for this destination (options first: ssh stops reading options at the destination)."""
        return (["-p", str(self.port)] if self.port else []) + [self.login]

    def __str__(self) -> str:
        return self.login + (f":{self.port}" if self.port else "")


def _check_part(address: str, what: str, part: Optional[str], pattern: re.Pattern) -> None:
    """Refuse a user or host with a character no user or host name has (`$`, `;`, `%`, quotes, ...)."""
    if part is None or pattern.match(part):
        return
    if pattern is _IPV6:
        raise ConfigError(f"--device {address!r}: {part!r} in brackets is not an IPv6 address")
    unexpected = next((char for char in part if not re.match(r"[A-Za-z0-9._-]", char)), None)
    problem = f"may not contain {unexpected!r}" if unexpected else f"may not start with {part[:1]!r}"
    raise ConfigError(f"--device {address!r}: the {what} {part!r} {problem}; a {what} holds only {_ALLOWED}")
