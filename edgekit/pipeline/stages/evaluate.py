"""The evaluate stage: every artifact on the test split with its own runtime (Keras, LiteRT, onnxruntime)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit import console
from edgekit.config.schema import Task
from edgekit.pipeline.cache import StageResult
from edgekit.pipeline.context import BuildContext
from edgekit.export.runners import keras_runner
from edgekit.pipeline.evaluate import artifact_runners, constant_mae, majority_accuracy, score_all
from edgekit.pipeline.graph import StageSpec
from edgekit.pipeline.results import EvaluateOutput
from edgekit.pipeline.stages.common import build_task, dataset, load_keras, run_declared


def evaluate_stage(ctx: BuildContext) -> StageResult:
    task = build_task(ctx)

    def produce(work: Path) -> dict[str, Any]:
        data = dataset(ctx)
        export = ctx.results.export
        runners = {"keras-dense": lambda: keras_runner(load_keras(ctx, "train", "dense"))}
        if ctx.results.prune is not None:
            runners["keras-pruned"] = lambda: keras_runner(load_keras(ctx, "prune", "pruned"))
        # Each artifact by the runner of its format (FORMATS[format].evaluator); one the host cannot run is
        # scored as the artifact it was made from, and the reason is recorded.
        exported, scored_as = artifact_runners([artifact.model_dump() for artifact in export.output.artifacts],
                                               export.path)
        runners.update(exported)
        with console.steps("evaluate", len(runners)) as progress:
            scores, labels = score_all(runners, data, task, progress)
        for name, how in scored_as.items():
            scores[name] = dict(scores[how["as"]])
        # What a model that ignores its input scores: the float model must do clearly better for the gate's
        # comparisons with it to mean anything.
        chance = ({"constant_mae": constant_mae(labels)} if task is Task.REGRESSION
                  else {"majority_accuracy": majority_accuracy(labels)})
        return {"scores": scores, "scored_as": scored_as, "test_samples": data.size("test"), "task": task.value,
                **chance}

    return run_declared(ctx, EVALUATE, produce)


EVALUATE = StageSpec(
    name="evaluate", run=evaluate_stage, output=EvaluateOutput, upstream=("data", "train", "prune", "export"),
    reads=("model",), inputs=("tools",),
    record=3)  # 2: the chance score (majority accuracy or constant MAE); 3: scored_as (formats the host cannot run)
