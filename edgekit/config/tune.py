"""The `tune:` section of edgekit.yaml: what `edgekit tune` searches and the budget it must fit.

Every key can also be given on the command line (`edgekit tune --max-latency-ms 5`), which wins over the file.
A space key left null takes the default edgekit.tune.space derives from the model, the data and the device.
"""

from __future__ import annotations

from typing import Optional, Union

import pydantic
from pydantic import Field

from edgekit.config.validation import StrictModel
from edgekit.config.yamlsource import did_you_mean

TWO_FOUR = "2:4"
# What a tune candidate can be quantized as: the build's TFLite quantizations, and int8 with the int8-recovery
# variant (edgekit.export.recovery) kept in place of full int8.
TUNE_QUANTIZATIONS = ("float32", "float16", "dynamic", "int8", "int8-mixed")
TUNE_PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


class TuneSpaceConfig(StrictModel):
    """Values to try for each knob; null takes edgekit's default for this model, data and device."""

    width: Optional[list[float]] = None
    input_size: Optional[list[int]] = None
    sparsity: Optional[list[Union[float, str]]] = None
    quantization: Optional[list[str]] = None
    precision: Optional[list[str]] = None
    threads: Optional[list[int]] = None

    @pydantic.field_validator("width")
    @classmethod
    def _widths(cls, value):
        return _each(value, lambda width: 0 < width <= 4, "width multipliers must be in (0, 4]")

    @pydantic.field_validator("input_size")
    @classmethod
    def _sizes(cls, value):
        return _each(value, lambda size: 8 <= size <= 8192, "input sizes must be 8 to 8192 pixels")

    @pydantic.field_validator("threads")
    @classmethod
    def _threads(cls, value):
        return _each(value, lambda threads: 1 <= threads <= 1024, "threads must be 1 to 1024")

    @pydantic.field_validator("sparsity", mode="before")
    @classmethod
    def _sparsities(cls, value):
        if value is None:
            return None
        checked = []
        for item in _as_list(value):
            if item == 124:  # YAML 1.1 reads an unquoted 2:4 as the base-60 number 124
                raise ValueError('write the 2:4 structure in quotes ("2:4"): unquoted, YAML reads it as 124')
            if item == TWO_FOUR:
                checked.append(TWO_FOUR)
            elif isinstance(item, (int, float)) and not isinstance(item, bool) and 0 <= item < 1:
                checked.append(float(item))
            else:
                raise ValueError(f"sparsity values are numbers in [0, 1) or \"2:4\"; got {item!r}")
        return _unique(checked)

    @pydantic.field_validator("quantization", mode="before")
    @classmethod
    def _quantizations(cls, value):
        return _choices(value, TUNE_QUANTIZATIONS, "quantization")

    @pydantic.field_validator("precision", mode="before")
    @classmethod
    def _precisions(cls, value):
        return _choices(value, TUNE_PRECISIONS, "precision")


class TuneConfig(StrictModel):
    """Constraints, budget and search settings of `edgekit tune`."""

    max_latency_ms: Optional[float] = Field(None, gt=0)
    max_bytes: Optional[int] = Field(None, gt=0)
    max_ram_mb: Optional[float] = Field(None, gt=0)
    min_accuracy: Optional[float] = Field(None, ge=0, le=1)
    max_accuracy_drop: Optional[float] = Field(None, ge=0, le=1)
    budget_minutes: Optional[float] = Field(None, gt=0)
    trials: Optional[int] = Field(None, ge=1)
    # Successive halving: rung 0 trains this many epochs (null: a quarter of train.epochs, at least 1) ...
    rung0_epochs: Optional[int] = Field(None, ge=1)
    # ... and this fraction of rung 0's build folders (ranked by their most accurate candidate that can still
    # fit) is trained in full, at least one.
    keep_fraction: float = Field(0.25, gt=0, le=1)
    # ... and so is every folder whose rung-0 accuracy is within this many standard errors of the best folder's
    # (binomial, on the test split): a rung 0 too short to tell folders apart rules none of them out. 0: only
    # keep_fraction.
    keep_within_se: float = Field(2.0, ge=0, le=10)
    # Rung 1 builds the kept folders most accurate first; a folder whose rung 0 trained every epoch and whose
    # float score, with the largest gain any file of the run showed over its own float model and one test
    # sample, is below the best measured (less the tolerance) cannot win, and is not built.
    race: bool = True
    # Survivor and current best are timed in this many ABBA rounds (alternating processes) before one wins.
    ab_rounds: int = Field(2, ge=1, le=20)
    # Timed runs per profile of a survivor (rung 0 takes a quarter of them).
    profile_runs: int = Field(50, ge=5, le=100_000)
    # Accuracies this close are a tie, and the faster candidate (in the same A/B rounds) wins.
    accuracy_tolerance: float = Field(0.005, ge=0, le=1)
    # A survivor of another training than the default build's continues from its rung-0 weights instead of
    # training from scratch. Off by default: measured on digits it saved 2 s and scored 0.855 against 0.925.
    warm_start: bool = False
    space: TuneSpaceConfig = TuneSpaceConfig()

    @pydantic.model_validator(mode="after")
    def _one_accuracy_limit(self):
        if self.min_accuracy is not None and self.max_accuracy_drop is not None:
            raise ValueError("give min_accuracy or max_accuracy_drop, not both (one limits accuracy itself, the "
                             "other its drop from the default build's float model)")
        return self


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _unique(values: list) -> list:
    seen = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


def _each(values, good, message):
    if values is None:
        return None
    if not values:
        raise ValueError("an empty list searches nothing: leave the key out for the default")
    bad = [value for value in values if not good(value)]
    if bad:
        raise ValueError(f"{message}; got {bad[0]!r}")
    return _unique(values)


def _choices(value, allowed: tuple[str, ...], what: str):
    if value is None:
        return None
    values = _as_list(value)
    if not values:
        raise ValueError("an empty list searches nothing: leave the key out for the default")
    for item in values:
        if item not in allowed:
            raise ValueError(f"{what} {item!r} is not one of {', '.join(allowed)}{did_you_mean(str(item), allowed)}")
    return _unique(values)
