"""`scripts/bench models` (this module: conformance): the conformance table "Models that go through" (README).

Each row is one real `edgekit build` (in a child process, as a user runs it) of a model people bring, through
prune + QAT + int8 TFLite + ONNX with every artifact evaluated; the columns are read from its manifest and from
`edgekit inspect` of its int8 TFLite. A row whose build fails says how (exit code and the one-line message):
that is the finding, not an error of the bench.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from benchsuite.common import BenchContext, PartResult, markdown_table
from benchsuite import model_zoo


@dataclass(frozen=True)
class Row:
    name: str
    data: str  # digits | shapes | keywords | sensors
    model: str  # the edgekit.yaml `model:` mapping, inline
    extra: str = ""  # further top-level config lines (e.g. `task: regression`)
    notes: str = ""


ROWS = [
    Row("small_cnn (builtin)", "digits", "{builtin: small_cnn}"),
    Row("mlp (builtin)", "digits", "{builtin: mlp}"),
    Row("mobilenet_v2 0.35, 64×64 (builtin)", "shapes", "{builtin: mobilenet_v2, width: 0.35}"),
    Row("MobileNetV3Small (keras.applications, Keras 3)", "shapes", "{factory: \"bench_models:mobilenet_v3_small\"}"),
    Row("EfficientNetB0 (keras.applications, Keras 3)", "shapes", "{factory: \"bench_models:efficientnet_b0\"}"),
    Row("ResNet-style blocks + BN", "digits", "{factory: \"bench_models:resnet_block\"}"),
    Row("DS-CNN keyword spotting (49×10 MFCC)", "keywords", "{factory: \"bench_models:ds_cnn\"}"),
    Row("Conv1D sensor regression", "sensors", "{factory: \"bench_models:sensor_regression\"}", "task: regression"),
    Row("CNN with a custom layer", "digits", "{factory: \"bench_models:custom_layer\"}"),
    Row("CNN as a Keras 3 .keras file", "digits", "{file: cnn-keras3.keras}"),
    Row("CNN as a Keras 2 .h5 file", "digits", "{file: cnn-keras2.h5}"),
    Row("CNN as a SavedModel", "digits", "{file: cnn-savedmodel}"),
    Row("CNN from a factory", "digits", "{factory: \"bench_models:cnn\"}"),
]

DATA = {
    "digits": "{source: digits, seed: 0}",
    "shapes": "{source: images, path: shapes, image_size: 64, seed: 0}",
    "keywords": "{source: npz, path: keywords.npz, seed: 0}",
    "sensors": "{source: npz, path: sensors.npz, seed: 0}",
}

# What _make_inputs writes into the part's folder.
INPUTS = ("bench_models.py", "cnn-keras3.keras", "cnn-keras2.h5", "cnn-savedmodel", "shapes", "keywords.npz",
          "sensors.npz")

CONFIG = """
name: {slug}
{extra}
data: {data}
model: {model}
train: {{epochs: {epochs}, batch_size: 32, learning_rate: 0.002}}
prune: {{enabled: true, target_sparsity: 0.5, epochs: {tune_epochs}}}
qat: {{enabled: true, epochs: {tune_epochs}}}
export: {{formats: [tflite, onnx], quantization: [float32, int8], representative_samples: 100}}
evaluate: {{max_accuracy_drop: 0.02}}
profile: {{runs: 20, warmup: 2, min_seconds: 0.1}}
"""


@dataclass
class Outcome:
    row: Row
    exit_code: int
    seconds: float
    message: str = ""
    manifest: Optional[dict[str, Any]] = None
    inspect: dict[str, Any] = field(default_factory=dict)


def run(context: BenchContext) -> PartResult:
    folder = context.scratch
    _make_inputs(folder, quick=context.quick)
    rows = ROWS[:3] + ROWS[9:10] if context.quick else ROWS
    outcomes = [_build(folder, row, quick=context.quick) for row in rows]
    header = ["model", "data", "exit", "prune (sparsity)", "QAT", "int8 TFLite fully integer", "ONNX int8",
              "metric float → int8", "agreement", "int8 / float32 bytes", "Edge TPU ops mapped", "build s"]
    table = markdown_table(header, [_cells(outcome) for outcome in outcomes])
    return PartResult(table=table, results={"rows": [_record(outcome) for outcome in outcomes]})


def _make_inputs(folder: Path, quick: bool) -> None:
    model_zoo.write_model_files(folder)
    model_zoo.write_shapes(folder / "shapes", per_class=40 if quick else 120, size=64)
    model_zoo.write_keyword_frames(folder / "keywords.npz", count=400 if quick else 1200)
    model_zoo.write_sensor_windows(folder / "sensors.npz", count=400 if quick else 1200)


def _build(folder: Path, row: Row, quick: bool) -> Outcome:
    import time

    slug = "".join(ch if ch.isalnum() else "-" for ch in row.name.lower()).strip("-")[:40]
    work = folder / slug
    work.mkdir()
    for name in INPUTS:  # made once, shared by every row's folder through links
        (work / name).symlink_to(folder / name)
    images = row.data == "shapes"
    epochs = (1 if quick else (12 if images else 15))
    config = CONFIG.format(slug=slug, extra=row.extra, data=DATA[row.data], model=row.model, epochs=epochs,
                           tune_epochs=1 if quick else 2)
    (work / "edgekit.yaml").write_text(textwrap.dedent(config))
    started = time.perf_counter()
    completed = subprocess.run([sys.executable, "-c", "from edgekit.cli import main; main()", "build", "--config",
                                str(work / "edgekit.yaml"), "--quiet"],
                               capture_output=True, text=True, check=False, cwd=work)
    seconds = time.perf_counter() - started
    outcome = Outcome(row, completed.returncode, seconds, message=_last_message(completed.stderr))
    manifest_path = work / "build" / "host" / "manifest.json"
    if manifest_path.exists():
        import edgekit

        outcome.manifest = edgekit.load_manifest(manifest_path).document()
        int8 = _artifact(outcome.manifest, "tflite-int8")
        if int8 is not None:
            outcome.inspect = edgekit.inspect(work / "build" / "host" / int8["path"], edgetpu=True)
    print(f"  {row.name}: exit {completed.returncode} in {seconds:.0f} s {outcome.message}", file=sys.stderr)
    return outcome


def _last_message(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    return (errors[-1] if errors else (lines[-1] if lines else ""))[:300]


def _artifact(manifest: dict[str, Any], name: str) -> Optional[dict[str, Any]]:
    return next((a for a in manifest.get("artifacts", []) if a["name"] == name), None)


def _metric(artifact: Optional[dict[str, Any]], task: str) -> Optional[float]:
    if artifact is None:
        return None
    if task == "regression":
        return (artifact.get("metrics") or {}).get("mae")
    return artifact.get("accuracy")


def _qat_cell(manifest: dict[str, Any]) -> str:
    """full / partial (the layers only calibrated) / off, from the manifest's `qat` record."""
    qat = manifest.get("qat")
    if not isinstance(qat, dict):
        return "off"
    calibrated = [entry["name"] for entry in qat.get("calibrated_only") or []]
    if not calibrated:
        return f"full ({len(qat.get('quantization_aware') or [])} layers)"
    shown = ", ".join(calibrated[:3]) + (" …" if len(calibrated) > 3 else "")
    return f"partial (float: {shown})"


def _cells(outcome: Outcome) -> list[Any]:
    row = outcome.row
    manifest = outcome.manifest
    if manifest is None:
        return [row.name, row.data, outcome.exit_code, "—", "—", "—", "—", f"failed: {outcome.message}", "—", "—",
                "—", f"{outcome.seconds:.0f}"]
    task = manifest.get("task", "classification")
    dense, int8 = _artifact(manifest, "keras-dense"), _artifact(manifest, "tflite-int8")
    float32, onnx_int8 = _artifact(manifest, "tflite-float32"), _artifact(manifest, "onnx-int8")
    sparsity = (manifest.get("sparsity") or {}).get("overall")
    metric_name = "MAE" if task == "regression" else "acc"
    metric = f"{metric_name} {_fmt(_metric(dense, task))} → {_fmt(_metric(int8, task))}"
    agreement = int8.get("agreement") if int8 else None
    if task == "regression" and int8:
        agreement = int8.get("agreement_mae")
    edgetpu = outcome.inspect.get("edgetpu") or {}
    mapped = (f"{edgetpu['ops_on_edgetpu']}/{edgetpu['ops_on_edgetpu'] + edgetpu['ops_on_cpu']}"
              if edgetpu else "—")
    return [row.name, row.data, outcome.exit_code, _fmt(sparsity), _qat_cell(manifest),
            "yes" if outcome.inspect.get("fully_integer") else ("no" if outcome.inspect else "—"),
            f"{metric_name} {_fmt(_metric(onnx_int8, task))}" if onnx_int8 else "—",
            metric, _fmt(agreement) + (" (MAE)" if task == "regression" else ""),
            _fmt(int8["bytes"] / float32["bytes"]) if int8 and float32 else "—", mapped, f"{outcome.seconds:.0f}"]


def _fmt(value: Optional[float]) -> str:
    return "—" if value is None else f"{value:.3f}"


def _record(outcome: Outcome) -> dict[str, Any]:
    manifest = outcome.manifest or {}
    return {"model": outcome.row.name, "exit_code": outcome.exit_code, "seconds": round(outcome.seconds, 1),
            "message": outcome.message, "task": manifest.get("task"), "qat": manifest.get("qat"),
            "sparsity": (manifest.get("sparsity") or {}).get("overall"), "gate": manifest.get("gate"),
            "artifacts": [{key: artifact.get(key) for key in ("name", "bytes", "accuracy", "agreement", "metrics")}
                          for artifact in manifest.get("artifacts", [])],
            "fully_integer": outcome.inspect.get("fully_integer"),
            "edgetpu": {key: (outcome.inspect.get("edgetpu") or {}).get(key) for key in ("ops_on_edgetpu", "ops_on_cpu")}}
