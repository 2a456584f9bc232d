"""The profile stage: every artifact the target accepts, timed on the device (or on each device of a pool)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.markup import escape as markup_escape

from edgekit import console
from edgekit.config.formats import FORMATS, Format, Profiler, Quantization
from edgekit.errors import RuntimeMissing
from edgekit.pipeline.cache import StageResult
from edgekit.pipeline.context import BuildContext
from edgekit.pipeline.graph import StageSpec
from edgekit.pipeline.results import ExportedArtifact, ProfileOutput
from edgekit.pipeline.stages.common import run_declared


def profile_stage(ctx: BuildContext) -> StageResult:
    from edgekit.fleet import DevicePool, profile_pool
    from edgekit.profiling.profile import ProfileSettings

    config = ctx.config
    export = ctx.results.export
    pool = ctx.pool or DevicePool(ctx.target, [ctx.connection])
    artifacts = export.output.artifacts
    chosen = [artifact for artifact in artifacts if refusal_of(ctx.target, artifact) is None]
    skipped = {artifact.name: refusal_of(ctx.target, artifact)
               for artifact in artifacts if artifact not in chosen}

    def produce(work: Path) -> dict[str, Any]:
        settings = ProfileSettings(runs=config.profile.runs, warmup=config.profile.warmup,
                                   min_seconds=config.profile.min_seconds, threads=config.profile.threads,
                                   op_profile=config.profile.op_profile)
        by_device: dict[str, dict[str, Any]] = {}
        fleets = []
        runtime_missing = False
        # LiteRT first, then ONNX Runtime: a board without onnxruntime still gets its .tflite profiles, and the
        # .onnx artifacts are skipped with the reason (not cached, so installing onnxruntime is enough).
        for group in _runtime_groups(chosen):
            paths = [export.path(artifact.file) for artifact in group]
            try:
                fleet = profile_pool(paths, pool, settings)
            except RuntimeMissing as error:
                if not FORMATS[Format(group[0].format)].optional_on_device:
                    raise
                console.warn(f"profile: {', '.join(a.name for a in group)} not profiled: {error}")
                skipped.update({artifact.name: f"not profiled: {error}" for artifact in group})
                runtime_missing = True
                continue
            fleets.append(fleet)
            for run in fleet.succeeded:
                for profile in run.profiles:
                    # Paths in the manifest are relative to the build folder, so the folder can move.
                    profile["model"]["path"] = str(Path(profile["model"]["path"]).relative_to(ctx.build_dir))
                by_device.setdefault(run.address, {}).update(
                    {artifact.name: profile for artifact, profile in zip(group, run.profiles)})
        if not fleets:
            meta = {"profiles": {}, "skipped": skipped}
            if runtime_missing:
                raise _ProfiledInPart(meta)
            return meta
        # A device that failed either runtime's models is dropped whole, as a device that fails mid-run is.
        failures = {failure["address"]: failure for fleet in fleets for failure in fleet.failures()}
        by_device = {address: profiles for address, profiles in by_device.items() if address not in failures}
        meta = {"profiles": next(iter(by_device.values()), {}), "skipped": skipped}
        failed = list(failures.values())
        if pool.is_fleet:
            meta["devices"] = [run.profiles[0]["device"] for run in fleets[0].succeeded if run.address in by_device]
            meta["devices_failed"] = failed
            meta["profiles_by_device"] = by_device
        if failed or runtime_missing:
            raise _ProfiledInPart(meta)
        return meta

    started = time.perf_counter()
    try:
        return run_declared(ctx, PROFILE, produce)
    except _ProfiledInPart as partial:
        # Not recorded in the cache: the next build profiles again, on every device.
        return StageResult("profile", "", ctx.build_dir / "profile", {}, partial.meta, time.perf_counter() - started,
                           cached=False, output=ProfileOutput.model_validate(partial.meta))


def profile_not_run(ctx: BuildContext) -> StageResult:
    """The profile stage of a build for a device-reached target without a device: every artifact is built and
    checked, none is timed; the manifest says why and the console says how to profile later."""
    artifacts = ctx.results.export.output.artifacts
    reason = (f"no device given for target {ctx.target.name} (reached over {ctx.target.adapter}); "
              f"build with --device ADDR, or profile later")
    files = sorted({_shown_path(ctx.results.export.path(artifact.file)) for artifact in artifacts
                    if refusal_of(ctx.target, artifact) is None})
    later = f"edgekit profile {' '.join(files) or 'MODEL'} --target {ctx.target.name} --device ADDR"
    console.info(f"profile: skipped, no device for target {ctx.target.name}; to time these artifacts later: "
                 f"{markup_escape(later)}")
    skipped = {artifact.name: refusal_of(ctx.target, artifact) or reason
               for artifact in artifacts}
    meta = {"profiles": {}, "skipped": skipped, "not_run": {"reason": reason, "command": later}}
    return StageResult("profile", "", ctx.build_dir / "profile", {}, meta, 0.0, cached=False,
                       output=ProfileOutput.model_validate(meta))


def _shown_path(path: Path) -> str:
    """`path` relative to the current folder when it is below it (shorter to copy), else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _runtime_groups(artifacts: list[ExportedArtifact]) -> list[list[ExportedArtifact]]:
    """The artifacts grouped by the runtime that times them (FORMATS[format].profiler), in Profiler's order:
    LiteRT first, then ONNX Runtime (empty groups left out)."""
    groups: dict[Profiler, list[ExportedArtifact]] = {profiler: [] for profiler in Profiler}
    for artifact in artifacts:
        groups[FORMATS[Format(artifact.format)].profiler].append(artifact)
    return [group for group in groups.values() if group]


def refusal_of(target, artifact: ExportedArtifact) -> str | None:
    """Why `target` cannot run an exported artifact, or None when it can."""
    return target.refuses(Format(artifact.format), Quantization(artifact.quantization))


class _ProfiledInPart(Exception):
    """Some devices of the pool failed: what the others measured goes into the manifest, never into the cache."""

    def __init__(self, meta: dict[str, Any]):
        super().__init__("profiled in part")
        self.meta = meta


def has_device(ctx: BuildContext) -> bool:
    """Whether the profile stage can run: the target runs here, or a device address was given."""
    return ctx.target.adapter == "local" or ctx.connection.address is not None


PROFILE = StageSpec(
    name="profile", run=profile_stage, output=ProfileOutput, upstream=("export",),
    reads=("profile",), inputs=("target", "device", "devices", "tools"),
    # Timing comes last: a device that fails or is slow never holds back the artifacts' own checks.
    after=("evaluate", "diagnose"),
    enabled=has_device, skipped=profile_not_run)
