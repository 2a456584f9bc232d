"""A realistic build manifest for the report tests (the shape edgekit.pipeline.manifest writes), and variants of it.

Numbers are chosen so the derived columns are known: the float32 TFLite median is 0.040 ms, int8's 0.010 ms
(speedup 4×); the Pareto front (latency down, accuracy up) is tflite-dynamic (fastest) and tflite-int8 (most
accurate of the fast ones): float32 and float16 are as accurate as dynamic but slower.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Optional

import numpy as np

DENSE_ACCURACY = 0.9666
PARETO = {"tflite-dynamic", "tflite-int8"}
LAYERS = {"conv1": 0.49, "conv2": 0.5, "conv3": 0.51, "fc1": 0.5, "classifier": 0.48}


def latency(median_ms: float, seed: int, runs: int = 400) -> dict[str, Any]:
    """A profile JSON whose samples have the given median (log-normal jitter around it)."""
    rng = np.random.default_rng(seed)
    samples = median_ms * np.exp(rng.normal(0, 0.05, runs))
    samples *= median_ms / float(np.median(samples))
    return {"model": {"path": "export/x.tflite", "sha256": "0" * 64, "bytes": 1000}, "target": "rpi4",
            "device": {"address": "pi@raspberrypi.local", "machine": "aarch64", "os": "Debian GNU/Linux 12",
                       "runtime": "ai_edge_litert", "runtime_version": "2.3.0", "cpu": "Cortex-A72"},
            "threads": 4, "delegate": "xnnpack", "runs": runs, "warmup": 10,
            "min_ms": float(samples.min()), "median_ms": median_ms, "mean_ms": float(samples.mean()),
            "p90_ms": float(np.percentile(samples, 90)), "p99_ms": float(np.percentile(samples, 99)),
            "max_ms": float(samples.max()), "std_ms": float(samples.std()), "samples_ms": samples.round(6).tolist(),
            "init_ms": 1.5, "first_ms": 0.08}


def _artifact(name: str, kind: str, quantization: str, size: int, accuracy: float, agreement: float,
              profile: Optional[dict[str, Any]], sparsity: float = 0.5) -> dict[str, Any]:
    return {"name": name, "format": kind, "quantization": quantization,
            "path": f"export/digits-{quantization}.{kind}",
            "bytes": size, "gzip_bytes": size // 2, "sha256": "ab" * 32, "sparsity": sparsity, "accuracy": accuracy,
            "agreement": agreement, "latency": profile}


def sample_manifest() -> dict[str, Any]:
    curve = lambda start, end, epochs: list(np.linspace(start, end, epochs).round(4))  # noqa: E731
    history = {stage: {"loss": curve(2.2 if stage == "train" else 0.2, 0.05, epochs),
                       "accuracy": curve(0.2 if stage == "train" else 0.93, 0.99, epochs),
                       "val_loss": curve(2.1 if stage == "train" else 0.25, 0.08, epochs),
                       "val_accuracy": curve(0.3 if stage == "train" else 0.92, 0.97, epochs)}
               for stage, epochs in (("train", 12), ("prune", 3), ("qat", 3))}
    return {
        "edgekit_version": "0.1.0", "name": "digits-cnn", "target": "rpi4",
        "device": latency(0.04, 0)["device"], "config_sha256": "cd" * 32,
        "versions": {"tensorflow": "2.21.0", "tfmot": "0.8.1", "litert": "2.3.0", "onnx": "1.23.2"},
        "precision": "float32", "precision_reason": "auto: no GPU visible",
        "stages": [{"name": name, "seconds": seconds, "cached": name == "data"}
                   for name, seconds in (("data", 1.0), ("train", 11.0), ("prune", 4.0), ("qat", 3.5),
                                         ("export", 5.0), ("evaluate", 0.3), ("profile", 9.0))],
        "artifacts": [
            _artifact("keras-dense", "keras", "float32", 328883, DENSE_ACCURACY, 1.0, None, sparsity=0.0),
            _artifact("keras-pruned", "keras", "float32", 328883, 0.9666, 0.9944, None),
            _artifact("tflite-float32", "tflite", "float32", 302760, 0.9666, 0.9944, latency(0.040, 1)),
            _artifact("tflite-float16", "tflite", "float16", 155448, 0.9666, 0.9944, latency(0.041, 2)),
            _artifact("tflite-dynamic", "tflite", "dynamic", 84552, 0.9666, 0.9944, latency(0.0095, 3)),
            _artifact("tflite-int8", "tflite", "int8", 85920, 0.9694, 0.9805, latency(0.010, 4)),
            _artifact("onnx-float32", "onnx", "float32", 301835, 0.9666, 0.9944, None),
            _artifact("onnx-int8", "onnx", "int8", 94726, 0.9638, 0.9889, None),
        ],
        "data": {"source": "digits", "train": 1259, "val": 179, "test": 359, "input_shape": [8, 8, 1],
                 "num_classes": 10},
        "preprocessing": {"scale": 0.0625, "offset": 0.0, "formula": "x = raw * scale + offset (float32)"},
        "sparsity": {"overall": 0.5, "target": 0.5, "structure": "unstructured", "layers": dict(LAYERS),
                     "after_qat": 0.5},
        "history": history,
        "profile_skipped": {"onnx-float32": "target rpi4 runs tflite models, not onnx",
                            "onnx-int8": "target rpi4 runs tflite models, not onnx"},
        "gate": {"passed": True, "max_accuracy_drop": 0.01, "baseline_accuracy": DENSE_ACCURACY, "failures": []},
    }


def bare_manifest() -> dict[str, Any]:
    """The least a build can leave: no latency, no pruning, no history, no gate, no device."""
    manifest = sample_manifest()
    for artifact in manifest["artifacts"]:
        artifact["latency"] = None
    for key in ("sparsity", "history", "gate", "device", "precision_reason"):
        manifest.pop(key)
    manifest["profile_skipped"] = {"tflite-int8": "target coral-usb: no device given"}
    return manifest


REGRESS_ROWS = [
    {"artifact": "tflite-int8", "baseline_median_ms": 0.0100, "current_median_ms": 0.0121, "ratio": 1.21,
     "ci_low": 1.18, "ci_high": 1.24, "p_value": 1e-9, "verdict": "regression"},
    {"artifact": "tflite-float32", "baseline_median_ms": 0.0400, "current_median_ms": 0.0401, "ratio": 1.0025,
     "ci_low": 0.99, "ci_high": 1.01, "p_value": 0.41, "verdict": "unchanged"},
]


def write_build(folder: Path, manifest: Optional[dict[str, Any]] = None, regress: Any = None) -> Path:
    """A build folder holding `manifest` (default: the sample) and, when given, regress.json."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps(copy.deepcopy(manifest or sample_manifest())))
    if regress is not None:
        (folder / "regress.json").write_text(regress if isinstance(regress, str) else json.dumps(regress))
    return folder
