#!/usr/bin/env python3
"""The hand-written way: what a user writes from the official guides to get what `edgekit build` gives.

Part 1 of `scripts/bench` (pipeline) times this script against `edgekit build` on the same data
and settings. It imports nothing from edgekit on purpose: it is the reference, written the way
the guides show, step by step, and nothing else (no ONNX, no float artifacts, no profiling):

1. train a small CNN on scikit-learn's digits (Keras, `model.fit`);
2. prune it with `prune_low_magnitude` and a `PolynomialDecay` schedule, `UpdatePruningStep`,
   then `strip_pruning` (tfmot guide "Pruning in Keras example", pruning_with_keras);
3. pruning-preserving QAT: `quantize_annotate_model` + `quantize_apply` with
   `Default8BitPrunePreserveQuantizeScheme` (tfmot guide "PQAT Keras example", combine/pqat_example);
4. full-integer int8 conversion with a representative data set, int8 input and output, int8 ops only
   (TFLite guide "Post-training integer quantization", post_training_integer_quant);
5. test accuracy with the LiteRT interpreter, one image per `invoke()` as that guide's `evaluate_model` does.

The settings are those of examples/digits/edgekit.yaml (40 + 4 + 4 epochs, batch 64, learning rate
0.002, 50% sparsity, 200 representative samples). Two choices the guides leave to the reader, with why:
- the mask update frequency: tfmot's default (every 100 steps) never fires in this data set's 80
  pruning steps, so the "pruned" model would stay dense; masks are updated ten times instead;
- input quantization rounds (`np.round`): the guide's `astype` after dividing truncates.

Run alone:  .venv/bin/python scripts/benchsuite/handwritten_reference.py [--split split.npz] [--out DIR]
`--split` takes an npz of index arrays (train, val, test) into scikit-learn's digits, so the benchmark
can give both sides the same split; without it the script splits the digits itself (stratified,
70/10/20, scikit-learn's train_test_split). Prints one JSON line with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

# tfmot supports only Keras 2: this must be set before TensorFlow is imported.
os.environ["TF_USE_LEGACY_KERAS"] = "1"

DIGITS_VALUE_RANGE = 16.0  # scikit-learn's digits hold 0..16 per pixel


@dataclass(frozen=True)
class Settings:
    """The steps' settings; the defaults are examples/digits/edgekit.yaml's."""

    epochs: int = 40
    prune_epochs: int = 4
    qat_epochs: int = 4
    batch_size: int = 64
    learning_rate: float = 0.002
    target_sparsity: float = 0.5
    representative_samples: int = 200
    mask_updates: int = 10
    seed: int = 0


# ------------------------------------------------------------------------------------------------ data
def load_split(path: Path | None, seed: int = 0) -> dict[str, np.ndarray]:
    """Raw digit images (N, 8, 8) and labels for train, val and test: split by the index arrays in
    `path` (train, val, test), or here, stratified 70/10/20."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x, y = digits.images, digits.target
    if path is not None:
        with np.load(path) as indices:
            return {f"{kind}_{split}": array[indices[split]] for split in ("train", "val", "test")
                    for kind, array in (("x", x), ("y", y))}
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=0.2, stratify=y, random_state=seed)
    x_train, x_val, y_train, y_val = train_test_split(x_rest, y_rest, test_size=0.125, stratify=y_rest,
                                                      random_state=seed)  # 0.125 of 80% is 10%
    return {"x_train": x_train, "y_train": y_train, "x_val": x_val, "y_val": y_val,
            "x_test": x_test, "y_test": y_test}


def preprocess(images: np.ndarray) -> np.ndarray:
    """Pixels scaled to [0, 1], float32, with a channel axis: (N, 8, 8, 1)."""
    return (np.asarray(images, dtype=np.float32) / np.float32(DIGITS_VALUE_RANGE))[..., np.newaxis]


# ------------------------------------------------------------------------------------------------ model
def build_model(keras, input_shape: tuple[int, ...], num_classes: int):
    """Two conv blocks and a dense head (the same layers as edgekit's builtin small_cnn at width 1)."""
    layers = keras.layers
    inputs = keras.Input(shape=input_shape)
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(inputs)
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(128, activation="relu")(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def compile_model(keras, model, learning_rate: float) -> None:
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])


# ------------------------------------------------------------------------------------------------ pruning
def pruning_schedule_steps(samples: int, batch_size: int, epochs: int, mask_updates: int) -> tuple[int, int]:
    """(end_step, frequency): the guide's end step (every batch of every pruning epoch), with the
    masks updated `mask_updates` times, the last time at end_step (tfmot counts steps from 1)."""
    end_step = int(np.ceil(samples / batch_size)) * epochs
    frequency = max(1, end_step // mask_updates)
    return (end_step // frequency) * frequency, frequency


def kernel_sparsity(model) -> float:
    """Fraction of exactly-zero weights over all conv and dense kernels."""
    zeros = total = 0
    for weight in model.weights:
        if weight.name.split("/")[-1].startswith("kernel"):
            values = weight.numpy()
            zeros += int(np.count_nonzero(values == 0))
            total += values.size
    return zeros / total if total else 0.0


# ------------------------------------------------------------------------------------------------ int8
def representative_dataset(samples: np.ndarray):
    """The converter's calibration input: one float32 sample at a time, as the guide writes it."""

    def generate():
        for sample in samples:
            yield [sample[np.newaxis].astype(np.float32)]

    return generate


def quantize_input(x: np.ndarray, detail: dict) -> np.ndarray:
    """Float input as the model's int8 input: x / scale + zero_point, rounded and clipped."""
    scale, zero_point = detail["quantization"]
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(detail["dtype"])


def evaluate_tflite(model_path: Path, x_test: np.ndarray, y_test: np.ndarray) -> float:
    """Top-1 accuracy with the LiteRT interpreter, one image per invoke()."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model_path))
    interpreter.allocate_tensors()
    input_detail = interpreter.get_input_details()[0]
    output_detail = interpreter.get_output_details()[0]
    predictions = np.empty(len(x_test), dtype=np.int64)
    for index, image in enumerate(x_test):
        interpreter.set_tensor(input_detail["index"], quantize_input(image[np.newaxis], input_detail))
        interpreter.invoke()
        predictions[index] = interpreter.get_tensor(output_detail["index"])[0].argmax()
    return float(np.mean(predictions == y_test))


# ------------------------------------------------------------------------------------------------ the steps
def fit(keras, model, data: dict[str, np.ndarray], settings: Settings, epochs: int, callbacks=()) -> None:
    """Compile (Adam, sparse cross-entropy) and train on the training split, validating each epoch."""
    compile_model(keras, model, settings.learning_rate)
    model.fit(data["x_train"], data["y_train"], epochs=epochs, batch_size=settings.batch_size,
              validation_data=(data["x_val"], data["y_val"]), verbose=0, callbacks=list(callbacks))


def train(keras, data: dict[str, np.ndarray], settings: Settings):
    keras.utils.set_random_seed(settings.seed)
    model = build_model(keras, data["x_train"].shape[1:], int(data["y_train"].max()) + 1)
    fit(keras, model, data, settings, settings.epochs)
    return model


def prune(keras, tfmot, model, data: dict[str, np.ndarray], settings: Settings):
    """Magnitude pruning to the target sparsity; returns the stripped model and the schedule's steps."""
    end_step, frequency = pruning_schedule_steps(len(data["x_train"]), settings.batch_size, settings.prune_epochs,
                                                 settings.mask_updates)
    schedule = tfmot.sparsity.keras.PolynomialDecay(initial_sparsity=0.0, final_sparsity=settings.target_sparsity,
                                                    begin_step=0, end_step=end_step, frequency=frequency)
    model_for_pruning = tfmot.sparsity.keras.prune_low_magnitude(model, pruning_schedule=schedule)
    fit(keras, model_for_pruning, data, settings, settings.prune_epochs,
        callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    return tfmot.sparsity.keras.strip_pruning(model_for_pruning), end_step, frequency


def pqat(keras, tfmot, stripped, data: dict[str, np.ndarray], settings: Settings):
    """Pruning-preserving quantization-aware training of the stripped pruned model."""
    annotated = tfmot.quantization.keras.quantize_annotate_model(stripped)
    model = tfmot.quantization.keras.quantize_apply(
        annotated, tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme())
    fit(keras, model, data, settings, settings.qat_epochs)
    return model


def convert_int8(tf, model, x_train: np.ndarray, settings: Settings) -> bytes:
    """Full-integer conversion: calibrated on training samples, int8 ops only, int8 input and output."""
    order = np.random.default_rng(settings.seed).permutation(len(x_train))
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset(x_train[order[:settings.representative_samples]])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def run(settings: Settings, split_path: Path | None, out: Path) -> dict:
    """Train, prune, PQAT, convert to int8, evaluate. Returns the results and each step's seconds."""
    seconds: dict[str, float] = {}
    started = mark = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        seconds[step], mark = now - mark, now

    import tensorflow as tf
    import tf_keras as keras
    import tensorflow_model_optimization as tfmot

    lap("import")
    split = load_split(split_path, settings.seed)
    data = {name: preprocess(array) if name.startswith("x_") else array for name, array in split.items()}
    lap("data")
    model = train(keras, data, settings)
    lap("train")
    stripped, end_step, frequency = prune(keras, tfmot, model, data, settings)
    sparsity = kernel_sparsity(stripped)
    lap("prune")
    pqat_model = pqat(keras, tfmot, stripped, data, settings)
    lap("qat")
    tflite_model = convert_int8(tf, pqat_model, data["x_train"], settings)
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / "digits-int8.tflite"
    model_path.write_bytes(tflite_model)
    lap("convert")
    accuracy = evaluate_tflite(model_path, data["x_test"], data["y_test"])
    lap("evaluate")
    seconds["total_in_process"] = time.perf_counter() - started
    return {"int8_accuracy": accuracy, "int8_bytes": len(tflite_model), "int8_path": str(model_path),
            "sparsity": sparsity, "pruning_end_step": end_step, "pruning_frequency": frequency,
            "test_samples": int(len(data["y_test"])), "settings": asdict(settings), "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", type=Path, default=None,
                        help="npz with train, val and test index arrays into the digits (default: split here)")
    parser.add_argument("--out", type=Path, default=Path("handwritten-out"))
    parser.add_argument("--epochs", type=int, default=Settings.epochs)
    parser.add_argument("--prune-epochs", type=int, default=Settings.prune_epochs)
    parser.add_argument("--qat-epochs", type=int, default=Settings.qat_epochs)
    parser.add_argument("--representative-samples", type=int, default=Settings.representative_samples)
    args = parser.parse_args(argv)
    settings = Settings(epochs=args.epochs, prune_epochs=args.prune_epochs, qat_epochs=args.qat_epochs,
                        representative_samples=args.representative_samples)
    result = run(settings, args.split, args.out)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
