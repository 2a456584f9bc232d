"""`edgekit build`: run the stages in order, reusing cached ones, then write the manifest and the report."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from edgekit import console, fsutil
from edgekit.base import interrupts
from edgekit.base.version import __version__
from edgekit.fsutil import sha256_bytes, write_text
from edgekit.adapters import ConnectionOptions
from edgekit.adapters.registry import adapter_class
from edgekit.config.loader import load_config
from edgekit.config.schema import Distribute
from edgekit.config.target import load_target
from edgekit.config.yamlsource import did_you_mean
from edgekit.errors import ConfigError, EdgekitError
from edgekit.fleet.inventory import INVENTORY_NAME, DeviceChoice, DevicePool, choose_devices
from edgekit.pipeline.cache import STATE_FOLDER, StageCache
from edgekit.pipeline.context import BuildContext
from edgekit.pipeline.graph import ReadLog, StageSpec
from edgekit.pipeline.lock import BuildLock
from edgekit.pipeline.stages import ORDER, STAGES
from edgekit.pipeline.stages.common import forget_replicated_models
from edgekit.pipeline.manifest import build_manifest, final_error, write_manifest
from edgekit.profiling.samples import externalize_samples, remove_stale_samples


@dataclass
class BuildRequest:
    """What `edgekit build` was asked to do."""

    config_path: Path = Path("edgekit.yaml")
    target: str = "host"
    devices: list[str] = field(default_factory=list)
    ssh_config: Optional[Path] = None
    remote_python: Optional[str] = None
    out: Optional[Path] = None
    force: Optional[str] = None
    devices_file: Optional[Path] = None
    lock_timeout_s: Optional[float] = None
    # CI jobs that must measure: refuse before any training when a target reached over ssh/adb has no device.
    require_device: bool = False
    # Tests: record the configuration keys each stage reads (BuildResult.config_reads), to hold them to their
    # declarations (edgekit.pipeline.graph).
    record_config_reads: bool = False


@dataclass
class BuildResult:
    """A finished build; `manifest` is None on a non-chief worker of a multi-worker build."""

    manifest: Optional[dict[str, Any]]
    build_dir: Optional[Path]
    manifest_path: Optional[Path]
    report_path: Optional[Path]
    gate_error: Optional[EdgekitError]
    # With BuildRequest.record_config_reads: {stage: the config keys it read}
    config_reads: Optional[ReadLog] = None


def run_build(request: BuildRequest) -> BuildResult:
    """Build every artifact of a configuration, check it, profile it, and write manifest and report.

    The accuracy gate does not raise: its error is returned in `BuildResult.gate_error`, after
    every file was written, so the caller decides how to end (the CLI exits with 1).

    Raises:
        EdgekitError: bad configuration, data, model, device, or a tool failure.
    """
    loaded = load_config(request.config_path)
    target = load_target(request.target)
    if request.force is not None and request.force not in STAGES:
        raise ConfigError(f"--force {request.force}: no such stage{did_you_mean(request.force, STAGES)}; "
                          f"stages: {', '.join(STAGES)}")
    pool = _connection(request, target, loaded.directory)
    connection = pool.first
    build_dir = (request.out or loaded.directory / "build" / target.name).resolve()
    from edgekit._tf import tool_versions

    tools = tool_versions()
    distribution = None
    fresh: tuple[str, ...] = ()
    if loaded.config.train.distribute is Distribute.MULTI_WORKER:
        from edgekit.pipeline.distribute import choose_distribution

        # Before any other TensorFlow work: MultiWorkerMirroredStrategy must configure the runtime first.
        distribution = choose_distribution(loaded.config.train.distribute)
        if not distribution.is_chief:
            return _run_worker(loaded, target, connection, tools, distribution)
        # Every worker must take part in every training step: a chief that reused its cached training
        # while the others train would leave them waiting forever. So with several workers, train,
        # prune and QAT always run.
        fresh = ("train", "prune", "qat")
    # A full disk or a read-only --out is one message (DiskFull, exit 3; OutputNotWritable, exit 2); every file is
    # written to a temporary name and renamed, so what the last build wrote stays whole and is reused next time.
    with fsutil.output_errors(build_dir, "build"), BuildLock(build_dir / STATE_FOLDER / "build.lock"):
        cache = StageCache(build_dir, force_from=request.force, order=STAGES, always_run=fresh, keep_previous=True)
        cache.clean_stale_temporaries()
        try:
            return _build_in(cache, request, loaded, target, build_dir, connection, tools, distribution, pool)
        except BaseException as error:
            if fsutil.is_write_failure(error):
                cache.roll_back()  # the last build's outputs and records, as its manifest describes them
            raise
        finally:
            cache.finish()


def _build_in(cache: StageCache, request: BuildRequest, loaded, target, build_dir: Path, connection, tools, distribution,
              pool: DevicePool) -> BuildResult:
    """The stages, the manifest and the report, into `build_dir` (held by the caller's lock)."""
    ctx = BuildContext(loaded=loaded, target=target, build_dir=build_dir, cache=cache, connection=connection,
                       tools=tools, chosen_distribution=distribution, pool=pool,
                       read_log=ReadLog() if request.record_config_reads else None)
    console.info(f"edgekit build [bold]{loaded.config.name}[/bold] → {build_dir} (target {target.name})")
    _run_stages(ctx, ORDER)
    manifest = externalize_samples(build_dir, build_manifest(ctx))
    manifest_path = write_manifest(build_dir, manifest)
    remove_stale_samples(build_dir, manifest)
    cache.finish()  # the new manifest describes the new outputs: nothing to roll back to any more
    _write_node_data(build_dir, manifest)
    report_path = _write_report(build_dir)
    return BuildResult(manifest=manifest, build_dir=build_dir, manifest_path=manifest_path, report_path=report_path,
                       gate_error=final_error(manifest), config_reads=ctx.read_log)


def _run_stages(ctx: BuildContext, order: tuple[StageSpec, ...]) -> None:
    """Every stage in `order` that this build runs; a stage that does not run leaves its `skipped` result, if any.

    After the stages every worker runs (data, train, prune, QAT), the models made in a distribution strategy's
    scope are dropped, so the later stages load plain copies.
    """
    for index, spec in enumerate(order):
        interrupts.check()  # a Ctrl-C that a finalizer swallowed (edgekit.base.interrupts)
        if spec.enabled(ctx):
            _run_stage(ctx, spec)
        elif spec.skipped is not None:
            ctx.results[spec.name] = spec.skipped(ctx)
        if spec.every_worker and not (index + 1 < len(order) and order[index + 1].every_worker):
            forget_replicated_models(ctx)


def run_declared_stages(ctx: BuildContext, skip: set[str]) -> None:
    """The build's stages in their derived order, leaving out those named in `skip` (edgekit tune builds
    candidates this way and times them itself)."""
    _run_stages(ctx, tuple(spec for spec in ORDER if spec.name not in skip))


def _run_worker(loaded, target, connection, tools, distribution) -> BuildResult:
    """A non-chief worker trains alongside the chief, in a private temporary folder, and writes nothing."""
    with tempfile.TemporaryDirectory(prefix=f"edgekit-worker-{distribution.worker_index}-") as folder:
        build_dir = Path(folder)
        cache = StageCache(build_dir, always_run=("train", "prune", "qat"))
        ctx = BuildContext(loaded=loaded, target=target, build_dir=build_dir, cache=cache, connection=connection,
                           tools=tools, chosen_distribution=distribution)
        console.info(f"edgekit build {loaded.config.name}: worker {distribution.worker_index} of "
                     f"{distribution.workers}; the chief writes the artifacts")
        _run_stages(ctx, tuple(spec for spec in ORDER if spec.every_worker))
    console.info(f"worker {distribution.worker_index}: training done")
    return BuildResult(manifest=None, build_dir=None, manifest_path=None, report_path=None, gate_error=None)


def _run_stage(ctx: BuildContext, spec: StageSpec) -> None:
    if ctx.read_log is not None:
        ctx.read_log.start(spec.name, spec.config_reads(ctx), spec.ignores)
    try:
        result = spec.run(ctx)
    finally:
        if ctx.read_log is not None:
            ctx.read_log.stage = None
    ctx.results[spec.name] = result
    if result.cached:
        console.info(f"[dim]{spec.name}: cached ({result.seconds:.1f} s when it ran)[/dim]")


def _connection(request: BuildRequest, target, config_folder: Path) -> DevicePool:
    """The devices to profile on (every --device, else the target's in devices.yaml next to the config, or
    --devices FILE); refused before any training when the target needs an address and has none."""
    adapter_class(target.adapter)  # an unknown or unavailable adapter fails now, not after training
    choice = DeviceChoice(devices=request.devices, devices_file=request.devices_file,
                          default_file=config_folder / INVENTORY_NAME,
                          options=ConnectionOptions(ssh_config=request.ssh_config, remote_python=request.remote_python),
                          lock_timeout_s=request.lock_timeout_s, default_file_may_run_programs=True)
    pool = choose_devices(target, choice)
    if pool.first.address is None and target.adapter != "local" and request.require_device:
        raise ConfigError(f"target {target.name} is reached over {target.adapter} and --require-device is set: "
                          f"give --device (e.g. --device pi@raspberrypi.local), or list its devices in "
                          f"{INVENTORY_NAME}")
    return pool


def _write_node_data(build_dir: Path, manifest: dict[str, Any]) -> None:
    """Model Explorer overlays of every artifact that has per-node numbers (edgekit.report.model_explorer)."""
    from edgekit.report.model_explorer import write_node_data

    write_node_data(build_dir, manifest)


def _write_report(build_dir: Path) -> Optional[Path]:
    """Write report.html, unless it already shows exactly this manifest and these verdicts.

    Drawing the plots is most of an unchanged rebuild's time; the page depends only on these files.
    """
    try:
        from edgekit.report import REPORT_NAME, write_report
    except ImportError:
        return None
    inputs = [build_dir / "manifest.json", build_dir / "regress.json"]
    key = sha256_bytes(b"".join(path.read_bytes() for path in inputs if path.exists()) + __version__.encode())
    key_file = build_dir / STATE_FOLDER / "report.sha256"
    report = build_dir / REPORT_NAME
    if report.exists() and key_file.is_file() and key_file.read_bytes() == key.encode():  # bytes: any content is fine
        return report
    path = write_report(build_dir)
    write_text(key_file, key)
    return path
