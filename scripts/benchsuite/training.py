"""The `training` part: what edgekit's train stage costs over plain `model.fit`, and what mixed precision gives here.

All in this process, on the digits split edgekit uses, the same model (edgekit's small_cnn), after a
warm-up fit (TensorFlow's first fit in a process pays one-time set-up), alternating the two sides:
- fit: `edgekit.pipeline.training.fit` (what the train stage runs: seeded, validation each epoch,
  its progress callback, history kept) against `model.fit` with the same arguments, on fresh compiled
  models. Throughput comes from the epochs after the first (which traces the graph): the time from one
  epoch's start to the next, so every callback's work is inside, pooled over rounds, median. A shared
  machine slows single epochs; the median of many is what the code costs (target: edgekit <= 5% slower);
- stage: a whole train stage of a real build (`run_build`, only tflite float32, one-run profile; its
  manifest's seconds) against build + compile + fit + save the plain way; the fastest round of each;
- precision: the same under `mixed_bfloat16` and `float32` (edgekit's `with_policy`), on the digits CNN
  and, not in --quick, on MobileNetV2 at 96×96 with random data (median step time), where convolutions
  dominate. On a GPU mixed precision is the point; the device is recorded ("no GPU" when there is none).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchsuite import support
from benchsuite.common import BenchContext, PartResult, markdown_table

OVERHEAD_TARGET = 0.05
ROUNDS, QUICK_ROUNDS = 5, 2
EPOCHS = 10
BATCH_SIZE = 64
LEARNING_RATE = 0.002
MOBILENET_SHAPE = (96, 96, 3)
MOBILENET_BATCH = 32
MOBILENET_STEPS = 8
MOBILENET_ROUNDS = 2  # not in --quick
POLICIES = ("float32", "mixed_bfloat16")


def digits():
    """The example's digits split, preprocessed by edgekit."""
    from edgekit.config.schema import DataConfig
    from edgekit.data.dataset import build_dataset
    from edgekit.data.sources import load_digits

    return build_dataset(DataConfig(**support.example_config()["data"]), load_digits())


def fresh_model(data, policy: str = "float32", compiled_by: str = "edgekit"):
    """edgekit's small_cnn, seeded, under `policy`, compiled (edgekit's way or the plain Keras way)."""
    from edgekit._tf import keras
    from edgekit.models.zoo import small_cnn
    from edgekit.pipeline.precision import make_optimizer, with_policy
    from edgekit.pipeline.training import compile_classifier

    keras().utils.set_random_seed(0)
    model = small_cnn(data.input_shape, data.num_classes)
    if policy != "float32":
        model = with_policy(model, policy)
    if compiled_by == "edgekit":
        compile_classifier(model, make_optimizer(LEARNING_RATE, policy), from_logits=False)
    else:
        model.compile(optimizer=keras().optimizers.Adam(learning_rate=LEARNING_RATE),
                      loss=keras().losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
    return model


def interval_timer(unit: str):
    """A Keras callback that stamps the start of each epoch (unit "epoch") or batch ("batch") and the end
    of training; `.intervals()` gives the seconds from each start to the next, callbacks included.
    Made on first use: tf_keras is imported only when a part runs."""
    from edgekit._tf import keras

    class IntervalTimer(keras().callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.stamps: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            if unit == "epoch":
                self.stamps.append(time.perf_counter())

        def on_train_batch_begin(self, batch, logs=None):
            if unit == "batch":
                self.stamps.append(time.perf_counter())

        def on_train_end(self, logs=None):
            self.stamps.append(time.perf_counter())

        def intervals(self) -> list[float]:
            return [after - before for before, after in zip(self.stamps, self.stamps[1:])]

    return IntervalTimer()


def edgekit_fit_epochs(data, policy: str = "float32") -> list[float]:
    """Seconds of each epoch of edgekit's fit."""
    from edgekit.pipeline.training import fit

    model, timer = fresh_model(data, policy), interval_timer("epoch")
    fit(model, data, epochs=EPOCHS, batch_size=BATCH_SIZE, label="train", seed=0, callbacks=[timer])
    return timer.intervals()


def plain_fit_epochs(data) -> list[float]:
    """Seconds of each epoch of model.fit with the same arguments."""
    model, timer = fresh_model(data, compiled_by="plain"), interval_timer("epoch")
    model.fit(data.x_train, data.y_train, epochs=EPOCHS, batch_size=BATCH_SIZE, validation_data=(data.x_val, data.y_val),
              shuffle=True, verbose=0, callbacks=[timer])
    return timer.intervals()


def plain_stage_seconds(data, directory: Path) -> float:
    """The plain way's whole train step: build, compile, fit, save."""
    started = time.perf_counter()
    model = fresh_model(data, compiled_by="plain")
    model.fit(data.x_train, data.y_train, epochs=EPOCHS, batch_size=BATCH_SIZE, validation_data=(data.x_val, data.y_val),
              verbose=0)
    model.save(directory / "plain.keras")
    return time.perf_counter() - started


def train_only_config(epochs: int) -> dict[str, Any]:
    """The example with `epochs`, no pruning or QAT, only tflite float32 and a one-run profile."""
    config = support.example_config()
    config["train"]["epochs"] = epochs
    config["prune"]["enabled"] = False
    config["qat"]["enabled"] = False
    config["export"] = {"formats": ["tflite"], "quantization": ["float32"]}
    config["profile"] = {"runs": 1, "warmup": 0, "min_seconds": 0.0}
    return config


def edgekit_stage_seconds(directory: Path) -> float:
    """The train stage's seconds in a real build (see train_only_config), from its manifest."""
    from edgekit import console
    from edgekit.pipeline.runner import BuildRequest, run_build

    path = support.write_config(directory, train_only_config(EPOCHS))
    quiet = console.is_quiet()
    console.set_quiet(True)
    try:
        result = run_build(BuildRequest(config_path=path, out=directory / "build"))
    finally:
        console.set_quiet(quiet)
    return support.stage_seconds(result.manifest)["train"]


def mobilenet_steps(policy: str) -> list[float]:
    """Seconds of each training step of MobileNetV2 (96×96, random data) under `policy`, the first dropped."""
    from edgekit._tf import keras
    from edgekit.models.zoo import mobilenet_v2
    from edgekit.pipeline.precision import make_optimizer, with_policy
    from edgekit.pipeline.training import compile_classifier

    keras().utils.set_random_seed(0)
    model = mobilenet_v2(MOBILENET_SHAPE, 10, 1.0)
    if policy != "float32":
        model = with_policy(model, policy)
    compile_classifier(model, make_optimizer(LEARNING_RATE, policy), from_logits=False)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (MOBILENET_BATCH * (MOBILENET_STEPS + 1), *MOBILENET_SHAPE)).astype(np.float32)
    y = rng.integers(0, 10, len(x))
    timer = interval_timer("batch")
    model.fit(x, y, batch_size=MOBILENET_BATCH, epochs=1, shuffle=False, verbose=0, callbacks=[timer])
    return timer.intervals()[1:]


def device_record() -> dict[str, Any]:
    """GPUs TensorFlow sees ("no GPU" when none) and whether the CPU has bfloat16 instructions."""
    from edgekit._native import captured_stderr
    from edgekit._tf import tf

    with captured_stderr():
        gpus = tf().config.list_physical_devices("GPU")
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        flags = ""
    return {"gpu": ", ".join(gpu.name for gpu in gpus) or "no GPU",
            "cpu_bf16": "avx512_bf16" in flags or "amx_bf16" in flags}


def run(context: BenchContext) -> PartResult:
    rounds = QUICK_ROUNDS if context.quick else ROUNDS
    data = digits()
    train_samples = len(data.y_train)
    load_before = support.load_average()
    support.note("training: warm-up fit")
    plain_fit_epochs(data)
    epochs: dict[str, list[list[float]]] = {"edgekit": [], "plain": []}
    stages: dict[str, list[float]] = {"edgekit": [], "plain": []}
    precision: dict[str, list[list[float]]] = {policy: [] for policy in POLICIES}
    for round_index in range(rounds):
        support.note(f"training: round {round_index + 1}/{rounds}")
        for kind in support.rotated(("edgekit", "plain"), round_index):
            epochs[kind].append(edgekit_fit_epochs(data) if kind == "edgekit" else plain_fit_epochs(data))
        for kind in support.rotated(("edgekit", "plain"), round_index):
            directory = support.folder(context.scratch, f"stage-{kind}-{round_index}")
            stages[kind].append(edgekit_stage_seconds(directory) if kind == "edgekit"
                                else plain_stage_seconds(data, directory))
        for policy in support.rotated(POLICIES, round_index):
            precision[policy].append(edgekit_fit_epochs(data, policy))
    mobilenet: dict[str, list[float]] = {policy: [] for policy in POLICIES}
    if not context.quick:
        for round_index in range(MOBILENET_ROUNDS):
            for policy in support.rotated(POLICIES, round_index):
                support.note(f"training: MobileNetV2 {MOBILENET_SHAPE[0]}×{MOBILENET_SHAPE[1]} under {policy}")
                mobilenet[policy].extend(mobilenet_steps(policy))
    load_after = support.load_average()

    def steady(per_fit: list[list[float]]) -> dict[str, Any]:
        """Throughput of the epochs after the first, and the first epoch's seconds."""
        later = [seconds for fit in per_fit for seconds in fit[1:]]
        return {"samples_per_s": train_samples / statistics.median(later), "epoch_s": support.spread(later),
                "first_epoch_s": support.spread(fit[0] for fit in per_fit)}

    fit = {kind: steady(values) for kind, values in epochs.items()}
    fit_overhead = fit["plain"]["samples_per_s"] / fit["edgekit"]["samples_per_s"] - 1
    stage_overhead = min(stages["edgekit"]) / min(stages["plain"]) - 1
    results = {
        "device": device_record(), "epochs": EPOCHS, "batch_size": BATCH_SIZE, "train_samples": train_samples,
        "rounds": rounds, "overhead_target": OVERHEAD_TARGET,
        "fit": {**fit, "overhead": fit_overhead, "overhead_ok": fit_overhead <= OVERHEAD_TARGET},
        "stage": {"seconds": {kind: support.spread(values) for kind, values in stages.items()},
                  "samples_per_s": {kind: train_samples * EPOCHS / min(values) for kind, values in stages.items()},
                  "overhead": stage_overhead, "overhead_ok": stage_overhead <= OVERHEAD_TARGET},
        "precision_digits": {policy: steady(values) for policy, values in precision.items()},
        "precision_mobilenet": {policy: {"samples_per_s": MOBILENET_BATCH / statistics.median(steps),
                                         "step_s": support.spread(steps)}
                                for policy, steps in mobilenet.items() if steps},
        "load_average_before": load_before, "load_average_after": load_after,
    }
    return PartResult(table=tables(results, support.load_note(load_before, load_after)), results=results)


def tables(results: dict[str, Any], load: str) -> str:
    fit, stage = results["fit"], results["stage"]
    rows = [
        ["fit: samples/s of epochs 2…", f"{fit['plain']['samples_per_s']:.0f}", f"{fit['edgekit']['samples_per_s']:.0f}",
         f"{fit['overhead']:+.1%} {support.mark(fit['overhead_ok'])}"],
        ["fit: first epoch s (traces the graph)", support.spread_text(fit["plain"]["first_epoch_s"], ".2f"),
         support.spread_text(fit["edgekit"]["first_epoch_s"], ".2f"), "-"],
        ["whole train stage s (fastest round; all rounds)",
         f"{min_of(stage['seconds']['plain'])} ({support.spread_text(stage['seconds']['plain'], '.2f')})",
         f"{min_of(stage['seconds']['edgekit'])} ({support.spread_text(stage['seconds']['edgekit'], '.2f')})",
         f"{stage['overhead']:+.1%} {support.mark(stage['overhead_ok'])}"],
    ]
    speed = markdown_table(["digits CNN", "plain model.fit", "edgekit", f"edgekit slower by (≤ {OVERHEAD_TARGET:.0%})"],
                           rows)
    rows = []
    digits_rates = results["precision_digits"]
    rows.append(["digits CNN 8×8, batch 64 (epochs 2…)", f"{digits_rates['float32']['samples_per_s']:.0f}",
                 f"{digits_rates['mixed_bfloat16']['samples_per_s']:.0f}",
                 f"{digits_rates['mixed_bfloat16']['samples_per_s'] / digits_rates['float32']['samples_per_s']:.2f}×"])
    mobilenet = results["precision_mobilenet"]
    if mobilenet:
        rows.append([f"MobileNetV2 {MOBILENET_SHAPE[0]}×{MOBILENET_SHAPE[1]}, batch {MOBILENET_BATCH} (steps 2…)",
                     f"{mobilenet['float32']['samples_per_s']:.1f}", f"{mobilenet['mixed_bfloat16']['samples_per_s']:.1f}",
                     f"{mobilenet['mixed_bfloat16']['samples_per_s'] / mobilenet['float32']['samples_per_s']:.2f}×"])
    mixed = markdown_table(["samples/s (median epoch or step)", "float32", "mixed_bfloat16", "bf16 / fp32"], rows)
    device = results["device"]
    return "\n".join([
        speed, "", f"{results['epochs']} epochs × {results['train_samples']} samples, batch {results['batch_size']}, "
                   f"{results['rounds']} alternating rounds; throughput from the median epoch after the first "
                   f"(start to next start, callbacks included), pooled over rounds.", "", mixed, "",
        f"Device: {device['gpu']}; CPU bfloat16 instructions (AVX512_BF16/AMX): {'yes' if device['cpu_bf16'] else 'no'}. "
        f"{load}."])


def min_of(summary: dict[str, float]) -> str:
    return f"{summary['min']:.2f}"
