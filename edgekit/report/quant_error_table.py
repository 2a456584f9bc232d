"""`edgekit inspect --quant-error QUANTIZED FLOAT --data FILE`: the per-layer error of any pair of .tflite files,
as a table. It lives with the report rather than in edgekit.inspect because it runs export's measurement, and
inspect sits below export (docs/architecture.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit import console

# Samples read from --data at most: the statistics settle long before, and the pass stays quick.
DEFAULT_SAMPLES = 256


def quant_error_of_files(quantized: Path, reference: Path, data: Path, samples: int = DEFAULT_SAMPLES) -> dict[str, Any]:
    """The per-layer error record (as in the manifest's `quantization_error`) of `quantized` against `reference`.

    Raises:
        ModelFileError, InputFileError: a file is missing or not what it should be (exit 2).
        ExportError: LiteRT cannot run a model (exit 3).
    """
    from edgekit.export.quant_error import load_samples, measure_quantization_error

    report = measure_quantization_error(quantized, reference, load_samples(data, samples))
    return {"quantized": str(quantized), "reference": str(reference), "data": str(data), **report.to_dict()}


def print_quant_error(record: dict[str, Any]) -> None:
    """One row per quantized op, worst first."""
    from rich.table import Table

    # The heading is printed as one unwrapped line: a table title would wrap long paths mid-word at the table's width.
    console.out.print(f"{record['quantized']} against {record['reference']} · {record['samples']} samples · "
                      f"{record['seconds']:.2f} s", markup=False, highlight=False, soft_wrap=True)
    table = Table()
    for column in ("#", "op", "tensor", "dtype", "RMSE/scale", "SNR dB", "mean |error|", "max |error|", "scale"):
        table.add_column(column, justify="left" if column in ("op", "tensor", "dtype") else "right")
    for rank, layer in enumerate(record["layers"], start=1):
        table.add_row(str(rank), layer["op"], layer["tensor"].split(";")[0], layer["dtype"],
                      f"{layer['rmse_over_scale']:.3g}", "exact" if layer["snr_db"] is None else f"{layer['snr_db']:.1f}",
                      f"{layer['mean_abs_error']:.3g}", f"{layer['max_abs_error']:.3g}", f"{layer['scale']:.3g}")
    console.out.print(table)
    console.out.print("RMSE/scale: about 0.29 is pure rounding; each op is fed the same input as its float twin, "
                      "so errors do not add up down the graph.", highlight=False)
    if record["float_ops"]:
        console.out.print(f"ops that stayed float: {', '.join(record['float_ops'])}", markup=False, highlight=False)
    if record["unmatched"]:
        console.out.print(f"quantized ops without a float twin (not measured): {', '.join(record['unmatched'])}",
                          markup=False, highlight=False)
