"""The `training` part: what edgekit's train stage costs over plain `model.fit`, and what mixed precision gives here.

All in this process, on the digits split edgekit uses, the same model (edgekit's small_cnn), after a
warm-up fit (TensorFlow's first fit in a process pays one-time set-up):
- fit: `edgekit.pipeline.training.fit` (what the train stage runs: seeded, validation each epoch,
  progress callback, history kept) against `model.fit` with the same arguments, fresh compiled models,
  alternating, several rounds; samples per second (target: edgekit <= 5% slower);
- stage: a whole train stage of a real build (`run_build`, only tflite float32, one-run profile; from
  its manifest) against build + compile + fit + save of the plain way;
- precision: the same fit under `mixed_bfloat16` against `float32` (edgekit's `with_policy`), on the
  digits CNN and, not in --quick, on MobileNetV2 at 96×96 with random data, where convolutions dominate.
On a GPU mixed precision is the point; here the device is recorded ("no GPU" when there is none).
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
MOBILENET_ROUNDS = 2  # not in --quick
EPOCHS = 10
BATCH_SIZE = 64
LEARNING_RATE = 0.002
MOBILENET_SHAPE = (96, 96, 3)
MOBILENET_SAMPLES = 256
MOBILENET_BATCH = 32


def digits():
    """The example's digits split, preprocessed by edgekit."""
    from edgekit.config.schema import DataConfig
    from edgekit.data.dataset import build_dataset
    from edgekit.data.sources import load_digits

    return build_dataset(DataConfig(), load_digits())


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


class Clock:
    """Wall and CPU seconds (all threads of this process) of a block: `with Clock() as clock: ...; clock.wall`."""

    def __enter__(self):
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self._wall, time.process_time() - self._cpu


def time_edgekit_fit(data, epochs: int, policy: str = "float32") -> Clock:
    from edgekit.pipeline.training import fit

    model = fresh_model(data, policy)
    with Clock() as clock:
        fit(model, data, epochs=epochs, batch_size=BATCH_SIZE, label="train", seed=0)
    return clock


def time_plain_fit(data, epochs: int) -> Clock:
    model = fresh_model(data, compiled_by="plain")
    with Clock() as clock:
        model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=BATCH_SIZE,
                  validation_data=(data.x_val, data.y_val), shuffle=True, verbose=0)
    return clock


def time_plain_stage(data, epochs: int, directory: Path) -> float:
    """The plain way's whole train step: build, compile, fit, save."""
    from edgekit._tf import keras
    from edgekit.models.zoo import small_cnn

    with Clock() as clock:
        keras().utils.set_random_seed(0)
        model = small_cnn(data.input_shape, data.num_classes)
        model.compile(optimizer=keras().optimizers.Adam(learning_rate=LEARNING_RATE),
                      loss=keras().losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
        model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=BATCH_SIZE,
                  validation_data=(data.x_val, data.y_val), verbose=0)
        model.save(directory / "plain.keras")
    return clock.wall


def train_only_config(epochs: int) -> dict[str, Any]:
    """The example with `epochs`, no pruning or QAT, only tflite float32 and a one-run profile."""
    config = support.example_config()
    config["train"]["epochs"] = epochs
    config["prune"]["enabled"] = False
    config["qat"]["enabled"] = False
    config["export"] = {"formats": ["tflite"], "quantization": ["float32"]}
    config["profile"] = {"runs": 1, "warmup": 0, "min_seconds": 0.0}
    return config


def time_edgekit_stage(epochs: int, directory: Path) -> float:
    """The train stage's seconds in a real build (see train_only_config), from its manifest."""
    from edgekit import console
    from edgekit.pipeline.runner import BuildRequest, run_build

    path = support.write_config(directory, train_only_config(epochs))
    quiet = console.is_quiet()
    console.set_quiet(True)
    try:
        result = run_build(BuildRequest(config_path=path, out=directory / "build"))
    finally:
        console.set_quiet(quiet)
    return support.stage_seconds(result.manifest)["train"]


def time_mobilenet_fit(policy: str, steps: int) -> float:
    """Seconds of `steps` training steps of MobileNetV2 (96×96, random data) under `policy`, after a warm-up step."""
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
    x = rng.uniform(0, 1, (MOBILENET_BATCH * (steps + 1), *MOBILENET_SHAPE)).astype(np.float32)
    y = rng.integers(0, 10, len(x))
    model.fit(x[:MOBILENET_BATCH], y[:MOBILENET_BATCH], batch_size=MOBILENET_BATCH, epochs=1, verbose=0)
    with Clock() as clock:
        model.fit(x[MOBILENET_BATCH:], y[MOBILENET_BATCH:], batch_size=MOBILENET_BATCH, epochs=1, verbose=0)
    return clock.wall


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
    samples = len(data.y_train) * EPOCHS
    load_before = support.load_average()
    support.note("training: warm-up fit")
    time_plain_fit(data, 1)
    fits: dict[str, list[Clock]] = {"edgekit": [], "plain": []}
    stages: dict[str, list[float]] = {"edgekit": [], "plain": []}
    precision: dict[str, list[Clock]] = {"float32": [], "mixed_bfloat16": []}
    for round_index in range(rounds):
        support.note(f"training: round {round_index + 1}/{rounds}")
        for kind in support.rotated(("edgekit", "plain"), round_index):
            fits[kind].append(time_edgekit_fit(data, EPOCHS) if kind == "edgekit" else time_plain_fit(data, EPOCHS))
        for kind in support.rotated(("edgekit", "plain"), round_index):
            directory = support.folder(context.scratch, f"stage-{kind}-{round_index}")
            stages[kind].append(time_edgekit_stage(EPOCHS, directory) if kind == "edgekit"
                                else time_plain_stage(data, EPOCHS, directory))
        for policy in support.rotated(("float32", "mixed_bfloat16"), round_index):
            precision[policy].append(time_edgekit_fit(data, EPOCHS, policy))
    mobilenet: dict[str, list[float]] = {"float32": [], "mixed_bfloat16": []}
    if not context.quick:
        for round_index in range(MOBILENET_ROUNDS):
            for policy in support.rotated(("float32", "mixed_bfloat16"), round_index):
                support.note(f"training: MobileNetV2 {MOBILENET_SHAPE[0]}×{MOBILENET_SHAPE[1]} under {policy}")
                mobilenet[policy].append(time_mobilenet_fit(policy, MOBILENET_SAMPLES // MOBILENET_BATCH))
    load_after = support.load_average()

    def rate(seconds: list[float], count: int) -> dict[str, float]:
        return support.spread(count / value for value in seconds)

    def slower(mine: list[float], plain: list[float]) -> dict[str, Any]:
        per_round = [a / b - 1 for a, b in zip(mine, plain)]
        return {"median": statistics.median(per_round), "per_round": per_round,
                "ok": statistics.median(per_round) <= OVERHEAD_TARGET}

    results = {
        "device": device_record(), "epochs": EPOCHS, "batch_size": BATCH_SIZE, "train_samples": len(data.y_train),
        "rounds": rounds, "overhead_target": OVERHEAD_TARGET,
        "fit": {"samples_per_s": {kind: rate([c.wall for c in clocks], samples) for kind, clocks in fits.items()},
                "cpu_samples_per_s": {kind: rate([c.cpu for c in clocks], samples) for kind, clocks in fits.items()},
                "overhead": slower([c.wall for c in fits["edgekit"]], [c.wall for c in fits["plain"]]),
                "cpu_overhead": slower([c.cpu for c in fits["edgekit"]], [c.cpu for c in fits["plain"]])},
        "stage": {"samples_per_s": {kind: rate(values, samples) for kind, values in stages.items()},
                  "overhead": slower(stages["edgekit"], stages["plain"])},
        "precision_digits": {policy: rate([c.wall for c in clocks], samples) for policy, clocks in precision.items()},
        "precision_mobilenet": {policy: rate(values, MOBILENET_SAMPLES) for policy, values in mobilenet.items() if values},
        "load_average_before": load_before, "load_average_after": load_after,
    }
    return PartResult(table=tables(results, support.load_note(load_before, load_after)), results=results)


def tables(results: dict[str, Any], load: str) -> str:
    fit, stage = results["fit"], results["stage"]

    def overhead(entry: dict[str, Any]) -> str:
        return (f"{entry['median']:+.1%} {support.mark(entry['ok'])} "
                f"(rounds {', '.join(f'{value:+.1%}' for value in entry['per_round'])})")

    rows = [
        ["fit, wall", support.spread_text(fit["samples_per_s"]["plain"], ".0f"),
         support.spread_text(fit["samples_per_s"]["edgekit"], ".0f"), overhead(fit["overhead"])],
        ["fit, CPU time", support.spread_text(fit["cpu_samples_per_s"]["plain"], ".0f"),
         support.spread_text(fit["cpu_samples_per_s"]["edgekit"], ".0f"), overhead(fit["cpu_overhead"])],
        ["whole train stage, wall", support.spread_text(stage["samples_per_s"]["plain"], ".0f"),
         support.spread_text(stage["samples_per_s"]["edgekit"], ".0f"), overhead(stage["overhead"])],
    ]
    speed = markdown_table(["samples/s", "plain model.fit", "edgekit", f"edgekit slower by (≤ {OVERHEAD_TARGET:.0%})"],
                           rows)
    rows = []
    for key, label in (("precision_digits", "digits CNN 8×8, batch 64"),
                       ("precision_mobilenet", f"MobileNetV2 {MOBILENET_SHAPE[0]}×{MOBILENET_SHAPE[1]}, "
                                               f"batch {MOBILENET_BATCH}, random data")):
        entry = results[key]
        if entry:
            rows.append([label, support.spread_text(entry["float32"], ".0f"),
                         support.spread_text(entry["mixed_bfloat16"], ".0f"),
                         f"{entry['mixed_bfloat16']['median'] / entry['float32']['median']:.2f}×"])
    device = results["device"]
    mixed = markdown_table(["samples/s (wall)", "float32", "mixed_bfloat16", "bf16 / fp32"], rows)
    return "\n".join([
        speed, "", f"digits CNN, {results['epochs']} epochs × {results['train_samples']} samples, batch "
                   f"{results['batch_size']}, median (range) of {results['rounds']} alternating rounds. fit: "
                   f"edgekit.pipeline.training.fit vs model.fit; stage: the train stage of a real build vs build + "
                   f"compile + fit + save.", "", mixed, "",
        f"Device: {device['gpu']}; CPU bfloat16 instructions (AVX512_BF16/AMX): {'yes' if device['cpu_bf16'] else 'no'}. "
        f"{load}."])
