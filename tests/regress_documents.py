"""Profile and manifest documents for the latency gate's tests, in the shapes of DESIGN.md, from seeded samples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np

from edgekit.profiling.device.stats import summarize

DEVICE = {"address": "localhost", "machine": "x86_64", "os": "Debian GNU/Linux 12 (bookworm)",
          "runtime": "ai_edge_litert", "runtime_version": "2.3.0", "cpu": "AMD EPYC"}


def latency_samples(median_ms: float = 1.0, *, count: int = 300, spread: float = 0.05, seed: int = 0) -> list[float]:
    """Seeded log-normal latencies around `median_ms`, rounded like the profiler's (whole nanoseconds)."""
    rng = np.random.default_rng(seed)
    return [round(float(value), 6) for value in median_ms * rng.lognormal(0.0, spread, size=count)]


NO_FILE_SHA256 = "0" * 64  # the digest of no model file: such profiles cannot be re-timed


def profile(samples: list[float], *, model: str = "model.tflite", target: str = "host",
            device: Optional[dict] = None, sha256: str = NO_FILE_SHA256) -> dict:
    """A profile JSON as `edgekit profile --output` writes it."""
    document = {"model": {"path": model, "sha256": sha256, "bytes": 1000}, "target": target,
                "device": dict(device or DEVICE), "threads": 1, "delegate": "xnnpack", "runs": len(samples), "warmup": 10}
    document.update(summarize(samples) if samples else {})
    document.update({"samples_ms": samples, "init_ms": 2.0, "first_ms": 1.5})
    return document


def manifest(latencies: dict[str, Optional[list[float]]], *, target: str = "host", device: Optional[dict] = None,
             sha256: str = NO_FILE_SHA256) -> dict:
    """A build manifest whose artifacts have these latency samples (None: not profiled, like Keras and ONNX);
    `export/<name>.<format>` files with digest `sha256`."""
    artifacts = []
    for name, samples in latencies.items():
        fmt, suffix = name.split("-")[0], name.split("-")[-1]
        # keras-dense / keras-pruned are float32 models, as the manifest writer records them.
        quantization = suffix if suffix in ("float32", "float16", "dynamic", "int8") else "float32"
        artifacts.append({"name": name, "format": fmt, "quantization": quantization,
                          "path": f"export/{name}.{fmt}", "bytes": 1000, "gzip_bytes": 900, "sha256": sha256,
                          "sparsity": 0.5, "accuracy": 0.97, "agreement": 0.99,
                          "latency": None if samples is None else profile(samples, model=f"export/{name}.{fmt}",
                                                                           target=target, device=device,
                                                                           sha256=sha256)})
    return {"edgekit_version": "0.1.0", "name": "digits-cnn", "target": target, "device": dict(device or DEVICE),
            "config_sha256": "0" * 64, "versions": {}, "precision": "float32", "stages": [], "artifacts": artifacts}


def write(path: Path, document: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return path
