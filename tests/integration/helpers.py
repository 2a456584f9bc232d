"""Helpers for tests that run real (tiny) builds in-process."""

import json
import textwrap
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from edgekit.cli import main

# Small enough for CI's 2 cores, large enough that pruning and QAT really happen.
TINY_DIGITS = """
name: digits-tiny
data: {source: digits, seed: 0}
model: {builtin: small_cnn, width: 1.0}
train: {epochs: 8, batch_size: 64, learning_rate: 0.003}
prune: {enabled: true, target_sparsity: 0.5, epochs: 2}
qat: {enabled: true, epochs: 2}
export: {formats: [tflite, onnx], quantization: [float32, float16, dynamic, int8], representative_samples: 100}
# 8 epochs leave the dense model at about 0.92: pruning's fine-tuning changes about 10 % of its answers (some
# for the better), so agreement with it is gated at 0.85 rather than the default 0.9.
evaluate: {max_accuracy_drop: 0.02, min_agreement: 0.85}
profile: {runs: 50, warmup: 2, min_seconds: 0.05}
"""


def write_config(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "edgekit.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def run_cli(*args):
    """Invoke the CLI in-process; returns click's Result (exit_code, output)."""
    return CliRunner().invoke(main, [str(arg) for arg in args], catch_exceptions=False)


def build(config_path: Path, *args):
    result = run_cli("build", "--config", config_path, *args)
    manifest_path = config_path.parent / "build" / "host" / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else None
    return result, manifest


def artifact(manifest, name):
    return next(a for a in manifest["artifacts"] if a["name"] == name)


def write_outliers_npz(path: Path) -> None:
    """A real failure mode of full-integer quantization: one input feature with outliers (1000 against values in
    [0, 1]) stretches int8's per-tensor input scale until the informative feature rounds away."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (800, 4)).astype(np.float32)
    y = (x[:, 0] > 0.5).astype(np.int64)
    x[rng.random(800) < 0.1, 1] = 1000.0
    np.savez(path, x=x, y=y)
