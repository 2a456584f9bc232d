"""Build a candidate's artifacts with the real pipeline stages and the shared stage cache.

One build folder per (width, input size, precision, epochs, sparsity) under tune/builds/; its export makes every
quantization of the space at once, and threads are a profile-time knob, so neither needs a build of its own.
Candidates that differ only in sparsity share their training: a new folder is seeded with the data and train
records of a sibling with the same training (tune/builds/<training>/<sparsity>/), and the stage cache reuses them
because their keys match (it checks every file's sha256, so a seeded copy is never trusted blindly).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pydantic

from edgekit import console
from edgekit.adapters import ConnectionOptions
from edgekit.config.loader import LoadedConfig
from edgekit.config.schema import EdgekitConfig
from edgekit.config.target import Target
from edgekit.config.tune import TWO_FOUR
from edgekit.errors import ConfigError
from edgekit.pipeline.cache import STATE_FOLDER, StageCache
from edgekit.pipeline.context import BuildContext
from edgekit.tune.masked import MaskedPruning, Ranked
from edgekit.tune.space import MIXED_INT8, Candidate

BUILDS_FOLDER = "builds"
# Stages a sibling folder with the same training can hand over: (stage, its folder inside the build folder).
SHARED_STAGES = (("data", ".edgekit/data"), ("train", "train"))


@dataclass(frozen=True)
class Variant:
    """What one build folder builds: a candidate's build knobs at an epoch count."""

    width: Optional[float]
    input_size: Optional[int]
    sparsity: Any
    precision: str
    epochs: int
    short: bool  # rung 0: prune fine-tunes one epoch, and int8 is post-training (no QAT)
    # Warm start: the training continues from this model (the candidate's rung-0 training, `warm_epochs` long)
    # for the remaining epochs - `epochs` in all. None: from scratch.
    initial_model: Optional[Path] = None
    warm_epochs: int = 0

    @classmethod
    def of(cls, candidate: Candidate, epochs: int, short: bool) -> "Variant":
        return cls(candidate.width, candidate.input_size, candidate.sparsity, candidate.precision, epochs, short)

    def folder(self) -> Path:
        training = "-".join(part for part in (
            f"w{self.width:g}" if self.width is not None else "model",
            f"{self.input_size}px" if self.input_size is not None else None,
            self.precision, f"e{self.epochs}{'s' if self.short else ''}",
            f"from-e{self.warm_epochs}" if self.initial_model is not None else None) if part)
        sparsity = "dense" if self.sparsity in (0, 0.0) else "s" + re.sub(r"[^0-9a-z]", "-", str(self.sparsity))
        return Path(training) / sparsity


@dataclass
class BuiltArtifact:
    path: Path
    bytes: int
    accuracy: Optional[float]


@dataclass
class VariantBuild:
    """A finished build of a variant: its artifacts by quantization, and what training cost."""

    build_dir: Path
    config: dict[str, Any]
    artifacts: dict[str, BuiltArtifact]
    float_accuracy: Optional[float]
    train_seconds: float
    stage_seconds: dict[str, float]
    cached: list[str]
    cache_keys: dict[str, str]
    missing: dict[str, str] = field(default_factory=dict)  # quantization -> why it has no artifact
    dense_model: Optional[Path] = None  # the train stage's model file (a warm start continues from it)
    epoch_seconds: list[float] = field(default_factory=list)  # the train stage's, each epoch's wall time


@dataclass
class RankedVariant:
    """A short (rung 0) variant scored in memory (edgekit.tune.masked): its training group's train stage, and
    its sparsity pruned and scored without a build folder, an export or a file of its own."""

    config: dict[str, Any]
    ranked: Ranked
    train_seconds: float
    stage_seconds: dict[str, float]
    cached: list[str]
    cache_keys: dict[str, str]
    dense_model: Path


def variant_config(base: dict[str, Any], config: EdgekitConfig, variant: Variant,
                   quantizations: list[str]) -> dict[str, Any]:
    """The user's edgekit.yaml (as data) with the variant's knobs set; everything else stays as the user wrote it."""
    data = copy.deepcopy(base)
    if variant.width is not None:
        data.setdefault("model", {})["width"] = variant.width
    if variant.input_size is not None:
        height, width = config.data.image_size
        side = max(1, round(variant.input_size * width / height))  # the configured aspect ratio kept
        data.setdefault("data", {})["image_size"] = [variant.input_size, side]
    prune = data.setdefault("prune", {})
    if variant.sparsity in (0, 0.0):
        prune["enabled"] = False
    else:
        prune.update({"enabled": True, "structure": "2:4" if variant.sparsity == TWO_FOUR else "unstructured",
                      "target_sparsity": 0.5 if variant.sparsity == TWO_FOUR else float(variant.sparsity)})
    train = data.setdefault("train", {})
    train.update({"precision": variant.precision, "epochs": variant.epochs - variant.warm_epochs})
    if variant.short:  # rung 0 ranks: int8 by post-training quantization (QAT is for the survivors)
        prune["epochs"] = 1
        data.setdefault("qat", {})["enabled"] = False
    export = data.setdefault("export", {})
    export["formats"] = ["tflite"]
    export["quantization"] = sorted({"int8" if q == MIXED_INT8 else q for q in quantizations},
                                    key=["float32", "float16", "dynamic", "int8"].index)
    export["int8_recovery"] = "always" if MIXED_INT8 in quantizations else "off"
    return data


def full_variant(candidate: Candidate, default: Candidate, full_epochs: int, rung0_epochs: int,
                 rung0_model: Optional[Path]) -> Variant:
    """A survivor's full build: continued from its rung-0 training when that was short and its width, input size
    and precision differ from the default build's (whose full training every such candidate shares already)."""
    shares_default = candidate.training_key == default.training_key
    if shares_default or rung0_epochs >= full_epochs or rung0_model is None or not rung0_model.is_file():
        return Variant.of(candidate, full_epochs, short=False)
    return Variant(candidate.width, candidate.input_size, candidate.sparsity, candidate.precision, full_epochs,
                   short=False, initial_model=rung0_model, warm_epochs=rung0_epochs)


def validated(data: dict[str, Any], source: Path) -> LoadedConfig:
    """The variant as a loaded configuration (relative paths still resolve against the user's file)."""
    try:
        config = EdgekitConfig.model_validate(data)
    except pydantic.ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"tune: a candidate's configuration is invalid: {where}: {first['msg']}") from None
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
    return LoadedConfig(config=config, path=source, sha256=digest)


class VariantBuilder:
    """Runs the build stages (data, train, prune, QAT, export, evaluate; diagnose for int8-mixed) of variants."""

    def __init__(self, tune_dir: Path, loaded: LoadedConfig, base: dict[str, Any], target: Target,
                 connection: ConnectionOptions):
        self.root = tune_dir / BUILDS_FOLDER
        self.loaded = loaded
        self.base = base
        self.target = target
        self.connection = connection
        self._tools: Optional[dict[str, Optional[str]]] = None
        self._built: dict[tuple[Variant, tuple[str, ...]], VariantBuild] = {}
        # The training group rung 0 is pruning in memory: its dense variant and pruner (one at a time)
        self._ranker: Optional[tuple[Variant, MaskedPruning]] = None
        # The last full build whose train stage ran in this process (its dense variant and context): rung 0 of
        # that training group prunes the model it trained, whose training step is traced already
        self._last_trained: Optional[tuple[Variant, BuildContext]] = None
        self._ranked: dict[Variant, RankedVariant] = {}

    def build(self, variant: Variant, quantizations: list[str]) -> VariantBuild:
        """Build (or take from the cache) `variant`, exporting `quantizations`.

        Raises:
            EdgekitError: the variant cannot be built (the caller records the trial as failed, with the message).
        """
        key = (variant, tuple(quantizations))
        if key not in self._built:
            self._built[key] = self._build(variant, quantizations)
        return self._built[key]

    def _build(self, variant: Variant, quantizations: list[str]) -> VariantBuild:
        from edgekit.pipeline.runner import run_declared_stages

        data = variant_config(self.base, self.loaded.config, variant, quantizations)
        build_dir = self.root / variant.folder()
        self._seed(build_dir)
        ctx = self._context(data, build_dir, variant.initial_model)
        console.info(f"tune: building {variant.folder()} ({variant.epochs} epochs)")
        # The build's own declared stages, in their derived order, up to evaluate (profiling is tune's own, A/B);
        # diagnose only for int8-mixed, whose variant int8 recovery makes.
        skip = {"profile"} | (set() if MIXED_INT8 in quantizations else {"diagnose"})
        run_declared_stages(ctx, skip=skip)
        ctx.cache.finish()
        trained_here = "train" in ctx.results and not ctx.results.train.cached
        self._last_trained = (dataclasses.replace(variant, sparsity=0), ctx) if trained_here else None
        return self._result(ctx, data, quantizations)

    def rank(self, variant: Variant) -> RankedVariant:
        """Score a short variant in memory: its training group's dense model (the data and train stages of the
        group's dense folder, from the cache when built before), pruned as the variant says and evaluated.

        Raises:
            EdgekitError: the training failed, or the model cannot be pruned (a Keras 3 model taken as given).
        """
        if variant in self._ranked:  # another thread count of the same folder
            return self._ranked[variant]
        dense = dataclasses.replace(variant, sparsity=0)
        if self._ranker is None or self._ranker[0] != dense:
            self._ranker = None  # the previous group's model is let go before the next is trained
            built, self._last_trained = self._last_trained, None
            if built is not None and built[0] == dense:  # a full build trained it in this process
                self._ranker = (dense, MaskedPruning(built[1], after_build=True))
            else:
                self._ranker = (dense, MaskedPruning(self._train_only(dense)))
        pruner = self._ranker[1]
        data = variant_config(self.base, self.loaded.config, variant, ["float32"])
        prune = validated(data, self.loaded.path).config.prune
        ranked = pruner.score(prune if prune.enabled else None, prune.epochs)
        ctx = pruner.ctx
        train = ctx.results.train
        results = {name: result for name, result in ctx.results.items() if name in ("data", "train")}
        stage_seconds = {name: round(result.seconds, 3) for name, result in results.items()}
        stage_seconds.update({"prune (in memory)": ranked.prune_seconds,
                              "evaluate (in memory)": ranked.evaluate_seconds})
        self._ranked[variant] = RankedVariant(
            config=data, ranked=ranked, train_seconds=round(train.seconds, 3), stage_seconds=stage_seconds,
            cached=[name for name, result in results.items() if result.cached],
            cache_keys={name: result.key for name, result in results.items()},
            dense_model=train.path(train.output.file))
        return self._ranked[variant]

    def _train_only(self, variant: Variant) -> BuildContext:
        """The data and train stages of `variant` (a dense one) in its build folder."""
        from edgekit.pipeline.runner import run_declared_stages
        from edgekit.pipeline.stages import ORDER

        build_dir = self.root / variant.folder()
        self._seed(build_dir)
        ctx = self._context(variant_config(self.base, self.loaded.config, variant, ["float32"]), build_dir, None)
        console.info(f"tune: training {variant.folder().parent} ({variant.epochs} epochs) for rung 0")
        run_declared_stages(ctx, skip={spec.name for spec in ORDER if spec.name not in ("data", "train")})
        ctx.cache.finish()
        return ctx

    def data_context(self, structure, build_dir: Path) -> BuildContext:
        """A context for `structure` (width, input size) whose data stage has run (the probe builds its untrained
        model from it)."""
        from edgekit.pipeline.runner import run_declared_stages
        from edgekit.pipeline.stages import ORDER

        variant = Variant(structure.width, structure.input_size, 0, self.loaded.config.train.precision, 1, True)
        ctx = self._context(variant_config(self.base, self.loaded.config, variant, ["float32"]), build_dir, None)
        run_declared_stages(ctx, skip={spec.name for spec in ORDER if spec.name != "data"})
        ctx.cache.finish()
        return ctx

    def _context(self, data: dict[str, Any], build_dir: Path, initial_model: Optional[Path]) -> BuildContext:
        from edgekit.fleet.inventory import DevicePool

        cache = StageCache(build_dir)
        cache.clean_stale_temporaries()
        return BuildContext(loaded=validated(data, self.loaded.path), target=self.target, build_dir=build_dir,
                            cache=cache, connection=self.connection, tools=self.tools(),
                            pool=DevicePool(self.target, [self.connection]), initial_model=initial_model)

    def tools(self) -> dict[str, Optional[str]]:
        if self._tools is None:
            from edgekit._tf import tool_versions

            self._tools = tool_versions()
        return self._tools

    def _result(self, ctx: BuildContext, data: dict[str, Any], quantizations: list[str]) -> VariantBuild:
        results = ctx.results
        scores = results.evaluate.output.scores
        export = results.export
        artifacts: dict[str, BuiltArtifact] = {}
        missing: dict[str, str] = {}
        for artifact in export.output.artifacts:
            if artifact.format != "tflite":  # tune searches the TFLite quantizations (edgetpu/onnx: not candidates)
                continue
            path = export.path(artifact.file)
            artifacts[artifact.quantization] = BuiltArtifact(path, path.stat().st_size,
                                                             scores.get(artifact.name, {}).get("accuracy"))
        if MIXED_INT8 in quantizations:
            diagnosed = results.diagnose
            recovery = diagnosed.output.recovery if diagnosed is not None else None
            if recovery and recovery.get("file"):
                path = diagnosed.path(recovery["file"])
                chosen = next(c for c in recovery["candidates"] if c["name"] == recovery["chosen"])
                artifacts[MIXED_INT8] = BuiltArtifact(path, path.stat().st_size, chosen.get("accuracy"))
            else:
                missing[MIXED_INT8] = "int8 recovery found no mixed variant that passes the accuracy gate"
        training = [name for name in ("train", "prune", "qat") if name in results]
        dense_model = results.train.path(results.train.output.file) if "train" in results else None
        return VariantBuild(
            build_dir=ctx.build_dir, config=data, artifacts=artifacts,
            float_accuracy=scores.get("keras-dense", {}).get("accuracy"),
            train_seconds=round(sum(results[name].seconds for name in training), 3),
            stage_seconds={name: round(result.seconds, 3) for name, result in results.items()},
            cached=[name for name, result in results.items() if result.cached],
            cache_keys={name: result.key for name, result in results.items()}, missing=missing,
            dense_model=dense_model,
            epoch_seconds=list(results.train.output.epoch_seconds) if "train" in results else [])

    def _seed(self, build_dir: Path) -> None:
        """Hand a new folder the data and train records of a sibling with the same training (hard links)."""
        records = build_dir / STATE_FOLDER / "stages"
        for sibling in sorted(build_dir.parent.iterdir()) if build_dir.parent.is_dir() else []:
            if sibling == build_dir or not (sibling / STATE_FOLDER / "stages" / "train.json").is_file():
                continue
            for stage, folder in SHARED_STAGES:
                if (records / f"{stage}.json").exists() or not (sibling / folder).is_dir():
                    continue
                _link_tree(sibling / folder, build_dir / folder)
                records.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(sibling / STATE_FOLDER / "stages" / f"{stage}.json", records / f"{stage}.json")
            return


def _link_tree(source: Path, destination: Path) -> None:
    """Copy a folder as hard links (a copy where links are not possible); the cache re-hashes every file."""
    shutil.rmtree(destination, ignore_errors=True)

    def link(src, dst):
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, destination, copy_function=link)
