"""`edgekit profile`: time .tflite and .onnx files on a target through its adapter, holding the device.

(In edgekit.fleet, not edgekit.profiling: it connects through an adapter and takes the device's locks, and both
sit above the profilers; docs/architecture.md.)"""

from __future__ import annotations

import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Optional

from edgekit import console
from edgekit.adapters import ConnectionOptions
from edgekit.adapters.acceptance import check_accepted
from edgekit.config.target import Target, load_target
from edgekit.errors import InputFileError, ModelFileError
from edgekit.fleet.locks import locked_device
from edgekit.inspect.onnx_model import summarize_onnx
from edgekit.profiling.profile import ProfileSettings

TFLITE_MAGIC = b"TFL3"  # flatbuffer file identifier at bytes 4..8 of every .tflite
ONNX_SUFFIX = ".onnx"


def check_tflite_file(path: Path) -> None:
    """Refuse, before anything is pushed, a path that is not a readable .tflite file (or, named *.onnx, an ONNX
    model: see check_onnx_file).

    Raises:
        InputFileError: missing, a folder, or without the TFL3 identifier.
    """
    if not path.exists():
        raise InputFileError(f"{path}: no such file")
    if not path.is_file():
        raise InputFileError(f"{path}: is a folder, not a model file")
    if path.suffix.lower() == ONNX_SUFFIX:
        check_onnx_file(path)
        return
    with open(path, "rb") as handle:
        head = handle.read(8)
    if len(head) < 8 or head[4:8] != TFLITE_MAGIC:
        raise InputFileError(f"{path}: not a TFLite model (no 'TFL3' flatbuffer identifier); edgekit profiles "
                             f".tflite files with LiteRT and .onnx files with ONNX Runtime")


def check_onnx_file(path: Path) -> None:
    """Refuse an .onnx path that does not parse as an ONNX model (protobuf with an opset and a graph).

    Raises:
        InputFileError: with what is wrong with it.
    """
    try:
        summarize_onnx(path)
    except ModelFileError as error:
        raise InputFileError(str(error)) from None


def profile_models(
    models: list[Path],
    target: Target | str,
    options: ConnectionOptions,
    settings: ProfileSettings,
    *,
    interleave: bool = False,
    lock_timeout_s: Optional[float] = None,
) -> list[dict[str, Any]]:
    """Profile each model on the target; returns one profile JSON per model, in order.

    With `interleave`, all models run in one profiler process, alternating blocks of runs,
    so that slow drift of the device affects them equally. The device is held (edgekit.fleet.locks)
    while it is used; another edgekit process using it is waited for, at most `lock_timeout_s`.

    Raises:
        InputFileError: a model file is missing, or not a .tflite or .onnx model.
        DeviceBusy: the device stayed busy for longer than `lock_timeout_s`.
        DeviceError: the device cannot be reached or failed.
    """
    target = load_target(target) if isinstance(target, str) else target
    check_models(models, target)
    return profile_on_device(models, target, options, settings, interleave=interleave, lock_timeout_s=lock_timeout_s)


def check_models(models: list[Path], target: Target) -> None:
    """Refuse, before connecting, a model that is not a .tflite or .onnx model or that the target cannot run.

    Raises:
        InputFileError, ArtifactNotAccepted: nothing is pushed for such a model.
    """
    for model in models:
        check_tflite_file(model)
        check_accepted(target, model)


def profile_on_device(
    models: list[Path],
    target: Target,
    options: ConnectionOptions,
    settings: ProfileSettings,
    *,
    interleave: bool = False,
    lock_timeout_s: Optional[float] = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Profile already checked models on one device, holding it; each profile records when it was measured
    (`measured_at`: start and end, Unix seconds of this machine's clock). Without `progress`, one line per
    model instead of a progress bar (several devices at once cannot share one bar)."""
    with locked_device(target, options, lock_timeout_s) as session:
        adapter = session.adapter
        if interleave and len(models) > 1:
            console.info(f"profiling {len(models)} models interleaved on {target.name} ({adapter.address})")
            return _measured(adapter, models, settings)
        profiles = []
        bar = console.steps(f"profiling on {target.name}", len(models)) if progress else nullcontext(None)
        with bar as steps:
            for index, model in enumerate(models, start=1):
                profiles.extend(_measured(adapter, [model], settings))
                if steps is not None:
                    steps.advance()
                else:
                    console.info(f"{adapter.address}: {model.name} median {_cell(profiles[-1].get('median_ms'))} ms "
                                 f"({index}/{len(models)})")
        return profiles


def _measured(adapter, models: list[Path], settings: ProfileSettings) -> list[dict[str, Any]]:
    started = time.time()
    profiles = adapter.profile(models, settings)
    window = {"start": round(started, 3), "end": round(time.time(), 3)}
    for profile in profiles:
        profile["measured_at"] = dict(window)
    return profiles


def print_profiles(profiles: list[dict[str, Any]]) -> None:
    """A table: model, runtime, runs, median, p90, p99, mean ± std, min, init, first inference, RAM growth; then
    the slowest op types of the profiles that have per-op times."""
    from rich.table import Table

    table = Table(title_justify="left")
    if profiles:
        device = profiles[0]["device"]
        table.title = console.cell(f"{profiles[0]['target']} · {device.get('address')} · {device.get('machine')} · "
                                   f"{device.get('runtime')} {device.get('runtime_version')} · threads "
                                   f"{profiles[0]['threads']}")
    for column in ("model", "runtime", "runs", "median ms", "p90 ms", "p99 ms", "mean ± std ms", "min ms", "init ms",
                   "first ms", "RAM MB"):
        table.add_column(column, justify="left" if column in ("model", "runtime") else "right")
    for profile in profiles:
        table.add_row(
            console.cell(Path(profile["model"]["path"]).name),  # escaped: as wide as it is printed
            console.cell((profile.get("device") or {}).get("runtime") or "-"),
            str(profile["runs"]),
            _cell(profile.get("median_ms")),
            _cell(profile.get("p90_ms")),
            _cell(profile.get("p99_ms")),
            f"{_cell(profile.get('mean_ms'))} ± {_cell(profile.get('std_ms'), '.2g')}",
            _cell(profile.get("min_ms")),
            _cell(profile.get("init_ms")),
            _cell(profile.get("first_ms")),
            _cell((profile.get("memory") or {}).get("rss_growth_mb"), ".3g"),
        )
    console.out.print(table)
    for profile in profiles:
        if profile.get("op_types"):
            slowest = ", ".join(f"{entry['node_type']} {entry['avg_ms']:.3g} ms ({entry['percent']:.0f}%)"
                                for entry in profile["op_types"][:5])
            console.out.print(f"{Path(profile['model']['path']).name}: slowest op types: {slowest}", soft_wrap=True,
                              markup=False)


def _cell(value: Any, spec: str = ".4g") -> str:
    # benchmark_model (Android) reports no p90/p99, and a median only in newer builds: shown as "-".
    return "-" if value is None else format(value, spec)
