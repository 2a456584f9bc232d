"""Every artifact judged on the test split by its own runtime, the runtime found through the format table.

Keras for .keras, LiteRT (ai-edge-litert) for .tflite, onnxruntime for .onnx (edgekit.export.runners); an
artifact the host cannot run (edgetpu) is scored as the artifact it was made from, with the table's reason.
Classification: accuracy is top-1 against the labels; agreement is top-1 agreement with the dense float model's
predictions. Regression: MAE and RMSE against the targets; "agreement" is the MAE between the artifact's outputs
and the dense float model's. The split is read batch by batch, so a streamed data set is never held in memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgekit.config.formats import FORMATS, format_spec, load_function
from edgekit.config.schema import Task
from edgekit.data.base import Splits
from edgekit.export.runners import Runner, classify, predict


def artifact_runners(artifacts: list[dict[str, Any]], path_of: Callable[[str], Path]
                     ) -> tuple[dict[str, Callable[[], Runner]], dict[str, dict[str, str]]]:
    """How to open each exported artifact on this machine, found through FORMATS[format].evaluator.

    Returns:
        ({artifact name: a function opening its runner}, {artifact name: {"as": parent name, "reason"}} for
        the artifacts scored as the artifact they were made from).

    Raises:
        ConfigError: an artifact of a format the table does not know.
    """
    runners: dict[str, Callable[[], Runner]] = {}
    scored_as: dict[str, dict[str, str]] = {}
    for artifact in artifacts:
        spec = format_spec(artifact["format"])
        if spec.evaluator is None:
            parent_format, parent_quantization = spec.parent
            scored_as[artifact["name"]] = {"as": FORMATS[parent_format].artifact_name(parent_quantization),
                                           "reason": spec.evaluated_as_parent}
            continue
        opener = load_function(spec.evaluator, spec.install_hint)
        runners[artifact["name"]] = lambda opener=opener, path=path_of(artifact["file"]): opener(path)
    return runners, scored_as


def score_all(runners: dict[str, Callable[[], Runner]], data: Splits, task: Task, progress=None
              ) -> tuple[dict[str, dict[str, float]], np.ndarray]:
    """Each runner's scores on the test split (the first runner is the reference: the dense float model), and
    the labels. `progress.advance(description=...)` is called after each."""
    scores: dict[str, dict[str, float]] = {}
    reference = labels = None
    for name, make_runner in runners.items():
        if task is Task.REGRESSION:
            outputs, labels = predict(make_runner(), data, "test")
            reference = outputs if reference is None else reference
            scores[name] = regression_scores(outputs, labels, reference)
        else:
            predicted, labels = classify(make_runner(), data, "test")
            reference = predicted if reference is None else reference
            scores[name] = dict(zip(("accuracy", "agreement"), top1_scores(predicted, labels, reference)))
        if progress is not None:
            progress.advance(description=f"evaluate: {name}")
    return scores, labels


def regression_scores(outputs: np.ndarray, targets: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """MAE and RMSE against `targets` (over every target of every sample), and the MAE to the `reference`
    outputs (the dense float model's): a regression's "agreement"."""
    error = outputs - targets.reshape(outputs.shape)
    return {"mae": float(np.mean(np.abs(error))), "rmse": float(np.sqrt(np.mean(error ** 2))),
            "agreement_mae": float(np.mean(np.abs(outputs - reference)))}


def majority_accuracy(labels: np.ndarray) -> float:
    """Accuracy of always answering the most frequent class of `labels` (the chance level a classifier must beat)."""
    return float(np.bincount(labels).max() / len(labels)) if len(labels) else 0.0


def constant_mae(targets: np.ndarray) -> float:
    """MAE of always answering each target's median over `targets`: the best constant answer, which a regressor
    must beat."""
    return float(np.mean(np.abs(targets - np.median(targets, axis=0)))) if len(targets) else 0.0


def top1_scores(predicted: np.ndarray, labels: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """(accuracy against `labels`, agreement with the `reference` predictions)."""
    return float(np.mean(predicted == labels)), float(np.mean(predicted == reference))
