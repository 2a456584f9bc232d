"""The `edgekit` command. The only module that imports click: it parses, calls one library function, prints.

Exit codes (DESIGN.md): 0 success, 1 a gate failed, 2 bad usage or input, 3 a device or tool failed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from edgekit import __version__, console
from edgekit.cli_options import connection_options, pool_options, quiet_option
from edgekit.cli_regress import baseline, regress
from edgekit.base import interrupts
from edgekit.errors import EdgekitError


class EdgekitGroup(click.Group):
    """Turns EdgekitError into one message and its exit code; anything else is a bug and keeps its traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except EdgekitError as error:
            console.error(str(error))
            ctx.exit(error.exit_code)
        except KeyboardInterrupt:
            console.error("interrupted")
            ctx.exit(130)


@click.group(cls=EdgekitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgekit")
def main():
    """Train, compress, export, check and profile Keras models for phones and boards."""
    interrupts.install()


@main.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Folder to write edgekit.yaml into.")
def init(directory: Path):
    """Write a commented starter edgekit.yaml."""
    from edgekit.config import write_starter_config

    path = write_starter_config(directory)
    click.echo(f"wrote {path}; next: edgekit build --target host")


# ----------------------------------------------------------------------------------------------- build
@main.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=Path("edgekit.yaml"),
              show_default=True, help="The edgekit.yaml to build.")
@click.option("--target", default="host", show_default=True, help="Target name (see `edgekit targets`).")
@click.option("--device", "devices", multiple=True,
              help="Device address: user@host[:port], an ssh alias, or an adb serial; repeat it for several.")
@click.option("--ssh-config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="ssh config file passed to ssh as -F.")
@click.option("--remote-python", help="Python interpreter on the device (default: the target's `python`).")
@pool_options
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Build folder (default: build/<target> next to the config).")
@click.option("--force", is_flag=False, flag_value="data", default=None, metavar="[STAGE]",
              help="Ignore the stage cache from STAGE on (all stages when STAGE is omitted).")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON on stdout instead of a table.")
@click.option("--require-device", is_flag=True,
              help="Refuse (exit 2) before any training when the target is reached over ssh/adb and no device is "
                   "given; without it such a build makes every artifact and skips profiling.")
@quiet_option
def build(config_path, target, devices, ssh_config, remote_python, devices_file, lock_timeout, out, force, as_json,
          require_device):
    """Build, check and profile every artifact of an edgekit.yaml."""
    from edgekit.api import build_outcome
    from edgekit.pipeline.summary import print_summary

    if as_json:
        console.set_quiet(True)
    outcome = build_outcome(config_path, target=target, device=list(devices), ssh_config=ssh_config,
                            remote_python=remote_python, devices_file=devices_file, lock_timeout=lock_timeout,
                            out=out, force=force, require_device=require_device)
    if outcome.manifest is None:  # a non-chief worker of a multi-worker build: the chief reports
        return
    if as_json:
        console.write_json(outcome.manifest.document())
    else:
        print_summary(outcome.manifest, outcome.build_dir)
    if outcome.error is not None:
        raise outcome.error


# ----------------------------------------------------------------------------------------------- tune
@main.command("tune")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=Path("edgekit.yaml"),
              show_default=True, help="The edgekit.yaml whose variants are searched (its tune: section too).")
@click.option("--target", default="host", show_default=True, help="Target name (see `edgekit targets`).")
@click.option("--device", help="Device address (user@host[:port], an ssh alias, an adb serial); without it, "
                                "candidates are profiled on this machine (host targets only).")
@click.option("--ssh-config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="ssh config file passed to ssh as -F.")
@click.option("--remote-python", help="Python interpreter on the device (default: the target's `python`).")
@click.option("--max-latency-ms", type=float, help="Limit on the measured p90 latency.")
@click.option("--max-bytes", type=int, help="Limit on the model file's size.")
@click.option("--max-ram-mb", type=float, help="Limit on the profiler's peak resident memory on the device.")
@click.option("--min-accuracy", type=float, help="Lowest test accuracy accepted (0 to 1).")
@click.option("--max-accuracy-drop", type=float,
              help="Largest accuracy drop from the default build's float model (0 to 1).")
@click.option("--budget-minutes", type=float, help="Stop after this long with the best so far.")
@click.option("--trials", type=int, help="Stop after this many trials with the best so far.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Tune folder (default: build/<target>/tune next to the config).")
@quiet_option
def tune_command(**options):
    """Search config variants for the best model that fits the device's budget, measured on the device."""
    from edgekit.tune.run import TuneRequest, run_tune
    from edgekit.tune.summary import print_summary

    result = run_tune(TuneRequest(**options))
    print_summary(result)
    if result.error is not None:
        raise result.error


# ----------------------------------------------------------------------------------------------- profile
@main.command()
@click.argument("models", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--target", default="host", show_default=True, help="Target name (see `edgekit targets`).")
@connection_options
@pool_options
@click.option("--runs", type=click.IntRange(min=1), default=100, show_default=True, help="At least this many timed runs.")
@click.option("--warmup", type=click.IntRange(min=0), default=10, show_default=True, help="Untimed runs first.")
@click.option("--min-seconds", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Keep timing until at least this long has passed.")
@click.option("--threads", type=click.IntRange(min=1), help="Interpreter threads (default: the target's).")
@click.option("--interleave", is_flag=True, help="Alternate blocks of runs of all MODELS in one process.")
@click.option("--block", type=click.IntRange(min=1), default=10, show_default=True, help="Runs per interleaved block.")
@click.option("--cooldown", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Seconds of rest after each interleaved block.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the profile JSON here.")
@click.option("--json", "as_json", is_flag=True, help="Print the profile JSON on stdout instead of a table.")
@click.option("--op-profile", is_flag=True,
              help="Per-op times in a separate run (.onnx: onnxruntime's profiler; .tflite: benchmark_model on "
                   "Android and ssh targets with `benchmark_model:`): op_profile and op_types in the JSON.")
@quiet_option
def profile(models, target, connection, devices, devices_file, lock_timeout, runs, warmup, min_seconds, threads,
            interleave, block, cooldown, output, as_json, op_profile):
    """Time .tflite (LiteRT) and .onnx (ONNX Runtime) MODELS on a target, on every device given; prints a table,
    --output writes the profile JSON."""
    from edgekit import fsutil
    from edgekit.api import profile_outcome, write_profile_document
    from edgekit.fleet import print_fleet
    from edgekit.profiling.run import print_profiles

    if output:
        fsutil.check_writable(output, "profile")  # now, not after minutes of profiling
    outcome = profile_outcome(list(models), target=target, device=devices, devices_file=devices_file,
                              lock_timeout=lock_timeout, runs=runs, warmup=warmup, min_seconds=min_seconds,
                              threads=threads, interleave=interleave, block=block, cooldown=cooldown,
                              op_profile=op_profile, **connection)
    if as_json:
        console.write_json(outcome.document.document())
    elif len(outcome.run.runs) > 1:
        print_fleet(outcome.run)
    else:
        print_profiles(outcome.run.profiles)
    if output:  # after printing: a write that fails still leaves the measurements on screen
        write_profile_document(output, outcome.document)
    if outcome.error is not None:
        raise outcome.error


# ----------------------------------------------------------------------------------------------- deploy
@main.command()
@click.argument("artifacts", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--target", required=True, help="Target name (see `edgekit targets`).")
@connection_options
@click.option("--dest", help="Folder on the device (default: your own, <target workdir>-<uid>, mode 0700).")
@quiet_option
def deploy(artifacts, target, connection, devices, dest):
    """Copy ARTIFACTS to a device and verify each one's sha256 there."""
    from edgekit.adapters import ConnectionOptions
    from edgekit.adapters.deploy import deploy_artifacts

    for address in devices or [None]:  # several --device: each device in turn
        device_options = ConnectionOptions(address=address, **connection)
        for item in deploy_artifacts(list(artifacts), target, device_options, dest):
            console.out.print(f"{item.local} -> {address or target}:{item.remote} "
                              f"({item.bytes} bytes, sha256 {item.sha256[:16]}… verified on the device)",
                              soft_wrap=True, markup=False)


# ----------------------------------------------------------------------------------------------- inspect and report
@main.command("inspect")
@click.argument("model", type=click.Path(path_type=Path), required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the inspection as JSON on stdout instead of tables.")
@click.option("--edgetpu", is_flag=True, help="Add which ops the Edge TPU could run (an estimate, .tflite only).")
@click.option("--quant-error", "quant_error", nargs=2, type=click.Path(path_type=Path), metavar="QUANTIZED FLOAT",
              help="Per-layer quantization error of a quantized .tflite against its float32 .tflite (needs --data).")
@click.option("--data", type=click.Path(path_type=Path),
              help="With --quant-error: preprocessed inputs, an .npy or an .npz with x, x_val, x_test or x_train.")
@click.option("--samples", type=click.IntRange(min=1), default=256, show_default=True,
              help="With --quant-error: use at most this many samples of --data.")
def inspect_command(model, as_json, edgetpu, quant_error, data, samples):
    """Ops, tensors, dtypes, quantization and sizes of a .tflite or .onnx MODEL, read from the file alone.

    With --quant-error QUANTIZED FLOAT --data FILE instead of MODEL: the error each quantized op adds, worst first.
    """
    if quant_error:
        if model is not None or edgetpu:
            raise click.UsageError("--quant-error takes its two models itself: give no MODEL and no --edgetpu")
        if data is None:
            raise click.UsageError("--quant-error needs --data FILE (the samples to run both models on)")
        from edgekit.report.quant_error_table import print_quant_error, quant_error_of_files

        record = quant_error_of_files(*quant_error, data, samples)
        if as_json:
            console.write_json(record)
        else:
            print_quant_error(record)
        return
    if model is None:
        raise click.UsageError("give a MODEL to inspect (or --quant-error QUANTIZED FLOAT --data FILE)")
    if data is not None:
        raise click.UsageError("--data goes with --quant-error")
    from edgekit.api import inspect as inspect_file

    record = inspect_file(model, edgetpu=edgetpu)
    if as_json:
        console.write_json(record)
    else:
        from edgekit.inspect.render import print_inspection

        print_inspection(record)


@main.command("report")
@click.argument("build_dir", type=click.Path(file_okay=False, path_type=Path))
def report_command(build_dir):
    """Write BUILD_DIR/report.html: tables and plots of a build, one self-contained page."""
    from edgekit.report import write_report

    console.out.print(f"wrote {write_report(build_dir)}", soft_wrap=True, markup=False, highlight=False)


# ----------------------------------------------------------------------------------------------- regress
main.add_command(regress)
main.add_command(baseline)


# ----------------------------------------------------------------------------------------------- targets
@main.group(invoke_without_command=True)
@click.pass_context
def targets(ctx):
    """List the targets, or show one (`edgekit targets show rpi4`)."""
    if ctx.invoked_subcommand is None:
        from edgekit.config.target import list_targets
        from edgekit.targets_view import print_target_table

        print_target_table(list_targets())


@targets.command("show")
@click.argument("name")
def targets_show(name):
    """Print one target file, validated."""
    from edgekit.config.target import load_target
    from edgekit.targets_view import print_target

    print_target(load_target(name))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
