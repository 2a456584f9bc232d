"""`scripts/bench [PART ...] [--quick] [--list]`: run benchmark parts, print their tables, merge bench-results.json.

Adding a part: write `benchsuite/<name>.py` with `run(context: BenchContext) -> PartResult`, and add one line
to PARTS below.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchsuite.common import BenchContext, machine_info

# Part name -> module holding its run(context). Parts run in this order.
PARTS = {
    "pipeline": "benchsuite.pipeline",
    "rebuild": "benchsuite.rebuild",
    "artifacts": "benchsuite.artifacts",
    "conversion": "benchsuite.conversion",
    "profiler": "benchsuite.profiler",
    "training": "benchsuite.training",
    "regress": "benchsuite.regress",
    "streaming": "benchsuite.streaming",
    # "models": the conformance table (benchsuite.models holds the untrained models of artifacts/profiler).
    "models": "benchsuite.conformance",
    "quant_error": "benchsuite.quant_error",
    "runtimes": "benchsuite.runtimes",
    "tune": "benchsuite.tune",
}

ROOT = Path(__file__).resolve().parents[2]
RESULTS_FILE = ROOT / "bench-results.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", metavar="PART", help=f"parts to run (default: all of {', '.join(PARTS)})")
    parser.add_argument("--quick", action="store_true", help="a small run that checks the parts work; numbers mean little")
    parser.add_argument("--list", action="store_true", help="name the parts and exit")
    parser.add_argument("--set", action="append", default=[], metavar="PART.KEY=VALUE",
                        help="a part's own setting, e.g. tune.space=wide (each part's docstring names its keys)")
    args = parser.parse_args(argv)
    options = {}
    for setting in args.set:
        key, equals, value = setting.partition("=")
        if not equals or "." not in key:
            parser.error(f"--set {setting!r}: write PART.KEY=VALUE, e.g. --set tune.space=wide")
        options[key] = value
    if args.list:
        print("\n".join(PARTS))
        return 0
    unknown = [name for name in args.parts if name not in PARTS]
    if unknown:
        parser.error(f"unknown part {', '.join(map(repr, unknown))}; the parts are: {', '.join(PARTS)}")
    for name in args.parts or list(PARTS):
        record = run_part(name, quick=args.quick, options=options)
        merge_results(result_key(name, options), record)
        print(f"\n{name}: {record['seconds']:.0f} s; results merged into {RESULTS_FILE}", file=sys.stderr)
    return 0


def run_part(name: str, *, quick: bool, options: dict[str, str] | None = None) -> dict:
    """Run one part in a scratch folder; returns its record for bench-results.json."""
    import importlib

    module = importlib.import_module(PARTS[name])
    scratch = Path(tempfile.mkdtemp(prefix=f"edgekit-bench-{name}-"))
    print(f"== {name}", file=sys.stderr)
    machine = machine_info()  # before the part: its load average is the one the part started under
    started = time.perf_counter()
    try:
        result = module.run(BenchContext(root=ROOT, scratch=scratch, quick=quick, options=dict(options or {})))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.perf_counter() - started
    print(result.table)
    return {"machine": machine, "quick": quick, "options": dict(options or {}), "seconds": round(seconds, 1),
            "table": result.table,
            "results": result.results}


def result_key(name: str, options: dict[str, str]) -> str:
    """The part's key in bench-results.json: its name, and its own settings when given (`tune [tune.target=rpi4,
    ...]`), so a run with other settings (another device, another space) does not replace the default run's."""
    own = sorted((key, value) for key, value in options.items() if key.startswith(f"{name}."))
    return name if not own else f"{name} [{', '.join(f'{key}={value}' for key, value in own)}]"


def merge_results(name: str, record: dict) -> None:
    """Replace this part's entry in bench-results.json, keeping the other parts' (written atomically)."""
    from edgekit import fsutil

    merged = json.loads(RESULTS_FILE.read_text()) if RESULTS_FILE.exists() else {}
    merged.setdefault("parts", {})[name] = record
    fsutil.write_json(RESULTS_FILE, merged)


if __name__ == "__main__":
    sys.exit(main())
