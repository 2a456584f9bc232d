"""`edgekit profile`: time .tflite files on a target through its adapter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit import console, fsutil
from edgekit.adapters import ConnectionOptions, open_adapter
from edgekit.adapters.acceptance import check_accepted
from edgekit.config.target import Target, load_target
from edgekit.errors import InputFileError
from edgekit.profiling.profile import ProfileSettings

TFLITE_MAGIC = b"TFL3"  # flatbuffer file identifier at bytes 4..8 of every .tflite


def check_tflite_file(path: Path) -> None:
    """Refuse, before anything is pushed, a path that is not a readable .tflite file.

    Raises:
        InputFileError: missing, a folder, or without the TFL3 identifier.
    """
    if not path.exists():
        raise InputFileError(f"{path}: no such file")
    if not path.is_file():
        raise InputFileError(f"{path}: is a folder, not a .tflite file")
    with open(path, "rb") as handle:
        head = handle.read(8)
    if len(head) < 8 or head[4:8] != TFLITE_MAGIC:
        raise InputFileError(f"{path}: not a TFLite model (no 'TFL3' flatbuffer identifier)")


def profile_models(
    models: list[Path],
    target: Target | str,
    options: ConnectionOptions,
    settings: ProfileSettings,
    *,
    interleave: bool = False,
) -> list[dict[str, Any]]:
    """Profile each model on the target; returns one profile JSON per model, in order.

    With `interleave`, all models run in one profiler process, alternating blocks of runs,
    so that slow drift of the device affects them equally.

    Raises:
        InputFileError: a model file is missing or not a .tflite file.
        DeviceError: the device cannot be reached or failed.
    """
    target = load_target(target) if isinstance(target, str) else target
    for model in models:
        check_tflite_file(model)
        check_accepted(target, model)  # before connecting: nothing is pushed for a model the target refuses
    with open_adapter(target, options) as adapter:
        if interleave and len(models) > 1:
            console.info(f"profiling {len(models)} models interleaved on {target.name} ({adapter.address})")
            return adapter.profile(models, settings)
        profiles = []
        with console.steps(f"profiling on {target.name}", len(models)) as progress:
            for model in models:
                profiles.extend(adapter.profile([model], settings))
                progress.advance()
        return profiles


def write_profiles(path: Path, profiles: list[dict[str, Any]]) -> None:
    """Write one profile JSON (or, for several models, {"profiles": [...]}) atomically."""
    fsutil.write_json(path, profiles[0] if len(profiles) == 1 else {"profiles": profiles})


def print_profiles(profiles: list[dict[str, Any]]) -> None:
    """A table: model, runs, median, p90, p99, mean ± std, min, init, first inference."""
    from rich.table import Table

    table = Table(title_justify="left")
    if profiles:
        device = profiles[0]["device"]
        table.title = (f"{profiles[0]['target']} · {device.get('address')} · {device.get('machine')} · "
                       f"{device.get('runtime')} {device.get('runtime_version')} · threads {profiles[0]['threads']}")
    for column in ("model", "runs", "median ms", "p90 ms", "p99 ms", "mean ± std ms", "min ms", "init ms", "first ms"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for profile in profiles:
        table.add_row(
            Path(profile["model"]["path"]).name,
            str(profile["runs"]),
            _cell(profile.get("median_ms")),
            _cell(profile.get("p90_ms")),
            _cell(profile.get("p99_ms")),
            f"{_cell(profile.get('mean_ms'))} ± {_cell(profile.get('std_ms'), '.2g')}",
            _cell(profile.get("min_ms")),
            _cell(profile.get("init_ms")),
            _cell(profile.get("first_ms")),
        )
    console.out.print(table)


def _cell(value: Any, spec: str = ".4g") -> str:
    # benchmark_model (Android) reports no p90/p99, and a median only in newer builds: shown as "-".
    return "-" if value is None else format(value, spec)
