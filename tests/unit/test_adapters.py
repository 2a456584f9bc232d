"""The shared transport and adapter suites on this machine (the local transport; edgekit's profiler and a STAND-IN
benchmark_model, tests/standins/benchmark_model, as timers), and the registry that finds adapters by name."""

from pathlib import Path

import pytest

from edgekit.adapters import ConnectionOptions, adapter_class, known_adapters, open_adapter
from edgekit.adapters.adb import AdbAdapter
from edgekit.adapters.coral import CoralAdapter
from edgekit.adapters.ssh import SshAdapter
from edgekit.config.target import load_target
from edgekit.errors import ConfigError
from edgekit.profiling.benchmark_timer import BenchmarkModelTimer
from edgekit.profiling.python_timer import PythonProfilerTimer
from edgekit.transport.local import LocalTransport
from tests.adapter_contract import AdapterContract, TransportContract

STANDIN = Path(__file__).resolve().parents[1] / "standins" / "benchmark_model"


class TestLocalTransport(TransportContract):
    @pytest.fixture
    def transport(self, tmp_path):
        with LocalTransport(workdir=str(tmp_path / "edgekit")) as transport:
            yield transport


class TestLocalAdapter(AdapterContract):
    @pytest.fixture
    def adapter(self):
        with open_adapter(load_target("host"), ConnectionOptions()) as adapter:
            assert isinstance(adapter.timer, PythonProfilerTimer)
            yield adapter


class TestBenchmarkModelOverTheLocalTransport(AdapterContract):
    """benchmark_model is a timer like the Python profiler: a target file's `runtime: benchmark_model` selects it
    whatever the transport (here this machine; the lab runs it over adb and ssh)."""

    per_run_samples = False

    @pytest.fixture
    def adapter(self, tmp_path, monkeypatch):
        text = (Path(__file__).resolve().parents[2] / "targets" / "host.yaml").read_text()
        text = text.replace("name: host", "name: host-bm").replace("runtime: ai_edge_litert",
                                                                   "runtime: benchmark_model")
        remote = tmp_path / "on device" / "benchmark_model"
        (tmp_path / "host-bm.yaml").write_text(text + f"benchmark_binary: {{path: {STANDIN}, remote_path: {remote}}}\n")
        monkeypatch.setenv("EDGEKIT_TARGETS_PATH", str(tmp_path))
        with open_adapter(load_target("host-bm"), ConnectionOptions()) as adapter:
            assert isinstance(adapter.timer, BenchmarkModelTimer) and isinstance(adapter.transport, LocalTransport)
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
