"""The coral adapter end to end over SSH with two STAND-INS (neither can be installed here, and no Edge TPU is
attached): tests/standins/edgetpu_compiler (copies the model, prints Coral's documented log format) and
tests/standins/libedgetpu_standin.c (a TFLite external delegate with libedgetpu's entry points that claims
no ops). What is real: the acceptance check, ssh, the profiler loading a delegate library with the target's
options. Compiling is export's step now (tests/integration/test_build_edgetpu.py): profile takes the compiled
model and refuses an uncompiled one before connecting."""

import json
import subprocess

from tests.lab.conftest import MODELS, STANDINS, edgekit


def test_coral_profiles_the_compiled_model_with_the_delegate(lab, tmp_path):
    model = tmp_path / "mlp-int8.tflite"
    model.write_bytes((MODELS / "mlp-int8.tflite").read_bytes())
    subprocess.run([str(STANDINS / "edgetpu_compiler"), "-s", "-o", str(tmp_path), str(model)], check=True,
                   capture_output=True)
    compiled = tmp_path / "mlp-int8_edgetpu.tflite"
    output = tmp_path / "coral.json"
    result = edgekit("profile", compiled, "--target", "lab-coral", "--device", lab["board"]["alias"],
                     "--ssh-config", lab.ssh_config, "--runs", 5, "--min-seconds", 0, "--output", output)
    assert result.exit_code == 0, result.output
    profile = json.loads(output.read_text())["profiles"][0]
    assert profile["delegate"] == "edgetpu"
    assert profile["model"]["path"] == str(compiled)
    delegate_log = (lab.targets / "standin-delegate.log").read_text()
    assert "device=usb" in delegate_log  # the delegate was loaded on the device with the target's options


def test_coral_refuses_an_uncompiled_model_before_connecting(lab, tmp_path):
    result = edgekit("profile", MODELS / "mlp-int8.tflite", "--target", "lab-coral", "--device",
                     lab["board"]["alias"], "--ssh-config", lab.ssh_config)
    assert result.exit_code == 2, result.output
    assert "target lab-coral runs edgetpu models, not tflite" in " ".join(result.output.split())
