"""The `rebuild` part: what the stage cache saves.

A first build of examples/digits into a fresh folder, then (each a fresh `edgekit build` process, as
a user runs it) unchanged rebuilds, and one rebuild after changing only `profile.runs`.
Ratios to the first build: unchanged (target <= 0.05); profile-only (only `profile` may re-run,
checked in the manifest's `stages[].cached`). Where an unchanged rebuild's time goes is measured
too: `run_build` in-process, whether it imported TensorFlow and what that import costs alone, the
gzip sizes the manifest recomputes, and the start of an `edgekit` process.
"""

from __future__ import annotations

import json
from typing import Any

from benchsuite import support
from benchsuite.common import BenchContext, PartResult, markdown_table

UNCHANGED_TARGET = 0.05
REPEATS, QUICK_REPEATS = 3, 2
CHANGED_RUNS = 50  # the example has profile.runs 100

# Runs in a child process in the build folder: an unchanged run_build in-process, whether it
# imported TensorFlow, and how long the manifest's gzip sizes take.
_BREAKDOWN = """
import json, sys, time
started = time.perf_counter()
from pathlib import Path
from edgekit import console, fsutil
from edgekit.pipeline.runner import BuildRequest, run_build
imported = time.perf_counter()
console.set_quiet(True)
result = run_build(BuildRequest(config_path=Path("edgekit.yaml")))
built = time.perf_counter()
for artifact in result.manifest["artifacts"]:
    fsutil.gzip_bytes(result.build_dir / artifact["path"])
print(json.dumps({"import_edgekit_s": imported - started, "run_build_s": built - imported,
                  "tensorflow_imported": "tensorflow" in sys.modules, "gzip_s": time.perf_counter() - built}))
"""
_TF_IMPORT = "import time; t = time.perf_counter(); from edgekit._tf import tf; tf(); print(time.perf_counter() - t)"


def run(context: BenchContext) -> PartResult:
    repeats = QUICK_REPEATS if context.quick else REPEATS
    directory = support.folder(context.scratch, "digits")
    config = support.example_config()
    support.write_config(directory, config)
    load_before = support.load_average()
    support.note("rebuild: first build")
    first = support.edgekit_build(directory)
    first_manifest = support.manifest_of(directory)
    unchanged = []
    for index in range(repeats):
        support.note(f"rebuild: unchanged rebuild {index + 1}/{repeats}")
        unchanged.append(support.edgekit_build(directory))
    unchanged_manifest = support.manifest_of(directory)
    python = str(support.PYTHON)
    breakdown = json.loads(support.run_timed([python, "-c", _BREAKDOWN], cwd=directory).stdout.splitlines()[-1])
    breakdown["tensorflow_import_s"] = float(support.run_timed([python, "-c", _TF_IMPORT], cwd=directory).stdout.split()[-1])
    breakdown["edgekit_help_s"] = support.run_timed([str(support.EDGEKIT), "--help"], cwd=directory).wall_s

    support.note(f"rebuild: profile.runs {config['profile']['runs']} → {CHANGED_RUNS}")
    config["profile"]["runs"] = CHANGED_RUNS
    support.write_config(directory, config)
    changed = support.edgekit_build(directory)
    changed_manifest = support.manifest_of(directory)
    load_after = support.load_average()

    unchanged_wall = support.spread(t.wall_s for t in unchanged)
    rerun = [stage["name"] for stage in changed_manifest["stages"] if not stage["cached"]]
    results = {
        "first_build_s": first.wall_s,
        "lock_wait_s": {"first": first.lock_wait_s(), "unchanged": [t.lock_wait_s() for t in unchanged],
                        "profile_change": changed.lock_wait_s()},
        "first_build_stages": first_manifest["stages"],
        "unchanged_rebuild_s": unchanged_wall,
        "unchanged_ratio": unchanged_wall["median"] / first.wall_s,
        "unchanged_target": UNCHANGED_TARGET,
        "unchanged_ok": unchanged_wall["median"] / first.wall_s <= UNCHANGED_TARGET,
        "unchanged_all_cached": all(stage["cached"] for stage in unchanged_manifest["stages"]),
        "unchanged_breakdown": breakdown,
        "profile_change": {"runs": CHANGED_RUNS, "wall_s": changed.wall_s, "ratio": changed.wall_s / first.wall_s,
                           "rerun": rerun, "only_profile_rerun": rerun == ["profile"],
                           "profile_stage_s": support.stage_seconds(changed_manifest)["profile"]},
        "load_average_before": load_before, "load_average_after": load_after,
    }
    return PartResult(table=table(results, support.load_note(load_before, load_after)), results=results)


def table(results: dict[str, Any], load: str) -> str:
    change = results["profile_change"]
    breakdown = results["unchanged_breakdown"]
    rows = [
        ["first build", f"{results['first_build_s']:.1f}", "1", "-",
         "ran: " + ", ".join(s["name"] for s in results["first_build_stages"] if not s["cached"])],
        ["unchanged rebuild", support.spread_text(results["unchanged_rebuild_s"], ".2f"),
         f"{results['unchanged_ratio']:.3f}", f"≤ {UNCHANGED_TARGET} {support.mark(results['unchanged_ok'])}",
         "all stages cached" if results["unchanged_all_cached"] else "NOT all stages cached"],
        [f"profile.runs → {change['runs']}", f"{change['wall_s']:.2f}", f"{change['ratio']:.3f}",
         f"only profile re-runs {support.mark(change['only_profile_rerun'])}",
         "re-ran: " + (", ".join(change["rerun"]) or "nothing") + f" (profile stage {change['profile_stage_s']:.1f} s)"],
    ]
    text = markdown_table(["edgekit build", "wall s", "/ first build", "target", "stages"], rows)
    where = (f"An unchanged rebuild in-process: run_build {breakdown['run_build_s']:.2f} s; TensorFlow imported: "
             f"{breakdown['tensorflow_imported']} (the import alone: {breakdown['tensorflow_import_s']:.2f} s); "
             f"gzip sizes of the artifacts {breakdown['gzip_s']:.2f} s; edgekit's own imports "
             f"{breakdown['import_edgekit_s']:.2f} s; an `edgekit --help` process {breakdown['edgekit_help_s']:.2f} s.")
    waits = results["lock_wait_s"]
    waited = waits["first"] + sum(waits["unchanged"]) + waits["profile_change"]
    lock = (f" The builds waited {waited:.1f} s in all for the profiling lock of this machine (another edgekit "
            f"was profiling): first {waits['first']:.1f} s, profile change {waits['profile_change']:.1f} s."
            if waited else "")
    return "\n".join([text, "", where + lock, f"Each row a fresh `edgekit build` process; {load}."])
