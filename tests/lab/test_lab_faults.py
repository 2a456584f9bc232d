"""Every fault of the issue's list, through the real transports: a clear message and the right exit code."""

import json
import re
import shutil
import time
from pathlib import Path

import pytest

from edgekit.errors import HostKeyChanged, HostKeyUnknown
from edgekit.transport.ssh import SshTransport
from tests.lab.conftest import MODELS, edgekit

AWKWARD = "it's a \"tiny\" model $(touch pwned).tflite"


def profile_on(lab, device, *extra, model=MODELS / "mlp-int8.tflite", target="lab-x86"):
    return edgekit("profile", model, "--target", target, "--device", device, "--ssh-config", lab.ssh_config,
                   "--runs", 5, "--min-seconds", 0, *extra)


def test_unreachable_host_fails_within_the_connect_timeout(lab):
    started = time.monotonic()
    result = profile_on(lab, lab["faults"]["nobody"])  # lab-x86 has connect_timeout_s: 3
    elapsed = time.monotonic() - started
    assert result.exit_code == 3
    # Nobody answers ARP at that address: ssh's timeout and the kernel's "no route" race; both are this error.
    assert re.search(r"lab-nobody: unreachable \((Connection timed out|No route to host); connect timeout 3 s\)",
                     result.output), result.output
    assert elapsed < 3 + 10


def test_authentication_refused(lab):
    result = profile_on(lab, lab["faults"]["wrong_key"])
    assert result.exit_code == 3
    assert "lab-board-wrong-key: authentication refused (publickey)" in result.output
    assert "ssh-copy-id" in result.output


def test_unknown_host_key_is_refused_with_how_to_trust_it(lab):
    result = profile_on(lab, lab["faults"]["unknown_host_key"])
    assert result.exit_code == 3
    assert "lab-board-unknown-host-key: the device's host key is not in your known_hosts" in result.output
    assert "ssh-keyscan -p 22" in result.output and "never turns host key checking off" in result.output


def test_a_changed_host_key_is_refused_as_changed_with_what_to_do(lab):
    # .lab/changed_known_hosts holds the board's address with another key: what ssh sees after a reinstall.
    result = profile_on(lab, lab["faults"]["changed_host_key"])
    assert result.exit_code == 3
    output = " ".join(result.output.split())  # unwrapped
    assert "lab-board-changed-host-key: the device's host key has CHANGED since you trusted it" in output
    known_hosts = Path(lab.ssh_config).parent / "changed_known_hosts"
    assert f'remove the old key with `ssh-keygen -f "{known_hosts}" -R "{lab["board"]["address"]}"`' in output
    assert "not in your known_hosts" not in output and "never turns host key checking off" in output


@pytest.mark.parametrize("fault, raised, other", [("changed_host_key", HostKeyChanged, HostKeyUnknown),
                                                  ("unknown_host_key", HostKeyUnknown, HostKeyChanged)])
def test_changed_and_unknown_host_keys_are_distinct_errors(lab, fault, raised, other):
    transport = SshTransport(lab["faults"][fault], ssh_config=lab.ssh_config, connect_timeout_s=3)
    with pytest.raises(raised) as error:
        transport.connect()
    assert not isinstance(error.value, other) and error.value.exit_code == 3
    if raised is HostKeyChanged:  # and the key the board offers now, as ssh printed it
        assert re.search(r"it now offers the ED25519 key SHA256:\S+\)", str(error.value)), str(error.value)


def test_no_runtime_on_the_device_says_what_to_install(lab):
    result = profile_on(lab, lab["board"]["alias"], "--remote-python", lab["faults"]["bare_python"])
    assert result.exit_code == 3
    assert "lab-board: no TFLite runtime found (tried ai_edge_litert, tflite_runtime, tensorflow)" in result.output
    assert "-m pip install ai-edge-litert" in result.output


def test_device_dropping_mid_run_is_exit_3_naming_the_device(lab, tmp_path):
    output = tmp_path / "never.json"
    with lab.dropping("board", after_s=3.0):
        result = edgekit("profile", MODELS / "mlp-int8.tflite", "--target", "lab-x86", "--device",
                         lab["board"]["alias"], "--ssh-config", lab.ssh_config, "--min-seconds", 60,
                         "--output", output)
    assert result.exit_code == 3, result.output
    assert "lab-board: the device dropped the connection while running" in result.output
    assert not output.exists()  # nothing partial written


def test_file_names_with_spaces_and_quotes(lab, tmp_path):
    model = tmp_path / AWKWARD
    shutil.copyfile(MODELS / "mlp-int8.tflite", model)
    output = tmp_path / "awkward.json"
    result = profile_on(lab, lab["board"]["alias"], "--output", output, model=model)
    assert result.exit_code == 0, result.output
    assert json.loads(output.read_text())["profiles"][0]["model"]["path"] == str(model)
    dest = tmp_path / "dest with 'quotes' and spaces"
    result = edgekit("deploy", model, "--target", "lab-x86", "--device", lab["board"]["alias"],
                     "--ssh-config", lab.ssh_config, "--dest", dest)
    assert result.exit_code == 0, result.output
    assert (dest / AWKWARD).read_bytes() == model.read_bytes()
    assert not list(tmp_path.rglob("pwned"))


def test_a_float_model_for_coral_is_refused_before_anything_is_pushed(lab):
    logins = lab.sshd_logins()
    result = profile_on(lab, lab["board"]["alias"], model=MODELS / "mlp-float32.tflite", target="coral-usb")
    assert result.exit_code == 2
    assert ("mlp-float32.tflite is float32: target coral-usb runs only int8 models, not float32 "
            "(the Edge TPU executes only 8-bit integer tensors); nothing was sent to the device") in result.output
    assert lab.sshd_logins() == logins  # not even a login
