"""SSH boards through the real OpenSSH client: the x86_64 board (an sshd in a network namespace) and the
aarch64 board (Debian arm64 under qemu-user with ai-edge-litert, its own sshd). Timings under qemu are not
meaningful: these tests check correctness, not speed."""

import json

import pytest

from edgekit.adapters import ConnectionOptions, open_adapter
from edgekit.config.target import load_target
from edgekit.profiling.benchmark_timer import BenchmarkModelTimer
from edgekit.transport.ssh import SshTransport
from tests.adapter_contract import AdapterContract, TransportContract
from tests.lab.conftest import LAB_X86_WORKDIR, MODELS, edgekit


class TestSshTransport(TransportContract):
    @pytest.fixture
    def transport(self, lab):
        with SshTransport(lab["board"]["alias"], ssh_config=lab.ssh_config, workdir=LAB_X86_WORKDIR,
                          connect_timeout_s=3) as transport:
            yield transport


class TestBenchmarkModelOverSsh(AdapterContract):
    """The benchmark_model timer (a STAND-IN binary) over the ssh transport: `runtime: benchmark_model`."""

    per_run_samples = False

    @pytest.fixture
    def adapter(self, lab):
        options = ConnectionOptions(address=lab["board"]["alias"], ssh_config=lab.ssh_config)
        with open_adapter(load_target("lab-x86-bm"), options) as adapter:
            assert isinstance(adapter.timer, BenchmarkModelTimer)
            yield adapter


class TestSshBoard(AdapterContract):
    @pytest.fixture
    def adapter(self, lab):
        options = ConnectionOptions(address=lab["board"]["alias"], ssh_config=lab.ssh_config)
        with open_adapter(load_target("lab-x86"), options) as adapter:
            yield adapter


class TestAarch64Board(AdapterContract):
    @pytest.fixture
    def adapter(self, lab):
        options = ConnectionOptions(address=lab["pi"]["alias"], ssh_config=lab.ssh_config)
        with open_adapter(load_target("rpi4"), options) as adapter:
            yield adapter


def test_profile_on_the_aarch64_board(lab, tmp_path):
    output = tmp_path / "pi.json"
    result = edgekit("profile", MODELS / "mlp-int8.tflite", "--target", "rpi4", "--device", lab["pi"]["alias"],
                     "--ssh-config", lab.ssh_config, "--runs", 20, "--warmup", 2, "--min-seconds", 0,
                     "--output", output)
    assert result.exit_code == 0, result.output
    profile = json.loads(output.read_text())["profiles"][0]
    assert profile["device"]["machine"] == "aarch64"
    assert profile["device"]["runtime"] == "ai_edge_litert" and profile["device"]["os"].startswith("Debian")
    assert profile["target"] == "rpi4" and profile["threads"] == 4 and profile["delegate"] == "xnnpack"
    assert profile["runs"] == len(profile["samples_ms"]) >= 20
    assert profile["min_ms"] <= profile["median_ms"] <= profile["max_ms"]
    assert "aarch64" in result.output and "mlp-int8.tflite" in result.output


def test_profile_on_the_x86_board_reuses_one_login(lab, tmp_path):
    before = lab.sshd_logins()
    output = tmp_path / "board.json"
    models = [MODELS / "mlp-int8.tflite", MODELS / "mlp-float32.tflite", MODELS / "mlp-dynamic.tflite"]
    result = edgekit("profile", *models, "--target", "lab-x86", "--device", lab["board"]["alias"],
                     "--ssh-config", lab.ssh_config, "--runs", 10, "--min-seconds", 0, "--output", output)
    assert result.exit_code == 0, result.output
    profiles = json.loads(output.read_text())["profiles"]
    assert [p["device"]["machine"] for p in profiles] == ["x86_64"] * 3
    assert lab.sshd_logins() - before == 1  # ControlMaster: one login for three models and all their copies


def test_remote_python_from_the_command_line(lab, tmp_path):
    result = edgekit("profile", MODELS / "mlp-float16.tflite", "--target", "rpi4", "--device", lab["board"]["alias"],
                     "--ssh-config", lab.ssh_config, "--remote-python", lab["board"]["python"], "--runs", 5,
                     "--min-seconds", 0, "--json", "--quiet")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output[result.output.index("{"):])["profiles"][0]["device"]["machine"] == "x86_64"


def test_deploy_over_ssh_verifies_sha256(lab, tmp_path):
    result = edgekit("deploy", MODELS / "mlp-int8.tflite", MODELS / "mlp-float32.tflite", "--target", "lab-x86",
                     "--device", lab["board"]["alias"], "--ssh-config", lab.ssh_config, "--dest", tmp_path / "on board")
    assert result.exit_code == 0, result.output
    assert result.output.count("verified on the device") == 2
    assert (tmp_path / "on board" / "mlp-int8.tflite").read_bytes() == (MODELS / "mlp-int8.tflite").read_bytes()


def test_older_boards_runtime_tflite_runtime_214_with_numpy_1(lab, tmp_path):
    output = tmp_path / "legacy.json"
    result = edgekit("profile", MODELS / "mlp-int8.tflite", "--target", "rpi4", "--device", lab["pi"]["alias"],
                     "--ssh-config", lab.ssh_config, "--remote-python", lab["pi"]["tflite_runtime_python"],
                     "--runs", 10, "--min-seconds", 0, "--output", output)
    assert result.exit_code == 0, result.output
    device = json.loads(output.read_text())["profiles"][0]["device"]
    assert (device["machine"], device["runtime"], device["runtime_version"]) == ("aarch64", "tflite_runtime", "2.14.0")
