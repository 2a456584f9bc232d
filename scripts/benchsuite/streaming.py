"""The `streaming` part: a build on a folder of images that does not fit in memory's budget.

A generated folder of small PNG images (20,000 by default, 32×32 RGB, 10 classes, each a colour
plus noise) is built with `data.source: images`, which streams through tf.data. The same
build on a quarter of the images shows whether peak resident memory grows with the number of images
(it should not, beyond the shuffle buffer, which holds file names here). Reported: peak RSS of the
build process (training, representative data, evaluation; the profiler runs in its own process),
training images per second, and what the same images would take as float32 arrays in memory.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchsuite.common import BenchContext, PartResult, markdown_table

IMAGES, QUICK_IMAGES = 20_000, 2_000
SIZE = 32
CLASSES = 10
EPOCHS = 2
# Peak RSS may move by allocator noise; more than this growth from 1/4 to all of the images is a finding.
GROWTH_TOLERANCE = 0.10

CONFIG = """
name: stream
data: {{source: images, path: images, image_size: [{size}, {size}], val_fraction: 0.05, test_fraction: 0.05}}
model: {{builtin: small_cnn, width: 0.5}}
train: {{epochs: {epochs}, batch_size: 128, learning_rate: 0.003}}
prune: {{enabled: false}}
qat: {{enabled: false}}
export: {{formats: [tflite], quantization: [float32, int8], representative_samples: 100}}
profile: {{runs: 10, warmup: 2, min_seconds: 0}}
evaluate: {{max_accuracy_drop: 1.0, min_agreement: 0.0}}
"""

# Runs the build in a child process and reports that process's own peak resident memory.
_MEASURE = """
import json, resource, sys, time
from pathlib import Path
from edgekit import console
from edgekit.pipeline.runner import BuildRequest, run_build
console.set_quiet(True)
started = time.perf_counter()
result = run_build(BuildRequest(config_path=Path(sys.argv[1])))
print(json.dumps({"seconds": time.perf_counter() - started, "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "manifest": result.manifest}))
"""


def generate_images(folder: Path, count: int, seed: int = 0) -> float:
    """Write `count` PNG images, `count / CLASSES` per class folder; returns the seconds it took."""
    from PIL import Image

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    colours = rng.integers(40, 216, (CLASSES, 1, 1, 3))
    for class_id in range(CLASSES):
        (folder / f"class{class_id}").mkdir(parents=True, exist_ok=True)
    for index in range(count):
        class_id = index % CLASSES
        noise = rng.integers(-60, 61, (SIZE, SIZE, 3))
        pixels = np.clip(colours[class_id] + noise, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"class{class_id}" / f"{index:06d}.png", compress_level=1)
    return time.perf_counter() - started


def measure_build(folder: Path, count: int) -> dict[str, Any]:
    """Generate `count` images under `folder`, build, and return time, memory and throughput."""
    generated_s = generate_images(folder / "images", count)
    (folder / "edgekit.yaml").write_text(CONFIG.format(size=SIZE, epochs=EPOCHS))
    completed = subprocess.run([sys.executable, "-c", _MEASURE, str(folder / "edgekit.yaml")], capture_output=True,
                               text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"the streaming build failed:\n{completed.stderr[-2000:]}")
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    manifest = report["manifest"]
    train_seconds = next(stage["seconds"] for stage in manifest["stages"] if stage["name"] == "train")
    return {
        "images": count,
        "generated_s": round(generated_s, 1),
        "build_s": round(report["seconds"], 1),
        # Over the whole train stage (model set-up and saving included), so a lower bound for fit alone.
        "train_images_per_s": round(manifest["data"]["train"] * EPOCHS / train_seconds, 1),
        "peak_rss_mb": round(report["peak_rss_kb"] / 1024, 1),
        "in_memory_float32_mb": round(count * SIZE * SIZE * 3 * 4 / 2**20, 1),
        "int8_accuracy": next(a["accuracy"] for a in manifest["artifacts"] if a["name"] == "tflite-int8"),
    }


def run(context: BenchContext) -> PartResult:
    total = QUICK_IMAGES if context.quick else IMAGES
    small = measure_build(context.scratch / "quarter", total // 4)
    large = measure_build(context.scratch / "all", total)
    growth = large["peak_rss_mb"] / small["peak_rss_mb"] - 1
    rows = [[m["images"], m["peak_rss_mb"], m["in_memory_float32_mb"], m["train_images_per_s"], m["build_s"],
             f"{m['int8_accuracy']:.3f}"] for m in (small, large)]
    table = markdown_table(["images", "peak RSS (MB)", "same images as float32 arrays (MB)", "train stage images/s",
                            "build s", "int8 accuracy"], rows)
    verdict = "does not grow" if growth <= GROWTH_TOLERANCE else "GROWS"
    table += (f"\n\nPeak RSS from {small['images']:,} to {large['images']:,} images: {growth:+.1%} "
              f"({verdict}; tolerance {GROWTH_TOLERANCE:.0%}). {SIZE}×{SIZE} RGB PNGs, small_cnn width 0.5, "
              f"{EPOCHS} epochs, batch 128; images/s over the whole train stage (set-up and saving included).")
    return PartResult(table=table, results={"quarter": small, "all": large, "rss_growth": growth,
                                            "tolerance": GROWTH_TOLERANCE})
