"""The `tune` part: what `edgekit tune` finds and what it costs, against an exhaustive grid of the same space.

For each model (the digits CNN; mobilenet_v2 on a generated folder of 32×32 images), in a fresh folder:
- `edgekit tune --target host` (a fresh process, as a user runs it): trials run, wall time, the chosen point
  against the default build (the config as written, measured by tune itself as its baseline trial);
- the grid (benchsuite/tune_grid.py, a fresh process): every candidate of the same space fully trained, exported,
  evaluated and profiled with tune's own builder and timer, sharing the stage cache the way tune does (one training
  per width × input size × precision, prune and QAT branching from it, one export for every quantization, threads
  only re-profiled) in a folder of its own;
- the ratio of wall times (target ≤ 0.35×) and whether tune chose the grid's point or one as good (as measured
  by the grid: it fits, its accuracy is within tune's accuracy_tolerance of the grid's pick, and its p90 latency is
  at most 10 % above it: two profiles minutes apart on a shared machine differ by that much). When the two picks
  are different files of equal accuracy, a **referee** times both in the same ABBA rounds (REFEREE_ROUNDS) right
  after the grid, and the latency is judged on those rounds: the grid profiled its candidates one by one, minutes
  apart, and a 0.15-0.25 ms model's p90 moves by 30 % between such profiles on this machine.

The default space is small (8 digits candidates in 4 build folders, 4 MobileNetV2 candidates in 2), so the part
stays near half an hour on a loaded 2-core machine. Settings (`--set KEY=VALUE`): `tune.space=mid` (12 digits
candidates in 6 folders, 8 MobileNetV2 candidates in 4), `tune.space=wide` (96 and 108 candidates), `tune.models=digits` (one model), `tune.target=T tune.device=ADDRESS [tune.ssh_config=FILE]`
(profile both runs on a device, e.g. the lab's aarch64 board: reported, not judged, its CPU is emulated),
`tune.max_latency_ms=X` (the latency limit of every model, for a device of another speed).
`--quick`: digits only, 2 candidates, 2 epochs (checks the part works).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from benchsuite import support
from benchsuite.common import BenchContext, PartResult, markdown_table

RATIO_TARGET = 0.35
REFEREE_ROUNDS = 4  # ABBA rounds in which the referee times tune's pick and the grid's, when they differ
LATENCY_NOISE = 0.10  # two profiles of one model minutes apart on this shared machine differ by up to this much
IMAGES, IMAGE_SIZE = 400, 32


@dataclass(frozen=True)
class Case:
    """One model of the part: its edgekit.yaml (tune: section included) and whether it needs generated images."""

    name: str
    config: dict[str, Any]
    images: bool = False


def digits_config(space: str, quick: bool) -> dict[str, Any]:
    spaces = {"small": {"width": [0.5, 1.0], "sparsity": [0, 0.5], "quantization": ["float32", "int8"],
                        "precision": ["float32"], "threads": [1]},
              "mid": {"width": [0.5, 1.0], "sparsity": [0, 0.5, "2:4"], "quantization": ["float32", "int8"],
                      "precision": ["float32"], "threads": [1]},
              "wide": {"width": [0.25, 0.5, 1.0], "sparsity": [0, 0.5, 0.75, "2:4"],
                       "quantization": ["float32", "float16", "dynamic", "int8"], "precision": ["float32"],
                       "threads": [1, 2]},
              "quick": {"width": [0.5], "sparsity": [0, 0.5], "quantization": ["int8"], "precision": ["float32"],
                        "threads": [1]}}
    epochs = 2 if quick else 12
    return {"name": "digits-cnn", "data": {"source": "digits", "val_fraction": 0.1, "test_fraction": 0.2, "seed": 0},
            "model": {"builtin": "small_cnn", "width": 1.0 if not quick else 0.5},
            "train": {"epochs": epochs, "batch_size": 64, "learning_rate": 0.002, "precision": "float32"},
            "prune": {"enabled": False, "target_sparsity": 0.5, "epochs": 1 if quick else 2},
            "qat": {"enabled": True, "epochs": 1 if quick else 2},
            "export": {"formats": ["tflite"], "quantization": ["float32", "int8"], "representative_samples": 100},
            "evaluate": {"max_accuracy_drop": 0.05},
            "profile": {"runs": 20, "warmup": 2, "min_seconds": 0.1},
            # 100 kB: the width-1.0 float32 CNN (about 300 kB) is out, its int8 (about 90 kB) and width 0.5 are in.
            "tune": {"max_bytes": 100_000, "max_latency_ms": 0.2, "max_accuracy_drop": 0.03, "profile_runs": 30,
                     "space": spaces["quick" if quick else space]}}


def mobilenet_config(space: str) -> dict[str, Any]:
    spaces = {"small": {"width": [0.35], "input_size": [IMAGE_SIZE], "sparsity": [0, 0.5],
                        "quantization": ["float32", "int8"], "precision": ["float32"], "threads": [1]},
              "mid": {"width": [0.35, 0.5], "input_size": [IMAGE_SIZE], "sparsity": [0, 0.5],
                      "quantization": ["float32", "int8"], "precision": ["float32"], "threads": [1]},
              "wide": {"width": [0.35, 0.5, 0.75], "input_size": [32, 48], "sparsity": [0, 0.5, "2:4"],
                       "quantization": ["float32", "dynamic", "int8"], "precision": ["float32"], "threads": [1, 2]}}
    return {"name": "mobilenet-images",
            "data": {"source": "images", "path": "images", "image_size": [IMAGE_SIZE, IMAGE_SIZE],
                     "val_fraction": 0.1, "test_fraction": 0.2, "seed": 0},
            "model": {"builtin": "mobilenet_v2", "width": 0.35},
            # 12 epochs: 4 left MobileNetV2 from scratch near chance (test accuracy 0.15-0.43, 80 test images),
            # where no search can rank anything; 12 reach 0.78 float. Post-training int8 (0.74): one QAT epoch
            # of 9 steps took it to 0.33.
            "train": {"epochs": 12, "batch_size": 32, "learning_rate": 0.003, "precision": "float32"},
            "prune": {"enabled": False, "target_sparsity": 0.5, "epochs": 1},
            "qat": {"enabled": False, "epochs": 1},
            "export": {"formats": ["tflite"], "quantization": ["float32", "int8"], "representative_samples": 50},
            "evaluate": {"max_accuracy_drop": 0.1},
            "profile": {"runs": 10, "warmup": 2, "min_seconds": 0.1},
            # 1 MB: every float32 MobileNetV2 here is out (1.7 MB at width 0.35), every int8 one is in.
            "tune": {"max_bytes": 1_000_000, "max_latency_ms": 20.0, "max_accuracy_drop": 0.05, "profile_runs": 20,
                     "space": spaces[space]}}


def cases(context: BenchContext) -> list[Case]:
    options = context_options(context)
    space = options.get("tune.space", "small")
    if space not in ("small", "mid", "wide"):
        raise SystemExit(f"--set tune.space={space}: the spaces are small, mid and wide")
    known = {"digits": Case("digits CNN", digits_config(space, context.quick)),
             "mobilenet_v2": Case("mobilenet_v2 (images)", mobilenet_config(space), images=True)}
    names = options.get("tune.models", "digits" if context.quick else "digits,mobilenet_v2").split(",")
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SystemExit(f"--set tune.models: unknown model {unknown[0]!r}; the models are {', '.join(known)}")
    chosen = [known[name] for name in names]
    if "tune.max_latency_ms" in options:  # another device's scale (the emulated aarch64 board is ~100x slower)
        limit = float(options["tune.max_latency_ms"])
        for case in chosen:
            case.config["tune"]["max_latency_ms"] = limit
    return chosen


def context_options(context: BenchContext) -> dict[str, str]:
    return dict(context.options)


def run(context: BenchContext) -> PartResult:
    results = {}
    load_before = support.load_average()
    for case in cases(context):
        folder = support.folder(context.scratch, case.name.split()[0])
        if case.images:
            from benchsuite.streaming import generate_images

            generate_images(folder / "images", IMAGES)
        config = support.write_config(folder, case.config)
        support.note(f"tune: {case.name}: edgekit tune")
        tune = run_tune(config, folder / "tune", device_arguments(context))
        support.note(f"tune: {case.name}: the exhaustive grid ({tune['candidates']} candidates)")
        grid = run_grid(config, folder / "grid", device_arguments(context))
        referee = referee_rounds(tune, grid, context, case.config["tune"]["profile_runs"])
        keep_tune_folder(folder / "tune", context.root / "build" / "bench-tune" / folder.name)
        results[case.name] = {"space": case.config["tune"]["space"],
                              "constraints": {key: value for key, value in case.config["tune"].items()
                                              if key.startswith(("max_", "min_"))},
                              "tune": tune, "grid": grid, **compare(tune, grid, referee)}
    load_after = support.load_average()
    results["load_average_before"], results["load_average_after"] = load_before, load_after
    results["target"] = context_options(context).get("tune.target", "host")
    return PartResult(table=table(results, support.load_note(load_before, load_after)), results=results)


def referee_rounds(tune: dict[str, Any], grid: dict[str, Any], context: BenchContext,
                   profile_runs: int) -> Optional[dict[str, Any]]:
    """Tune's pick and the grid's, timed in the same REFEREE_ROUNDS ABBA rounds on the bench's target, when they
    are different files (or thread counts) of equal accuracy; None otherwise."""
    tune_pick, grid_pick = _picks(tune, grid)
    if tune_pick is None or grid_pick is None or tune_pick is grid_pick or not tune_pick.get("fits") or \
            tune_pick["accuracy"] < grid_pick["accuracy"] - grid["accuracy_tolerance"]:
        return None
    from edgekit.adapters import ConnectionOptions
    from edgekit.config.target import load_target
    from edgekit.tune.measure import Timed, Timer

    options = context_options(context)
    ssh_config = options.get("tune.ssh_config")
    timer = Timer(load_target(options.get("tune.target", "host")),
                  ConnectionOptions(address=options.get("tune.device"), ssh_config=Path(ssh_config) if ssh_config
                                    else None), profile_runs)
    mine, theirs = timer.ab(Timed(Path(tune["chosen"]["artifact"]), tune_pick["candidate"]["threads"]),
                            Timed(Path(grid_pick["artifact"]), grid_pick["candidate"]["threads"]), REFEREE_ROUNDS)
    return {"rounds": REFEREE_ROUNDS, "tune_p90_ms": round(mine.p90, 4), "grid_p90_ms": round(theirs.p90, 4)}


def _picks(tune: dict[str, Any], grid: dict[str, Any]) -> tuple[Optional[dict], Optional[dict]]:
    """Tune's pick and the grid's, as the grid's rows (its own measurements of them)."""
    rows = {json.dumps(row["candidate"], sort_keys=True): row for row in grid["rows"]}
    grid_pick = rows.get(json.dumps(grid["chosen"], sort_keys=True)) if grid["chosen"] else None
    tune_pick = rows.get(json.dumps(tune["chosen"]["candidate"], sort_keys=True)) if tune["chosen"] else None
    return tune_pick, grid_pick


def keep_tune_folder(tune_dir: Path, destination: Path) -> None:
    """The run's state, trials, chosen edgekit.yaml and report.html, kept after the scratch folder is removed
    (build/bench-tune/<model>/), so the report can be looked at; the build folders are left behind."""
    import shutil

    shutil.rmtree(destination, ignore_errors=True)
    shutil.copytree(tune_dir, destination, ignore=shutil.ignore_patterns("builds", ".tune.lock"))


def device_arguments(context: BenchContext) -> list[str]:
    """--target (host unless set), --device and --ssh-config, as both `edgekit tune` and the grid take them."""
    options = context_options(context)
    arguments = ["--target", options.get("tune.target", "host")]
    for key in ("device", "ssh_config"):
        if options.get(f"tune.{key}"):
            arguments += [f"--{key.replace('_', '-')}", options[f"tune.{key}"]]
    return arguments


def run_tune(config: Path, out: Path, device: list[str]) -> dict[str, Any]:
    """`edgekit tune` in a fresh process; exit 1 (nothing fits) is a result, not a failure of the bench."""
    started = time.perf_counter()
    completed = subprocess.run([str(support.EDGEKIT), "tune", "--config", str(config), *device,
                                "--out", str(out), "--quiet"], cwd=config.parent, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if completed.returncode not in (0, 1) or not (out / "state.json").is_file():
        tail = "\n".join((completed.stdout + completed.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"edgekit tune exited with {completed.returncode}:\n{tail}")
    lock_wait = support.Timed(wall, 0.0, completed.stdout, completed.stderr).lock_wait_s()
    state = json.loads((out / "state.json").read_text())
    trials = [json.loads(path.read_text()) for path in sorted((out / "trials").glob("*.json"))]
    by_id = {trial["id"]: trial for trial in trials}
    statuses: dict[str, int] = {}
    for trial in trials:
        statuses[trial["status"]] = statuses.get(trial["status"], 0) + 1
    space = state["space"]
    candidates = 1
    for values in space.values():
        candidates *= max(1, len(values))
    return {"wall_s": round(wall, 1), "lock_wait_s": round(lock_wait, 1), "exit_code": completed.returncode,
            "stopped": state["stopped"],
            "candidates": candidates, "trials": len(trials), "statuses": statuses,
            "full_trainings": sum(trial["rung"] >= 1 for trial in trials),
            "chosen": _point(by_id.get(state.get("chosen")), out / "builds"),
            "baseline": _point(by_id.get(state.get("baseline")), out / "builds"),
            "report": (out / "report.html").is_file()}


def _point(trial: Optional[dict[str, Any]], builds: Path) -> Optional[dict[str, Any]]:
    if trial is None:
        return None
    return {"id": trial["id"], "candidate": trial["candidate"], "accuracy": trial["accuracy"], "bytes": trial["bytes"],
            "p90_ms": (trial["latency_ms"] or {}).get("p90"), "train_seconds": trial["train_seconds"],
            "rung": trial["rung"], "artifact": str(builds / trial["artifact"]) if trial.get("artifact") else None}


def run_grid(config: Path, out: Path, device: list[str]) -> dict[str, Any]:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
        str(support.ROOT / "scripts"), os.environ.get("PYTHONPATH")]))}
    started = time.perf_counter()
    completed = subprocess.run([str(support.PYTHON), "-m", "benchsuite.tune_grid", str(config), str(out), *device],
                               cwd=config.parent, capture_output=True, text=True, env=environment)
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"the grid exited with {completed.returncode}:\n{completed.stderr[-3000:]}")
    grid = json.loads(completed.stdout.strip().splitlines()[-1])
    grid["process_wall_s"] = round(wall, 1)
    grid["lock_wait_s"] = round(support.Timed(wall, 0.0, completed.stdout, completed.stderr).lock_wait_s(), 1)
    return grid


def compare(tune: dict[str, Any], grid: dict[str, Any], referee: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """The wall-time ratio, and whether tune's pick is the grid's or as good: its accuracy by the grid's own
    measurements, its latency by the referee's rounds where there were any (else by the grid's)."""
    ratio = tune["wall_s"] / grid["process_wall_s"]
    # Other edgekit processes on this machine hold its profiling lock at times; the wait is not either run's work.
    own = (tune["wall_s"] - tune.get("lock_wait_s", 0.0)) / (grid["process_wall_s"] - grid.get("lock_wait_s", 0.0))
    tune_pick, grid_pick = _picks(tune, grid)
    if grid_pick is None or tune_pick is None:
        # Tune picking a point the grid measured as missing a limit is a wrong pick, not a better one.
        as_good = grid_pick is None and tune_pick is None
        verdict = "both: nothing fits" if as_good else ("tune found nothing" if tune_pick is None else
                                                         "misses a limit in the grid: " + "; ".join(
                                                             tune_pick.get("misses") or ["failed"]))
    elif tune_pick is grid_pick:
        verdict, as_good = "same point", True
    else:
        mine, theirs = ((referee["tune_p90_ms"], referee["grid_p90_ms"]) if referee else
                        (tune_pick["p90_ms"], grid_pick["p90_ms"]))
        as_good = bool(tune_pick.get("fits")) and (
            tune_pick["accuracy"] >= grid_pick["accuracy"] - grid["accuracy_tolerance"]
            and mine <= theirs * (1 + LATENCY_NOISE))
        verdict = "as good" if as_good else "worse"
        if referee:
            verdict += (f" (p90 {mine:.4g} against {theirs:.4g} ms in {referee['rounds']} referee rounds; the grid's "
                        f"own profiles: {tune_pick['p90_ms']:.4g} against {grid_pick['p90_ms']:.4g})")
    return {"ratio": round(ratio, 3), "ratio_without_lock_waits": round(own, 3), "ratio_ok": own <= RATIO_TARGET,
            "pick": verdict, "pick_ok": as_good, "referee": referee,
            "grid_pick": grid_pick, "tune_pick_in_grid": tune_pick}


def _label(candidate: Optional[dict[str, Any]]) -> str:
    if not candidate:
        return "-"
    sparsity = candidate["sparsity"]
    parts = [f"w{candidate['width']:g}" if candidate.get("width") is not None else None,
             f"{candidate['input_size']}px" if candidate.get("input_size") is not None else None,
             "dense" if sparsity in (0, 0.0) else f"sparse {sparsity}", candidate["quantization"],
             candidate["precision"] if candidate["precision"] != "float32" else None, f"{candidate['threads']} thr"]
    return " ".join(part for part in parts if part)


def table(results: dict[str, Any], load: str) -> str:
    models = {name: result for name, result in results.items() if isinstance(result, dict) and "tune" in result}
    rows = []
    for name, result in models.items():
        tune, grid = result["tune"], result["grid"]
        statuses = ", ".join(f"{count} {status}" for status, count in sorted(tune["statuses"].items()))
        rows.append([name, tune["candidates"], f"{tune['trials']} ({statuses})", _wall(tune["wall_s"], tune),
                     _wall(grid["process_wall_s"], grid),
                     f"{result['ratio_without_lock_waits']:.2f}× ({result['ratio']:.2f}× with waits)",
                     f"≤ {RATIO_TARGET} {support.mark(result['ratio_ok'])}", _label((tune["chosen"] or {}).get("candidate")),
                     _label(grid["chosen"]), f"{result['pick']} {support.mark(result['pick_ok'])}"])
    text = markdown_table(["model", "candidates", "tune trials", "tune s", "grid s", "tune / grid (own work)", "target",
                           "tune chose", "grid chose", "tune's pick"], rows)
    points = []
    for name, result in models.items():
        tune = result["tune"]
        for what, point in (("default build", tune["baseline"]), ("tune's pick", tune["chosen"])):
            if point:
                points.append([name, what, _label(point["candidate"]), _cell(point["accuracy"], ".4f"),
                               _cell(point["p90_ms"], ".4g"), _cell(point["bytes"], ","),
                               _cell(point["train_seconds"], ".1f")])
        pick = result["grid_pick"]
        if pick:
            points.append([name, "grid's pick (grid's numbers)", _label(pick["candidate"]), _cell(pick["accuracy"], ".4f"),
                           _cell(pick["p90_ms"], ".4g"), _cell(pick["bytes"], ","), _cell(pick["train_seconds"], ".1f")])
    text += "\n\n" + markdown_table(["model", "point", "candidate", "accuracy", "p90 ms", "bytes", "train s"], points)
    notes = [f"{name}: limits {', '.join(f'{key} {value}' for key, value in result['constraints'].items())}; "
             f"grid build folders {len(result['grid']['build_folders'])}" for name, result in models.items()]
    return "\n".join([text, "", *notes, "",
                      f"Both on target {results.get('target', 'host')}, each a fresh process; the grid shares the "
                      "stage cache as tune does (one training per width × input size × precision, one export for "
                      "every quantization, threads re-profiled only) but trains every candidate in full and has no "
                      f"A/B rounds; {load}."])


def _wall(seconds: float, run: dict[str, Any]) -> str:
    """'412 (waited 30 for the lock)': wall seconds, and how many of them went to waiting for the profiling lock."""
    waited = run.get("lock_wait_s") or 0.0
    return f"{seconds:.0f}" + (f" (waited {waited:.0f} for the lock)" if waited >= 1 else "")


def _cell(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)

