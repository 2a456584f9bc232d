"""Typed stage results: what each stage recorded, read as a model instead of dug out of a dict.

A stage's metadata is JSON in its record (.edgekit/stages/<stage>.json); `StageCache.run` reads it as the
stage's output type, and a record whose metadata does not fit is stale (the stage runs again). Later stages
and the manifest read these fields; keys a stage records beyond them are kept (`extra="allow"`) and dumped
with `model_dump`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from pydantic import BaseModel, ConfigDict

from edgekit.config.schema import Task

if TYPE_CHECKING:
    from edgekit.pipeline.cache import StageResult


class StageOutput(BaseModel):
    """Base of every stage's typed result."""

    model_config = ConfigDict(extra="allow", frozen=True)


class DataOutput(StageOutput):
    kind: str  # how the splits are stored: memory, images, tfrecord (edgekit.data.loading)
    summary: dict[str, Any]
    preprocessing: dict[str, Any]
    fingerprint: str

    @property
    def task(self) -> Task:
        """The task the data resolved (classification or regression, never auto)."""
        return Task(self.summary.get("task", Task.CLASSIFICATION.value))


class KerasOutput(StageOutput):
    """A stage that wrote a Keras model (train, prune, QAT)."""

    file: str
    history: dict[str, Any]
    kernel_sparsity: float


class TrainOutput(KerasOutput):
    precision: str
    precision_reason: str
    distribute: dict[str, Any]
    parameters: int
    from_logits: bool
    model_name: str
    task: str
    model_source: Optional[dict[str, Any]] = None
    batchnorm_momentum: Optional[float] = None
    batchnorm_reestimated_on: int = 0
    warm_start: Optional[str] = None  # the model file edgekit tune's warm start began from (None: from scratch)
    epoch_seconds: list[float] = []  # each epoch's wall time in fit (empty: taken as given, or an older record)

    @property
    def via_converter(self) -> bool:
        """Whether the model is a Keras 3 model handed to the converters as given (IntakePath.CONVERTER)."""
        return (self.model_source or {}).get("path") == "converter"


class PruneOutput(KerasOutput):
    sparsity: dict[str, Any]  # overall, layers {name: zero fraction}, weights (edgekit.pipeline.prune)
    schedule: dict[str, Any] = {}
    batchnorm_reestimated_on: int = 0

    @property
    def pruned_layers(self) -> list[str]:
        return list(self.sparsity.get("layers", {}))


class QatOutput(KerasOutput):
    scheme: str  # qat, or pqat after pruning
    layers: Optional[dict[str, Any]] = None  # quantization_aware, calibrated_only
    sparsity_pruned_layers: Optional[float] = None


class ExportedArtifact(StageOutput):
    """One exported file; further keys say how it was made (max_abs_diff, qdq_nodes, val_accuracy_by_method)."""

    name: str
    format: str
    quantization: str
    file: str
    source: str  # the stage whose model it was converted from
    method: str


class ExportOutput(StageOutput):
    artifacts: list[ExportedArtifact]
    representative_samples: int


class EvaluateOutput(StageOutput):
    scores: dict[str, dict[str, Optional[float]]]  # artifact name -> accuracy/agreement, or mae/rmse/agreement_mae
    test_samples: int
    task: str = Task.CLASSIFICATION.value
    # artifact name -> {"as": the artifact it was scored as, "reason"}: formats the host cannot run (edgetpu)
    scored_as: dict[str, dict[str, str]] = {}
    majority_accuracy: Optional[float] = None
    constant_mae: Optional[float] = None

    @property
    def chance(self) -> Optional[float]:
        """What a model that ignores its input scores (the gate's floor)."""
        return self.constant_mae if Task(self.task) is Task.REGRESSION else self.majority_accuracy


class DiagnoseOutput(StageOutput):
    quantization_error: dict[str, Any] = {}
    recovery: Optional[dict[str, Any]] = None


class ProfileOutput(StageOutput):
    profiles: dict[str, dict[str, Any]] = {}
    skipped: dict[str, Optional[str]] = {}
    not_run: Optional[dict[str, str]] = None  # no device: why, and the command to profile later
    devices: Optional[list[dict[str, Any]]] = None  # with a pool of devices
    devices_failed: Optional[list[dict[str, Any]]] = None
    profiles_by_device: Optional[dict[str, dict[str, Any]]] = None


class StageResults(dict):
    """Each stage's result by name (`results["train"]`), with typed access to each (`results.train.output`).

    A stage that did not run (prune or QAT off) is absent: its property is None.
    """

    def _get(self, name: str) -> Optional["StageResult"]:
        return self.get(name)

    @property
    def data(self) -> "StageResult[DataOutput]":
        return self["data"]

    @property
    def train(self) -> "StageResult[TrainOutput]":
        return self["train"]

    @property
    def prune(self) -> Optional["StageResult[PruneOutput]"]:
        return self._get("prune")

    @property
    def qat(self) -> Optional["StageResult[QatOutput]"]:
        return self._get("qat")

    @property
    def export(self) -> "StageResult[ExportOutput]":
        return self["export"]

    @property
    def evaluate(self) -> "StageResult[EvaluateOutput]":
        return self["evaluate"]

    @property
    def diagnose(self) -> Optional["StageResult[DiagnoseOutput]"]:
        return self._get("diagnose")

    @property
    def profile(self) -> Optional["StageResult[ProfileOutput]"]:
        return self._get("profile")
