"""`edgekit build`: run the stages in order, reusing cached ones, then write the manifest and the report."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from edgekit import console
from edgekit.adapters import ConnectionOptions
from edgekit.adapters.registry import adapter_class
from edgekit.config.loader import load_config
from edgekit.config.target import load_target
from edgekit.config.yamlsource import did_you_mean
from edgekit.errors import ConfigError, EdgekitError
from edgekit.pipeline import stages
from edgekit.pipeline.cache import STATE_FOLDER, StageCache
from edgekit.pipeline.context import STAGES, BuildContext
from edgekit.pipeline.lock import BuildLock
from edgekit.pipeline.manifest import build_manifest, gate_error, write_manifest


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


@dataclass
class BuildResult:
    manifest: dict[str, Any]
    build_dir: Path
    manifest_path: Path
    report_path: Optional[Path]
    gate_error: Optional[EdgekitError]


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
    connection = _connection(request, target)
    build_dir = (request.out or loaded.directory / "build" / target.name).resolve()
    from edgekit._tf import tool_versions

    tools = tool_versions()
    with BuildLock(build_dir / STATE_FOLDER / "build.lock"):
        cache = StageCache(build_dir, force_from=request.force, order=STAGES)
        cache.clean_stale_temporaries()
        ctx = BuildContext(loaded=loaded, target=target, build_dir=build_dir, cache=cache, connection=connection,
                           tools=tools)
        console.info(f"edgekit build [bold]{loaded.config.name}[/bold] → {build_dir} (target {target.name})")
        _run_stage(ctx, "data", stages.data_stage)
        _run_stage(ctx, "train", stages.train_stage)
        if loaded.config.prune.enabled:
            _run_stage(ctx, "prune", stages.prune_stage)
        if loaded.config.qat.enabled:
            _run_stage(ctx, "qat", stages.qat_stage)
        _run_stage(ctx, "export", stages.export_stage)
        _run_stage(ctx, "evaluate", stages.evaluate_stage)
        _run_stage(ctx, "profile", stages.profile_stage)
        manifest = build_manifest(ctx)
        manifest_path = write_manifest(build_dir, manifest)
        report_path = _write_report(build_dir)
    return BuildResult(manifest=manifest, build_dir=build_dir, manifest_path=manifest_path, report_path=report_path,
                       gate_error=gate_error(manifest))


def _run_stage(ctx: BuildContext, name: str, function) -> None:
    result = function(ctx)
    ctx.results[name] = result
    if result.cached:
        console.info(f"[dim]{name}: cached ({result.seconds:.1f} s when it ran)[/dim]")


def _connection(request: BuildRequest, target) -> ConnectionOptions:
    """How to reach the device; refused before any training when the target needs an address and has none."""
    adapter_class(target.adapter)  # an unknown or unavailable adapter fails now, not after training
    if len(request.devices) > 1:
        raise ConfigError(f"{len(request.devices)} --device given; a build profiles on one device")
    address = request.devices[0] if request.devices else None
    if address is None and target.adapter != "local":
        raise ConfigError(f"target {target.name} is reached over {target.adapter}: give --device "
                          f"(e.g. --device pi@raspberrypi.local)")
    return ConnectionOptions(address=address, ssh_config=request.ssh_config, remote_python=request.remote_python)


def _write_report(build_dir: Path) -> Optional[Path]:
    try:
        from edgekit.report import write_report
    except ImportError:
        return None
    return write_report(build_dir)


