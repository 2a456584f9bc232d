"""The search space of `edgekit tune`: the knobs, their default values for a model, data set and device, and the
candidates (one value of every knob) in a fixed order, so a resumed run meets them in the same order."""

from __future__ import annotations

import inspect
import itertools
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from edgekit.config.schema import DataSource, EdgekitConfig, Int8Recovery, PruneStructure
from edgekit.config.target import Target
from edgekit.config.tune import TWO_FOUR, TuneSpaceConfig
from edgekit.errors import ConfigError

Sparsity = Union[float, str]
DEFAULT_WIDTHS = (0.5, 1.0)
DEFAULT_SPARSITIES: tuple[Sparsity, ...] = (0.0, 0.5, 0.75, TWO_FOUR)
DEFAULT_QUANTIZATIONS = ("float16", "dynamic", "int8")
DEFAULT_THREADS = (1, 2, 4)
MIXED_INT8 = "int8-mixed"
# Image sources are resized on reading, so their input size is a knob; arrays (digits, npz) keep their shape.
RESIZABLE_SOURCES = (DataSource.IMAGES, DataSource.TFRECORD)
# Fractions of the configured side tried by default (rounded down to a multiple of 8, as mobile nets expect).
INPUT_SIZE_FRACTIONS = (0.75, 1.0)


@dataclass(frozen=True)
class Candidate:
    """One point of the space: a value of every knob."""

    width: Optional[float]
    input_size: Optional[int]
    sparsity: Sparsity
    quantization: str
    precision: str
    threads: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Candidate":
        return cls(**{key: data[key] for key in ("width", "input_size", "sparsity", "quantization", "precision",
                                                 "threads")})

    @property
    def build_key(self) -> tuple:
        """What needs its own build folder: everything but the quantization (one export makes them all) and
        the threads (a profile-time knob)."""
        return (self.width, self.input_size, self.sparsity, self.precision)

    @property
    def training_key(self) -> tuple:
        """What needs its own training: the build folders of one width, input size and precision share one (their
        sparsities prune from it)."""
        return (self.width, self.input_size, self.precision)

    def label(self) -> str:
        parts = [f"w{self.width:g}" if self.width is not None else None,
                 f"{self.input_size}px" if self.input_size is not None else None,
                 "dense" if self.sparsity in (0, 0.0) else f"sparse {self.sparsity}",
                 self.quantization, self.precision, f"{self.threads} thr"]
        return " ".join(part for part in parts if part)


@dataclass
class SearchSpace:
    """The values of each knob, and why a knob is not searched (e.g. no GPU for mixed precision)."""

    width: list[Optional[float]]
    input_size: list[Optional[int]]
    sparsity: list[Sparsity]
    quantization: list[str]
    precision: list[str]
    threads: list[int]
    notes: list[str] = field(default_factory=list)

    def candidates(self) -> list[Candidate]:
        """Every combination, builds grouped together (width, size, precision, sparsity outermost)."""
        return [Candidate(width, size, sparsity, quantization, precision, threads)
                for width, size, precision, sparsity, quantization, threads in itertools.product(
                    self.width, self.input_size, self.precision, self.sparsity, self.quantization, self.threads)]

    def to_dict(self) -> dict[str, Any]:
        return {"width": self.width, "input_size": self.input_size, "sparsity": self.sparsity,
                "quantization": self.quantization, "precision": self.precision, "threads": self.threads}


def build_space(config: EdgekitConfig, target: Target, given: TuneSpaceConfig, *, local: bool,
                config_dir: Optional[Path] = None) -> SearchSpace:
    """The space to search: the values in `given` (the tune: section and the flags), defaults for the rest.

    Raises:
        ConfigError: a knob was given that this model or data cannot take (width of a model file, input size of
            array data, threads beyond the device's cores).
    """
    notes: list[str] = []
    cores = device_cores(target, local=local)
    return SearchSpace(
        width=_widths(config, given, notes, config_dir), input_size=_input_sizes(config, given, notes),
        sparsity=list(given.sparsity) if given.sparsity is not None else list(DEFAULT_SPARSITIES),
        quantization=_quantizations(config, given, notes), precision=_precisions(given, notes),
        threads=_threads(config, given, cores, notes), notes=notes)


def default_candidate(config: EdgekitConfig, target: Target, space: SearchSpace, *, local: bool) -> Candidate:
    """The user's own configuration as a candidate: the default build the chosen one is compared with."""
    prune = config.prune
    sparsity: Sparsity = 0.0
    if prune.enabled:
        sparsity = TWO_FOUR if prune.structure is PruneStructure.TWO_FOUR else prune.target_sparsity
    quantizations = [q.value for q in _tflite_quantizations(config)] or ["int8"]
    quantization = "int8" if "int8" in quantizations else quantizations[-1]
    threads = config.profile.threads or min(target.threads or 1, device_cores(target, local=local))
    precision = config.train.precision.value
    return Candidate(width=config.model.width if space.width != [None] else None,
                     input_size=config.data.image_size[0] if config.data.image_size else None,
                     sparsity=sparsity, quantization=quantization,
                     precision="float32" if precision == "auto" else precision, threads=threads)


def device_cores(target: Target, *, local: bool) -> int:
    """Cores the profiled device has: this machine's for a local target, else the target file's thread count
    (each target file sets threads to its physical core count)."""
    if local:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return target.threads or 1


def _widths(config: EdgekitConfig, given: TuneSpaceConfig, notes: list[str],
            config_dir: Optional[Path]) -> list[Optional[float]]:
    # A built-in model, or a factory that takes `width`, can be made wider or narrower; a file has its own layers.
    if config.model.builtin is None and not _factory_takes_width(config, config_dir):
        what = "a file" if config.model.file else "a factory without a `width` parameter"
        if given.width is not None:
            raise ConfigError(f"tune.space.width: the model is {what}, whose width edgekit cannot change; width is "
                              f"searched for built-in models and factories that take `width`")
        notes.append(f"width: not searched (the model is {what})")
        return [None]
    if given.width is not None:
        return list(given.width)
    return sorted({*DEFAULT_WIDTHS, config.model.width})


def _factory_takes_width(config: EdgekitConfig, config_dir: Optional[Path]) -> bool:
    """Whether model.factory names a function with a `width` parameter (its module is imported, as a build does)."""
    if config.model.factory is None or config_dir is None:
        return False
    from edgekit.models.loading import factory_function

    return "width" in inspect.signature(factory_function(config.model.factory, config_dir)).parameters


def _input_sizes(config: EdgekitConfig, given: TuneSpaceConfig, notes: list[str]) -> list[Optional[int]]:
    if config.data.source not in RESIZABLE_SOURCES:
        if given.input_size is not None:
            raise ConfigError(f"tune.space.input_size: data.source '{config.data.source.value}' keeps its stored "
                              f"shape; input size is searched for images and tfrecord data only")
        notes.append(f"input_size: not searched ({config.data.source.value} data keeps its shape)")
        return [None]
    if given.input_size is not None:
        return list(given.input_size)
    side = config.data.image_size[0]
    return sorted({max(8, int(side * fraction) // 8 * 8) for fraction in INPUT_SIZE_FRACTIONS} | {side})


def _quantizations(config: EdgekitConfig, given: TuneSpaceConfig, notes: list[str]) -> list[str]:
    recovery = config.export.int8_recovery is not Int8Recovery.OFF
    if given.quantization is not None:
        if MIXED_INT8 in given.quantization and not recovery:
            raise ConfigError("tune.space.quantization: int8-mixed needs int8 recovery, and export.int8_recovery "
                              "is off; set it to auto or always, or leave int8-mixed out")
        return list(given.quantization)
    values = list(DEFAULT_QUANTIZATIONS)
    if recovery:
        values.append(MIXED_INT8)
    else:
        notes.append("int8-mixed: not searched (export.int8_recovery is off)")
    return values


def _precisions(given: TuneSpaceConfig, notes: list[str]) -> list[str]:
    runs = hardware_precisions()
    if given.precision is not None:
        refused = [precision for precision in given.precision if precision not in runs]
        if refused:
            raise ConfigError(f"tune.space.precision: {', '.join(refused)} cannot be measured on this machine "
                              f"({hardware_summary()}); it trains in {', '.join(runs)}")
        return list(given.precision)
    skipped = [precision for precision in ("mixed_float16", "mixed_bfloat16") if precision not in runs]
    if skipped:
        notes.append(f"precision: {', '.join(skipped)} not measured on a GPU ({hardware_summary()}), skipped")
    return runs


def hardware_precisions() -> list[str]:
    """Training precisions this machine runs natively: float32 always; mixed_float16 with an NVIDIA GPU (its
    Tensor Cores); mixed_bfloat16 on a GPU or a CPU with bfloat16 instructions (AVX512-BF16, AMX)."""
    from edgekit.pipeline.distribute import accelerator_fingerprint

    values = ["float32"]
    gpus = accelerator_fingerprint()["nvidia_gpus"] and os.environ.get("CUDA_VISIBLE_DEVICES") not in ("", "-1")
    if gpus:
        values += ["mixed_float16", "mixed_bfloat16"]
    elif _cpu_has_bfloat16():
        values.append("mixed_bfloat16")
    return values


def hardware_summary() -> str:
    bf16 = "with" if _cpu_has_bfloat16() else "without"
    return f"no GPU visible; the CPU is {bf16} bfloat16 instructions"


def _cpu_has_bfloat16() -> bool:
    try:
        with open("/proc/cpuinfo") as handle:
            flags = next((line for line in handle if line.startswith("flags")), "")
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def _threads(config: EdgekitConfig, given: TuneSpaceConfig, cores: int, notes: list[str]) -> list[int]:
    if given.threads is not None:
        over = [threads for threads in given.threads if threads > cores]
        if over:
            raise ConfigError(f"tune.space.threads: {over[0]} threads, but the device has {cores} cores")
        return list(given.threads)
    values = sorted({threads for threads in DEFAULT_THREADS if threads <= cores} | {1})
    if config.profile.threads and config.profile.threads <= cores:
        values = sorted(set(values) | {config.profile.threads})
    if any(threads > cores for threads in DEFAULT_THREADS):
        notes.append(f"threads: capped at the device's {cores} cores")
    return values


def _tflite_quantizations(config: EdgekitConfig):
    from edgekit.config.schema import ExportFormat

    quantization = config.export.quantization
    values = quantization.get(ExportFormat.TFLITE, []) if isinstance(quantization, dict) else quantization
    return list(values) or []
