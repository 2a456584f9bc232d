"""The `regress` part: how often the latency gate cries wolf, and how often it catches a real slowdown.

Real models, real host profiles, the gate's own statistics:

- the model is edgekit's builtin `small_cnn` on 32×32×3 inputs (CIFAR-sized), converted to float32 TFLite;
- the "slower" models are the same network averaged with an extra block of ops (an MLP side branch on the
  input: Flatten → Dense(width) → Dense(10) → softmax). The branch's width sets the cost; it is calibrated
  by measuring, interleaved, until the slowdown is +10% and +20%;
- every round profiles the base model twice (A/A: false alarms) and each slower model once, in two ways:
  **separate** runs, one profiler process per model (what comparing recorded latencies does: `edgekit
  regress --timing recorded`, or when the model files are not at hand), and **interleaved** pairs, baseline
  and current alternating in blocks in one process (what `edgekit regress` does by default when it finds
  the model files: two .tflite files, two build folders' manifests, the baseline store);
- each comparison is judged by `edgekit.regress.compare_samples` at the CLI's defaults, and at a sweep of
  `--max-slowdown` values from the same profiles.
"""

from __future__ import annotations

import dataclasses
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchsuite.common import BenchContext, PartResult, markdown_table
from edgekit.adapters import ConnectionOptions
from edgekit.profiling.profile import ProfileSettings
from edgekit.fleet.measure import profile_models
from edgekit.regress.reprofile import Reprofile, profile_pairs
from edgekit.regress.stats import GateThresholds, Verdict, compare_samples

TARGET = "host"
ROUNDS, QUICK_ROUNDS = 40, 3
INPUT_SHAPE, CLASSES = (32, 32, 3), 10
SLOWDOWNS = {"+10%": 0.10, "+20%": 0.20}
CASES = ("A/A", *SLOWDOWNS)
# Two widths bracket the calibration; the fit is linear in width (the branch's MACs are 3072 × width).
CALIBRATION_WIDTHS = (128, 512)
# Each calibration point is the median of a few short interleaved runs: one long run can fall into a busy spell.
CALIBRATION_SECONDS, QUICK_CALIBRATION_SECONDS = 1.5, 0.3
CALIBRATION_REPEATS = 3
CALIBRATION_TOLERANCE = 0.015  # re-fit (at most twice) when a calibrated model misses its slowdown by more than this
CALIBRATION_REFITS = 2
THRESHOLD_SWEEP = (0.03, 0.05, 0.10, 0.15)
DEFAULT_THRESHOLDS = GateThresholds()
PROFILE_SETTINGS = ProfileSettings()  # `edgekit profile`'s and `edgekit regress`'s defaults


class Mode:
    SEPARATE = "separate runs (`--timing recorded`)"
    INTERLEAVED = "interleaved pairs (the default when the models are at hand)"


def run(context: BenchContext) -> PartResult:
    rounds = QUICK_ROUNDS if context.quick else ROUNDS
    seconds = QUICK_CALIBRATION_SECONDS if context.quick else CALIBRATION_SECONDS
    models = ModelMaker(context.scratch)
    calibration = calibrate(models, seconds)
    samples = measure(models.base, calibration.models, rounds)
    return summarize_part(samples, calibration, models, rounds)


# ------------------------------------------------------------------------------------------------ models
class ModelMaker:
    """The base model and its slower variants as .tflite files (one seeded set of weights for all)."""

    def __init__(self, folder: Path):
        from edgekit._tf import keras
        from edgekit.models.zoo import small_cnn

        self.folder = folder
        keras().utils.set_random_seed(0)
        self._network = small_cnn(INPUT_SHAPE, CLASSES)
        self.base = self._convert(self._network, "small_cnn.tflite")
        self.ops_added = "Flatten → Dense(width, relu) → Dense(10, softmax), averaged with the CNN's output"

    def slower(self, width: int) -> Path:
        """The same network, averaged with an MLP side branch of `width` units: more work, same answers' shape."""
        from edgekit._tf import keras

        layers = keras().layers
        network = self._network
        side = layers.Flatten(name="side_flatten")(network.input)
        side = layers.Dense(width, activation="relu", name="side_hidden")(side)
        side = layers.Dense(CLASSES, activation="softmax", name="side_classifier")(side)
        averaged = layers.Average(name="ensemble")([network.output, side])
        return self._convert(keras().Model(network.input, averaged), f"small_cnn_side{width}.tflite")

    def _convert(self, model, name: str) -> Path:
        from edgekit._tf import tf

        path = self.folder / name
        if not path.exists():
            path.write_bytes(tf().lite.TFLiteConverter.from_keras_model(model).convert())
        return path


# ------------------------------------------------------------------------------------------------ calibration
@dataclass
class Calibration:
    widths: dict[str, int]
    measured: dict[str, float]  # slowdown of each calibrated model, measured interleaved
    fit_points: dict[int, float]  # width -> measured slowdown
    models: dict[str, Path]


def calibrate(models: ModelMaker, seconds: float) -> Calibration:
    """Find the branch widths that make the model 10% and 20% slower, measured interleaved on this machine."""
    fitted = _slowdowns(models, {str(width): models.slower(width) for width in CALIBRATION_WIDTHS}, seconds)
    points = {int(width): slowdown for width, slowdown in fitted.items()}
    widths = {label: _width_for(points, target) for label, target in SLOWDOWNS.items()}
    measured = _slowdowns(models, {label: models.slower(width) for label, width in widths.items()}, seconds)
    for label, target in SLOWDOWNS.items():
        points[widths[label]] = measured[label]
        for _ in range(CALIBRATION_REFITS):
            if abs(measured[label] - target) <= CALIBRATION_TOLERANCE:
                break
            widths[label] = _width_for(points, target)
            measured.update(_slowdowns(models, {label: models.slower(widths[label])}, seconds))
            points[widths[label]] = measured[label]
    log(f"calibrated: widths {widths}, measured slowdowns "
        + ", ".join(f"{label} {value:+.1%}" for label, value in measured.items()))
    return Calibration(widths=widths, measured=measured, fit_points=dict(sorted(points.items())),
                       models={label: models.slower(width) for label, width in widths.items()})


def _slowdowns(models: ModelMaker, slower: dict[str, Path], seconds: float) -> dict[str, float]:
    """Median over CALIBRATION_REPEATS interleaved runs of each model's median slowdown against the base."""
    settings = dataclasses.replace(PROFILE_SETTINGS, min_seconds=seconds)
    pairs = {label: (models.base, path) for label, path in slower.items()}
    repeats: dict[str, list[float]] = {label: [] for label in slower}
    for _ in range(CALIBRATION_REPEATS):
        baseline, current = profile_pairs(pairs, TARGET, Reprofile(TARGET, ConnectionOptions(), settings))
        for label in slower:
            repeats[label].append(float(np.median(current.profiles[label]["samples_ms"])
                                        / np.median(baseline.profiles[label]["samples_ms"])) - 1.0)
    return {label: float(np.median(values)) for label, values in repeats.items()}


def _width_for(points: dict[int, float], slowdown: float) -> int:
    """The width where the least-squares line through (width, slowdown) reaches `slowdown`, in steps of 8."""
    widths, slowdowns = zip(*sorted(points.items()))
    slope, intercept = np.polyfit(widths, slowdowns, 1) if len(points) > 1 else (slowdowns[0] / widths[0], 0.0)
    if slope <= 0:
        raise RuntimeError(f"the side branch did not slow the model down ({points}): the machine is too noisy "
                           f"to calibrate; run the bench again when it is quieter")
    return max(8, int(round((slowdown - intercept) / slope / 8.0)) * 8)


# ------------------------------------------------------------------------------------------------ rounds
def measure(base: Path, slower: dict[str, Path], rounds: int) -> dict[str, dict[str, list[tuple]]]:
    """Per mode and case, (baseline samples, current samples) of every round."""
    rng = random.Random(0)  # the order of profiles within a round is shuffled, so drift favours no case
    samples: dict[str, dict[str, list[tuple]]] = {mode: {case: [] for case in CASES}
                                                  for mode in (Mode.SEPARATE, Mode.INTERLEAVED)}
    reprofile = Reprofile(TARGET, ConnectionOptions(), PROFILE_SETTINGS)
    for number in range(1, rounds + 1):
        # separate: one process per profile; the base model twice (A/A), each slower model once
        runs = [("A1", base), ("A2", base), *((label, path) for label, path in slower.items())]
        rng.shuffle(runs)
        profiles = dict(zip((name for name, _ in runs),
                            profile_models([path for _, path in runs], TARGET, ConnectionOptions(), PROFILE_SETTINGS)))
        timed = {name: profile["samples_ms"] for name, profile in profiles.items()}
        samples[Mode.SEPARATE]["A/A"].append((timed["A1"], timed["A2"]))
        for index, label in enumerate(SLOWDOWNS):
            samples[Mode.SEPARATE][label].append((timed["A1" if index % 2 == 0 else "A2"], timed[label]))
        # interleaved: each (baseline, current) pair alternating in blocks in one process
        pairs = [("A/A", (base, base)), *((label, (base, path)) for label, path in slower.items())]
        rng.shuffle(pairs)
        baseline, current = profile_pairs(dict(pairs), TARGET, reprofile)
        for case in CASES:
            samples[Mode.INTERLEAVED][case].append((baseline.profiles[case]["samples_ms"],
                                                    current.profiles[case]["samples_ms"]))
        if number % 5 == 0 or number == rounds:
            log(f"round {number}/{rounds}")
    return samples


# ------------------------------------------------------------------------------------------------ results
def judge(pairs: list[tuple], max_slowdown: float) -> dict[str, Any]:
    """Verdicts of the gate on every pair; ratios of medians."""
    thresholds = dataclasses.replace(DEFAULT_THRESHOLDS, max_slowdown=max_slowdown)
    results = [compare_samples(baseline, current, thresholds) for baseline, current in pairs]
    return {
        "count": len(results),
        "regressions": sum(result.verdict is Verdict.REGRESSION for result in results),
        "improvements": sum(result.verdict is Verdict.IMPROVEMENT for result in results),
        "ratios": [round(result.ratio, 5) for result in results],
        "p_values": [float(f"{result.p_value:.3g}") for result in results],
        "runs": [[result.baseline_runs, result.current_runs] for result in results],
    }


def rate_bounds(hits: int, count: int) -> tuple[float, float]:
    """Clopper–Pearson 95% interval of a rate: with 0/40 the true rate can still be up to 8.8%."""
    from scipy.stats import beta

    low = 0.0 if hits == 0 else float(beta.ppf(0.025, hits, count - hits + 1))
    high = 1.0 if hits == count else float(beta.ppf(0.975, hits + 1, count - hits))
    return low, high


def summarize_part(samples: dict, calibration: Calibration, models: ModelMaker, rounds: int) -> PartResult:
    sweep = {mode: {f"{threshold:g}": {case: judge(samples[mode][case], threshold) for case in CASES}
                    for threshold in THRESHOLD_SWEEP}
             for mode in samples}
    default = f"{DEFAULT_THRESHOLDS.max_slowdown:g}"
    main_rows = []
    for mode in samples:
        judged = sweep[mode][default]
        aa_ratios = np.array(judged["A/A"]["ratios"])
        main_rows.append([
            mode, rounds,
            _rate(judged["A/A"]["regressions"], rounds, upper=True),
            _rate(judged["+10%"]["regressions"], rounds, upper=False),
            _rate(judged["+20%"]["regressions"], rounds, upper=False),
            f"{np.percentile(aa_ratios, 2.5):.3f}–{np.percentile(aa_ratios, 97.5):.3f} (worst {_worst(aa_ratios):+.1%})",
            " / ".join(f"{np.median(judged[label]['ratios']) - 1:+.1%}" for label in SLOWDOWNS),
        ])
    table = markdown_table(
        ["timing", "rounds", "false alarms (A/A)", "detected +10%", "detected +20%", "A/A median ratio, 95% range",
         "median slowdown seen, +10% / +20%"], main_rows)
    sweep_rows = [[f"{threshold:g}"] + [
        " / ".join(f"{sweep[mode][f'{threshold:g}'][case]['regressions']}" for case in CASES) for mode in samples]
        for threshold in THRESHOLD_SWEEP]
    sweep_table = markdown_table(["--max-slowdown", *(f"{mode}: regressions A/A / +10% / +20% (of {rounds})"
                                                      for mode in samples)], sweep_rows)
    settings = (f"gate: --max-slowdown {DEFAULT_THRESHOLDS.max_slowdown:g} --alpha {DEFAULT_THRESHOLDS.alpha:g} "
                f"(two-sided Mann–Whitney U, {DEFAULT_THRESHOLDS.resamples} bootstrap resamples); profiles: runs ≥ "
                f"{PROFILE_SETTINGS.runs}, warmup {PROFILE_SETTINGS.warmup}, ≥ {PROFILE_SETTINGS.min_seconds:g} s per "
                f"profiler process, 1 thread, XNNPACK (target host); interleaved: blocks of {PROFILE_SETTINGS.block}, "
                f"cooldown {PROFILE_SETTINGS.cooldown:g} s")
    model_line = (f"models: small_cnn 32×32×3 float32 ({models.base.stat().st_size // 1024} KiB); slower = the same "
                  f"network averaged with an MLP branch of width {calibration.widths['+10%']} / "
                  f"{calibration.widths['+20%']}, calibrated interleaved to "
                  + " / ".join(f"{value:+.1%}" for value in calibration.measured.values()))
    text = "\n".join([table, "", sweep_table, "", settings, model_line])
    return PartResult(table=text, results={
        "rounds": rounds,
        "settings": {"gate": dataclasses.asdict(DEFAULT_THRESHOLDS), "profile": dataclasses.asdict(PROFILE_SETTINGS),
                     "target": TARGET, "threshold_sweep": list(THRESHOLD_SWEEP)},
        "models": {"base": models.base.name, "base_bytes": models.base.stat().st_size, "extra_ops": models.ops_added,
                   "widths": calibration.widths, "calibrated_slowdowns": calibration.measured,
                   "calibration_points": {str(width): value for width, value in calibration.fit_points.items()}},
        "summary": {mode: {"false_alarm_rate": sweep[mode][default]["A/A"]["regressions"] / rounds,
                           **{f"detection_rate_{label}": sweep[mode][default][label]["regressions"] / rounds
                              for label in SLOWDOWNS}} for mode in samples},
        "by_threshold": sweep,
    })


def _rate(hits: int, count: int, *, upper: bool) -> str:
    low, high = rate_bounds(hits, count)
    bound = f"≤ {high:.1%}" if upper else f"≥ {low:.1%}"
    return f"{hits}/{count} = {hits / count:.1%} (95%: {bound})"


def _worst(ratios: np.ndarray) -> float:
    return float(ratios.max() - 1.0)


def log(message: str) -> None:
    print(f"  regress: {message}", file=sys.stderr, flush=True)
