"""The manifest as types: what `edgekit build` writes to build/<target>/manifest.json and every reader reads.

The JSON keys are the contract (DESIGN.md, docs/manifest.md): the field names here are those keys. The top level
and each artifact refuse a key they do not know (a hand edit, a misspelling); the open records inside (the data
summary, the training history, a profile's runtime-specific extras, the compiler's log) keep what they hold.
Enum-typed fields are stored as their plain string values (`use_enum_values`), so a model dumps to the same JSON
that was read.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field

from edgekit.config.schema import Precision, Quantization

# 1: the first versioned schema (edgekit 0.2): samples in profiles/, `schema_version` itself. Manifests of edgekit
# 0.1 carry no schema_version and read as version 0 (see edgekit.manifest.migrate).
SCHEMA_VERSION = 1


class ArtifactFormat(str, Enum):
    """What an artifact is and which runtime judges it."""

    KERAS = "keras"
    TFLITE = "tflite"
    ONNX = "onnx"
    EDGETPU = "edgetpu"  # a .tflite compiled by edgetpu_compiler for the Coral Edge TPU


class ManifestTask(str, Enum):
    """What `task: auto` resolved to (the config's Task less `auto`)."""

    CLASSIFICATION = "classification"
    REGRESSION = "regression"


class StageName(str, Enum):
    """The build's stages, in the order they run (edgekit.pipeline.stages.STAGES; a test keeps the two equal)."""

    DATA = "data"
    TRAIN = "train"
    PRUNE = "prune"
    QAT = "qat"
    EXPORT = "export"
    EVALUATE = "evaluate"
    DIAGNOSE = "diagnose"
    PROFILE = "profile"


class _Closed(BaseModel):
    """A record whose keys are fixed: an unknown key is refused."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True, protected_namespaces=())


class _Open(BaseModel):
    """A record with known fields and room for more (runtime-specific facts, newer tools' details)."""

    model_config = ConfigDict(extra="allow", use_enum_values=True, protected_namespaces=())


class ModelFile(_Open):
    """The file a profile timed."""

    path: Optional[str] = None
    sha256: Optional[str] = None
    bytes: Optional[int] = Field(default=None, ge=0)


class Device(_Open):
    """Where a profile ran; `runtime` says which runtime timed it (ai_edge_litert, onnxruntime, benchmark_model)."""

    address: Optional[str] = None
    machine: Optional[str] = None
    os: Optional[str] = None
    runtime: Optional[str] = None
    runtime_version: Optional[str] = None
    cpu: Optional[str] = None


class SamplesRef(_Closed):
    """Where a profile's per-run samples are: a file in profiles/ (relative to the build folder) and its digest."""

    path: str
    sha256: str
    count: int = Field(ge=0)


class Memory(_Open):
    """Memory measured while profiling."""

    flash_bytes: Optional[int] = None
    rss_growth_mb: Optional[float] = None
    load_growth_mb: Optional[float] = None
    invoke_growth_mb: Optional[float] = None
    peak_rss_mb: Optional[float] = None
    source: Optional[str] = None


class Profile(_Open):
    """A latency profile: the device, how it ran, the statistics, and its samples (a reference in a manifest,
    the list itself in `edgekit profile --output` and in manifests of edgekit 0.1)."""

    model: Optional[ModelFile] = None
    target: Optional[str] = None
    device: Optional[Device] = None
    threads: Optional[int] = None
    delegate: Optional[str] = None
    runs: Optional[int] = None
    warmup: Optional[int] = None
    min_ms: Optional[float] = None
    median_ms: Optional[float] = None
    mean_ms: Optional[float] = None
    p90_ms: Optional[float] = None
    p99_ms: Optional[float] = None
    max_ms: Optional[float] = None
    std_ms: Optional[float] = None
    samples: Optional[SamplesRef] = None
    samples_ms: Optional[list[float]] = None
    samples_source: Optional[str] = None
    init_ms: Optional[float] = None
    first_ms: Optional[float] = None
    memory: Optional[Memory] = None
    op_profile: Optional[list[dict[str, Any]]] = None
    op_types: Optional[list[dict[str, Any]]] = None
    op_profile_source: Optional[str] = None
    measured_at: Optional[dict[str, Any]] = None


class CompilerSummary(_Open):
    """An Edge TPU artifact's compiler log, summarised: which ops the TPU runs and which fall back to the CPU."""

    name: Optional[str] = None  # the compiler's executable (edgetpu_compiler)
    version: Optional[str] = None
    ops_on_tpu: Optional[int] = None
    ops_on_cpu: Optional[int] = None
    total_ops: Optional[int] = None
    subgraphs: Optional[int] = None
    on_chip_memory_bytes: Optional[int] = None
    off_chip_memory_bytes: Optional[int] = None
    log: Optional[str] = None  # the full log, relative to the build folder
    operators: Optional[list[dict[str, Any]]] = None  # {operator, count, status, on_edgetpu}


class EvaluatedAs(_Closed):
    """An artifact the host cannot run (edgetpu), scored as the artifact it was made from, and why."""

    artifact: str
    reason: str


class Artifact(_Closed):
    """One artifact of the build: the file, its scores with its own runtime, and its latency on the device."""

    name: str = Field(min_length=1)
    format: Optional[ArtifactFormat] = None
    quantization: Optional[Quantization] = None
    path: Optional[str] = None  # relative to the build folder
    bytes: Optional[int] = Field(default=None, ge=0)
    gzip_bytes: Optional[int] = Field(default=None, ge=0)
    sha256: Optional[str] = None
    sparsity: Optional[float] = None
    accuracy: Optional[float] = None
    agreement: Optional[float] = None
    metrics: Optional[dict[str, Optional[float]]] = None  # a regression: mae, rmse
    agreement_mae: Optional[float] = None
    latency: Optional[Profile] = None
    latency_by_device: Optional[dict[str, Optional[Profile]]] = None
    fleet: Optional[dict[str, Any]] = None
    # How it was made.
    parent: Optional[str] = None  # the artifact it was derived from (edgetpu-int8 from tflite-int8)
    evaluated_as: Optional[EvaluatedAs] = None
    source: Optional[str] = None
    method: Optional[str] = None
    max_abs_diff: Optional[float] = None
    qdq_nodes: Optional[int] = None
    val_accuracy_by_method: Optional[dict[str, Any]] = None
    val_mae_by_method: Optional[dict[str, Any]] = None
    # tflite-int8-mixed: the ops kept in float, why, and what they cost.
    float_ops: Optional[list[Any]] = None
    float_op_reasons: Optional[Any] = None
    latency_cost: Optional[Any] = None
    recovered_from: Optional[str] = None
    # edgetpu: the compiler log's summary.
    compiler: Optional[CompilerSummary] = None


class StageRecord(_Closed):
    """One stage of the build: how long it took, and whether its output came from the stage cache."""

    name: StageName
    seconds: Optional[float] = None
    cached: Optional[bool] = None


class GateCheck(_Open):
    """One check of the accuracy gate."""

    artifact: Optional[str] = None
    check: Optional[str] = None
    value: Optional[float] = None
    limit: Optional[float] = None
    passed: Optional[bool] = None
    message: Optional[str] = None


class GateResult(_Open):
    """The accuracy gate: its verdict, thresholds (open: one per task), the baseline, each check, the failures."""

    passed: Optional[bool] = None
    task: Optional[ManifestTask] = None
    baseline_accuracy: Optional[float] = None
    baseline_metric: Optional[float] = None
    checks: Optional[list[GateCheck]] = None
    failures: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


class FailedDevice(_Open):
    """A device of a pool that failed."""

    address: Optional[str] = None
    error: Optional[str] = None


Record = Optional[dict[str, Any]]


class Manifest(_Closed):
    """build/<target>/manifest.json (docs/manifest.md); `load_manifest` reads one, `document()` gives the JSON."""

    schema_version: int = Field(default=SCHEMA_VERSION, ge=0)
    edgekit_version: Optional[str] = None
    name: Optional[str] = None
    task: Optional[ManifestTask] = None
    target: Optional[str] = None
    device: Optional[Device] = None
    devices: Optional[list[Device]] = None
    devices_failed: Optional[list[FailedDevice]] = None
    config_sha256: Optional[str] = None
    versions: Optional[dict[str, Optional[str]]] = None
    precision: Optional[Precision] = None  # the policy trained with (never `auto`: what auto chose)
    precision_reason: Optional[str] = None
    distribute: Record = None
    stages: list[StageRecord] = Field(default_factory=list)
    artifacts: list[Artifact]
    model_source: Record = None
    data: Record = None
    preprocessing: Record = None
    sparsity: Record = None
    batchnorm_momentum: Optional[float] = None
    qat: Record = None
    history: Optional[dict[str, Any]] = None
    quantization_error: Optional[dict[str, Any]] = None
    int8_recovery: Record = None
    profile_skipped: Optional[dict[str, str]] = None
    profile_not_run: Record = None
    gate: Optional[GateResult] = None

    def document(self) -> dict[str, Any]:
        """The manifest as JSON data, with exactly the keys it was made or read with."""
        return self.model_dump(mode="python", exclude_unset=True)

    def artifact(self, name: str) -> Optional[Artifact]:
        """The artifact called `name`, or None."""
        return next((artifact for artifact in self.artifacts if artifact.name == name), None)

    @property
    def is_regression(self) -> bool:
        """Whether this is a regression build's manifest (older manifests have no task: classifications)."""
        return self.task == ManifestTask.REGRESSION.value
