"""`edgekit regress` and `edgekit baseline`: the latency gate and the saved baselines (registered by edgekit.cli)."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit import console
from edgekit.cli_options import connection_options, store_option


@click.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path), metavar="[BASELINE] CURRENT")
@click.option("--max-slowdown", type=click.FloatRange(min=0), default=0.05, show_default=True,
              help="Fail when a median is more than this fraction slower (and the difference is significant).")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.01, show_default=True,
              help="Significance level of the two-sided Mann-Whitney U test; the CI of the median ratio is at 1 - alpha.")
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), help="Write JUnit XML here (a test case per artifact).")
@click.option("--json", "as_json", is_flag=True, help="Print the verdicts as JSON on stdout instead of a table.")
@click.option("--allow-device-change", is_flag=True, help="Compare latencies measured on different targets or devices.")
@click.option("--fail-on-missing", is_flag=True, help="Also fail when an artifact has latency on one side only.")
@click.option("--against-store", is_flag=True, help="Compare CURRENT with the latest baseline saved for its target and device.")
@store_option
@click.option("--timing", type=click.Choice(["auto", "interleaved", "recorded"]), default="auto", show_default=True,
              help="interleaved: time each baseline/current model pair (.tflite or .onnx) again now, alternating in one process; "
                   "recorded: compare the latencies in the files; auto: interleaved when the model files are found.")
@click.option("--target", help="Where pairs are timed (default: the baseline's target, else host).")
@connection_options
@click.option("--runs", type=click.IntRange(min=1), default=100, show_default=True, help="Timing: runs of each model, at least.")
@click.option("--min-seconds", type=click.FloatRange(min=0), default=1.0, show_default=True, help="Timing: seconds, at least.")
@click.option("--block", type=click.IntRange(min=1), default=10, show_default=True, help="Timing: runs per interleaved block.")
@click.option("--cooldown", type=click.FloatRange(min=0), default=0.0, show_default=True, help="Timing: rest after each block, s.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap confidence interval.")
def regress(files, max_slowdown, alpha, junit, as_json, allow_device_change, fail_on_missing, against_store, store,
            timing, target, connection, devices, runs, min_seconds, block, cooldown, seed):
    """Fail when latency regressed from BASELINE to CURRENT: two profile JSONs, two manifests (artifacts matched
    by name), or two model files (.tflite or .onnx). Pairs are timed again now, interleaved, when their model files are found
    (--timing). Exit 0 ok, 1 regression, 2 bad input."""
    from edgekit.api import regress as run_regress
    from edgekit.regress.view import print_report

    if len(devices) > 1:
        raise click.UsageError(f"regress times pairs on one device; got {len(devices)} --device")
    expected = 1 if against_store else 2
    if len(files) != expected:
        wanted = "CURRENT (with --against-store)" if against_store else "BASELINE and CURRENT"
        raise click.UsageError(f"expected {wanted}, got {len(files)} file{'' if len(files) == 1 else 's'}")
    result = run_regress(None if against_store else files[0], files[-1], max_slowdown=max_slowdown, alpha=alpha,
                         junit=junit, allow_device_change=allow_device_change, fail_on_missing=fail_on_missing,
                         store=store, timing=timing, target=target, device=devices[0] if devices else None,
                         runs=runs, min_seconds=min_seconds, block=block, cooldown=cooldown, seed=seed, **connection)
    if as_json:
        console.write_json(result.to_json())
    else:
        print_report(result.report)
    if not result.passed:
        raise result.report.error()


@click.group()
def baseline():
    """Saved latency baselines: a history per target, device and artifact."""


@baseline.command("save")
@click.argument("file", type=click.Path(path_type=Path))
@store_option
def baseline_save(file, store):
    """Add the latency of every artifact of a manifest or profile FILE to the store."""
    from edgekit.regress import BaselineStore, save_baseline_file
    from edgekit.regress.view import print_saved

    print_saved(save_baseline_file(file, BaselineStore(store)))


@baseline.command("show")
@store_option
@click.option("--target", help="Only this target's baselines.")
@click.option("--artifact", help="Only this artifact's, with every saved entry listed.")
@click.option("--json", "as_json", is_flag=True, help="Print the histories (medians, without samples) as JSON.")
def baseline_show(store, target, artifact, as_json):
    """List the saved baselines with their medians and trend."""
    from edgekit.regress import BaselineStore
    from edgekit.regress.view import print_histories

    histories = BaselineStore(store).histories(target=target, artifact=artifact)
    if as_json:
        console.write_json([history.to_json() for history in histories])
    else:
        print_histories(histories, str(store), artifact)
