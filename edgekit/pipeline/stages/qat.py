"""The QAT stage: int8 quantization-aware training of the pruned model (PQAT) or of the dense one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit.pipeline.cache import StageResult
from edgekit.pipeline.context import BuildContext
from edgekit.pipeline.graph import StageSpec
from edgekit.pipeline.results import QatOutput
from edgekit.pipeline.stages.common import (build_task, dataset, distributed, float_source, load_keras,
                                            run_declared)


def qat_stage(ctx: BuildContext) -> StageResult:
    from edgekit.pipeline.qat import save_qat_model, train_quantization_aware

    config = ctx.config
    upstream, memo_key = float_source(ctx)
    # HDF5: tf_keras' .keras format cannot reload tfmot's QuantizeLayer (it expects 5 variables, finds 3).
    file_name = f"{config.name}-qat.h5"

    def produce(work: Path) -> dict[str, Any]:
        source = load_keras(ctx, upstream, memo_key)
        pruned = ctx.results.prune
        model, info = train_quantization_aware(
            source, dataset(ctx), config.qat, pruned_layers=pruned.output.pruned_layers if pruned else [],
            batch_size=config.train.batch_size, learning_rate=config.train.learning_rate,
            from_logits=ctx.results.train.output.from_logits, seed=ctx.seed, task=build_task(ctx))
        save_qat_model(model, work / file_name)
        ctx.memo["qat"] = model
        return {**info, "file": file_name}

    return run_declared(ctx, QAT, distributed(ctx, produce))


QAT = StageSpec(
    name="qat", run=qat_stage, output=QatOutput, upstream=("data", "train", "prune"),
    reads=("qat", "train.batch_size", "train.learning_rate", "train.distribute", "data.seed", "model", "name"),
    inputs=("hardware", "tools"), enabled=lambda ctx: ctx.loaded.config.qat.enabled, every_worker=True)
