"""Load edgekit.yaml, and write the commented starter file for `edgekit init`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from edgekit import fsutil
from edgekit.config.schema import EdgekitConfig
from edgekit.config.validation import validate
from edgekit.config.yamlsource import load_yaml
from edgekit.errors import ConfigError


@dataclass(frozen=True)
class LoadedConfig:
    """A validated configuration and where it came from."""

    config: EdgekitConfig
    path: Path
    sha256: str

    @property
    def directory(self) -> Path:
        """Relative paths in the file (data.path, model.file) are relative to this folder."""
        return self.path.parent

    def resolve(self, relative: str) -> Path:
        """A path written in the config, made absolute against the config's folder."""
        path = Path(relative).expanduser()
        return path if path.is_absolute() else (self.directory / path).resolve()


def load_config(path: Path | str = "edgekit.yaml") -> LoadedConfig:
    """Read and validate an edgekit.yaml.

    Raises:
        ConfigError: missing file, invalid YAML, unknown keys, wrong types or impossible values,
            each named with its key and line.
    """
    path = Path(path)
    located = load_yaml(path)
    config = validate(EdgekitConfig, located)
    return LoadedConfig(config=config, path=path.resolve(), sha256=hashlib.sha256(path.read_bytes()).hexdigest())


STARTER_CONFIG = """\
# edgekit.yaml: one file describes the whole way from data to checked, profiled artifacts.
# Run `edgekit build --target host` next to this file. Every key below shows its default.
name: digits-cnn                 # names the build and every artifact file

data:
  source: digits                 # digits (built in, from scikit-learn) | npz | images
  path: null                     # npz file, or a folder with one sub-folder per class (images)
  image_size: null               # [height, width] images are resized to (images only)
  val_fraction: 0.1              # held out for validation during training
  test_fraction: 0.2             # held out for the final accuracy of every artifact
  seed: 0                        # the split and the representative samples depend only on this

model:
  builtin: small_cnn             # small_cnn | mobilenet_v2 | mlp
  width: 1.0                     # width multiplier of the builtin model
  # file: model.keras            # or your own model (.keras, .h5 or a SavedModel folder)
  # factory: "mypkg.models:build" # or a function returning an uncompiled tf_keras model

train:
  epochs: 30
  batch_size: 64
  learning_rate: 0.001
  precision: auto                # auto (mixed_float16 on a GPU with compute capability >= 7.0, else float32)
                                 # | float32 | mixed_float16 | mixed_bfloat16

prune:
  enabled: true
  target_sparsity: 0.5           # fraction of weights set to zero in the pruned layers
  epochs: 2
  structure: unstructured        # unstructured | "2:4" (quote it: unquoted, YAML reads 2:4 as a number)
  exclude: []                    # layer names to leave dense

qat:                             # int8 quantization-aware training; keeps the pruning (PQAT)
  enabled: true
  epochs: 2
  exclude: []                    # layer names to leave in float during QAT
  unsupported: float             # layers tfmot has no rule for: float (calibrated by the int8 converter) | fail

export:
  formats: [tflite, onnx]
  quantization: [float32, float16, dynamic, int8]   # or per format: {tflite: [int8], onnx: [float32]}
  representative_samples: 200    # training samples that calibrate full-integer int8
  onnx_opset: 17

evaluate:
  max_accuracy_drop: 0.01        # the build fails (exit 1) when int8 loses more than this vs the dense float model

profile:
  runs: 100                      # at least this many timed runs ...
  warmup: 10
  min_seconds: 1.0               # ... and at least this long
  threads: null                  # null: the target's default
"""


def write_starter_config(directory: Path | str = ".") -> Path:
    """Write the commented starter edgekit.yaml into `directory`.

    Raises:
        ConfigError: an edgekit.yaml is already there (it is never overwritten).
    """
    path = Path(directory) / "edgekit.yaml"
    if path.exists():
        raise ConfigError(f"{path} already exists; edgekit init never overwrites a configuration")
    fsutil.write_text(path, STARTER_CONFIG)
    return path
