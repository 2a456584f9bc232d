"""Part 2, rebuild: what the stage cache saves.

A first build of examples/digits into a fresh folder, then (each a fresh `edgekit build` process, as
a user runs it) unchanged rebuilds, and one rebuild after changing only `profile.runs`.
Ratios to the first build: unchanged (target <= 0.05), profile-only (only `profile` may re-run,
checked in the manifest's `stages[].cached`). Where an unchanged rebuild's time goes is measured
too: interpreter start and imports, TensorFlow's import, and the gzip sizes the manifest recomputes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `benchsuite` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchsuite import support  # noqa: E402

NAME = "rebuild"
UNCHANGED_TARGET = 0.05
CHANGED_RUNS = 50  # the example has profile.runs 100

# Runs in a child process in the build folder: how long an unchanged run_build takes in-process,
# whether it imported TensorFlow, and how long the manifest's gzip sizes take.
_BREAKDOWN = """
import json, sys, time
started = time.perf_counter()
from pathlib import Path
from edgekit.pipeline.runner import BuildRequest, run_build
from edgekit import console, fsutil
imported = time.perf_counter()
result = run_build(BuildRequest(config_path=Path("edgekit.yaml")))
built = time.perf_counter()
mark = time.perf_counter()
for artifact in result.manifest["artifacts"]:
    fsutil.gzip_bytes(result.build_dir / artifact["path"])
gzip_s = time.perf_counter() - mark
print(json.dumps({"import_edgekit_s": imported - started, "run_build_s": built - imported,
                  "tensorflow_imported": "tensorflow" in sys.modules, "gzip_s": gzip_s}))
"""
_TF_IMPORT = "import time; t = time.perf_counter(); from edgekit._tf import tf; tf(); print(time.perf_counter() - t)"


def run(args) -> dict[str, Any]:
    """Run part 2; prints its table and returns the JSON-ready results."""
    repeats = 2 if getattr(args, "quick", False) else 3
    folder = support.fresh_folder(NAME, "digits")
    config = support.example_config()
    support.write_config(folder, config)
    load_before = support.load_average()
    support.note(f"{NAME}: first build")
    first = support.edgekit_build(folder)
    first_manifest = support.manifest_of(folder)
    unchanged = []
    for index in range(repeats):
        support.note(f"{NAME}: unchanged rebuild {index + 1}/{repeats}")
        unchanged.append(support.edgekit_build(folder))
    unchanged_manifest = support.manifest_of(folder)
    breakdown = json.loads(support.run_timed([str(support.PYTHON), "-c", _BREAKDOWN], cwd=folder).stdout.splitlines()[-1])
    tf_import_s = float(support.run_timed([str(support.PYTHON), "-c", _TF_IMPORT], cwd=folder).stdout.split()[-1])
    start_s = support.run_timed([str(support.EDGEKIT), "--help"], cwd=folder).wall_s

    support.note(f"{NAME}: rebuild after profile.runs {config['profile']['runs']} → {CHANGED_RUNS}")
    config["profile"]["runs"] = CHANGED_RUNS
    support.write_config(folder, config)
    changed = support.edgekit_build(folder)
    changed_manifest = support.manifest_of(folder)
    load_after = support.load_average()

    unchanged_wall = support.spread(t.wall_s for t in unchanged)
    results = {
        "first_build_s": first.wall_s,
        "first_build_stages": first_manifest["stages"],
        "unchanged_rebuild_s": unchanged_wall,
        "unchanged_ratio": unchanged_wall["median"] / first.wall_s,
        "unchanged_target": UNCHANGED_TARGET,
        "unchanged_ok": unchanged_wall["median"] / first.wall_s <= UNCHANGED_TARGET,
        "unchanged_all_cached": all(stage["cached"] for stage in unchanged_manifest["stages"]),
        "unchanged_breakdown": {**breakdown, "tensorflow_import_s": tf_import_s, "edgekit_help_s": start_s},
        "profile_change": {"runs": CHANGED_RUNS, "wall_s": changed.wall_s, "ratio": changed.wall_s / first.wall_s,
                           "rerun": [s["name"] for s in changed_manifest["stages"] if not s["cached"]],
                           "only_profile_rerun": [s["name"] for s in changed_manifest["stages"] if not s["cached"]]
                           == ["profile"],
                           "profile_stage_s": support.stage_seconds(changed_manifest)["profile"]},
        "load_average_before": load_before, "load_average_after": load_after,
        "machine_load": support.busy_note(load_before, load_after),
    }
    print_table(results)
    return results


def print_table(results: dict[str, Any]) -> None:
    change = results["profile_change"]
    breakdown = results["unchanged_breakdown"]
    rows = [
        ["first build", f"{results['first_build_s']:.1f}", "1", "-",
         "ran: " + ", ".join(s["name"] for s in results["first_build_stages"] if not s["cached"])],
        ["unchanged rebuild", support.spread_text(results["unchanged_rebuild_s"], ".2f"),
         f"{results['unchanged_ratio']:.3f}",
         f"{support.target_mark(results['unchanged_ok'])} ≤ {UNCHANGED_TARGET}",
         "all stages cached" if results["unchanged_all_cached"] else "NOT all cached"],
        [f"profile.runs → {change['runs']}", f"{change['wall_s']:.2f}", f"{change['ratio']:.3f}",
         support.target_mark(change["only_profile_rerun"]) + " only profile re-runs",
         "re-ran: " + (", ".join(change["rerun"]) or "nothing") + f" (profile stage {change['profile_stage_s']:.1f} s)"],
    ]
    support.print_table(f"rebuild: wall seconds of `edgekit build` ({results['machine_load']})",
                        ["build", "wall s", "/ first", "target", "stages"], rows)
    print(f"unchanged rebuild in-process: run_build {breakdown['run_build_s']:.2f} s "
          f"(TensorFlow imported: {breakdown['tensorflow_imported']}; importing it alone takes "
          f"{breakdown['tensorflow_import_s']:.2f} s), gzip sizes of the artifacts {breakdown['gzip_s']:.2f} s, "
          f"edgekit imports {breakdown['import_edgekit_s']:.2f} s, `edgekit --help` process {breakdown['edgekit_help_s']:.2f} s")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="two unchanged rebuilds instead of three")
    print(json.dumps(run(parser.parse_args()), indent=2))
