"""What the report shows, taken from a build folder: the manifest, the summary rows, the Pareto front, the verdicts.

Every piece but the manifest itself may be missing (no latency on a target that profiles nothing, no pruning,
no history, no regress verdicts): the loaders return None or empty lists, and the page says why a section is empty.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from edgekit.finite import is_finite
from edgekit.manifest import Manifest, as_manifest
from edgekit.report.rows import is_regression, summary_rows

REGRESS_NAME = "regress.json"
DENSE_FLOAT = "keras-dense"


@dataclass(frozen=True)
class ArtifactRow:
    """One line of the summary table, with the columns the terminal table has plus p90 and the Pareto mark."""

    name: str
    format: str
    quantization: str
    bytes: Optional[int]
    gzip_bytes: Optional[int]
    sparsity: Optional[float]
    accuracy: Optional[float]
    delta: Optional[float]  # accuracy minus the dense float model's
    agreement: Optional[float]
    median_ms: Optional[float]
    p90_ms: Optional[float]
    speedup: Optional[float]  # float32 TFLite median / this median
    samples_ms: tuple[float, ...]
    pareto: bool
    # A regression's scores (accuracy, delta and agreement are None then; delta is the relative MAE increase).
    mae: Optional[float] = None
    rmse: Optional[float] = None
    agreement_mae: Optional[float] = None
    runtime: Optional[str] = None  # what timed it: ai_edge_litert, onnxruntime, benchmark_model, ...
    rss_growth_mb: Optional[float] = None  # resident-set growth across load and first runs
    peak_rss_mb: Optional[float] = None

    @property
    def score(self) -> Optional[float]:
        """What the trade-off plot shows: accuracy, or a regression's MAE."""
        return self.accuracy if self.accuracy is not None else self.mae


def artifact_rows(manifest: Union[Manifest, dict[str, Any]]) -> list[ArtifactRow]:
    """The summary rows, computed as the terminal table computes them (edgekit.pipeline.summary)."""
    manifest = as_manifest(manifest).document()
    artifacts = manifest["artifacts"]
    regression = is_regression(manifest)
    baseline = dense_float_mae(manifest) if regression else dense_float_accuracy(manifest)
    # summary_rows reads the baseline from the gate; a manifest without one gets NaN deltas, shown as "-".
    baseline_key = "baseline_metric" if regression else "baseline_accuracy"
    normalized = {**manifest, "artifacts": [_with_defaults(artifact) for artifact in artifacts],
                  "gate": {baseline_key: math.nan if baseline is None else baseline}}
    summary = summary_rows(normalized)
    # A regression's best artifact has the lowest MAE: negated, "higher is better" holds for both tasks.
    front = pareto_front([(row["name"], row["median_ms"],
                           (None if row["mae"] is None else -row["mae"]) if regression else row["accuracy"])
                          for row in summary])
    rows = []
    for artifact, row in zip(artifacts, summary):
        latency = artifact.get("latency") or {}
        rows.append(ArtifactRow(
            name=str(row["name"]), format=str(artifact.get("format", "")),
            quantization=str(artifact.get("quantization", "")),
            bytes=row["bytes"], gzip_bytes=row["gzip_bytes"], sparsity=row["sparsity"], accuracy=row["accuracy"],
            delta=_finite(row["delta"]), agreement=row["agreement"], median_ms=row["median_ms"],
            p90_ms=latency.get("p90_ms"), speedup=row["speedup"],
            samples_ms=tuple(float(value) for value in latency.get("samples_ms") or ()),
            pareto=row["name"] in front, mae=row.get("mae"), rmse=row.get("rmse"),
            agreement_mae=row.get("agreement_mae"),
            runtime=(latency.get("device") or {}).get("runtime"),
            rss_growth_mb=(latency.get("memory") or {}).get("rss_growth_mb"),
            peak_rss_mb=(latency.get("memory") or {}).get("peak_rss_mb")))
    return rows


def dense_float_mae(manifest: dict[str, Any]) -> Optional[float]:
    """A regression's reference: the dense float model's MAE."""
    dense = next((a for a in manifest["artifacts"] if a["name"] == DENSE_FLOAT), None)
    mae = ((dense or {}).get("metrics") or {}).get("mae")
    return float(mae) if mae is not None else (manifest.get("gate") or {}).get("baseline_metric")


@dataclass(frozen=True)
class RuntimePair:
    """One quantization of the model as LiteRT runs it (.tflite) and as ONNX Runtime runs it (.onnx)."""

    quantization: str
    litert: ArtifactRow
    onnx: ArtifactRow

    @property
    def ratio(self) -> Optional[float]:
        """ONNX Runtime's median over LiteRT's (above 1: LiteRT is faster)."""
        if self.litert.median_ms and self.onnx.median_ms:
            return self.onnx.median_ms / self.litert.median_ms
        return None


def runtime_pairs(rows: list[ArtifactRow]) -> list[RuntimePair]:
    """The quantizations profiled both as .tflite and as .onnx, in the order of the rows."""
    measured = [row for row in rows if row.median_ms is not None]
    onnx = {row.quantization: row for row in measured if row.format == "onnx"}
    return [RuntimePair(row.quantization, row, onnx[row.quantization]) for row in measured
            if row.format == "tflite" and row.quantization in onnx]


def op_type_profiles(manifest: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(artifact, op types summed, slowest first) of every artifact whose latency has per-op times."""
    from edgekit.profiling.benchmark_model import op_type_totals

    found = []
    for artifact in manifest["artifacts"]:
        latency = artifact.get("latency")
        if not latency:
            continue
        types = latency.get("op_types") or (op_type_totals(latency["op_profile"]) if latency.get("op_profile") else None)
        if types:
            found.append((str(artifact["name"]), types))
    return found


def dense_float_accuracy(manifest: dict[str, Any]) -> Optional[float]:
    """Accuracy of the dense float model: the reference of every Δ."""
    dense = next((a for a in manifest["artifacts"] if a["name"] == DENSE_FLOAT), None)
    if dense is not None and dense.get("accuracy") is not None:
        return float(dense["accuracy"])
    gate = manifest.get("gate") or {}
    return gate.get("baseline_accuracy")


def pareto_front(points: list[tuple[str, Optional[float], Optional[float]]]) -> set[str]:
    """Names of the (name, latency, accuracy) points no other point beats: as fast or faster and as accurate or
    more, better in at least one. Points without latency or accuracy take no part."""
    measured = [(name, latency, accuracy) for name, latency, accuracy in points
                if latency is not None and accuracy is not None]
    front = set()
    for name, latency, accuracy in measured:
        dominated = any(other_latency <= latency and other_accuracy >= accuracy
                        and (other_latency < latency or other_accuracy > accuracy)
                        for _, other_latency, other_accuracy in measured)
        if not dominated:
            front.add(name)
    return front


@dataclass(frozen=True)
class Verdicts:
    """`edgekit regress` rows for this build, and what they were compared with."""

    rows: list[dict[str, Any]]
    passed: Optional[bool]
    baseline: Optional[str]
    max_slowdown: Optional[float]
    alpha: Optional[float]
    problem: Optional[str] = None  # why regress.json could not be shown


def load_verdicts(build_dir: Path) -> Optional[Verdicts]:
    """BUILD_DIR/regress.json when present: a list of rows, or the report `edgekit regress --json` prints.

    A file that cannot be read does not stop the report; the page says what is wrong with it.
    """
    path = build_dir / REGRESS_NAME
    if not path.is_file():
        return None
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return Verdicts([], None, None, None, None, problem=f"{REGRESS_NAME} cannot be read as JSON: {error}")
    except RecursionError:
        return Verdicts([], None, None, None, None, problem=f"{REGRESS_NAME} cannot be read as JSON: nested too deeply")
    header = content if isinstance(content, dict) else {}
    rows = content if isinstance(content, list) else header.get("artifacts", header.get("rows"))
    if not isinstance(rows, list) or not all(isinstance(row, dict) and "artifact" in row for row in rows):
        return Verdicts([], None, None, None, None,
                        problem=f"{REGRESS_NAME} holds no list of rows with an \"artifact\" each")
    normalized = []
    for index, row in enumerate(rows):
        interval = row.get("ratio_ci") or [row.get("ci_low"), row.get("ci_high")]
        if not isinstance(interval, list) or len(interval) != 2 or not all(_number_or_none(v) for v in interval):
            return Verdicts([], None, None, None, None, problem=f"{REGRESS_NAME}: row {index + 1} has a ratio CI "
                                                                f"that is not two numbers")
        normalized.append({**row, "ci_low": interval[0], "ci_high": interval[1]})
    facts = {key: header.get(key) for key in ("passed", "baseline", "max_slowdown", "alpha")}
    if not (facts["passed"] is None or isinstance(facts["passed"], bool)) or not all(
            _number_or_none(facts[key]) for key in ("max_slowdown", "alpha")):
        return Verdicts([], None, None, None, None, problem=f"{REGRESS_NAME}: \"passed\" is not true or false, or "
                                                            f"\"max_slowdown\" or \"alpha\" is not a number")
    return Verdicts(rows=normalized, **facts)


def _number_or_none(value: Any) -> bool:
    return value is None or is_finite(value)


def training_curves(manifest: dict[str, Any]) -> list[tuple[str, dict[str, list[float]]]]:
    """(stage, {metric: values}) for train, prune and QAT, in that order, for the stages that have epochs."""
    history = manifest.get("history") or {}
    curves = []
    for stage in ("train", "prune", "qat"):
        metrics = history.get(stage) or {}
        # Checked by check_manifest: numbers; a NaN or infinite loss (a diverged run) is drawn as a gap.
        values = {str(key): [float(value) if math.isfinite(value) else math.nan for value in series]
                  for key, series in metrics.items() if isinstance(series, list) and series}
        if values:
            curves.append((stage, values))
    return curves


def layer_sparsity(manifest: dict[str, Any]) -> dict[str, float]:
    sparsity = manifest.get("sparsity") or {}
    layers = sparsity.get("layers") or {}
    return {str(name): float(value) for name, value in layers.items() if isinstance(value, (int, float))}


def _with_defaults(artifact: dict[str, Any]) -> dict[str, Any]:
    """The keys summary_rows reads, present (None) even where an artifact lacks them."""
    keys = ("bytes", "gzip_bytes", "accuracy", "agreement", "latency", "sparsity")
    return {**{key: None for key in keys}, **artifact}


def _finite(value: Optional[float]) -> Optional[float]:
    return None if value is None or not math.isfinite(value) else value
