"""The coral adapter end to end over SSH with two STAND-INS (neither can be installed here, and no Edge TPU is
attached): tests/standins/edgetpu_compiler (copies the model, prints Coral's documented log format) and
tests/standins/libedgetpu_standin.c (a TFLite external delegate with libedgetpu's entry points that claims
no ops). What is real: the acceptance check, the compile step's files, ssh, the profiler loading a delegate
library with the target's options."""

import json
import os
import shutil

from tests.lab.conftest import MODELS, STANDINS, edgekit


def test_coral_compiles_keeps_artifacts_and_profiles_with_the_delegate(lab, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shutil.copy(STANDINS / "edgetpu_compiler", bin_dir / "edgetpu_compiler")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    model = tmp_path / "mlp-int8.tflite"
    shutil.copyfile(MODELS / "mlp-int8.tflite", model)
    output = tmp_path / "coral.json"
    result = edgekit("profile", model, "--target", "lab-coral", "--device", lab["board"]["alias"],
                     "--ssh-config", lab.ssh_config, "--runs", 5, "--min-seconds", 0, "--output", output)
    assert result.exit_code == 0, result.output
    profile = json.loads(output.read_text())["profiles"][0]
    assert profile["delegate"] == "edgetpu"
    assert profile["model"]["path"] == str(tmp_path / "mlp-int8_edgetpu.tflite")
    edgetpu = profile["edgetpu"]
    assert edgetpu["source_model"] == str(model)
    assert (edgetpu["operations_on_edgetpu"], edgetpu["operations_on_cpu"]) == (3, 1)  # the stand-in's numbers
    assert set(edgetpu["estimate"]) == {"ops_on_edgetpu", "ops_on_cpu"}  # edgekit inspect's own estimate
    assert (tmp_path / "mlp-int8_edgetpu.tflite").is_file() and (tmp_path / "mlp-int8_edgetpu.log").is_file()
    assert "1 of 4 operations stay on the CPU" in result.output
    delegate_log = (lab.targets / "standin-delegate.log").read_text()
    assert "device=usb" in delegate_log  # the delegate was loaded on the device with the target's options
