"""tune/ folders in the contract's format (state.json + trials/*.json), written by the tests that read them:
a finished run with a chosen point, a run where nothing fits, and one stopped by its time budget."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

SPACE = {"width": [0.5, 1.0], "input_size": [None], "sparsity": [0, 0.5, "2:4"],
         "quantization": ["float32", "int8"], "precision": ["float32", "mixed_float16"], "threads": [2]}
MAX_LATENCY_MS = 0.5
MAX_BYTES = 40_000
BASELINE_ACCURACY = 0.97  # trial 1, the default build: width 1.0, dense, float32


def trial(number: int, *, width: float, sparsity: Any, quantization: str, precision: str = "float32",
          status: str = "measured", rung: int = 1, accuracy: Optional[float] = None,
          size: Optional[int] = None, p90: Optional[float] = None, reason: Optional[str] = None,
          constraints: Optional[dict] = None) -> dict[str, Any]:
    """One trial file; `fits` and `misses` follow from the numbers and the constraints."""
    constraints = constraints or {}
    misses = []
    measured = status in ("measured", "eliminated")  # an eliminated trial was measured after a short training
    if measured:
        for key, measured in (("max_latency_ms", p90), ("max_bytes", size)):
            if constraints.get(key) is not None and measured is not None and measured > constraints[key]:
                misses.append({"constraint": key, "limit": constraints[key], "measured": measured})
        floors = [constraints.get("min_accuracy")]
        if constraints.get("max_accuracy_drop") is not None:
            floors.append(BASELINE_ACCURACY - constraints["max_accuracy_drop"])
        floor = max((value for value in floors if value is not None), default=None)
        if floor is not None and accuracy < floor:
            if floor == constraints.get("min_accuracy"):
                misses.append({"constraint": "min_accuracy", "limit": floor, "measured": accuracy})
            else:  # a drop is recorded as a drop: limit 0.02, measured 0.039
                misses.append({"constraint": "max_accuracy_drop", "limit": constraints["max_accuracy_drop"],
                               "measured": round(BASELINE_ACCURACY - accuracy, 4)})
    return {"id": f"t{number:04d}",
            "candidate": {"width": width, "input_size": None, "sparsity": sparsity, "quantization": quantization,
                          "precision": precision, "threads": 2},
            "rung": rung, "epochs": 4 if rung else 1, "status": status, "reason": reason,
            "train_seconds": 3.0 + 2 * width + (1.5 if sparsity else 0) if status != "pending" else None,
            "accuracy": accuracy, "bytes": size if measured else None,
            "latency_ms": {"p50": round(p90 * 0.9, 4), "p90": p90} if measured and p90 is not None else None,
            "peak_memory_mb": 40.0 + 30 * width if measured else None,
            "fits": (not misses) if measured else None, "misses": misses,
            "cache_keys": {"train": f"train-{width}-{precision}", "prune": f"prune-{width}-{sparsity}"},
            "config": {"name": "digits-cnn", "model": {"builtin": "small_cnn", "width": width}}}


def measured_trials(constraints: dict) -> list[dict[str, Any]]:
    """Ten measured trials (wider: more accurate, slower and larger; int8: 4x smaller and faster), two eliminated
    after the short rung, one failed; trial 1 is the default build."""
    rows = []
    number = 1
    for width in (1.0, 0.5):
        for sparsity, quantization, precision in ((0, "float32", "float32"), (0, "int8", "float32"),
                                                  (0.5, "int8", "float32"), ("2:4", "int8", "float32"),
                                                  (0, "float32", "mixed_float16")):
            accuracy = 0.90 + 0.07 * width - (0.01 if sparsity else 0) - (0.004 if quantization == "int8" else 0)
            size = int(120_000 * width / (4 if quantization == "int8" else 1))
            p90 = round(0.9 * width / (2.5 if quantization == "int8" else 1) * (0.8 if sparsity == "2:4" else 1), 4)
            rows.append(trial(number, width=width, sparsity=sparsity, quantization=quantization, precision=precision,
                              accuracy=round(accuracy, 4), size=size, p90=p90, constraints=constraints))
            number += 1
    rows.append(trial(number, width=0.5, sparsity=0.75, quantization="int8", status="eliminated", rung=0,
                      accuracy=0.71, size=14_000, p90=0.15, constraints=constraints,
                      reason="halving: rung 0 accuracy 0.71 in the lower half"))
    rows.append(trial(number + 1, width=1.0, sparsity=0.75, quantization="int8", status="eliminated", rung=0,
                      accuracy=0.74, size=29_000, p90=0.3, constraints=constraints,
                      reason="halving: rung 0 accuracy 0.74 in the lower half"))
    rows.append(trial(number + 2, width=1.0, sparsity="2:4", quantization="float32", status="failed", rung=0,
                      reason="export: <script>alert(1)</script> converter refused the model"))
    return rows


def write_tune_dir(folder: Path, scenario: str = "chosen") -> Path:
    """A tune/ folder for one of three runs: "chosen" (done, a point fits), "nothing_fits", "budget" (stopped by
    --budget-minutes with a best-so-far, two trials still pending)."""
    constraints = {"max_latency_ms": MAX_LATENCY_MS, "max_bytes": MAX_BYTES, "max_ram_mb": None,
                   "min_accuracy": None, "max_accuracy_drop": 0.02}
    if scenario == "nothing_fits":
        constraints = {**constraints, "max_latency_ms": 0.05, "min_accuracy": 0.99}
    trials = measured_trials(constraints)
    if scenario == "budget":
        trials = trials[:6] + [trial(20 + index, width=0.5, sparsity=0.5, quantization="int8", status="pending",
                                     rung=1) for index in range(2)]
    fitting = [row for row in trials if row["fits"]]
    chosen = max(fitting, key=lambda row: (row["accuracy"], -row["latency_ms"]["p90"]))["id"] if fitting else None
    # The front: no other measured trial at least as good on accuracy, p90 and bytes, better on one.
    measured = [row for row in trials if row["status"] == "measured"]
    front = [row["id"] for row in measured if not any(
        other["accuracy"] >= row["accuracy"] and other["latency_ms"]["p90"] <= row["latency_ms"]["p90"]
        and other["bytes"] <= row["bytes"] and other is not row
        and (other["accuracy"], -other["latency_ms"]["p90"], -other["bytes"])
        != (row["accuracy"], -row["latency_ms"]["p90"], -row["bytes"]) for other in measured)]
    state = {"schema_version": 1, "edgekit": "0.test", "config": "edgekit.yaml", "target": "rpi4",
             "device": "pi@lab-board", "constraints": constraints, "space": SPACE, "metric": "accuracy",
             "higher_is_better": True, "started": "2026-11-29T16:00:00+00:00",
             "finished": None if scenario == "budget" else "2026-11-29T16:09:12+00:00", "wall_seconds": 552.0,
             "stopped": {"chosen": "done", "nothing_fits": "nothing_fits", "budget": "budget"}[scenario],
             "baseline": "t0001", "chosen": chosen, "front": front}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "trials").mkdir(exist_ok=True)
    (folder / "state.json").write_text(json.dumps(state, indent=1))
    for row in trials:
        (folder / "trials" / f"{row['id']}.json").write_text(json.dumps(row, indent=1))
    return folder
