"""`edgekit profile`'s ends: what a model file must be before anything is pushed, and the printed table.

(Profiling itself, holding a device through its adapter, is edgekit.fleet.measure: above the adapters.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit import console
from edgekit.errors import InputFileError

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
    from edgekit.errors import ModelFileError
    from edgekit.inspect.onnx_model import summarize_onnx

    try:
        summarize_onnx(path)
    except ModelFileError as error:
        raise InputFileError(str(error)) from None


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
