"""edgekit's Python API: what the `edgekit` command does, as functions (the CLI is a thin layer over these).

    import edgekit
    manifest = edgekit.build("edgekit.yaml", target="rpi4", device="pi@raspberrypi.local")
    print(manifest.artifact("tflite-int8").latency.median_ms)

Keyword arguments mirror the CLI's flags (`--min-seconds` is `min_seconds`). Errors are EdgekitError subclasses
(edgekit.errors), each with the `exit_code` the CLI exits with: ConfigError, DataError, ModelError (2: bad input),
InputFileError and its ManifestError (2), GateFailed/AccuracyGateFailed (1: a gate failed), DeviceError and its
subclasses, ToolError, ExportError (3: a device or tool failed). Every import of TensorFlow waits for the call
that needs it: `import edgekit` stays light.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence, Union

from pydantic import BaseModel, ConfigDict

from edgekit.errors import EdgekitError, ExitCode
from edgekit.manifest import Manifest, Profile, load_manifest

if TYPE_CHECKING:  # pragma: no cover
    from edgekit.regress.compare import GateReport

PathLike = Union[str, Path]
Devices = Union[str, Sequence[str], None]

__all__ = ["BuildOutcome", "ProfileDocument", "ProfileOutcome", "RegressResult", "build", "build_outcome", "inspect",
           "load_manifest", "profile", "profile_outcome", "regress"]


def _device_list(device: Devices) -> list[str]:
    return [device] if isinstance(device, str) else list(device or [])


# ----------------------------------------------------------------------------------------------- build
@dataclass
class BuildOutcome:
    """A finished build: its manifest (None on a non-chief worker of a multi-worker build), where its files are,
    and the error it ends with (a failed accuracy gate, devices of a pool that failed), raised by `build`."""

    manifest: Optional[Manifest]
    build_dir: Optional[Path]
    manifest_path: Optional[Path]
    report_path: Optional[Path]
    error: Optional[EdgekitError]


def build_outcome(config: PathLike = "edgekit.yaml", *, target: str = "host", device: Devices = None,
                  ssh_config: Optional[PathLike] = None, remote_python: Optional[str] = None,
                  devices_file: Optional[PathLike] = None, lock_timeout: Optional[float] = None,
                  out: Optional[PathLike] = None, force: Optional[str] = None,
                  require_device: bool = False) -> BuildOutcome:
    """Build, check and profile every artifact of an edgekit.yaml; a failed gate is returned, not raised.

    Raises:
        EdgekitError: bad configuration, data or model (2), a device or tool that failed (3).
    """
    from edgekit.pipeline.runner import BuildRequest, run_build

    request = BuildRequest(config_path=Path(config), target=target, devices=_device_list(device),
                           ssh_config=Path(ssh_config) if ssh_config else None, remote_python=remote_python,
                           out=Path(out) if out else None, force=force,
                           devices_file=Path(devices_file) if devices_file else None, lock_timeout_s=lock_timeout,
                           require_device=require_device)
    result = run_build(request)
    manifest = None if result.manifest is None else Manifest.model_validate(result.manifest)
    return BuildOutcome(manifest=manifest, build_dir=result.build_dir, manifest_path=result.manifest_path,
                        report_path=result.report_path, error=result.gate_error)


def build(config: PathLike = "edgekit.yaml", *, target: str = "host", device: Devices = None,
          ssh_config: Optional[PathLike] = None, remote_python: Optional[str] = None,
          devices_file: Optional[PathLike] = None, lock_timeout: Optional[float] = None,
          out: Optional[PathLike] = None, force: Optional[str] = None, require_device: bool = False,
          check: bool = True) -> Optional[Manifest]:
    """`edgekit build`: train, prune, QAT, export, evaluate and profile; write manifest.json and report.html.

    Args:
        config: the edgekit.yaml. target: a target name (`edgekit targets`). device: an address
            (`user@host[:port]`, an ssh alias, an adb serial), or several. out: the build folder (default
            build/<target> next to the config). force: ignore the stage cache from this stage on.
        check: raise the build's final error (a failed accuracy gate: AccuracyGateFailed, exit code 1) after
            every file was written; with False, return the manifest and let `manifest.gate.passed` tell.

    Returns:
        The manifest (None on a non-chief worker of a multi-worker build, whose chief writes it).

    Raises:
        EdgekitError: as the CLI's exit codes say (2 bad input, 3 a device or tool failed, 1 the gate with check).
    """
    outcome = build_outcome(config, target=target, device=device, ssh_config=ssh_config, remote_python=remote_python,
                            devices_file=devices_file, lock_timeout=lock_timeout, out=out, force=force,
                            require_device=require_device)
    if check and outcome.error is not None:
        raise outcome.error
    return outcome.manifest


# ----------------------------------------------------------------------------------------------- profile
class ProfileDocument(BaseModel):
    """What `edgekit profile --output` writes: {"profiles": [...]}, and with several devices the fleet's keys
    (typed where known; edgekit's own output, so a key added later is kept, not refused)."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    profiles: list[Profile]
    devices: Optional[list[dict[str, Any]]] = None
    devices_failed: Optional[list[dict[str, Any]]] = None
    profiles_by_device: Optional[dict[str, list[Profile]]] = None
    fleet: Optional[list[dict[str, Any]]] = None

    def document(self) -> dict[str, Any]:
        """The JSON data, with exactly the keys it was made with."""
        return self.model_dump(mode="python", exclude_unset=True)


@dataclass
class ProfileOutcome:
    """The profile document, the run it came from (for printing), and the error of devices that failed."""

    document: ProfileDocument
    run: Any = field(repr=False)  # edgekit.fleet.pool.FleetRun
    error: Optional[EdgekitError] = None


def profile_outcome(models: Sequence[PathLike], *, target: str = "host", device: Devices = None,
                    ssh_config: Optional[PathLike] = None, remote_python: Optional[str] = None,
                    benchmark_binary: Optional[PathLike] = None, devices_file: Optional[PathLike] = None,
                    lock_timeout: Optional[float] = None, runs: int = 100, warmup: int = 10,
                    min_seconds: float = 1.0, threads: Optional[int] = None, interleave: bool = False,
                    block: int = 10, cooldown: float = 0.0, op_profile: bool = False) -> ProfileOutcome:
    """Time models on every device given; the failure of some devices of a pool is returned, not raised.

    Raises:
        EdgekitError: a model that cannot be profiled (2), a device that failed (3).
    """
    from edgekit.adapters import ConnectionOptions
    from edgekit.config.target import load_target
    from edgekit.fleet import DeviceChoice, choose_devices, profile_pool
    from edgekit.fleet.inventory import INVENTORY_NAME
    from edgekit.fleet.pool import profile_document
    from edgekit.profiling.profile import ProfileSettings

    devices = _device_list(device)
    options = ConnectionOptions(address=devices[0] if devices else None,
                                ssh_config=Path(ssh_config) if ssh_config else None, remote_python=remote_python,
                                benchmark_binary=Path(benchmark_binary) if benchmark_binary else None)
    pool = choose_devices(load_target(target), DeviceChoice(devices=devices,
                                                            devices_file=Path(devices_file) if devices_file else None,
                                                            default_file=Path(INVENTORY_NAME), options=options,
                                                            lock_timeout_s=lock_timeout))
    settings = ProfileSettings(runs=runs, warmup=warmup, min_seconds=min_seconds, threads=threads, block=block,
                               cooldown=cooldown, op_profile=op_profile)
    run = profile_pool([Path(model) for model in models], pool, settings, interleave=interleave)
    document = ProfileDocument.model_validate(profile_document(run))
    return ProfileOutcome(document=document, run=run, error=run.error())


def profile(models: Union[PathLike, Sequence[PathLike]], *, output: Optional[PathLike] = None,
            **options: Any) -> ProfileDocument:
    """`edgekit profile`: time .tflite (LiteRT) and .onnx (ONNX Runtime) models on a target.

    Args:
        models: one model file or several. output: also write the document there (JSON, atomically).
        options: as `profile_outcome` (target, device, runs, warmup, min_seconds, threads, interleave, ...).

    Returns:
        The document `--output` writes: `document.profiles[0].median_ms`.

    Raises:
        EdgekitError: a model that cannot be profiled (2), a device that failed (3; with a pool, after `output`
            was written with what the other devices measured).
    """
    from edgekit import fsutil

    paths = [models] if isinstance(models, (str, Path)) else list(models)
    if output is not None:
        fsutil.check_writable(Path(output), "profile")  # now, not after minutes of profiling
    outcome = profile_outcome(paths, **options)
    if output is not None:
        write_profile_document(Path(output), outcome.document)
    if outcome.error is not None:
        raise outcome.error
    return outcome.document


def write_profile_document(path: Path, document: ProfileDocument) -> None:
    """Write a profile document as JSON, atomically (errors: OutputError, naming the folder)."""
    from edgekit import fsutil

    with fsutil.output_errors(path.parent, "profile"):
        fsutil.write_json(path, document.document())


# ----------------------------------------------------------------------------------------------- regress
@dataclass
class RegressResult:
    """The latency gate's verdicts. `exit_code` is the CLI's: 0 passed, 1 a regression (or a missing artifact
    with fail_on_missing)."""

    report: "GateReport"

    @property
    def passed(self) -> bool:
        return self.report.passed

    @property
    def exit_code(self) -> int:
        return ExitCode.OK if self.passed else ExitCode.GATE_FAILED

    @property
    def rows(self) -> list:
        """One GateRow per artifact: verdict, medians, ratio and its confidence interval, p-value."""
        return self.report.rows

    def to_json(self) -> dict[str, Any]:
        """What `edgekit regress --json` prints."""
        return self.report.to_json()


def regress(baseline: Optional[PathLike], current: PathLike, *, max_slowdown: float = 0.05, alpha: float = 0.01,
            junit: Optional[PathLike] = None, allow_device_change: bool = False, fail_on_missing: bool = False,
            store: Optional[PathLike] = None, timing: str = "auto", target: Optional[str] = None,
            device: Optional[str] = None, ssh_config: Optional[PathLike] = None, remote_python: Optional[str] = None,
            benchmark_binary: Optional[PathLike] = None, runs: int = 100, min_seconds: float = 1.0, block: int = 10,
            cooldown: float = 0.0, seed: int = 0) -> RegressResult:
    """`edgekit regress`: did latency regress from `baseline` to `current` (profile JSONs, manifests or model files)?

    Args:
        baseline: None to compare with the latest baseline saved in `store` (`--against-store`).
        timing: "interleaved", "recorded" or "auto" (as --timing).
        junit: also write JUnit XML there. The verdicts are kept beside a build's manifest (regress.json).

    Returns:
        The verdicts; a regression is `result.passed is False` (exit code 1), not an exception.

    Raises:
        InputFileError: (2) a file that is missing or not edgekit's; DeviceError (3) when re-timing fails.
    """
    from edgekit.adapters import ConnectionOptions
    from edgekit.profiling.profile import ProfileSettings
    from edgekit.regress import BaselineStore, GateRequest, GateThresholds, Timing, run_gate
    from edgekit.regress.gate import record_in_build
    from edgekit.regress.junit import write_junit
    from edgekit.regress.reprofile import Reprofile

    if baseline is None and store is None:
        store = Path(".edgekit/baselines")
    options = ConnectionOptions(address=device, ssh_config=Path(ssh_config) if ssh_config else None,
                                remote_python=remote_python,
                                benchmark_binary=Path(benchmark_binary) if benchmark_binary else None)
    reprofile = Reprofile(target=target, options=options,
                          settings=ProfileSettings(runs=runs, min_seconds=min_seconds, block=block, cooldown=cooldown))
    request = GateRequest(current=Path(current), baseline=None if baseline is None else Path(baseline),
                          store=BaselineStore(Path(store)) if baseline is None else None,
                          thresholds=GateThresholds(max_slowdown=max_slowdown, alpha=alpha, seed=seed),
                          allow_device_change=allow_device_change, fail_on_missing=fail_on_missing,
                          timing=Timing(timing), reprofile=reprofile)
    report = run_gate(request)
    if junit:
        write_junit(Path(junit), report)
    record_in_build(report, Path(current))
    return RegressResult(report)


# ----------------------------------------------------------------------------------------------- inspect
def inspect(model: PathLike, *, edgetpu: bool = False) -> dict[str, Any]:
    """`edgekit inspect`: ops, tensors, dtypes, quantization and sizes of a .tflite or .onnx file.

    Returns:
        The record `edgekit inspect --json` prints (with `edgetpu`: the Edge TPU mapping estimate too).

    Raises:
        ModelFileError: (2) missing, not a model, truncated or corrupt. ArtifactNotAccepted: edgetpu on ONNX.
    """
    from edgekit.inspect import inspect_model

    return inspect_model(Path(model), edgetpu=edgetpu)
