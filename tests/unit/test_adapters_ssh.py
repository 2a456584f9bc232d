"""The ssh transport's pieces that need no server: addresses, quoting, and what ssh's errors become.
The transport itself is tested against a real sshd in tests/lab/ (a changed and an unknown host key included)."""

import shlex
import subprocess

import pytest

from edgekit.adapters import ConnectionOptions
from edgekit.adapters.ssh import SshAdapter
from edgekit.config.target import load_target
from edgekit.errors import (AuthenticationFailed, ConfigError, DeviceError, HostKeyChanged, HostKeyUnknown,
                            TargetUnreachable)
from edgekit.transport.ssh import home_relative, remote_command
from edgekit.transport.ssh_address import SshDestination
from edgekit.transport.ssh_faults import classify_ssh_failure


@pytest.mark.parametrize("address, login, port", [
    ("pi@raspberrypi.local", "pi@raspberrypi.local", None),
    ("pi@10.0.0.7:2222", "pi@10.0.0.7", 2222),
    ("my-pi", "my-pi", None),
    ("ssh://pi@board:2200", "pi@board", 2200),
    ("pi@[fe80::1]:22", "pi@fe80::1", 22),
])
def test_addresses(address, login, port):
    destination = SshDestination.parse(address)
    assert (destination.login, destination.port) == (login, port)
    assert destination.arguments()[-1] == login


@pytest.mark.parametrize("address", ["-oProxyCommand=touch x", "pi@host:99999", "pi @host", "", "pi@$(id)",
                                     "pi@board;reboot", "pi@%h", "pi@[fe80::1;x]", "p|i@board"])
def test_bad_addresses_are_refused(address):
    with pytest.raises(ConfigError, match="--device"):
        SshDestination.parse(address)


def test_remote_command_survives_a_posix_shell():
    argv = ["python3", "it's a \"model\".tflite", "$(reboot)", "a;b", "--runs", "5"]
    command = remote_command(argv)
    echoed = subprocess.run(["sh", "-c", "printf '%s\\n' " + command.split(" ", 1)[1]], capture_output=True, text=True)
    assert echoed.stdout.splitlines() == argv[1:]
    assert shlex.split(command) == argv


def test_a_home_relative_program_expands_on_the_device():
    assert remote_command(["~/litert/bin/python", "x y"]) == '"$HOME"/litert/bin/python \'x y\''
    assert home_relative("~/models") == "models" and home_relative("/tmp/x") == "/tmp/x"


@pytest.fixture
def transport(tmp_path):
    """The rpi4 target's ssh transport (its connect timeout, 15 s, comes from the target file)."""
    config = tmp_path / "ssh config"
    config.write_text("")
    return SshAdapter(load_target("rpi4"), ConnectionOptions(address="pi@board:2222", ssh_config=config)).transport


def test_unknown_host_key_says_how_to_trust_it(transport):
    error = classify_ssh_failure(transport, "No ED25519 host key is known for [board]:2222 and you have requested "
                                          "strict checking.\r\nHost key verification failed.\r\n")
    assert isinstance(error, HostKeyUnknown) and error.exit_code == 3
    assert "pi@board:2222: the device's host key is not in your known_hosts" in str(error)
    assert f"ssh -F '{transport.ssh_config}' -p 2222 pi@board" in str(error)  # quoted: the path has a space
    assert "ssh-keyscan -p 2222 board >> ~/.ssh/known_hosts" in str(error)
    assert "never turns host key checking off" in str(error)


def test_a_changed_host_key_is_not_the_same_as_an_unknown_one(transport):
    error = classify_ssh_failure(transport, "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
                                            "Host key verification failed.\n")
    assert isinstance(error, HostKeyChanged) and not isinstance(error, HostKeyUnknown) and error.exit_code == 3
    assert "pi@board:2222: the device's host key has CHANGED since you trusted it, so ssh refused" in str(error)
    assert "remove the old key with `ssh-keygen -R board`" in str(error) and "never turns host key" in str(error)


def test_a_changed_host_key_names_the_line_ssh_says_to_remove_and_the_new_fingerprint(transport):
    said = ("@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
            "The fingerprint for the ED25519 key sent by the remote host is\nSHA256:oSJz3kFagejgdlnnE5K/OCBT0IPy.\n"
            "Offending ED25519 key in /home/me/.ssh/known_hosts:3\n  remove with:\n"
            '  ssh-keygen -f "/home/me/.ssh/known_hosts" -R "[10.0.0.7]:2222"\n'
            "Host key for [10.0.0.7]:2222 has changed and you have requested strict checking.\n")
    message = str(classify_ssh_failure(transport, said))
    assert "it now offers the ED25519 key SHA256:oSJz3kFagejgdlnnE5K/OCBT0IPy)" in message
    assert 'remove the old key with `ssh-keygen -f "/home/me/.ssh/known_hosts" -R "[10.0.0.7]:2222"`' in message


def test_refused_authentication_names_the_fix(transport):
    error = classify_ssh_failure(transport, "pi@board: Permission denied (publickey,password).\r\n")
    assert isinstance(error, AuthenticationFailed)
    assert "authentication refused (publickey,password)" in str(error) and "ssh-copy-id pi@board" in str(error)


@pytest.mark.parametrize("said, reason", [
    ("ssh: connect to host board port 2222: Connection timed out", "Connection timed out"),
    ("ssh: connect to host board port 2222: Connection refused", "Connection refused"),
    ("ssh: connect to host board port 2222: No route to host", "No route to host"),
    ("ssh: Could not resolve hostname board: Name or service not known", "Could not resolve hostname board"),
])
def test_unreachable(transport, said, reason):
    error = classify_ssh_failure(transport, said)
    assert isinstance(error, TargetUnreachable)
    assert f"pi@board:2222: unreachable ({reason}" in str(error) and "connect timeout 15 s" in str(error)


def test_anything_else_keeps_what_ssh_said(transport):
    error = classify_ssh_failure(transport, "kex_exchange_identification: read: Connection reset by peer")
    assert type(error) is DeviceError and "ssh could not log in: kex_exchange_identification" in str(error)
