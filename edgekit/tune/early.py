"""Eliminate tune candidates before building them, by facts that need no training.

A TFLite file's size does not depend on the values of its weights: training, pruning (the export stores every
weight, zeros included) and the training precision (the model is exported in float32 either way) leave it as it
is. So one build folder's export tells the exact size of every candidate with the same width, input size and
quantization, at any sparsity, precision, epochs or threads. From there a few bounds are clearly safe (a file that
is at least as large as one that already misses `--max-bytes` misses it too):

- a wider built-in model, or one with a larger input, has at least every weight of the narrower or smaller one
  (width multiplies every layer's channels; input size changes at most a Flatten's Dense layer); a factory's
  model is only compared at the same width and input size, since edgekit cannot know what its width does;
- float32 stores 4 bytes per weight, float16 2, dynamic and int8 1 (biases and quantization parameters come on
  top), so a file is at least as large as a more compressed export of the same model: float32 >= every other,
  float16 >= dynamic and int8, int8-mixed >= int8 (it keeps some layers float);
- for the same reason, before anything is exported, a file is at least its model's kernel weights (convolution,
  depthwise, dense, embedding) times those bytes: the converter stores every one of them (zeros included; BN
  folds into the kernels without adding any, and dynamic range quantization keeps small kernels float32, larger).
  Counted on the untrained model of the structure (edgekit.tune.probe), these facts are bounds, never exact.

int8-mixed's own size depends on which layers int8 recovery keeps float (the training decides), so it is never
an exact fact. Latency is never used before measuring: it is noisy, depends on threads and on kernels (an int8
model can be slower than its float16 sibling on a CPU without int8 dot products), so no bound on it is safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

from edgekit import console
from edgekit.tune.constraints import Miss
from edgekit.tune.space import MIXED_INT8, Candidate
from edgekit.tune.trials import Trial, TrialStatus

# quantization -> the quantizations whose file of the same model it is at least as large as (see above).
AT_LEAST_AS_LARGE_AS = {
    "float32": frozenset({"float32", "float16", "dynamic", "int8", MIXED_INT8}),
    "float16": frozenset({"float16", "dynamic", "int8"}),
    "dynamic": frozenset({"dynamic"}),
    "int8": frozenset({"int8"}),
    MIXED_INT8: frozenset({"int8"}),
}


# The least bytes a TFLite file of each quantization stores per kernel weight (see the module's rules).
BYTES_PER_WEIGHT = {"float32": 4, "float16": 2, "dynamic": 1, "int8": 1}


@dataclass(frozen=True)
class SizeFact:
    """A file size one build measured: the export of `quantization` at `width` and `input_size`; or, with a
    `basis`, a least size no file was measured for (the kernel weights' bytes; never exact)."""

    width: Optional[float]
    input_size: Optional[int]
    quantization: str
    bytes: int
    trial: str  # the trial whose build folder exported it (or what counted the weights)
    basis: Optional[str] = None  # why a fact that is not a file's size bounds one


def weight_facts(width: Optional[float], input_size: Optional[int], weights: int, source: str) -> list[SizeFact]:
    """A structure's least file size in each quantization: its `weights` kernel weights at BYTES_PER_WEIGHT."""
    return [SizeFact(width, input_size, quantization, weights * size, source,
                     basis=f"{weights:,} kernel weights at {size} byte{'s' if size > 1 else ''} each in {quantization} "
                           f"(counted on {source}; the converter stores every one)")
            for quantization, size in BYTES_PER_WEIGHT.items()]


@dataclass(frozen=True)
class EarlyMiss:
    """A candidate that cannot fit, known before building it: the miss, and why it is exact or a bound."""

    miss: Miss
    exact: bool
    reason: str


def size_facts(trial_id: str, candidate: Candidate, file_bytes: dict[str, int]) -> list[SizeFact]:
    """The sizes one build folder's export measured (every quantization it made), as facts."""
    return [SizeFact(candidate.width, candidate.input_size, quantization, int(size), trial_id)
            for quantization, size in sorted(file_bytes.items())]


def _not_smaller(mine: Optional[float], theirs: Optional[float], scales: bool) -> bool:
    if mine is None or theirs is None:
        return mine == theirs
    return mine >= theirs if scales else mine == theirs


def at_least_as_large(candidate: Candidate, fact: SizeFact, *, scales_with_knobs: bool) -> bool:
    """Whether `candidate`'s file is surely at least `fact.bytes` (see the module's rules)."""
    return (fact.quantization in AT_LEAST_AS_LARGE_AS.get(candidate.quantization, frozenset())
            and _not_smaller(candidate.width, fact.width, scales_with_knobs)
            and _not_smaller(candidate.input_size, fact.input_size, scales_with_knobs))


def is_exact(candidate: Candidate, fact: SizeFact) -> bool:
    """The fact is the candidate's own file size (same model and quantization; int8-mixed never is)."""
    return (fact.basis is None and candidate.quantization == fact.quantization != MIXED_INT8
            and candidate.width == fact.width and candidate.input_size == fact.input_size)


def bytes_miss(candidate: Candidate, facts: Iterable[SizeFact], max_bytes: Optional[int], *,
               scales_with_knobs: bool) -> Optional[EarlyMiss]:
    """The max-bytes miss `candidate` is sure to have, from sizes already measured; None when none is sure.

    Args:
        scales_with_knobs: the model is a built-in, whose width and input size only add weights.
    """
    if max_bytes is None:
        return None
    over = [fact for fact in facts if fact.bytes > max_bytes
            and at_least_as_large(candidate, fact, scales_with_knobs=scales_with_knobs)]
    if not over:
        return None
    exact = [fact for fact in over if is_exact(candidate, fact)]
    fact = exact[0] if exact else max(over, key=lambda fact: fact.bytes)
    miss = Miss("max_bytes", max_bytes, fact.bytes)
    if fact.basis is not None:
        whose = "the model's" if (candidate.width, candidate.input_size) == (fact.width, fact.input_size) else (
            f"a model of width {_knob(fact.width)} and input size {_knob(fact.input_size)}, whose every weight this "
            f"one has too:")
        reason = f"before building: file size at least {fact.bytes:,} bytes > {max_bytes:,} bytes, {whose} {fact.basis}"
    elif exact:
        reason = (f"before building: file size {fact.bytes:,} bytes > {max_bytes:,} bytes, exactly as the "
                  f"{fact.quantization} export of {fact.trial}'s build (same width and input size; the size does "
                  f"not depend on training, sparsity or precision)")
    else:
        reason = (f"before building: file size at least {fact.bytes:,} bytes > {max_bytes:,} bytes, the "
                  f"{fact.quantization} export of {fact.trial}'s build (width {_knob(fact.width)}, input size "
                  f"{_knob(fact.input_size)}), which a {candidate.quantization} file of this width and size "
                  f"cannot be smaller than")
    return EarlyMiss(miss, bool(exact), reason)


def early_trial(trial: Trial, early: EarlyMiss) -> Trial:
    """`trial` (new, or pending from a killed run) recorded as eliminated before building: no epochs, no
    measurement; its miss, and its bytes only when they are exact."""
    trial.epochs, trial.status, trial.reason, trial.fits = 0, TrialStatus.ELIMINATED, early.reason, False
    trial.misses = [early.miss]
    trial.bytes = int(early.miss.measured) if early.exact else None
    trial.extra.update({"early": True, "bytes_exact": early.exact})
    console.info(f"tune: {trial.id} {trial.candidate.label()}: {early.reason}")
    return trial


def _knob(value) -> str:
    return "-" if value is None else f"{value:g}"
