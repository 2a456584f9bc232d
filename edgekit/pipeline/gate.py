"""The accuracy gate: every compressed artifact a user may ship is compared with the dense float model.

Classification, two checks per artifact: its accuracy may drop at most `evaluate.max_accuracy_drop` below the
dense float model's, and its top-1 predictions must agree with the float model's on at least
`evaluate.min_agreement` of the test split (an int8 model that answers differently from the float model is broken
even when both are near chance, where accuracies alone say nothing). Regression, one check: its MAE may be at most
`evaluate.max_metric_increase` (relative) above the dense float model's.

Every artifact but the dense float model is checked: the pruned Keras model, every TFLite and every ONNX file,
float ones included (pruning can lose accuracy that quantization is then blamed for, or never noticed).
The gate also warns when the dense float model is itself no better than a constant answer: then every
comparison with it is meaningless, whatever the checks say.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Optional

from edgekit.config.schema import EvaluateConfig, Task

DENSE_FLOAT = "keras-dense"
# The float model must beat always answering the most frequent class by more than this to count as trained.
CHANCE_MARGIN = 0.02
# ... and a regressor must beat always answering the median by more than this share of that MAE.
CONSTANT_MARGIN = 0.02
# Scores are rounded in messages; without slack, a value printed equal to its limit could fail.
EPSILON = 1e-12


class Check(str, Enum):
    """The gate's checks, as they appear in the manifest's gate.checks rows."""

    ACCURACY_DROP = "accuracy_drop"
    AGREEMENT = "agreement"
    METRIC_INCREASE = "metric_increase"


def accuracy_gate(artifacts: list[dict[str, Any]], config: EvaluateConfig, task: Task = Task.CLASSIFICATION,
                  chance: Optional[float] = None) -> dict[str, Any]:
    """The gate's verdict on a build's artifact records (as in the manifest).

    Args:
        artifacts: the manifest's artifact records, the dense float model among them.
        config: the thresholds.
        task: classification (artifacts have accuracy and agreement) or regression (metrics.mae).
        chance: what a constant answer scores on the test split: the most frequent class's share
            (classification) or the MAE of the targets' median (regression); None when unknown.

    Returns:
        {"passed", "task", thresholds, the baseline, "checks": [{"artifact", "check", "value", "limit",
        "passed", "message"}], "failures": [message of each failed check], "warnings": [...]}.
    """
    if task is Task.REGRESSION:
        return _regression_gate(artifacts, config, chance)
    return _classification_gate(artifacts, config, chance)


def _classification_gate(artifacts, config: EvaluateConfig, chance: Optional[float]) -> dict[str, Any]:
    baseline = _dense(artifacts)["accuracy"]
    checks = []
    for artifact in _compressed(artifacts):
        name, accuracy, agreement = artifact["name"], artifact["accuracy"], artifact["agreement"]
        drop = baseline - accuracy
        checks.append(_row(name, Check.ACCURACY_DROP, drop, config.max_accuracy_drop,
                           drop <= config.max_accuracy_drop + EPSILON,
                           f"{name} accuracy {accuracy:.4f} is {drop:.4f} below the dense float model's "
                           f"{baseline:.4f} (evaluate.max_accuracy_drop is {config.max_accuracy_drop})"))
        checks.append(_row(name, Check.AGREEMENT, agreement, config.min_agreement,
                           agreement >= config.min_agreement - EPSILON,
                           f"{name} agreement {agreement:.4f}: its top-1 answer is the dense float model's on "
                           f"{agreement:.1%} of the test samples (evaluate.min_agreement is {config.min_agreement})"))
    warnings = []
    if chance is not None and baseline <= chance + CHANCE_MARGIN:
        warnings.append(f"the dense float model's accuracy {baseline:.4f} is no better than always answering the "
                        f"most frequent class ({chance:.4f}, +{CHANCE_MARGIN}): it has not learned the task, so the "
                        f"gate's comparisons with it say little; train longer or check the data and labels")
    return _verdict(checks, warnings, task=Task.CLASSIFICATION.value, max_accuracy_drop=config.max_accuracy_drop,
                    min_agreement=config.min_agreement, baseline_accuracy=baseline, chance_accuracy=chance)


def _regression_gate(artifacts, config: EvaluateConfig, chance: Optional[float]) -> dict[str, Any]:
    baseline = _dense(artifacts)["metrics"]["mae"]
    limit = baseline * (1 + config.max_metric_increase)
    checks = []
    for artifact in _compressed(artifacts):
        name, mae = artifact["name"], artifact["metrics"]["mae"]
        # A float model with no error at all leaves no relative increase to state (and JSON has no infinity).
        increase = (mae - baseline) / baseline if baseline > 0 else None
        above = f"{increase:.1%}" if increase is not None else f"{mae - baseline:.4g}"
        checks.append(_row(name, Check.METRIC_INCREASE, increase, config.max_metric_increase,
                           mae <= limit + EPSILON,
                           f"{name} MAE {mae:.4g} is {above} above the dense float model's {baseline:.4g} "
                           f"(evaluate.max_metric_increase is {config.max_metric_increase}: at most {limit:.4g})"))
    warnings = []
    if chance is not None and baseline >= chance * (1 - CONSTANT_MARGIN):
        warnings.append(f"the dense float model's MAE {baseline:.4g} is no better than always answering the targets' "
                        f"median ({chance:.4g}, -{CONSTANT_MARGIN:.0%}): it has not learned the task, so the gate's "
                        f"comparisons with it say little; train longer or check the data and targets")
    return _verdict(checks, warnings, task=Task.REGRESSION.value, metric="mae",
                    max_metric_increase=config.max_metric_increase, baseline_metric=baseline,
                    chance_metric=chance)


def _dense(artifacts: list[dict[str, Any]]) -> dict[str, Any]:
    return next(artifact for artifact in artifacts if artifact["name"] == DENSE_FLOAT)


def _compressed(artifacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every artifact but the dense float model itself: what a user may ship."""
    return [artifact for artifact in artifacts if artifact["name"] != DENSE_FLOAT]


def _row(artifact: str, check: Check, value: Optional[float], limit: float, passed: bool,
         message: str) -> dict[str, Any]:
    return {"artifact": artifact, "check": check.value, "value": value, "limit": limit, "passed": bool(passed),
            "message": message}


def _verdict(checks: list[dict[str, Any]], warnings: list[str], **facts: Any) -> dict[str, Any]:
    failures = [check["message"] for check in checks if not check["passed"]]
    return {"passed": not failures, **facts, "checks": checks, "failures": failures, "warnings": warnings}
