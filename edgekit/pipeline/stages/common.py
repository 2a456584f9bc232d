"""What several stages share: running a declared stage through the cache, the data set, the task, the Keras
models of earlier stages, the distribution scope and BatchNorm re-estimation."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from edgekit import console
from edgekit.config.schema import Task
from edgekit.data.base import Splits
from edgekit.pipeline.cache import StageResult
from edgekit.pipeline.context import BuildContext
from edgekit.pipeline.graph import StageSpec


def run_declared(ctx: BuildContext, spec: StageSpec, produce: Callable[[Path], Any]) -> StageResult:
    """Run `produce` for a declared stage, or reuse its record: the key comes from the declaration alone."""
    return ctx.cache.run(spec.name, spec.key_material(ctx), produce, folder=spec.folder, output=spec.output)


def dataset(ctx: BuildContext) -> Splits:
    """The data set the data stage made or opened (held in memory for the later stages)."""
    return ctx.memo["dataset"]


def build_task(ctx: BuildContext) -> Task:
    """The task the data stage resolved (classification or regression, never auto)."""
    return ctx.results.data.output.task


def float_source(ctx: BuildContext) -> tuple[str, str]:
    """(stage, memo key) of the float model that is exported: the pruned one when there is one."""
    return ("prune", "pruned") if ctx.results.prune is not None else ("train", "dense")


def distributed(ctx: BuildContext, produce):
    """`produce` run inside the distribution strategy's scope, so the models it makes are replicated."""

    def produce_in_scope(work: Path) -> dict[str, Any]:
        with ctx.distribution.scope():
            return produce(work)

    return produce_in_scope


def save_model(model, path: Path) -> None:
    """Save a Keras artifact without optimizer state: it is for inference and conversion, and a compiled
    model's .keras file carries the Adam moments (three times the weights' size)."""
    from edgekit.pipeline.prune import copy_model

    copy_model(model).save(path)


def load_keras(ctx: BuildContext, stage: str, memo_key: str):
    """A stage's Keras model: the one still in memory, or loaded from the stage's file."""
    if memo_key not in ctx.memo:
        _register_factory_layers(ctx)
        result = ctx.results[stage]
        path = result.path(result.output.file)
        if stage == "qat":
            from edgekit.pipeline.qat import load_qat_model

            ctx.memo[memo_key] = load_qat_model(path)
        elif stage == "train" and result.output.via_converter:
            from edgekit.models.loading import load_converter_model

            ctx.memo[memo_key] = load_converter_model(path, ctx.config.model, ctx.loaded)
        else:
            from edgekit._tf import keras

            ctx.memo[memo_key] = keras().models.load_model(path, compile=False)
    return ctx.memo[memo_key]


def _register_factory_layers(ctx: BuildContext) -> None:
    """Import the model factory's module before a stage's model is loaded again (the training was cached, so
    the factory did not run): the custom layers it registers with Keras must be known to load the files."""
    spec = ctx.config.model.factory
    if spec is None:
        return
    import importlib
    import sys

    if str(ctx.loaded.directory) not in sys.path:
        sys.path.insert(0, str(ctx.loaded.directory))
    try:
        importlib.import_module(spec.split(":")[0])
    except Exception:  # a module that no longer imports fails with a message when the model is built again
        pass


def reestimate_batchnorm(ctx: BuildContext, model, data: Splits, label: str) -> int:
    """Precise BN after a training stage: the moving statistics of the weights the stage ended with."""
    from edgekit.models.batchnorm import REESTIMATE_SAMPLES, reestimate_batchnorm as reestimate

    if ctx.distribution.strategy is not None:
        return 0  # the moving averages are per-replica variables there; Keras' own averages stay
    count = reestimate(model, data.representative_samples(REESTIMATE_SAMPLES, ctx.seed))
    if count:
        console.info(f"  {label}: BatchNormalization statistics re-estimated on {count} training samples")
    return count


def forget_replicated_models(ctx: BuildContext) -> None:
    """Forget the Keras models made in a distribution strategy's scope: they hold replicated variables, so
    later stages load plain copies from the files instead."""
    if ctx.chosen_distribution is not None and ctx.chosen_distribution.strategy is not None:
        for key in ("dense", "pruned", "qat"):
            ctx.memo.pop(key, None)
