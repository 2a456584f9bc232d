"""The train stage: the dense model, trained (or a Keras 3 model taken as given on the converter path)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Optional

from edgekit import console, fsutil
from edgekit.config.schema import Task
from edgekit.data.base import Splits
from edgekit.pipeline.cache import StageResult
from edgekit.pipeline.context import BuildContext
from edgekit.pipeline.graph import StageSpec
from edgekit.pipeline.results import TrainOutput
from edgekit.pipeline.stages.common import (build_task, dataset, distributed, reestimate_batchnorm, run_declared,
                                            save_model)


def train_stage(ctx: BuildContext) -> StageResult:
    from edgekit.models import outputs_probabilities
    from edgekit.models.loading import IntakePath
    from edgekit.models.task import build_task_model
    from edgekit.pipeline.intake import check_samples, converter_allowed, take_as_given
    from edgekit.pipeline.precision import choose_precision, make_optimizer, with_policy
    from edgekit.pipeline.prune import measure_sparsity
    from edgekit.pipeline.training import compile_classifier, epoch_timer_callback, fit

    config = ctx.config
    file_name = f"{config.name}-dense.keras"

    def produce(work: Path) -> dict[str, Any]:
        from edgekit._tf import keras

        precision = choose_precision(config.train.precision)
        distribution = ctx.distribution
        if distribution.strategy is not None:
            console.info(f"distribute: {distribution.name}, {distribution.replicas} replicas "
                         f"({distribution.reason}); batch_size {config.train.batch_size} is the global batch")
        data = dataset(ctx)
        keras().utils.set_random_seed(ctx.seed)
        task = build_task(ctx)
        # A Keras 3 model is rebuilt in tf_keras and checked on validation samples here, before any training.
        intake = build_task_model(config.model, ctx.loaded, data.input_shape, task, data.num_outputs, config.task,
                                  check_samples=check_samples(data, ctx.seed), converter_allowed=converter_allowed(ctx))
        if intake.path is IntakePath.CONVERTER:
            return take_as_given(ctx, intake, work / file_name)
        model = intake.model
        warm_start = _start_from(ctx, model)
        from_logits = task is Task.CLASSIFICATION and not outputs_probabilities(model)
        momentum = _builtin_batchnorm_momentum(config, model, data)
        console.info(f"train: {model.name}, {model.count_params():,} parameters, precision {precision.policy} "
                     f"({precision.reason})")
        training_model = model if precision.policy == "float32" else with_policy(model, precision.policy)
        compile_classifier(training_model, make_optimizer(config.train.learning_rate, precision.policy),
                           from_logits=from_logits, task=task)
        timer = epoch_timer_callback()
        history = fit(training_model, data, epochs=config.train.epochs, batch_size=config.train.batch_size,
                      label="train", seed=ctx.seed, callbacks=[timer])
        # Exported and fine-tuned in float32: the mixed policy only speeds up training.
        dense = training_model if precision.policy == "float32" else with_policy(training_model, "float32")
        reestimated = reestimate_batchnorm(ctx, dense, data, "train")
        save_model(dense, work / file_name)
        ctx.memo["dense"] = dense
        return {"history": history, "precision": precision.policy, "precision_reason": precision.reason,
                "distribute": distribution.record(), "kernel_sparsity": measure_sparsity(dense)["overall"],
                "parameters": int(dense.count_params()), "from_logits": from_logits, "model_name": dense.name,
                "task": task.value, "file": file_name, "model_source": intake.record,
                "batchnorm_momentum": momentum, "batchnorm_reestimated_on": reestimated,
                "epoch_seconds": timer.seconds,
                **({"warm_start": warm_start} if warm_start else {})}

    result = run_declared(ctx, TRAIN, distributed(ctx, produce))
    if result.output.via_converter and not converter_allowed(ctx):
        # Cached from a build with prune and QAT off: this one needs the tf_keras rebuild it cannot have.
        from edgekit.models.keras3 import Untranslatable

        raise Untranslatable(f"the model is a Keras 3 model that edgekit cannot bring into tf_keras (which pruning "
                             f"and QAT need): {(result.output.model_source or {}).get('reason')}. Build it with "
                             f"tf_keras (`import tf_keras as keras`), or set prune.enabled and qat.enabled to false")
    return result


def _start_from(ctx: BuildContext, model) -> Optional[str]:
    """Load the weights of `ctx.initial_model` (edgekit tune's warm start) into the freshly built `model`;
    returns the file's name, or None when training starts from scratch.

    Raises:
        InputFileError: the file is not a model of the same architecture (its weights do not fit this one).
    """
    if ctx.initial_model is None:
        return None
    from edgekit._tf import keras
    from edgekit.errors import InputFileError

    source = keras().models.load_model(ctx.initial_model, compile=False)
    mine, theirs = [w.shape for w in model.get_weights()], [w.shape for w in source.get_weights()]
    if mine != theirs:
        raise InputFileError(f"{ctx.initial_model}: its weights do not fit this model ({len(theirs)} arrays, "
                             f"this model has {len(mine)}; first shapes {theirs[:2]} and {mine[:2]})")
    model.set_weights(source.get_weights())
    console.info(f"train: starting from the weights of {ctx.initial_model.name}")
    return ctx.initial_model.name


def _builtin_batchnorm_momentum(config, model, data: Splits):
    """A built-in's BN momentum, chosen from the number of training steps (a user's model keeps its own)."""
    from edgekit.models.batchnorm import set_batchnorm_momentum
    from edgekit.pipeline.training import steps_per_epoch

    if config.model.builtin is None:
        return None
    steps = steps_per_epoch(data.size("train"), config.train.batch_size) * config.train.epochs
    momentum = set_batchnorm_momentum(model, steps)
    if momentum is not None:
        console.info(f"  BatchNormalization momentum {momentum} for {steps} training steps")
    return momentum


def model_files(ctx: BuildContext) -> dict[str, Optional[str]]:
    """The model file, or the factory's module: a changed one must invalidate the cached training."""
    config = ctx.loaded.config.model
    start = {"initial_model": fsutil.sha256_file(ctx.initial_model)} if ctx.initial_model is not None else {}
    if config.file is not None:
        path = ctx.loaded.resolve(config.file)
        return {"model.file": fsutil.sha256_file(path) if path.exists() else None, **start}
    if config.factory is not None:
        return {"model.factory": _factory_module_sha256(ctx, config.factory.split(":")[0]), **start}
    return start


def _factory_module_sha256(ctx: BuildContext, module_name: str) -> Optional[str]:
    module_path = module_name.replace(".", "/")
    for candidate in (ctx.loaded.directory / (module_path + suffix) for suffix in (".py", "/__init__.py")):
        if candidate.is_file():
            return fsutil.sha256_file(candidate)
    try:
        import importlib

        source = inspect.getsourcefile(importlib.import_module(module_name))
        return fsutil.sha256_file(source) if source else None
    except Exception:  # fails again, with a message, when the model is built
        return None


TRAIN = StageSpec(
    name="train", run=train_stage, output=TrainOutput, upstream=("data",),
    reads=("model", "train", "data.seed", "name", "task"), files=model_files, inputs=("hardware", "tools"),
    # prune.enabled and qat.enabled decide whether a Keras 3 model edgekit cannot rebuild may go to the converters;
    # a cached training that took that path is refused above when they are on, so they are not in the key.
    checks=("prune.enabled", "qat.enabled"),
    every_worker=True)
