"""The shared adapter suite on the local adapter, and the registry that finds adapters by name."""

import pytest

from edgekit.adapters import ConnectionOptions, adapter_class, known_adapters, open_adapter
from edgekit.adapters.adb import AdbAdapter
from edgekit.adapters.coral import CoralAdapter
from edgekit.adapters.ssh import SshAdapter
from edgekit.config.target import load_target
from edgekit.errors import ConfigError
from tests.adapter_contract import AdapterContract


class TestLocalAdapter(AdapterContract):
    @pytest.fixture
    def adapter(self):
        with open_adapter(load_target("host"), ConnectionOptions()) as adapter:
            yield adapter


@pytest.mark.parametrize("name, cls", [("ssh", SshAdapter), ("adb", AdbAdapter), ("coral", CoralAdapter)])
def test_registry_knows_the_device_adapters(name, cls):
    assert adapter_class(name) is cls
    assert name in known_adapters


def test_registry_is_read_only():
    with pytest.raises(TypeError):
        known_adapters["mine"] = {"class": "x:Y", "err": None}


def test_unknown_adapter_suggests_a_close_name():
    with pytest.raises(ConfigError, match="unknown adapter 'shh'.*did you mean 'ssh'"):
        adapter_class("shh")


def test_ssh_target_without_device_says_what_to_pass():
    with pytest.raises(ConfigError, match="target rpi4 needs --device: user@host"):
        open_adapter(load_target("rpi4"), ConnectionOptions())
