"""What ssh's stderr means, as one typed error that says what to do about it."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from edgekit.errors import AuthenticationFailed, DeviceError, HostKeyUnknown, TargetUnreachable

if TYPE_CHECKING:
    from edgekit.adapters.ssh import SshAdapter

_HOST_KEY_CHANGED = re.compile(r"REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed")
_HOST_KEY_UNKNOWN = re.compile(r"Host key verification failed|No \S+ host key is known for")
_AUTH_REFUSED = re.compile(r"Permission denied \((?P<methods>[^)]*)\)|Too many authentication failures")
_UNREACHABLE = re.compile(
    r"(?P<reason>Connection timed out|Operation timed out|Connection refused|No route to host|Network is unreachable"
    r"|Could not resolve hostname[^\r\n]*|Name or service not known|Temporary failure in name resolution)"
)


def classify_ssh_failure(adapter: "SshAdapter", stderr: str) -> DeviceError:
    """The error for a failed ssh login, from ssh's stderr; the message names the device and the remedy."""
    address = adapter.address
    ssh_again = _ssh_command_for(adapter)
    if _HOST_KEY_CHANGED.search(stderr):
        return HostKeyUnknown(
            f"{address}: the device's host key has CHANGED since it was trusted (a reinstalled board, or someone "
            f"in between). If you know why, remove the old key with `ssh-keygen -R {adapter.destination.host}` and "
            f"trust the new one with `{ssh_again}`; edgekit never turns host key checking off"
        )
    if _HOST_KEY_UNKNOWN.search(stderr):
        port = adapter.destination.port or 22
        return HostKeyUnknown(
            f"{address}: the device's host key is not in your known_hosts, so ssh refused it. Check its fingerprint "
            f"and trust it once with `{ssh_again}` (answer yes), or add it with "
            f"`ssh-keyscan -p {port} {adapter.destination.host} >> ~/.ssh/known_hosts`; "
            f"edgekit never turns host key checking off"
        )
    refused = _AUTH_REFUSED.search(stderr)
    if refused:
        methods = refused.group("methods") if refused.groupdict().get("methods") else "too many keys offered"
        return AuthenticationFailed(
            f"{address}: authentication refused ({methods}). edgekit runs ssh in batch mode, so it needs a key "
            f"that logs in without a prompt: `ssh-copy-id {adapter.destination.login}`, a loaded ssh-agent, "
            f"or an IdentityFile for this host in your ssh config"
        )
    unreachable = _UNREACHABLE.search(stderr)
    if unreachable:
        return TargetUnreachable(
            f"{address}: unreachable ({unreachable.group('reason').strip()}; connect timeout "
            f"{adapter.connect_timeout_s:g} s). Is the device on, on this network, and running an SSH server?"
        )
    detail = " / ".join(line.strip() for line in stderr.strip().splitlines()[-3:]) or "no message from ssh"
    return DeviceError(f"{address}: ssh could not log in: {detail}")


def _ssh_command_for(adapter: "SshAdapter") -> str:
    config = f"-F {adapter.options.ssh_config} " if adapter.options.ssh_config else ""
    port = f"-p {adapter.destination.port} " if adapter.destination.port else ""
    return f"ssh {config}{port}{adapter.destination.login}"
