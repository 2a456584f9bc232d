"""Coral's Edge TPU compiler: compile an int8 .tflite, keep `*_edgetpu.tflite` and its log, parse what it said.

edgetpu_compiler runs on x86_64 Debian-like Linux only (Coral's apt repository, package `edgetpu-compiler`).
Its summary (stdout) looks like this (Coral's documentation and issue reports):

    Edge TPU Compiler version 16.0.384591198
    Model compiled successfully in 542 ms.
    Input model: model.tflite
    Output model: model_edgetpu.tflite
    On-chip memory used for caching model parameters: 604.50KiB
    On-chip memory remaining for caching model parameters: 511.50KiB
    Off-chip memory used for streaming uncached model parameters: 3.45MiB
    Number of Edge TPU subgraphs: 1
    Total number of operations: 50
    Operation log: model_edgetpu.log
    Number of operations that will run on Edge TPU: 135      (only when some ops stay on the CPU)
    Number of operations that will run on CPU: 1
    Operator                       Count      Status
    CONV_2D                        11         Mapped to Edge TPU
    RESIZE_NEAREST_NEIGHBOR        1          Operation version not supported

The operation log file (`*_edgetpu.log`) holds the same Operator/Count/Status table.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from edgekit import fsutil
from edgekit.errors import ToolError

COMPILER = "edgetpu_compiler"
INSTALL_HINT = ("install it on an x86_64 Debian/Ubuntu machine from Coral's apt repository "
                "(`sudo apt-get install edgetpu-compiler`, see coral.ai/docs/edgetpu/compiler)")
MAPPED = "Mapped to Edge TPU"
_COMPILE_TIMEOUT_S = 600  # the compiler's own child-process timeout is 180 s per segment

_SIZE = re.compile(r"(?P<value>[\d.]+)\s*(?P<unit>[KMG]?i?B)")
_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3, "KB": 1000, "MB": 1000 ** 2, "GB": 1000 ** 3}
_FIELDS = {
    "compiler_version": (re.compile(r"Edge TPU Compiler version (\S+)"), str),
    "input_model": (re.compile(r"^Input(?: model)?: (.+)$"), str),
    "output_model": (re.compile(r"^Output(?: model)?: (.+)$"), str),
    "on_chip_memory_used_bytes": (re.compile(r"On-chip memory used for caching model parameters: (.+)$"), "size"),
    "on_chip_memory_remaining_bytes": (re.compile(r"On-chip memory remaining for caching model parameters: (.+)$"),
                                       "size"),
    "off_chip_memory_used_bytes": (re.compile(r"Off-chip memory used for streaming uncached model parameters: (.+)$"),
                                   "size"),
    "subgraphs": (re.compile(r"Number of Edge TPU subgraphs: (\d+)"), int),
    "total_operations": (re.compile(r"Total number of operations: (\d+)"), int),
    "operations_on_edgetpu": (re.compile(r"Number of operations that will run on Edge TPU: (\d+)"), int),
    "operations_on_cpu": (re.compile(r"Number of operations that will run on CPU: (\d+)"), int),
}
_OPERATOR_ROW = re.compile(r"^(?P<operator>[A-Z][A-Z0-9_]*)\s+(?P<count>\d+)\s+(?P<status>\S.*?)\s*$")


@dataclass
class CompilerReport:
    """What edgetpu_compiler reported about one model (sizes in bytes; None where it did not say)."""

    compiler_version: Optional[str] = None
    input_model: Optional[str] = None
    output_model: Optional[str] = None
    on_chip_memory_used_bytes: Optional[int] = None
    on_chip_memory_remaining_bytes: Optional[int] = None
    off_chip_memory_used_bytes: Optional[int] = None
    subgraphs: Optional[int] = None
    total_operations: Optional[int] = None
    operations_on_edgetpu: Optional[int] = None
    operations_on_cpu: Optional[int] = None
    operators: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EdgeTpuCompilation:
    """A compiled model, the compiler's operation log, and what it reported."""

    model: Path
    log: Optional[Path]
    report: CompilerReport


def parse_size(text: str) -> Optional[int]:
    """'1.92MiB' -> bytes; None when the text is not a size."""
    match = _SIZE.search(text)
    if not match or match.group("unit") not in _UNITS:
        return None
    return int(round(float(match.group("value")) * _UNITS[match.group("unit")]))


def parse_compiler_log(text: str) -> CompilerReport:
    """Parse edgetpu_compiler's summary and/or its operation log (they can be passed joined)."""
    report = CompilerReport()
    operators: dict[tuple[str, str], int] = {}
    for raw in text.splitlines():
        line = raw.strip()
        for name, (pattern, kind) in _FIELDS.items():
            match = pattern.search(line)
            if match and getattr(report, name) is None:
                value = match.group(1).strip()
                setattr(report, name, parse_size(value) if kind == "size" else kind(value))
        row = _OPERATOR_ROW.match(line)
        if row and row.group("operator") != "Operator":
            # The summary and the log file repeat the same table: count each (operator, status) once.
            operators[(row.group("operator"), row.group("status"))] = int(row.group("count"))
    report.operators = [{"operator": operator, "count": count, "status": status, "on_edgetpu": status == MAPPED}
                        for (operator, status), count in operators.items()]
    if report.operators and report.operations_on_edgetpu is None:
        report.operations_on_edgetpu = sum(row["count"] for row in report.operators if row["on_edgetpu"])
        report.operations_on_cpu = sum(row["count"] for row in report.operators if not row["on_edgetpu"])
    return report


def compiler_available() -> bool:
    return shutil.which(COMPILER) is not None


def compile_for_edgetpu(model: Path, out_dir: Path) -> EdgeTpuCompilation:
    """Compile an int8 .tflite with edgetpu_compiler into `out_dir` (`<stem>_edgetpu.tflite` and `.log`).

    The compiler writes into a temporary folder; its outputs are moved into place only when it succeeded.

    Raises:
        ToolError: the compiler is not installed, failed, or wrote no model.
    """
    compiler = shutil.which(COMPILER)
    if compiler is None:
        raise ToolError(f"{COMPILER} is not on PATH: {INSTALL_HINT}")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="edgekit-edgetpu-") as scratch:
        try:
            completed = subprocess.run([compiler, "-s", "-o", scratch, str(model)], capture_output=True, text=True,
                                       timeout=_COMPILE_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise ToolError(f"{COMPILER} did not finish {model.name} within {_COMPILE_TIMEOUT_S} s") from None
        compiled = Path(scratch) / f"{model.stem}_edgetpu.tflite"
        log = Path(scratch) / f"{model.stem}_edgetpu.log"
        said = completed.stdout + "\n" + completed.stderr
        if completed.returncode != 0 or not compiled.is_file():
            detail = " / ".join(line.strip() for line in said.strip().splitlines()[-3:]) or f"exit {completed.returncode}"
            raise ToolError(f"{COMPILER} could not compile {model.name}: {detail}")
        log_text = log.read_text(errors="replace") if log.is_file() else ""
        report = parse_compiler_log(said + "\n" + log_text)
        final_model = out_dir / compiled.name
        fsutil.write_bytes(final_model, compiled.read_bytes())
        final_log = out_dir / log.name
        # The summary is kept with the operation log: together they are what the compiler said.
        fsutil.write_text(final_log, said.strip() + "\n\n" + log_text)
    return EdgeTpuCompilation(final_model, final_log, report)


def compiler_summary(report: CompilerReport, log: Optional[str]) -> dict[str, Any]:
    """The manifest's `compiler` object of an edgetpu artifact: what edgetpu_compiler said, in short.

    Keys: name, version, ops_on_tpu, ops_on_cpu, total_ops, subgraphs, on_chip_memory_bytes,
    off_chip_memory_bytes, log (the full log's path relative to the build folder), operators (one row per
    operator and status: {"operator", "count", "status", "on_edgetpu"}).
    """
    return {"name": COMPILER, "version": report.compiler_version, "ops_on_tpu": report.operations_on_edgetpu,
            "ops_on_cpu": report.operations_on_cpu, "total_ops": report.total_operations,
            "subgraphs": report.subgraphs, "on_chip_memory_bytes": report.on_chip_memory_used_bytes,
            "off_chip_memory_bytes": report.off_chip_memory_used_bytes, "log": log, "operators": report.operators}


def export_edgetpu(exporter, quantization):
    """FORMATS[edgetpu]'s converter: compile the tflite int8 artifact of this export with edgetpu_compiler.

    Args:
        exporter: an edgekit.export.exporter.Exporter that has written the parent (tflite int8) artifact.

    Returns:
        An Exported with the compiled model, its operation log as the ".log" companion, and the details the
        manifest keeps: source (the stage the parent came from), method, parent, compiler (compiler_summary),
        evaluated_as ({"artifact": the parent's name, "reason"}).

    Raises:
        ToolError: edgetpu_compiler is missing or failed.
    """
    from edgekit.config.formats import FORMATS, Format
    from edgekit.export.exporter import Exported, companion_name

    parent_path, parent_details = exporter.parent(Format.EDGETPU, quantization)
    parent_format, parent_quantization = FORMATS[Format.EDGETPU].parent
    with tempfile.TemporaryDirectory(prefix="edgekit-edgetpu-out-") as scratch:
        compilation = compile_for_edgetpu(parent_path, Path(scratch))
        model_bytes = compilation.model.read_bytes()
        log_bytes = compilation.log.read_bytes() if compilation.log else b""
    report = compilation.report
    log_name = companion_name(exporter.file_name(Format.EDGETPU, quantization), Format.EDGETPU, ".log")
    if report.operations_on_cpu:
        from edgekit import console

        console.warn(f"export: edgetpu: {report.operations_on_cpu} of {report.total_operations} operations stay on "
                     f"the CPU (see {exporter.folder}/{log_name})")
    details = {"source": parent_details["source"], "method": COMPILER,
               "parent": FORMATS[parent_format].artifact_name(parent_quantization),
               "compiler": compiler_summary(report, f"{exporter.folder}/{log_name}"),
               # The host cannot run it: its accuracy in the manifest is its parent's (FORMATS says why).
               "evaluated_as": {"artifact": FORMATS[parent_format].artifact_name(parent_quantization),
                                "reason": FORMATS[Format.EDGETPU].evaluated_as_parent}}
    return Exported(model_bytes, details, {".log": log_bytes})
