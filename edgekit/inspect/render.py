"""`edgekit inspect` as tables for people (the --json output is the record itself)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from edgekit import console
from edgekit.base.human import human_bytes
from edgekit.console import cell as escape  # names from the model file: markup and control characters escaped
from edgekit.safetext import printable


def print_inspection(record: dict[str, Any]) -> None:
    """Print an inspection record (from `inspect_model`) as a few tables on stdout."""
    out = console.out
    out.print(_headline(record))
    out.print(_io_table(record))
    out.print(_count_table("operators", record["operators"]["by_type"], "op", record["operators"]["total"]))
    if record["format"] == "tflite":
        out.print(_dtype_table(record))
    else:
        out.print(f"QuantizeLinear/DequantizeLinear nodes: {record['operators']['quantize_dequantize']}")
    weights = record["weights"]
    by_dtype = ", ".join(f"{escape(dtype)} {human_bytes(size)}" for dtype, size in weights["by_dtype"].items()) or "none"
    out.print(f"weights: {human_bytes(weights['bytes'])} ({by_dtype})")
    integer = "yes" if record["fully_integer"] else f"no ({record['float_tensor_count']} float tensors)"
    out.print(f"fully integer: {integer}")
    out.print(_largest_table(record["largest_tensors"]))
    if "edgetpu" in record:
        print_edgetpu(record["edgetpu"])


def print_edgetpu(mapping: dict[str, Any]) -> None:
    """Print the Edge TPU estimate: one row per op, then the verdict and the notes."""
    table = Table(title="Edge TPU mapping (estimate)", title_justify="left")
    for column in ("#", "op", "runs on", "why"):
        table.add_column(column, justify="right" if column == "#" else "left")
    for op in mapping["operators"]:
        runs_on = "[green]Edge TPU[/green]" if op["placement"] == "edgetpu" else "[red]CPU[/red]"
        table.add_row(str(op["index"]), escape(op["op"]), runs_on, escape("; ".join(op["reasons"] + op["notes"])))
    console.out.print(table)
    console.out.print(printable(edgetpu_verdict(mapping)), markup=False, highlight=False)
    for note in mapping["notes"] + [mapping["estimate"]]:
        console.out.print(f"note: {printable(note)}", markup=False, highlight=False)


def edgetpu_verdict(mapping: dict[str, Any]) -> str:
    """One line: how many ops run where, and what ended the Edge TPU segment."""
    total = mapping["ops_on_edgetpu"] + mapping["ops_on_cpu"]
    line = f"Edge TPU: {mapping['ops_on_edgetpu']} of {total} ops, CPU: {mapping['ops_on_cpu']}"
    segment = mapping["segment"]
    if mapping["compiled"]:
        return line + " (already compiled by edgetpu_compiler)"
    if segment is None:
        return line + " (no op can run on the Edge TPU)"
    ended_by = segment["ended_by"]
    if ended_by is None:
        return line + f"; one Edge TPU segment, ops {segment['start']}..{segment['end'] - 1}"
    return (line + f"; the Edge TPU segment ops {segment['start']}..{segment['end'] - 1} ends at op "
            f"{ended_by['index']} "
            f"{ended_by['op']}: {'; '.join(ended_by['reasons'])}")


def _headline(record: dict[str, Any]) -> str:
    if record["format"] == "tflite":
        detail = f"TFLite schema {record['schema_version']}, {record['subgraphs']} subgraph(s)"
        runtime = record["metadata"].get("min_runtime_version")
        detail += f", min runtime {runtime}" if runtime else ""
    else:
        opsets = ", ".join(f"{domain} {version}" for domain, version in record["opsets"].items())
        producer = f", by {record['producer']}" if record["producer"] else ""
        detail = f"ONNX IR {record['ir_version']}, opset {opsets}{producer}"
    detail = escape(detail)
    return (f"[bold]{escape(record['path'])}[/bold]  {human_bytes(record['bytes'])}  {detail}  "
            f"sha256 {record['sha256'][:16]}…")


def _io_table(record: dict[str, Any]) -> Table:
    table = Table(title="inputs and outputs", title_justify="left")
    for column in ("", "name", "dtype", "shape", "scale", "zero point"):
        table.add_column(column)
    for kind in ("inputs", "outputs"):
        for tensor in record[kind]:
            quantization = tensor.get("quantization") or {}
            shape = tensor.get("shape_signature") or tensor["shape"]
            table.add_row(kind[:-1], escape(tensor["name"]), escape(tensor["dtype"]), escape(str(shape)),
                          _values(quantization.get("scale")), _values(quantization.get("zero_point")))
    return table


def _values(values) -> str:
    if not values:
        return "-"
    shown = ", ".join(f"{value:.6g}" if isinstance(value, float) else str(value) for value in values[:3])
    return shown + (f", … ({len(values)} channels)" if len(values) > 3 else "")


def _count_table(title: str, counts: dict[str, int], what: str, total: int) -> Table:
    table = Table(title=f"{title} ({total})", title_justify="left")
    table.add_column(what)
    table.add_column("count", justify="right")
    for name, count in counts.items():
        table.add_row(escape(name), str(count))
    return table


def _dtype_table(record: dict[str, Any]) -> Table:
    table = Table(title=f"tensors ({record['tensors']['total']})", title_justify="left")
    for column in ("dtype", "count", "weights", "activations", "weight bytes"):
        table.add_column(column, justify="left" if column == "dtype" else "right")
    weight_bytes = record["weights"]["by_dtype"]
    for dtype, row in record["tensors"]["by_dtype"].items():
        table.add_row(escape(dtype), str(row["count"]), str(row["weights"]), str(row["activations"]),
                      human_bytes(weight_bytes.get(dtype, 0)))
    return table


def _largest_table(tensors: list[dict[str, Any]]) -> Table:
    table = Table(title="largest tensors", title_justify="left")
    for column in ("name", "kind", "dtype", "shape", "size"):
        table.add_column(column, justify="right" if column == "size" else "left")
    for tensor in tensors:
        table.add_row(escape(tensor["name"]), tensor["kind"], escape(tensor["dtype"]), escape(str(tensor["shape"])),
                      human_bytes(tensor["bytes"]))
    return table
