"""devices.yaml and the choice of devices: every mistake named with its line, like edgekit.yaml's."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from edgekit.adapters import ConnectionOptions
from edgekit.cli import main
from edgekit.config.target import load_target
from edgekit.errors import ConfigError
from edgekit.fleet import DeviceChoice, choose_devices, load_inventory

MODELS = Path(__file__).resolve().parents[1] / "data" / "models"


def inventory(tmp_path, text):
    path = tmp_path / "devices.yaml"
    path.write_text(text)
    return path


def test_addresses_and_mappings(tmp_path):
    devices = load_inventory(inventory(tmp_path, """
rpi4:
  - pi@shelf-1.local
  - address: pi@shelf-2.local
    remote_python: /home/pi/litert/bin/python
android-arm64: ["0123456789"]
"""))
    assert [device.address for device in devices["rpi4"]] == ["pi@shelf-1.local", "pi@shelf-2.local"]
    assert devices["rpi4"][1].remote_python == "/home/pi/litert/bin/python"
    assert devices["android-arm64"][0].address == "0123456789"


@pytest.mark.parametrize("text, message", [
    ("rpi-4:\n  - pi@a\n", r"line 1: unknown key 'rpi-4' \(did you mean 'rpi4'\?\)"),
    ("rpi4:\n  - pi@a\n  - adress: pi@b\n", r"line 3: unknown key 'adress' in rpi4 \(did you mean 'address'\?\)"),
    ("rpi4:\n  - pi@a\n  - pi@b\n  - pi@a\n", r"line 4: rpi4: device pi@a is listed twice \(first on line 2\)"),
    ("android-arm64:\n  - 12345\n", r"line 2: android-arm64: 12345 is a number, not a device address; quote it"),
    ("rpi4: []\n", r"line 1: rpi4: List should have at least 1 item"),
    ("rpi4: pi@a\n", r"line 1: rpi4: Input should be a valid list"),
    ("rpi4:\n  - address: ''\n", r"line 2: rpi4.0.address: String should have at least 1 character"),
    ("rpi4:\n  - pi@a\nrpi4:\n  - pi@b\n", r"line 3: key 'rpi4' is given twice \(first on line 1\)"),
    ("- pi@a\n", r"the devices inventory must be a mapping"),
])
def test_mistakes_name_the_key_and_line(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_inventory(inventory(tmp_path, text))


def test_missing_inventory_file(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml: no such devices inventory file"):
        load_inventory(tmp_path / "nope.yaml")


def test_repeated_device_flags_keep_their_order_and_the_shared_options(tmp_path):
    shared = ConnectionOptions(ssh_config=tmp_path / "cfg", remote_python="py")
    pool = choose_devices(load_target("rpi4"), DeviceChoice(devices=["pi@b", "pi@a"], options=shared,
                                                            lock_timeout_s=30))
    assert pool.addresses == ["pi@b", "pi@a"] and pool.is_fleet and pool.lock_timeout_s == 30
    assert all(member.ssh_config == tmp_path / "cfg" and member.remote_python == "py" for member in pool.members)


def test_inventory_used_when_no_device_is_given_and_its_own_python_wins(tmp_path):
    path = inventory(tmp_path, "rpi4:\n  - pi@a\n  - {address: pi@b, remote_python: /opt/py}\n")
    # a build's devices.yaml (next to the edgekit.yaml being built) may name the devices' Python
    pool = choose_devices(load_target("rpi4"), DeviceChoice(default_file=path, default_file_may_run_programs=True,
                                                            options=ConnectionOptions(remote_python="py")))
    assert pool.addresses == ["pi@a", "pi@b"] and pool.source == str(path)
    assert [member.remote_python for member in pool.members] == ["py", "/opt/py"]
    # --device wins over the default file
    assert choose_devices(load_target("rpi4"), DeviceChoice(devices=["pi@z"], default_file=path)).addresses == ["pi@z"]
    # a default file without this target is no error: the target may not need devices (host), or --device says so
    assert choose_devices(load_target("rpi5"), DeviceChoice(default_file=path)).first.address is None


def test_choice_mistakes(tmp_path):
    path = inventory(tmp_path, "rpi4:\n  - pi@a\n")
    with pytest.raises(ConfigError, match="give the devices with --device or with --devices FILE, not both"):
        choose_devices(load_target("rpi4"), DeviceChoice(devices=["pi@a"], devices_file=path))
    with pytest.raises(ConfigError, match="--device pi@a is given twice"):
        choose_devices(load_target("rpi4"), DeviceChoice(devices=["pi@a", "pi@b", "pi@a"]))
    with pytest.raises(ConfigError, match=r"devices.yaml: no devices for target rpi5 \(targets listed: rpi4\)"):
        choose_devices(load_target("rpi5"), DeviceChoice(devices_file=path))
    with pytest.raises(ConfigError, match=r"target host runs on this machine; it takes no list of devices \(got 2: "
                                          r"a, b\)"):
        choose_devices(load_target("host"), DeviceChoice(devices=["a", "b"]))


def test_cli_errors_are_one_message_and_exit_2(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["profile", str(MODELS / "mlp-int8.tflite"), "--target", "host", "--device", "a",
                                  "--device", "b"])
    assert result.exit_code == 2 and "error: target host runs on this machine" in result.output
    bad = inventory(tmp_path, "rpi4:\n  - adress: pi@a\n")
    result = runner.invoke(main, ["profile", str(MODELS / "mlp-int8.tflite"), "--target", "rpi4",
                                  "--devices", str(bad)])
    assert result.exit_code == 2 and "line 2: unknown key 'adress' in rpi4 (did you mean 'address'?)" in result.output
    assert "Traceback" not in result.output
