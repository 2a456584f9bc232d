"""The `edgekit` command. The only module that imports click: it parses, calls one library function, prints.

Exit codes (DESIGN.md): 0 success, 1 a gate failed, 2 bad usage or input, 3 a device or tool failed.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from edgekit import __version__, console
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


def quiet_option(function):
    """--quiet: only errors and the result."""

    @click.option("--quiet", "-q", is_flag=True, help="Print only errors and the final result.")
    @functools.wraps(function)
    def wrapper(*args, quiet: bool, **kwargs):
        console.set_quiet(quiet)
        return function(*args, **kwargs)

    return wrapper


@click.group(cls=EdgekitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgekit")
def main():
    """Train, compress, export, check and profile Keras models for phones and boards."""


@main.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Folder to write edgekit.yaml into.")
def init(directory: Path):
    """Write a commented starter edgekit.yaml."""
    from edgekit.config import write_starter_config

    path = write_starter_config(directory)
    click.echo(f"wrote {path}; next: edgekit build --target host")


# ----------------------------------------------------------------------------------------------- build
def pool_options(function):
    """--devices FILE and --lock-timeout: a pool of devices, and how long to wait for a busy one."""

    function = click.option("--lock-timeout", type=click.FloatRange(min=0), metavar="SECONDS",
                            help="Give up (exit 3) when a device is still used by another edgekit process after "
                                 "this long (default: wait until it is free).")(function)
    return click.option("--devices", "devices_file", type=click.Path(dir_okay=False, path_type=Path),
                        help="Devices inventory (YAML: target -> addresses); default: devices.yaml when it "
                             "exists.")(function)


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
    from edgekit.pipeline.runner import BuildRequest, run_build
    from edgekit.pipeline.summary import print_summary

    request = BuildRequest(config_path=config_path, target=target, devices=list(devices), ssh_config=ssh_config,
                           remote_python=remote_python, out=out, force=force, devices_file=devices_file,
                           lock_timeout_s=lock_timeout, require_device=require_device)
    if as_json:
        console.set_quiet(True)
    result = run_build(request)
    if result.manifest is None:  # a non-chief worker of a multi-worker build: the chief reports
        return
    if as_json:
        console.write_json(result.manifest)
    else:
        print_summary(result.manifest, result.build_dir)
    if result.gate_error is not None:
        raise result.gate_error


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
def connection_options(function):
    """--device, --ssh-config, --remote-python, --benchmark-binary: how to reach the device."""

    @click.option("--device", "devices", multiple=True,
                  help="Device address: user@host[:port], an ssh alias, or an adb serial / host:port "
                       "(`profile`: repeat it to profile on several devices at once).")
    @click.option("--ssh-config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                  help="ssh config file passed to ssh as -F.")
    @click.option("--remote-python", help="Python interpreter on the device (default: the target's `python`).")
    @click.option("--benchmark-binary", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                  help="Local path of TFLite's benchmark_model for Android targets.")
    @functools.wraps(function)
    def wrapper(*args, devices, ssh_config, remote_python, benchmark_binary, **kwargs):
        from edgekit.adapters import ConnectionOptions

        options = ConnectionOptions(address=devices[0] if devices else None, ssh_config=ssh_config,
                                    remote_python=remote_python, benchmark_binary=benchmark_binary)
        return function(*args, options=options, devices=list(devices), **kwargs)

    return wrapper


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
def profile(models, target, options, devices, devices_file, lock_timeout, runs, warmup, min_seconds, threads,
            interleave, block, cooldown, output, as_json, op_profile):
    """Time .tflite (LiteRT) and .onnx (ONNX Runtime) MODELS on a target, on every device given; prints a table,
    --output writes the profile JSON."""
    from edgekit import fsutil
    from edgekit.config.target import load_target
    from edgekit.fleet import DeviceChoice, choose_devices, print_fleet, profile_pool
    from edgekit.fleet.inventory import INVENTORY_NAME
    from edgekit.fleet.pool import profile_document
    from edgekit.profiling.profile import ProfileSettings
    from edgekit.profiling.run import print_profiles

    options.extra["op_profiling"] = op_profile
    if output:
        fsutil.check_writable(output, "profile")  # now, not after minutes of profiling
    pool = choose_devices(load_target(target), DeviceChoice(devices=devices, devices_file=devices_file,
                                                            default_file=Path(INVENTORY_NAME), options=options,
                                                            lock_timeout_s=lock_timeout))
    settings = ProfileSettings(runs=runs, warmup=warmup, min_seconds=min_seconds, threads=threads, block=block,
                               cooldown=cooldown, op_profile=op_profile)
    fleet = profile_pool(list(models), pool, settings, interleave=interleave)
    document = profile_document(fleet)
    if as_json:
        console.write_json(document)
    elif pool.is_fleet:
        print_fleet(fleet)
    else:
        print_profiles(fleet.profiles)
    if output:  # after printing: a write that fails still leaves the measurements on screen
        with fsutil.output_errors(output.parent, "profile"):
            fsutil.write_json(output, document)
    if fleet.error() is not None:
        raise fleet.error()


# ----------------------------------------------------------------------------------------------- deploy
@main.command()
@click.argument("artifacts", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--target", required=True, help="Target name (see `edgekit targets`).")
@connection_options
@click.option("--dest", help="Folder on the device (default: your own, <target workdir>-<uid>, mode 0700).")
@quiet_option
def deploy(artifacts, target, options, devices, dest):
    """Copy ARTIFACTS to a device and verify each one's sha256 there."""
    import dataclasses

    from edgekit.adapters.deploy import deploy_artifacts

    for address in devices or [options.address]:  # several --device: each device in turn
        device_options = dataclasses.replace(options, address=address)
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
        from edgekit.inspect.quant_error import print_quant_error, quant_error_of_files

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
    from edgekit.inspect import inspect_model

    record = inspect_model(model, edgetpu=edgetpu)
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
def store_option(function):
    """--store DIR: the baseline store."""
    return click.option("--store", type=click.Path(file_okay=False, path_type=Path), default=Path(".edgekit/baselines"),
                        show_default=True, help="Folder of saved baselines (JSON lines per target, device, artifact).")(function)


@main.command()
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
            timing, target, options, devices, runs, min_seconds, block, cooldown, seed):
    """Fail when latency regressed from BASELINE to CURRENT: two profile JSONs, two manifests (artifacts matched
    by name), or two model files (.tflite or .onnx). Pairs are timed again now, interleaved, when their model files are found
    (--timing). Exit 0 ok, 1 regression, 2 bad input."""
    from edgekit.profiling.profile import ProfileSettings
    from edgekit.regress import BaselineStore, GateRequest, GateThresholds, Timing, run_gate
    from edgekit.regress.gate import record_in_build
    from edgekit.regress.junit import write_junit
    from edgekit.regress.reprofile import Reprofile
    from edgekit.regress.view import print_report

    if len(devices) > 1:
        raise click.UsageError(f"regress times pairs on one device; got {len(devices)} --device")
    expected = 1 if against_store else 2
    if len(files) != expected:
        wanted = "CURRENT (with --against-store)" if against_store else "BASELINE and CURRENT"
        raise click.UsageError(f"expected {wanted}, got {len(files)} file{'' if len(files) == 1 else 's'}")
    reprofile = Reprofile(target=target, options=options,
                          settings=ProfileSettings(runs=runs, min_seconds=min_seconds, block=block, cooldown=cooldown))
    request = GateRequest(current=files[-1], baseline=None if against_store else files[0],
                          store=BaselineStore(store) if against_store else None,
                          thresholds=GateThresholds(max_slowdown=max_slowdown, alpha=alpha, seed=seed),
                          allow_device_change=allow_device_change, fail_on_missing=fail_on_missing,
                          timing=Timing(timing), reprofile=reprofile)
    report = run_gate(request)
    if junit:
        write_junit(junit, report)
    record_in_build(report, files[-1])
    if as_json:
        console.write_json(report.to_json())
    else:
        print_report(report)
    if not report.passed:
        raise report.error()


@main.group()
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
