"""The evaluate stage: every artifact on the test split with its own runtime (Keras, LiteRT, onnxruntime)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit import console
from edgekit.config.schema import ExportFormat, Task
from edgekit.pipeline.cache import StageResult
from edgekit.pipeline.context import BuildContext
from edgekit.pipeline.evaluate import (TFLiteRunner, classify, constant_mae, keras_runner, majority_accuracy, predict,
                                       regression_scores, top1_scores)
from edgekit.pipeline.graph import StageSpec
from edgekit.pipeline.results import EvaluateOutput
from edgekit.pipeline.stages.common import build_task, dataset, load_keras, run_declared


def evaluate_stage(ctx: BuildContext) -> StageResult:
    from edgekit.export.onnx import OnnxRunner

    task = build_task(ctx)

    def produce(work: Path) -> dict[str, Any]:
        data = dataset(ctx)
        export = ctx.results.export
        runners = {"keras-dense": lambda: keras_runner(load_keras(ctx, "train", "dense"))}
        if ctx.results.prune is not None:
            runners["keras-pruned"] = lambda: keras_runner(load_keras(ctx, "prune", "pruned"))
        for artifact in export.output.artifacts:
            path = export.path(artifact.file)
            if artifact.format == ExportFormat.TFLITE.value:
                runners[artifact.name] = lambda path=path: TFLiteRunner(path)
            else:
                runners[artifact.name] = lambda path=path: OnnxRunner(path.read_bytes())
        scores: dict[str, dict[str, float]] = {}
        reference = labels = None
        with console.steps("evaluate", len(runners)) as progress:
            for name, make_runner in runners.items():
                if task is Task.REGRESSION:
                    outputs, labels = predict(make_runner(), data, "test")
                    reference = outputs if reference is None else reference  # keras-dense comes first
                    scores[name] = regression_scores(outputs, labels, reference)
                else:
                    predicted, labels = classify(make_runner(), data, "test")
                    reference = predicted if reference is None else reference
                    scores[name] = dict(zip(("accuracy", "agreement"), top1_scores(predicted, labels, reference)))
                progress.advance(description=f"evaluate: {name}")
        # What a model that ignores its input scores: the float model must do clearly better for the gate's
        # comparisons with it to mean anything.
        chance = ({"constant_mae": constant_mae(labels)} if task is Task.REGRESSION
                  else {"majority_accuracy": majority_accuracy(labels)})
        return {"scores": scores, "test_samples": data.size("test"), "task": task.value, **chance}

    return run_declared(ctx, EVALUATE, produce)


EVALUATE = StageSpec(
    name="evaluate", run=evaluate_stage, output=EvaluateOutput, upstream=("data", "train", "prune", "export"),
    reads=("model",), inputs=("tools",),
    record=2)  # 2: the chance score (majority accuracy or constant MAE) is recorded
