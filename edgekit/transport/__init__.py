"""Ways of reaching a device (local, ssh, adb), each one Transport: connect, put, fetch, run -> RunResult, close.

Transports sit low in edgekit: they import only the base layer (errors, fsutil). Timers (edgekit.profiling)
run over any of them; adapters (edgekit.adapters) put a transport and a timer together for a target.
"""

from __future__ import annotations

import importlib
from types import MappingProxyType

from edgekit.transport.base import RunResult, Transport

_KNOWN = {
    "local": "edgekit.transport.local:LocalTransport",
    "ssh": "edgekit.transport.ssh:SshTransport",
    "adb": "edgekit.transport.adb:AdbTransport",
}

#: read-only view of the transports: name -> "module:Class", imported on first use
known_transports = MappingProxyType(_KNOWN)


def transport_class(name: str) -> type[Transport]:
    """The transport class called `name` (local, ssh, adb).

    Raises:
        KeyError: no transport of that name (an internal error: adapters name their transport in code).
    """
    module_name, _, class_name = _KNOWN[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


__all__ = ["RunResult", "Transport", "known_transports", "transport_class"]
