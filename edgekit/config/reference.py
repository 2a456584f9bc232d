"""docs/configuration.md and docs/targets.md, generated (`python -m edgekit.config.reference`).

configuration.md: keys, types, defaults and bounds come from the pydantic schema of edgekit.yaml; each key's
meaning from KEY_HELP below. targets.md: the bundled target files and the keys of a target file.
tests/unit/test_config_reference.py fails when a schema key has no meaning here or when a committed file
differs from what this module writes, so the reference cannot drift from the code.
"""

from __future__ import annotations

import json
import sys
import typing
from enum import Enum
from pathlib import Path
from typing import Any

import pydantic

from edgekit.config.schema import EdgekitConfig

DOCS = Path(__file__).resolve().parents[2] / "docs"

# What each key means, as a user needs it. One entry per key of the schema (a test checks both ways).
KEY_HELP: dict[str, str] = {
    "name": "Names the build and every artifact file (`<name>-int8.tflite`). `edgekit init` takes the folder's name.",
    "task": "`classification` (integer class labels, top-1 accuracy) or `regression` (float targets, MAE/RMSE); "
            "`auto` decides from the labels and the model's output layer, and refuses when they disagree.",
    "data": "Where the samples come from and how they are split.",
    "data.source": "`digits` (scikit-learn's 8×8 digits, built in), `npz` (arrays in one file), `images` (a folder "
                   "with one sub-folder per class, streamed) or `tfrecord` (encoded images and int64 labels, "
                   "streamed).",
    "data.path": "The npz file, images folder or TFRecord file/folder, relative to edgekit.yaml.",
    "data.image_size": "`[height, width]` (or one number for a square) that images are resized to; `images` and "
                       "`tfrecord` only.",
    "data.val_fraction": "Held out for validation during training (and for choosing between int8 ONNX methods).",
    "data.test_fraction": "Held out for the final accuracy of every artifact.",
    "data.seed": "The split and the representative samples depend on this alone.",
    "data.bad_files": "Image files that cannot be read: `skip` them (counted and listed in the manifest) or "
                      "`fail` the build.",
    "data.max_bad_fraction": "With `bad_files: skip`, the build still fails when more than this fraction of the "
                             "files is bad.",
    "model": "The network: one of `builtin`, `file` or `factory`.",
    "model.builtin": "`small_cnn`, `mobilenet_v2` or `mlp`, sized to the data (`small_cnn` when none of "
                     "`builtin`, `file`, `factory` is given).",
    "model.width": "Width multiplier of a builtin model.",
    "model.file": "Your model: `.keras` or `.h5` (Keras 2 or Keras 3), or a SavedModel folder.",
    "model.factory": "`package.module:function` returning a model; it gets `input_shape` and `num_classes` "
                     "when its signature takes them.",
    "model.trust_code": "Allow model files that carry code (an `.h5` Lambda layer, SavedModel custom objects) to "
                        "be loaded: they run that code.",
    "train": "Training of the dense float model.",
    "train.epochs": "Epochs of training.",
    "train.batch_size": "The global batch (split across replicas when distributed).",
    "train.learning_rate": "Adam's learning rate.",
    "train.precision": "`auto` (mixed_float16 on a GPU of compute capability ≥ 7.0, else float32), `float32`, "
                       "`mixed_float16` or `mixed_bfloat16`.",
    "train.distribute": "`auto` (every local GPU when there are several), `none`, `mirrored` or `multi_worker` "
                        "(TF_CONFIG).",
    "prune": "Magnitude pruning (tfmot) after training.",
    "prune.enabled": "Prune the trained model.",
    "prune.target_sparsity": "Fraction of weights set to zero in the pruned layers.",
    "prune.epochs": "Epochs of fine-tuning while pruning.",
    "prune.structure": "`unstructured`, or `\"2:4\"` (two of every four weights; quote it in YAML).",
    "prune.exclude": "Layer names to leave dense.",
    "qat": "int8 quantization-aware training; it keeps the pruning's zeros (PQAT).",
    "qat.enabled": "Run QAT after training (and pruning).",
    "qat.epochs": "Epochs of QAT.",
    "qat.exclude": "Layer names to leave in float during QAT (the int8 converter still quantizes them).",
    "qat.unsupported": "Layers tfmot has no rule for: `float` leaves them float during QAT (the converter "
                       "calibrates them), `fail` stops the build naming them.",
    "export": "The artifacts.",
    "export.formats": ("`tflite` and/or `onnx`; `edgetpu` (compiled from the tflite int8 artifact by edgetpu_compiler) "
                       "is added by itself when the compiler is on PATH or the target runs edgetpu models, and listing "
                       "it makes it required."),
    "export.quantization": "`float32`, `float16`, `dynamic`, `int8`; a list for every format, or a mapping per "
                           "format (`{tflite: [float32, int8], onnx: [float32]}`).",
    "export.representative_samples": "Training samples that calibrate full-integer int8.",
    "export.onnx_opset": "ONNX opset of the ONNX artifacts.",
    "export.int8_recovery": "When int8 fails the gate: `auto` builds mixed int8/float variants until it holds; "
                            "`off` never; `always` builds them for every build.",
    "evaluate": "The accuracy gate (exit 1 when it fails, after everything was written).",
    "evaluate.max_accuracy_drop": "Largest accuracy loss of a compressed artifact against the dense float model.",
    "evaluate.min_agreement": "Smallest top-1 agreement of a compressed artifact with the dense float model "
                              "(classification).",
    "evaluate.max_metric_increase": "Regression: largest relative MAE increase of a compressed artifact against "
                                    "the dense float model.",
    "profile": "Latency on the target.",
    "profile.runs": "At least this many timed runs…",
    "profile.warmup": "Untimed runs before them.",
    "profile.min_seconds": "…and at least this long.",
    "profile.threads": "Interpreter threads; null takes the target's default.",
    "profile.op_profile": "Per-op times: .onnx through onnxruntime's profiler, .tflite where the target has a "
                          "benchmark_model (Android; ssh boards with `benchmark_model:` in their target file).",
    "tune": "`edgekit tune`: the limits a tuned model must fit on the device, the budget of the search and its "
            "space (docs/tune.md). Flags of the same name win over these keys.",
    "tune.max_latency_ms": "Limit on the p90 latency measured on the device (`--max-latency-ms`).",
    "tune.max_bytes": "Limit on the model file's size in bytes (`--max-bytes`).",
    "tune.max_ram_mb": "Limit on the profiler's peak resident memory on the device, in MB (`--max-ram-mb`).",
    "tune.min_accuracy": "Lowest test accuracy accepted, 0 to 1 (`--min-accuracy`).",
    "tune.max_accuracy_drop": "Largest accuracy drop from the default build's float model (`--max-accuracy-drop`); "
                              "not with min_accuracy.",
    "tune.budget_minutes": "Stop after this long (summed over resumed runs) with the best so far.",
    "tune.trials": "Stop after this many trials with the best so far.",
    "tune.rung0_epochs": "Epochs of the training rung 0 ranks each width × input size × precision by (successive "
                         "halving); null: chosen by cost, all of train.epochs where a quarter of them would cost at "
                         "least 1 - keep_fraction of the full training (measured on the default build's epochs: "
                         "the kept folders then reuse that training), else a quarter, at least 1. The default "
                         "build's own width, size and precision are always ranked on its full training.",
    "tune.keep_fraction": "Fraction of rung 0's build folders (ranked by their most accurate candidate that can "
                          "still fit) that is trained in full, at least one; every candidate of a kept folder goes on.",
    "tune.keep_within_se": "Also train in full every rung-0 build folder whose accuracy is within this many standard "
                            "errors of the best folder's (binomial, on the test split), so that a rung 0 too short "
                            "to tell folders apart rules none of them out; where both trained every epoch, the "
                            "band is instead the default build's largest accuracy loss to quantization plus "
                            "accuracy_tolerance; 0: keep_fraction alone.",
    "tune.race": "Rung 1 builds the kept folders most accurate first and drops one that cannot win: its rung 0 "
                 "trained every epoch, and its float score plus the largest gain any file of the run showed over "
                 "its own float model plus one test sample is below the best measured less accuracy_tolerance "
                 "(docs/tune.md); false: every kept folder is built.",
    "tune.ab_rounds": "ABBA rounds a fully trained candidate is timed in against the current best.",
    "tune.profile_runs": "Timed runs per profile of a fully trained candidate (rung 0 takes a quarter).",
    "tune.warm_start": "Continue a survivor's full training from its rung-0 weights instead of from scratch (cheaper; "
                       "the measured model then differs from a build of the chosen edgekit.yaml; docs/tune.md).",
    "tune.accuracy_tolerance": "Accuracies this close are a tie, won by the faster candidate of the same A/B rounds.",
    "tune.space": "The values tried for each knob; a knob left null takes the default for this model, data and "
                  "device.",
    "tune.space.width": "Width multipliers of a built-in model (default 0.5, 1.0 and model.width).",
    "tune.space.input_size": "Image sides for images/tfrecord data (default 0.75× and 1× data.image_size).",
    "tune.space.sparsity": "Pruning sparsities: 0 (no pruning), fractions, or \"2:4\" (default 0, 0.5, 0.75, "
                           "\"2:4\").",
    "tune.space.quantization": "float32, float16, dynamic, int8, int8-mixed (default float16, dynamic, int8, and "
                               "int8-mixed unless export.int8_recovery is off).",
    "tune.space.precision": "Training precisions; default float32, plus the mixed ones this machine runs (a GPU; "
                            "bfloat16 CPU instructions).",
    "tune.space.threads": "Interpreter threads on the device, a profile-time knob (default 1, 2, 4 up to its "
                          "cores).",
}


def schema_keys(model: type[pydantic.BaseModel] = EdgekitConfig, prefix: str = "") -> list[str]:
    """Every dotted key of the schema, sections before their keys, in declaration order."""
    keys = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        keys.append(key)
        section = _section_model(field.annotation)
        if section is not None:
            keys.extend(schema_keys(section, f"{key}."))
    return keys


def render() -> str:
    """The text of docs/configuration.md."""
    lines = [
        "# edgekit.yaml reference",
        "",
        "Generated from the schema by `python -m edgekit.config.reference`; do not edit by hand.",
        "Every key is optional: a missing key takes its default. An unknown key, a wrong type or a value out of",
        "range is refused with its line number and a \"did you mean\" where a key is close. `edgekit init` writes",
        "a commented starter file.",
        "",
    ]
    lines += _rows(EdgekitConfig, "")
    return "\n".join(lines) + "\n"


def _rows(model: type[pydantic.BaseModel], prefix: str) -> list[str]:
    top: list[str] = []
    sections: list[str] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        section = _section_model(field.annotation)
        if section is not None:
            sections += ["", f"## `{key}`", "", KEY_HELP.get(key, ""), "",
                         "| key | type | default | meaning |", "|---|---|---|---|"]
            sections += [row for row in _rows(section, f"{key}.") if row.startswith("| `")]
            continue
        top.append(f"| `{key}` | {_type(field.annotation)}{_bounds(field)} | `{_default(field)}` | "
                   f"{KEY_HELP.get(key, '')} |")
    if prefix == "" and top:
        top = ["## Top-level keys", "", "| key | type | default | meaning |", "|---|---|---|---|"] + top
    return top + sections


def _section_model(annotation: Any):
    return annotation if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel) else None


def _type(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin is typing.Union:
        named = [_type(argument) for argument in arguments if argument is not type(None)]
        return " or ".join(named) + (" or null" if type(None) in arguments else "")
    if origin in (list, tuple):
        named = [_type(argument) for argument in arguments if argument is not Ellipsis]
        return f"list of {', '.join(dict.fromkeys(named))}" if origin is list else f"[{', '.join(named)}]"
    if origin is dict:
        return f"mapping {_type(arguments[0])} → {_type(arguments[1])}"
    if origin is typing.Annotated:
        return _type(arguments[0])
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return " \\| ".join(f"`{member.value}`" for member in annotation)
    return getattr(annotation, "__name__", str(annotation)).replace("Annotated", "")


def _bounds(field) -> str:
    bounds = []
    for item in field.metadata:
        for attribute, symbol in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
            value = getattr(item, attribute, None)
            if value is not None:
                bounds.append(f"{symbol} {value}")
    return f" ({', '.join(bounds)})" if bounds else ""


def _default(field) -> str:
    value = field.get_default(call_default_factory=True)
    if isinstance(value, pydantic.BaseModel):
        return "…"
    return json.dumps(value, default=lambda item: item.value if isinstance(item, Enum) else str(item))


def render_targets() -> str:
    """The text of docs/targets.md: every bundled target, then the keys of a target file."""
    from edgekit.config.target import Target, _load_target_file, bundled_targets_folder

    lines = ["# Targets", "", "Generated by `python -m edgekit.config.reference`; do not edit by hand.", "",
             "A target file (`targets/<name>.yaml`) says what a device is, how edgekit reaches it and what it can",
             "run. `edgekit targets` lists them, `edgekit targets show NAME` prints one. Your own target files go in",
             "a folder named by `EDGEKIT_TARGETS_PATH` (searched before the bundled ones; a file of the same name",
             "wins), e.g. a copy of `rpi4.yaml` with `python:` set to your Pi's virtual environment.", "",
             "## Bundled targets", "", "| target | adapter | arch | runtime | threads | delegate | accepts | setup |",
             "|---|---|---|---|---|---|---|---|"]
    for path in sorted(bundled_targets_folder().glob("*.yaml")):
        target = _load_target_file(path)
        accepts = ", ".join(f"{fmt.value}" for fmt in target.accepts.formats) + ": " + ", ".join(
            quantization.value for quantization in target.accepts.quantization)
        lines.append(f"| `{target.name}` — {target.description} | {target.adapter} | {target.arch} | "
                     f"{target.runtime} | {target.threads} | {target.delegate.value} | {accepts} | "
                     f"{(target.setup or '').replace('|', '/')} |")
    lines += ["", "## Keys of a target file", "", "| key | type | default |", "|---|---|---|"]
    for name, field in Target.model_fields.items():
        if field.exclude:
            continue
        default = "required" if field.is_required() else f"`{_default(field)}`"
        lines.append(f"| `{name}` | {_type(field.annotation)}{_bounds(field)} | {default} |")
    return "\n".join(lines) + "\n"


GENERATED = {"configuration.md": render, "targets.md": render_targets}


def main() -> int:
    from edgekit import fsutil

    for name, make in GENERATED.items():
        fsutil.write_text(DOCS / name, make())
        print(f"wrote {DOCS / name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
