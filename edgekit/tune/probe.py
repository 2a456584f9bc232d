"""The structure probe: what every model structure of the space costs on the target, measured before any training.

A TFLite file's size and its latency depend on the model's structure (its layers, width, input size), on the
quantization and on the interpreter's threads, not on the values of its weights: training, pruning (the export
stores every weight, zeros included; the target's kernels are dense) and the training precision (the model is
exported in float32 either way) leave them as they are. So, before anything is trained, tune builds each
(width, input size) of the space untrained, exports it in every quantization the space has (int8 calibrated on
the representative samples, as the export stage does) and profiles every file at every thread count on the
target, one profiler process per thread count (interleaved blocks, as `edgekit profile` does with several models).

Before that, each structure's untrained model is built and its kernel weights counted (tune/probe.json,
`weights`): a file stores at least one byte per weight (two in float16, four in float32), so a structure whose
count already misses `--max-bytes` in every quantization left is not exported at all (edgekit.tune.early; the
bench's MobileNetV2 at width 0.75 has 1.34 million, over its 1 MB limit even in int8).

A candidate whose structure misses `--max-bytes` (its size is exact: the same model, the same converter) or whose
median latency is past `--max-latency-ms` by more than the rung-0 margin (a short profile: its median, so that a
spike cannot rule a structure out) is eliminated without being trained. The
survivors of the probe are the only ones rung 0 trains; their rung-0 trials take the probe's latency (they are the
same structure), and the fully trained survivors are timed again, in A/B rounds against the best.

What the probe cannot know: int8-mixed's structure (which layers int8 recovery keeps float depends on the
training), so it is never eliminated by latency here; full-integer int8 made by QAT is smaller than the probe's
post-training int8 (2.9 % on the digits CNN: other quantization parameters), so int8 is eliminated by size only
past a margin (INT8_BYTES_MARGIN). The probe's files are under tune/builds/probe/, its measurements in
tune/probe.json (a resumed run reads them back). The default build's structure is not exported again: its own
(trained) files are timed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from edgekit import console, fsutil
from edgekit.errors import EdgekitError
from edgekit.tune.constraints import Miss
from edgekit.tune.early import EarlyMiss, SizeFact, weight_facts
from edgekit.tune.measure import Timed, Timer, Timing
from edgekit.tune.space import MIXED_INT8, Candidate

PROBE_FOLDER = "probe"
# A probe latency is a short profile: a structure is out only this far past the limit (as at rung 0).
LATENCY_MARGIN = 1.25
# A post-training int8 file (the probe's, rung 0's) is larger than QAT's of the same model: 88,448 against 85,920
# bytes (2.9 %) for the digits CNN. Such a size bounds a QAT int8 file only divided by this.
INT8_BYTES_MARGIN = 1.10
PROBED_QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")
# The weights a TFLite file stores one by one (at one byte or more each): convolution, depthwise, separable,
# dense, recurrent and embedding kernels. Biases and BatchNormalization's (folded) are left out: a lower bound.
KERNEL_WEIGHTS = ("kernel", "depthwise_kernel", "pointwise_kernel", "recurrent_kernel", "embeddings")
UNTRAINED = "the untrained model"


def kernel_weights(model) -> int:
    """How many kernel weights `model` has (each variable once, nested models included)."""
    from edgekit.pipeline.prune import weight_name

    seen, count = set(), 0
    for weight in model.weights:
        if id(weight) in seen or weight_name(weight) not in KERNEL_WEIGHTS:
            continue
        seen.add(id(weight))
        count += int(weight.shape.num_elements() or 0)
    return count


@dataclass(frozen=True)
class Structure:
    """What changes a model's graph: the knobs of the space that are not training, sparsity or threads."""

    width: Optional[float]
    input_size: Optional[int]

    @classmethod
    def of(cls, candidate: Candidate) -> "Structure":
        return cls(candidate.width, candidate.input_size)

    def folder(self) -> str:
        parts = [f"w{self.width:g}" if self.width is not None else "model",
                 f"{self.input_size}px" if self.input_size is not None else None]
        return "-".join(part for part in parts if part)


@dataclass
class ProbeFact:
    """One structure's file in one quantization at one thread count: its size and its short profile's
    summary (a profile of a 20 µs model holds thousands of samples: tune/probe.json keeps the percentiles)."""

    bytes: int
    p50_ms: float
    p90_ms: float
    samples: int
    file: str  # relative to tune/builds/

    def timing(self) -> Timing:
        return SummaryTiming(p50_ms=self.p50_ms, p90_ms=self.p90_ms)


@dataclass
class SummaryTiming(Timing):
    """A Timing known by its percentiles alone (a probe's, read back)."""

    p50_ms: float = 0.0
    p90_ms: float = 0.0

    @property
    def p50(self) -> float:
        return self.p50_ms

    @property
    def p90(self) -> float:
        return self.p90_ms

    def latency(self) -> dict[str, float]:
        return {"p50": round(self.p50_ms, 4), "p90": round(self.p90_ms, 4)}


def structure_key(structure: Structure) -> str:
    width = "-" if structure.width is None else f"{structure.width:g}"
    size = "-" if structure.input_size is None else str(structure.input_size)
    return f"{width}/{size}"


def parse_structure_key(key: str) -> tuple[Optional[float], Optional[int]]:
    """(width, input size) of a structure_key (or of the start of a fact_key)."""
    width, size = key.split("/")[:2]
    return None if width == "-" else float(width), None if size == "-" else int(size)


def fact_key(structure: Structure, quantization: str, threads: int) -> str:
    return f"{structure_key(structure)}/{quantization}/{threads}"


@dataclass
class Probe:
    """The probe of one tune run; `facts` by fact_key, `failed` structures (folder -> why: no facts, nothing
    eliminated by the probe)."""

    builder: Any  # edgekit.tune.builds.VariantBuilder
    timer: Timer
    path: Path
    default_structure: Optional[Structure] = None  # the default build's: timed with its own files
    facts: dict[str, ProbeFact] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    weights: dict[str, int] = field(default_factory=dict)  # structure key -> kernel weights (kernel_weights)
    # structure -> its untrained model and representative samples, from counting until it is exported
    _untrained: dict[Structure, tuple[Any, Any]] = field(default_factory=dict, repr=False)

    def load(self) -> None:
        """The measurements a killed run of the same arguments took (its tune/ folder was kept for it)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            facts = {key: ProbeFact(**value) for key, value in data.get("facts", {}).items()}
        except (OSError, ValueError, TypeError, AttributeError):
            return  # none, or damaged: probed again
        self.facts = facts
        self.failed = dict(data.get("failed", {}))
        self.seconds = float(data.get("seconds", 0.0))
        self.weights = {key: int(count) for key, count in data.get("weights", {}).items()}

    def count_weights(self, candidates: list[Candidate]) -> None:
        """Build the untrained model of every structure of `candidates` (but the default build's) and count its
        kernel weights: the least size of its files (weight_facts), known before anything is exported."""
        started = time.monotonic()
        for structure in dict.fromkeys(Structure.of(candidate) for candidate in candidates):
            key = structure_key(structure)
            if structure == self.default_structure or key in self.weights or structure.folder() in self.failed:
                continue
            try:
                self.weights[key] = self._count(structure)
            except EdgekitError as error:
                self._fail(structure, error)
        self.seconds = round(self.seconds + time.monotonic() - started, 3)
        self._save()

    def weight_facts(self) -> list[SizeFact]:
        """The counted structures' least file sizes, as facts for edgekit.tune.early's bounds."""
        facts = []
        for key, count in self.weights.items():
            facts += weight_facts(*parse_structure_key(key), count, UNTRAINED)
        return facts

    def run(self, candidates: list[Candidate], default_files: Optional[dict[str, Path]] = None) -> None:
        """Build, export and profile every structure of `candidates` not probed yet.

        Args:
            default_files: the default build's files by quantization: its structure is timed with them (the
                same structure, trained), not exported again.
        """
        started = time.monotonic()
        todo: dict[Structure, set[tuple[str, int]]] = {}
        for candidate in candidates:
            structure = Structure.of(candidate)
            # int8-mixed: its int8 sibling's size bounds it from below (edgekit.tune.early)
            quantization = "int8" if candidate.quantization == MIXED_INT8 else candidate.quantization
            if structure.folder() not in self.failed and quantization in PROBED_QUANTIZATIONS:
                todo.setdefault(structure, set()).add((quantization, candidate.threads))
        files: list[tuple[str, Timed, int, str]] = []
        for structure, wanted in todo.items():
            missing = sorted((pair for pair in wanted if fact_key(structure, *pair) not in self.facts),
                             key=lambda pair: (PROBED_QUANTIZATIONS.index(pair[0]), pair[1]))
            if not missing:
                continue
            quantizations = list(dict.fromkeys(q for q, _ in missing))  # in PROBED_QUANTIZATIONS order
            given = {q: path for q, path in (default_files or {}).items()
                     if structure == self.default_structure and q in quantizations}
            try:
                made = {**given, **self._export(structure, [q for q in quantizations if q not in given])}
            except EdgekitError as error:
                self._fail(structure, error)
                continue
            for quantization, thread_count in missing:
                path = made[quantization]
                files.append((fact_key(structure, quantization, thread_count), Timed(path, thread_count),
                              path.stat().st_size, str(path.relative_to(self.builder.root))))
        if files:
            console.info(f"tune: probe: {len(files)} untrained exports timed on the target")
            timings = self.timer.quick_many([timed for _, timed, _, _ in files])
            for (key, _, size, relative), timing in zip(files, timings):
                self.facts[key] = ProbeFact(bytes=size, p50_ms=round(timing.p50, 6), p90_ms=round(timing.p90, 6),
                                            samples=len(timing.samples_ms), file=relative)
        self._untrained.clear()  # the structures not exported (ruled out by their weights) are let go too
        self.seconds = round(self.seconds + time.monotonic() - started, 3)
        self._save()

    def _save(self) -> None:
        fsutil.write_json(self.path, {"facts": {key: vars(fact) for key, fact in self.facts.items()},
                                      "failed": self.failed, "seconds": self.seconds, "weights": self.weights})

    def _fail(self, structure: Structure, error: EdgekitError) -> None:
        self.failed[structure.folder()] = str(error)
        console.warn(f"tune: the probe of {structure.folder()} failed ({error}); its candidates are trained "
                     f"before they are judged")

    def fact(self, candidate: Candidate) -> Optional[ProbeFact]:
        """The probe's measurement of `candidate`'s structure, quantization and threads (None for int8-mixed,
        whose structure the training decides, and for a structure the probe could not build)."""
        return self.facts.get(fact_key(Structure.of(candidate), candidate.quantization, candidate.threads))

    def size_facts(self) -> list[SizeFact]:
        """The probe's file sizes as facts for edgekit.tune.early's bounds (int8 with its margin taken off)."""
        facts = {}
        for key, fact in self.facts.items():
            width, size, quantization, _ = key.split("/")
            scale = INT8_BYTES_MARGIN if quantization == "int8" else 1.0
            facts[(width, size, quantization)] = SizeFact(*parse_structure_key(key), quantization,
                                                          int(fact.bytes / scale), "the probe")
        return list(facts.values())

    def latency_miss(self, candidate: Candidate, max_latency_ms: Optional[float]) -> Optional[EarlyMiss]:
        """The latency miss the probe measured for `candidate`'s structure, past the margin; None otherwise."""
        fact = self.fact(candidate)
        if max_latency_ms is None or fact is None or candidate.quantization == MIXED_INT8:
            return None
        # The median, not the p90: a short profile's tail is one or two samples, and a spike of the device must
        # not rule a structure out (a median past the margin puts the p90 past it too).
        timing = fact.timing()
        if timing.p50 <= max_latency_ms * LATENCY_MARGIN:
            return None
        return EarlyMiss(Miss("max_latency_ms", max_latency_ms, round(timing.p90, 4)), exact=False,
                         reason=f"before training: median {timing.p50:.3f} ms (p90 {timing.p90:.3f}) > "
                                f"{LATENCY_MARGIN:g} x {max_latency_ms:g} ms, measured on the target for this "
                                f"structure ({fact.file}; latency does not depend on the weights' values)")

    def _export(self, structure: Structure, quantizations: list[str]) -> dict[str, Path]:
        """The untrained model of `structure`, exported in `quantizations`: {quantization: file}."""
        if not quantizations:
            return {}
        from edgekit.config.formats import Quantization
        from edgekit.export.tflite import ConverterSource, convert_tflite

        model, representative = self._model(structure)
        folder = self.builder.root / PROBE_FOLDER / structure.folder() / "export"
        made = {}
        with ConverterSource(model) as source:  # saved once for every quantization
            for quantization in quantizations:
                path = folder / f"{structure.folder()}-untrained-{quantization}.tflite"
                fsutil.write_bytes(path, convert_tflite(source, Quantization(quantization), representative))
                made[quantization] = path
        return made

    def _count(self, structure: Structure) -> int:
        return kernel_weights(self._model(structure)[0])

    def _model(self, structure: Structure) -> tuple[Any, Any]:
        """The untrained model of `structure` and the representative samples its int8 export calibrates on
        (built once, kept until the probe has exported)."""
        if structure not in self._untrained:
            from edgekit.models.loading import IntakePath
            from edgekit.models.task import build_task_model
            from edgekit.pipeline.intake import check_samples
            from edgekit.pipeline.stages.common import build_task, dataset

            ctx = self.builder.data_context(structure, self.builder.root / PROBE_FOLDER / structure.folder())
            data = dataset(ctx)
            config = ctx.config
            intake = build_task_model(config.model, ctx.loaded, data.input_shape, build_task(ctx), data.num_outputs,
                                      config.task, check_samples=check_samples(data, ctx.seed),
                                      converter_allowed=False)
            if intake.path is IntakePath.CONVERTER:
                raise EdgekitError("the model is a Keras 3 model taken as given")
            self._untrained[structure] = (
                intake.model, data.representative_samples(config.export.representative_samples, ctx.seed))
        return self._untrained[structure]
