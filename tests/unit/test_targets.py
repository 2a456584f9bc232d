"""The bundled target files, and users' own targets searched first."""

import pytest

from edgekit.config.formats import Format, Quantization
from edgekit.config.target import list_targets, load_target
from edgekit.errors import ConfigError

BUNDLED = {"host", "rpi4", "rpi5", "android-arm64", "coral-usb", "coral-devboard"}


def test_every_bundled_target_loads():
    assert BUNDLED <= {target.name for target in list_targets()}


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_each_target_describes_its_hardware(name):
    target = load_target(name)
    assert target.description and target.arch and target.runtime and target.threads >= 1
    assert target.adapter in {"local", "ssh", "adb", "coral"}


@pytest.mark.parametrize("name", ["coral-usb", "coral-devboard"])
def test_coral_takes_int8_only_with_integer_io(name):
    target = load_target(name)
    assert [q.value for q in target.accepts.quantization] == ["int8"]
    assert set(target.accepts.io_dtypes) == {"int8", "uint8"}
    assert target.delegate.value == "edgetpu" and target.delegate_library == "libedgetpu.so.1"
    assert "8-bit integer" in target.accepts.reason
    assert target.refuses(Format.TFLITE, Quantization.FLOAT32) == f"target {name} runs only int8 models, not float32"
    assert [f.value for f in target.accepts.formats] == ["edgetpu"]  # compiled at export from tflite int8


def test_android_pins_big_cores_and_says_where_benchmark_model_comes_from():
    target = load_target("android-arm64")
    assert target.adapter == "adb" and target.cpu_mask == "f0"
    assert target.benchmark_binary.url.endswith("android_aarch64_benchmark_model")
    assert target.benchmark_binary.remote_path == "/data/local/tmp/benchmark_model"


def test_raspberry_pis_use_xnnpack_on_four_cores():
    for name, core in (("rpi4", "Cortex-A72"), ("rpi5", "Cortex-A76")):
        target = load_target(name)
        assert target.adapter == "ssh" and target.threads == 4 and target.delegate.value == "xnnpack"
        assert core in target.description and target.python == "python3"


def test_a_users_target_folder_comes_first(tmp_path, monkeypatch):
    (tmp_path / "rpi4.yaml").write_text("name: rpi4\ndescription: my Pi in a case\nadapter: ssh\narch: aarch64\n"
                                        "python: /home/pi/litert/bin/python\n")
    (tmp_path / "jetson.yaml").write_text("name: jetson\ndescription: Jetson Orin Nano\nadapter: ssh\narch: aarch64\n")
    monkeypatch.setenv("EDGEKIT_TARGETS_PATH", str(tmp_path))
    assert load_target("rpi4").python == "/home/pi/litert/bin/python"
    assert "jetson" in {target.name for target in list_targets()}


def test_a_misspelt_key_in_a_target_file_is_named(tmp_path, monkeypatch):
    (tmp_path / "mine.yaml").write_text("name: mine\ndescription: x\nadapter: ssh\narch: aarch64\ncpu_msk: f0\n")
    monkeypatch.setenv("EDGEKIT_TARGETS_PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="line 5.*cpu_msk.*did you mean 'cpu_mask'"):
        load_target("mine")
