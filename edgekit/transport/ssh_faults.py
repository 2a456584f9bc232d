"""What ssh's stderr means, as one typed error that says what to do about it."""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING

from edgekit.errors import AuthenticationFailed, DeviceError, HostKeyChanged, HostKeyUnknown, TargetUnreachable

if TYPE_CHECKING:
    from edgekit.transport.ssh import SshTransport

_HOST_KEY_CHANGED = re.compile(r"REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed")
_HOST_KEY_UNKNOWN = re.compile(r"Host key verification failed|No \S+ host key is known for")
# OpenSSH names the known_hosts line to remove: `  ssh-keygen -f "/home/me/.ssh/known_hosts" -R "10.0.0.7"`.
_REMOVE_WITH = re.compile(r"^\s*(ssh-keygen -f .+ -R .+?)\s*$", re.MULTILINE)
_OFFERED_KEY = re.compile(
    r"The fingerprint for the (?P<kind>\S+) key sent by the remote host is\s*(?P<print>\S+?)\.?\s*$", re.MULTILINE)
_AUTH_REFUSED = re.compile(r"Permission denied \((?P<methods>[^)]*)\)|Too many authentication failures")
_UNREACHABLE = re.compile(
    r"(?P<reason>Connection timed out|Operation timed out|Connection refused|No route to host|Network is unreachable"
    r"|Could not resolve hostname[^\r\n]*|Name or service not known|Temporary failure in name resolution)"
)
_NEVER_OFF = "edgekit never turns host key checking off"


def classify_ssh_failure(transport: "SshTransport", stderr: str) -> DeviceError:
    """The error for a failed ssh login, from ssh's stderr; the message names the device and the remedy."""
    address = transport.address
    ssh_again = ssh_command_for(transport)
    if _HOST_KEY_CHANGED.search(stderr):
        return _host_key_changed(transport, stderr, ssh_again)
    if _HOST_KEY_UNKNOWN.search(stderr):
        port = transport.destination.port or 22
        return HostKeyUnknown(
            f"{address}: the device's host key is not in your known_hosts, so ssh refused it. Check its fingerprint "
            f"and trust it once with `{ssh_again}` (answer yes), or add it with "
            f"`ssh-keyscan -p {port} {transport.destination.host} >> ~/.ssh/known_hosts`; {_NEVER_OFF}"
        )
    refused = _AUTH_REFUSED.search(stderr)
    if refused:
        methods = refused.group("methods") if refused.groupdict().get("methods") else "too many keys offered"
        return AuthenticationFailed(
            f"{address}: authentication refused ({methods}). edgekit runs ssh in batch mode, so it needs a key "
            f"that logs in without a prompt: `ssh-copy-id {transport.destination.login}`, a loaded ssh-agent, "
            f"or an IdentityFile for this host in your ssh config"
        )
    unreachable = _UNREACHABLE.search(stderr)
    if unreachable:
        return TargetUnreachable(
            f"{address}: unreachable ({unreachable.group('reason').strip()}; connect timeout "
            f"{transport.connect_timeout_s:g} s). Is the device on, on this network, and running an SSH server?"
        )
    detail = " / ".join(line.strip() for line in stderr.strip().splitlines()[-3:]) or "no message from ssh"
    return DeviceError(f"{address}: ssh could not log in: {detail}")


def _host_key_changed(transport: "SshTransport", stderr: str, ssh_again: str) -> HostKeyChanged:
    # ssh's own `ssh-keygen -f FILE -R HOST` names the known_hosts file and the host as ssh looked it up (an
    # alias's HostName, a [host]:port), which a command made from --device would not.
    remove = _REMOVE_WITH.search(stderr)
    remove_command = remove.group(1) if remove else f"ssh-keygen -R {transport.destination.host}"
    offered = _OFFERED_KEY.search(stderr)
    fingerprint = f" (it now offers the {offered.group('kind')} key {offered.group('print')})" if offered else ""
    return HostKeyChanged(
        f"{transport.address}: the device's host key has CHANGED since you trusted it{fingerprint}, so ssh refused "
        f"to connect: a reinstalled board, or someone in between. Only if you know why it changed, remove the old "
        f"key with `{remove_command}` and trust the new one with `{ssh_again}`; {_NEVER_OFF}"
    )


def ssh_command_for(transport: "SshTransport") -> str:
    """The ssh command line a user would type to log in as edgekit does (config file, port, login)."""
    config = f"-F {shlex.quote(str(transport.ssh_config))} " if transport.ssh_config else ""
    port = f"-p {transport.destination.port} " if transport.destination.port else ""
    return f"ssh {config}{port}{transport.destination.login}"
