"""A build for a Coral target: export compiles the tflite int8 artifact with edgetpu_compiler (here the STAND-IN
of tests/standins: the real one cannot be installed here), and the compiled model is a manifest artifact of
format edgetpu. Without the compiler, the build stops at export (exit 3) saying how to install it."""

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.integration.helpers import artifact, run_cli, write_config

STANDINS = Path(__file__).resolve().parent.parent / "standins"

CORAL_MLP = """
name: coral-mlp
data: {source: digits, seed: 0}
model: {builtin: mlp}
train: {epochs: 1, batch_size: 64}
prune: {enabled: false}
qat: {enabled: false}
export: {formats: [tflite], quantization: [float32, int8], representative_samples: 50}
evaluate: {max_accuracy_drop: 0.2, min_agreement: 0.5}
"""


@pytest.mark.slow
def test_a_coral_build_compiles_at_export_and_records_the_edgetpu_artifact(tmp_path, monkeypatch):
    config = write_config(tmp_path, CORAL_MLP)
    build_dir = tmp_path / "build" / "coral-usb"
    monkeypatch.setenv("PATH", os.environ["PATH"])  # edgetpu_compiler is not installed on this machine

    refused = run_cli("build", "--config", config, "--target", "coral-usb")
    assert refused.exit_code == 3, refused.output
    message = " ".join(refused.output.split())
    assert ("the target runs only edgetpu models, which export makes with edgetpu_compiler, and edgetpu_compiler "
            "is not on PATH: install edgetpu_compiler on an x86_64 Debian/Ubuntu machine") in message
    assert "sudo apt-get install edgetpu-compiler" in message
    assert not (build_dir / "manifest.json").exists()

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shutil.copy(STANDINS / "edgetpu_compiler", bin_dir / "edgetpu_compiler")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    result = run_cli("build", "--config", config, "--target", "coral-usb")
    assert result.exit_code == 0, result.output
    manifest = json.loads((build_dir / "manifest.json").read_text())
    compiled = artifact(manifest, "edgetpu-int8")
    parent = artifact(manifest, "tflite-int8")
    assert (compiled["format"], compiled["quantization"], compiled["parent"]) == ("edgetpu", "int8", "tflite-int8")
    assert compiled["path"] == "export/coral-mlp-int8_edgetpu.tflite"
    model_bytes = (build_dir / compiled["path"]).read_bytes()
    assert compiled["bytes"] == len(model_bytes) and compiled["sha256"] == hashlib.sha256(model_bytes).hexdigest()
    compiler = compiled["compiler"]
    assert compiler["version"] == "16.0.384591198"  # the stand-in's numbers, in Coral's documented format
    assert (compiler["ops_on_tpu"], compiler["ops_on_cpu"], compiler["total_ops"]) == (3, 1, 4)
    assert (build_dir / compiler["log"]).is_file() and "Mapped to Edge TPU" in (build_dir / compiler["log"]).read_text()
    # Not runnable on the host: scored as the int8 model it was compiled from.
    assert compiled["accuracy"] == parent["accuracy"] and compiled["accuracy"] is not None
    assert compiled["evaluated_as"]["artifact"] == "tflite-int8" and "libedgetpu" in compiled["evaluated_as"]["reason"]
    # Without a device nothing is timed; the uncompiled int8 model is not for this target, and says why.
    assert "not tflite; `edgekit build --target coral-usb` makes the edgetpu model" in \
        manifest["profile_skipped"]["tflite-int8"]
    later = manifest["profile_not_run"]["command"]
    assert "coral-mlp-int8_edgetpu.tflite" in later and "coral-mlp-int8.tflite" not in later
    assert "--target coral-usb --device ADDR" in later
