"""The exhaustive grid that `scripts/bench tune` measures `edgekit tune` against: every candidate of the same space
fully trained, exported, evaluated and profiled, with the same machinery and the same stage-cache sharing as tune.

What the grid shares, exactly as `edgekit tune` does (edgekit.tune.builds.VariantBuilder, in a folder of its own,
starting empty):
- one build folder per (width, input size, training precision, sparsity), built once at the full epochs; its
  export makes every quantization of the space at once, and its evaluate scores them all;
- a sparsity's folder is seeded with the data and train stages of a sibling with the same training, so each
  (width, input size, precision) trains once, and prune and QAT branch from it;
- threads are a profile-time knob: each candidate is profiled on its own (edgekit.tune.measure.Timer, the A/B
  rounds' profile settings, without an opponent).
What it does not do: successive halving (no short rung 0, nobody eliminated) and no A/B rounds against a best.

Run as a child process of the bench: `python -m benchsuite.tune_grid CONFIG GRID_DIR [--target host]`; prints
one JSON line (each candidate's numbers, the grid's choice, wall seconds).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Optional


def run_grid(config_path: Path, grid_dir: Path, target_name: str = "host", device: Optional[str] = None,
             ssh_config: Optional[Path] = None) -> dict[str, Any]:
    """Build, evaluate and profile every candidate of the config's tune space; returns the rows and the choice."""
    from edgekit import console
    from edgekit.adapters import ConnectionOptions
    from edgekit.config.loader import load_config
    from edgekit.config.target import load_target
    from edgekit.config.yamlsource import load_yaml
    from edgekit.errors import EdgekitError
    from edgekit.tune.builds import Variant, VariantBuilder
    from edgekit.tune.constraints import Constraints, Measured
    from edgekit.tune.measure import Timed, Timer
    from edgekit.tune.space import build_space, default_candidate

    started = time.perf_counter()
    console.set_quiet(True)
    loaded = load_config(config_path)
    settings = loaded.config.tune
    constraints = Constraints(**{key: getattr(settings, key) for key in
                                 ("max_latency_ms", "max_bytes", "max_ram_mb", "min_accuracy", "max_accuracy_drop")})
    target = load_target(target_name)
    connection = ConnectionOptions(address=device, ssh_config=ssh_config)
    local = target.adapter == "local"
    space = build_space(loaded.config, target, settings.space, local=local)
    default = default_candidate(loaded.config, target, space, local=local)
    builder = VariantBuilder(grid_dir, loaded, load_yaml(loaded.path).data, target, connection)
    timer = Timer(target, connection, settings.profile_runs)
    quantizations = list(dict.fromkeys([*space.quantization, default.quantization]))
    epochs = loaded.config.train.epochs
    candidates = [default] + [candidate for candidate in space.candidates() if candidate != default]
    rows: list[dict[str, Any]] = []
    reference: Optional[float] = None
    for candidate in candidates:
        row: dict[str, Any] = {"candidate": candidate.to_dict(), "label": candidate.label(),
                               "default": candidate == default}
        try:
            built = builder.build(Variant.of(candidate, epochs, short=False), quantizations)
        except EdgekitError as error:
            rows.append({**row, "failed": str(error)})
            continue
        if reference is None and candidate == default:
            reference = built.float_accuracy
        artifact = built.artifacts.get(candidate.quantization)
        if artifact is None:
            rows.append({**row, "failed": built.missing.get(candidate.quantization, "no such artifact")})
            continue
        timing, _ = timer.ab(Timed(artifact.path, candidate.threads), None, settings.ab_rounds)
        measured = Measured(accuracy=artifact.accuracy, bytes=artifact.bytes, p90_ms=timing.p90,
                            peak_memory_mb=timing.peak_memory_mb)
        misses = constraints.check(measured, reference)
        rows.append({**row, "accuracy": artifact.accuracy, "bytes": artifact.bytes, "p90_ms": round(timing.p90, 4),
                     "p50_ms": round(timing.p50, 4), "peak_memory_mb": timing.peak_memory_mb,
                     "train_seconds": built.train_seconds, "fits": not misses,
                     "misses": [miss.describe() for miss in misses], "artifact": str(artifact.path)})
    chosen = choose(rows, settings.accuracy_tolerance)
    return {"wall_s": round(time.perf_counter() - started, 1), "candidates": len(candidates), "rows": rows,
            "chosen": chosen["candidate"] if chosen else None, "reference_accuracy": reference,
            "accuracy_tolerance": settings.accuracy_tolerance,
            "build_folders": sorted(str(path.relative_to(builder.root)) for path in builder.root.glob("*/*")
                                    if path.is_dir())}


def choose(rows: list[dict[str, Any]], tolerance: float) -> Optional[dict[str, Any]]:
    """The grid's pick, by tune's rule: the most accurate that fits; within `tolerance` of it, the fastest p90."""
    fitting = [row for row in rows if row.get("fits")]
    if not fitting:
        return None
    top = max(row["accuracy"] for row in fitting)
    near = [row for row in fitting if row["accuracy"] >= top - tolerance]
    return min(near, key=lambda row: (row["p90_ms"], row["bytes"]))


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchsuite.tune_grid", description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("grid_dir", type=Path)
    parser.add_argument("--target", default="host")
    parser.add_argument("--device")
    parser.add_argument("--ssh-config", type=Path)
    args = parser.parse_args(argv)
    print(json.dumps(run_grid(args.config, args.grid_dir, args.target, args.device, args.ssh_config)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
