"""Load edgekit.yaml, and write the commented starter file for `edgekit init`."""

from __future__ import annotations

import hashlib
import re
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


_STARTER_TEMPLATE = """\
# edgekit.yaml: one file describes the whole way from data to checked, profiled artifacts.
# Run `edgekit build --target host` next to this file. Every key below shows its default.
name: {name:<24} # names the build and every artifact file
task: auto                       # auto | classification | regression; auto: integer class ids (N,) classify,
                                 # float targets (N,) or (N, k) regress (npz only; the model ends in Dense(k))

data:
  source: digits                 # digits: scikit-learn's 8x8 digits, built in (no files needed)
                                 # npz: x_train, y_train, x_test, y_test (x_val, y_val), or x and y to be split
                                 # images: a folder with one sub-folder of images per class (streamed)
                                 # tfrecord: TFRecord files of {image: encoded bytes, label: int64} (streamed)
  path: null                     # the npz file, the images folder, or the TFRecord file or folder
  image_size: null               # [height, width] images are resized to (images only)
  val_fraction: 0.1              # held out for validation during training
  test_fraction: 0.2             # held out for the final accuracy of every artifact
  seed: 0                        # the split and the representative samples depend only on this
  bad_files: skip                # images: skip | fail, for files that cannot be decoded (all are listed)
  max_bad_fraction: 0.01         # images: with skip, fail when more than this fraction cannot be decoded

model:
  builtin: small_cnn             # small_cnn | mobilenet_v2 | mlp
  width: 1.0                     # width multiplier of the builtin model
  # file: model.keras            # or your own model (.keras, .h5 or a SavedModel folder; Keras 3 or tf_keras)
  # trust_code: false            # true: load a model file even when it carries code (Lambda layers)
  # factory: "mypkg.models:build" # or a function returning an uncompiled Keras 3 or tf_keras model

train:
  epochs: 30
  batch_size: 64
  learning_rate: 0.001
  precision: auto                # auto (mixed_float16 on a GPU with compute capability >= 7.0, else float32)
                                 # | float32 | mixed_float16 | mixed_bfloat16
  distribute: auto               # auto (every local GPU when there are several) | none | mirrored | multi_worker

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
  formats: [tflite, onnx]        # + edgetpu: compiled from tflite int8 (automatic with edgetpu_compiler or a Coral target)
  quantization: [float32, float16, dynamic, int8]   # or per format: {tflite: [int8], onnx: [float32]}
  representative_samples: 200    # training samples that calibrate full-integer int8
  onnx_opset: 17
  int8_recovery: auto            # auto: int8 TFLite failing the gate gets a tflite-int8-mixed variant; off; always

evaluate:
  max_accuracy_drop: 0.01        # the build fails (exit 1) when a compressed artifact (pruned, TFLite, ONNX)
                                 # loses more accuracy than this vs the dense float model ...
  min_agreement: 0.9             # ... or gives the float model's top-1 answer on less than this share of the test split
  max_metric_increase: 0.1       # regression: an artifact's MAE at most 10 % above the dense float model's

profile:
  runs: 100                      # at least this many timed runs ...
  warmup: 10
  min_seconds: 1.0               # ... and at least this long
  threads: null                  # null: the target's default
  op_profile: true               # per-op times: .onnx by onnxruntime, .tflite where a benchmark_model is

# tune:                          # `edgekit tune`: the best variant that fits the device (docs/tune.md);
#                                # every key has a flag of the same name that wins over it
#   max_latency_ms: null         # limit on the p90 latency measured on the device
#   max_bytes: null              # limit on the model file's size
#   max_ram_mb: null             # limit on the profiler's peak resident memory on the device
#   min_accuracy: null           # lowest test accuracy accepted ...
#   max_accuracy_drop: null      # ... or largest drop from the default build's float model (not both)
#   budget_minutes: null         # stop with the best so far; re-running the same command continues
#   trials: null                 # stop after this many trials with the best so far
#   rung0_epochs: null           # rung 0's training (null: by cost, all epochs or train.epochs / 4)
#   keep_fraction: 0.25          # share of rung 0's build folders (the most accurate) trained in full
#   keep_within_se: 2.0          # ... and every folder rung 0 cannot tell from the best (standard errors)
#   race: true                   # rung 1 drops a kept folder that can no longer beat the best measured
#   ab_rounds: 2                 # ABBA timing rounds of each survivor against the current best
#   profile_runs: 50             # timed runs per profile
#   accuracy_tolerance: 0.005    # accuracies this close tie; the faster one wins
#   warm_start: false            # survivors continue from their rung-0 weights (cheaper, not the same model)
#   space:                       # null: edgekit's default for this model, data and device
#     width: null                # built-in models: 0.5, 1.0 and model.width
#     input_size: null           # images/tfrecord: 0.75x and 1x data.image_size
#     sparsity: null             # 0, 0.5, 0.75, "2:4"
#     quantization: null         # float16, dynamic, int8 (+ int8-mixed with export.int8_recovery)
#     precision: null            # float32 (+ mixed ones where a GPU or bfloat16 CPU runs them)
#     threads: null              # 1, 2, 4 up to the device's cores
"""


def starter_config(name: str) -> str:
    """The commented starter edgekit.yaml, its `name` set to `name`."""
    return _STARTER_TEMPLATE.replace("{name:<24}", f"{name:<24}")


def project_name(directory: Path) -> str:
    """A valid `name` from a folder's name ("My Model (v2)" -> "My-Model-v2"); "model" when nothing is left."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", directory.resolve().name).strip("-._")[:64]
    return cleaned or "model"


STARTER_CONFIG = starter_config("digits-cnn")


def write_starter_config(directory: Path | str = ".") -> Path:
    """Write the commented starter edgekit.yaml into `directory`, named after the folder.

    Raises:
        ConfigError: an edgekit.yaml is already there (it is never overwritten).
    """
    path = Path(directory) / "edgekit.yaml"
    if path.exists():
        raise ConfigError(f"{path} already exists; edgekit init never overwrites a configuration")
    fsutil.write_text(path, starter_config(project_name(Path(directory))))
    return path
