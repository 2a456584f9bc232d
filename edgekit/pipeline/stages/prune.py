"""The prune stage: magnitude or 2:4 pruning of the dense model, fine-tuned on the training split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit.pipeline.cache import StageResult
from edgekit.pipeline.context import BuildContext
from edgekit.pipeline.graph import StageSpec
from edgekit.pipeline.results import PruneOutput
from edgekit.pipeline.stages.common import (build_task, dataset, distributed, load_keras, reestimate_batchnorm,
                                            run_declared, save_model)


def prune_stage(ctx: BuildContext) -> StageResult:
    from edgekit.pipeline.prune import measure_sparsity, prune_model

    config = ctx.config
    file_name = f"{config.name}-pruned.keras"

    def produce(work: Path) -> dict[str, Any]:
        dense = load_keras(ctx, "train", "dense")
        pruned, info = prune_model(dense, dataset(ctx), config.prune, batch_size=config.train.batch_size,
                                   learning_rate=config.train.learning_rate,
                                   from_logits=ctx.results.train.output.from_logits, seed=ctx.seed,
                                   task=build_task(ctx))
        info["batchnorm_reestimated_on"] = reestimate_batchnorm(ctx, pruned, dataset(ctx), "prune")
        save_model(pruned, work / file_name)
        ctx.memo["pruned"] = pruned
        return {**info, "file": file_name, "kernel_sparsity": measure_sparsity(pruned)["overall"]}

    return run_declared(ctx, PRUNE, distributed(ctx, produce))


PRUNE = StageSpec(
    name="prune", run=prune_stage, output=PruneOutput, upstream=("data", "train"),
    # model: how the dense model is loaded again (its factory's custom layers); name: the file's name
    reads=("prune", "train.batch_size", "train.learning_rate", "train.distribute", "data.seed", "model", "name"),
    inputs=("hardware", "tools"), enabled=lambda ctx: ctx.loaded.config.prune.enabled, every_worker=True)
