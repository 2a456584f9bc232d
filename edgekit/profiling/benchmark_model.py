"""TFLite's `benchmark_model` binary: its command line, and its output parsed into the profile JSON.

benchmark_model prints aggregate statistics only (count, first, min, max, avg, std; newer builds add p5, median
and p95), never the individual runs. A profile made from it is honest about that:

- "samples_ms" is an empty list (there are no samples), and "samples_source" says why;
- "median_ms" is the binary's own median when it printed one, else null; "p90_ms" and "p99_ms" are null
  (benchmark_model does not report them), and "p5_ms"/"p95_ms" are added when it reports those;
- min, max, mean and std come from its `count=` line of the regular (not warmup) runs; init and first inference
  from its `Inference timings in us:` line. All values are converted from microseconds to milliseconds.

Memory: with `--report_peak_memory_footprint=true` it prints the peak footprint (`Peak memory footprint (MB):
init= overall=`); every build prints the growth from the start of the tool (`Memory footprint delta ...`).

Per-op times (`--enable_op_profiling=true`) come from a run of their own (op_profile_arguments), never from the
timed run: profiling every op adds its own overhead to each inference. They are listed per node ("op_profile")
and summed per op type ("op_types").

Lines may carry `INFO:`/`WARNING:`/`ERROR:` prefixes or a logcat prefix (`I tflite  : ...`,
`06-01 12:00:00.000  123  123 I tflite  : ...`); numbers may be in scientific notation (`2.95034e+06`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional

from edgekit.config.target import Delegate
from edgekit.errors import DeviceError

_PREFIX = re.compile(
    r"^(?:.*?\btflite\s*(?:\(\s*\d+\))?\s*:\s?)?"  # logcat: "I tflite  : ", "I/tflite  ( 123): ", with a timestamp
    r"(?:(?:INFO|WARNING|ERROR|VERBOSE|DEBUG):\s*)?"
)
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_COUNT_LINE = re.compile(rf"^count=(?P<count>\d+)(?P<rest>(?:\s+\w+={_NUMBER})*)\s*$")
_PAIR = re.compile(rf"(\w+)=({_NUMBER})")
_TIMINGS = re.compile(
    rf"Inference timings in us: Init: (?P<init>{_NUMBER}), First inference: (?P<first>{_NUMBER}), "
    rf"Warmup \(avg\): (?P<warmup>{_NUMBER}), Inference \(avg\): (?P<inference>{_NUMBER})"
)
# Older builds print the summary in this shorter form.
_OLD_TIMINGS = re.compile(
    rf"Average inference timings in us: Warmup: (?P<warmup>{_NUMBER}), Init: (?P<init>{_NUMBER}), "
    rf"(?:no stats|Inference: (?P<inference>{_NUMBER}))"
)
_MEMORY = re.compile(
    rf"^(?P<what>Memory footprint delta from the start of the tool|Peak memory footprint) \(MB\): "
    rf"init=(?P<init>{_NUMBER}) overall=(?P<overall>{_NUMBER})"
)
_PEAK_MONITOR = re.compile(rf"^Overall peak memory footprint \(MB\) via periodic monitoring: (?P<peak>{_NUMBER})")
_ERROR_LINE = re.compile(r"ERROR:|\bE[ /]tflite\b|\b[Ff]ailed\b")
_OP_SECTION = "Operator-wise Profiling Info for Regular Benchmark Runs"
_INIT_SECTION = "Profiling Info for Benchmark Initialization"
_RUN_ORDER = "============================== Run Order"

#: benchmark_model's flags for each delegate of a target file
DELEGATE_FLAGS: dict[Delegate, list[str]] = {
    # XNNPACK is on by default in current builds; `false` selects TFLite's reference CPU kernels.
    Delegate.NONE: ["--use_xnnpack=false"],
    Delegate.XNNPACK: ["--use_xnnpack=true"],
    Delegate.GPU: ["--use_gpu=true"],
    Delegate.NNAPI: ["--use_nnapi=true"],
    # The Edge TPU is an external delegate: its library path is added by benchmark_arguments().
    Delegate.EDGETPU: [],
}


@dataclass
class RunStats:
    """One `count=... first=... min=... avg=...` line, in microseconds (missing keys are None)."""

    count: int
    values: dict[str, float] = field(default_factory=dict)

    def get(self, key: str) -> Optional[float]:
        return self.values.get(key)


@dataclass
class BenchmarkOutput:
    """What one benchmark_model run printed."""

    init_us: Optional[float] = None
    first_us: Optional[float] = None
    warmup_avg_us: Optional[float] = None
    inference_avg_us: Optional[float] = None
    run_stats: list[RunStats] = field(default_factory=list)
    memory_mb: dict[str, float] = field(default_factory=dict)
    op_profile: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def regular_runs(self) -> Optional[RunStats]:
        """The statistics of the timed runs: the `count=` line whose avg is the reported inference average."""
        if not self.run_stats:
            return None
        if self.inference_avg_us is not None:
            for stats in reversed(self.run_stats):
                average = stats.get("avg")
                if average is not None and abs(average - self.inference_avg_us) <= 0.01 * max(1.0, average):
                    return stats
        return self.run_stats[-1]


#: timed runs of the separate op-profiling run: per-op averages settle within a few dozen runs
OP_PROFILE_RUNS = 30


def benchmark_arguments(graph: str, *, runs: int, warmup: int, min_seconds: float, threads: Optional[int],
                        delegate: Delegate, delegate_library: Optional[str] = None,
                        op_profiling: bool = False, peak_memory: bool = False) -> list[str]:
    """benchmark_model's arguments (after the binary) for one model."""
    arguments = [f"--graph={graph}", f"--num_runs={runs}", f"--warmup_runs={warmup}", f"--min_secs={min_seconds:g}"]
    if threads:
        arguments.append(f"--num_threads={threads}")
    arguments += DELEGATE_FLAGS[delegate]
    if delegate is Delegate.EDGETPU and delegate_library:
        arguments.append(f"--external_delegate_path={delegate_library}")
    if op_profiling:
        arguments.append("--enable_op_profiling=true")
    if peak_memory:
        arguments.append("--report_peak_memory_footprint=true")
    return arguments


def op_profile_arguments(graph: str, *, runs: int, threads: Optional[int], delegate: Delegate,
                         delegate_library: Optional[str] = None) -> list[str]:
    """benchmark_model's arguments for the op-profiling run: a few runs, no minimum time."""
    return benchmark_arguments(graph, runs=max(1, min(runs, OP_PROFILE_RUNS)), warmup=1, min_seconds=0.0,
                               threads=threads, delegate=delegate, delegate_library=delegate_library,
                               op_profiling=True)


def strip_prefix(line: str) -> str:
    """A line without its logcat or `INFO:` prefix and surrounding blanks."""
    return _PREFIX.sub("", line.rstrip("\r\n"), count=1).strip()


def parse_benchmark_output(text: str) -> BenchmarkOutput:
    """Parse everything benchmark_model printed (stdout and stderr, or logcat)."""
    result = BenchmarkOutput()
    raw_lines = text.splitlines()
    for raw in raw_lines:
        if _ERROR_LINE.search(raw):
            result.errors.append(strip_prefix(raw))
        line = strip_prefix(raw)
        count = _COUNT_LINE.match(line)
        if count:
            values = {key: float(value) for key, value in _PAIR.findall(count.group("rest"))}
            result.run_stats.append(RunStats(int(count.group("count")), values))
            continue
        timings = _TIMINGS.search(line) or _OLD_TIMINGS.search(line)
        if timings:
            found = timings.groupdict()
            result.init_us = _float(found.get("init"))
            result.first_us = _float(found.get("first"))
            result.warmup_avg_us = _float(found.get("warmup"))
            result.inference_avg_us = _float(found.get("inference"))
            continue
        memory = _MEMORY.match(line)
        if memory:
            kind = "delta" if memory.group("what").startswith("Memory") else "peak"
            result.memory_mb[f"{kind}_init_mb"] = float(memory.group("init"))
            result.memory_mb[f"{kind}_overall_mb"] = float(memory.group("overall"))
            continue
        peak = _PEAK_MONITOR.match(line)
        if peak:
            result.memory_mb["peak_monitored_mb"] = float(peak.group("peak"))
    result.op_profile = parse_op_profile(raw_lines)
    return result


def parse_op_profile(raw_lines: list[str]) -> list[dict[str, Any]]:
    """The per-op "Run Order" table of the regular runs (`--enable_op_profiling=true`), one dict per op."""
    lines = [strip_prefix(line) for line in raw_lines]
    start = next((index for index, line in enumerate(lines) if line.startswith(_OP_SECTION)), None)
    if start is None:
        # Builds without the initialization section print only the regular runs' tables.
        if any(line.startswith(_INIT_SECTION) for line in lines):
            return []
        start = 0
    table = next((index for index in range(start, len(lines)) if lines[index].startswith(_RUN_ORDER)), None)
    if table is None:
        return []
    rows = []
    for line in lines[table + 2:]:  # skip the "=== Run Order ===" line and the column header
        cells = [cell.strip() for cell in re.split(r"\t+|\s{2,}", line.strip()) if cell.strip()]
        if len(cells) < 8 or cells[0].startswith("["):
            break
        rows.append({
            "node_type": cells[0],
            "start_ms": float(cells[1]),
            "first_ms": float(cells[2]),
            "avg_ms": float(cells[3]),
            "percent": float(cells[4].rstrip("%")),
            "times_called": int(float(cells[7])) if len(cells) > 8 else None,
            "name": cells[-1],
        })
    return rows


def op_type_totals(op_profile: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The per-node rows summed per op type, slowest first: {"node_type", "nodes", "avg_ms", "percent"}.

    "avg_ms" is the sum over the type's nodes of each node's average time per inference; "percent" its share of
    all nodes' time.
    """
    totals: dict[str, dict[str, Any]] = {}
    for row in op_profile:
        entry = totals.setdefault(row["node_type"], {"node_type": row["node_type"], "nodes": 0, "avg_ms": 0.0})
        entry["nodes"] += 1
        entry["avg_ms"] += float(row["avg_ms"])
    overall = sum(entry["avg_ms"] for entry in totals.values())
    for entry in totals.values():
        entry["avg_ms"] = round(entry["avg_ms"], 6)
        entry["percent"] = round(100.0 * entry["avg_ms"] / overall, 3) if overall > 0 else 0.0
    return sorted(totals.values(), key=lambda entry: (-entry["avg_ms"], entry["node_type"]))


def op_profile_fields(output: BenchmarkOutput, *, runs: int, what: str) -> dict[str, Any]:
    """"op_profile" (per node), "op_types" (summed per type) and "op_profile_source" of an op-profiling run.

    Raises:
        DeviceError: benchmark_model printed no per-op table (it failed, or the build lacks op profiling).
    """
    if not output.op_profile:
        detail = "; ".join(output.errors[-3:]) or "no `Run Order` table in its output"
        raise DeviceError(f"{what}: benchmark_model's op profiling reported no per-op times: {detail}")
    return {
        "op_profile": output.op_profile,
        "op_types": op_type_totals(output.op_profile),
        "op_profile_source": f"benchmark_model --enable_op_profiling, a separate run of {runs} inferences "
                             f"(per-op profiling slows each inference, so the latency samples come from another run)",
    }


def benchmark_memory(memory_mb: dict[str, float], model_bytes: int) -> Optional[dict[str, Any]]:
    """The profile's "memory" record from what benchmark_model printed (None when it printed nothing).

    rss_growth_mb: the growth from the start of the tool ("overall" delta); peak_rss_mb: the peak footprint
    (periodic monitoring when printed, else `--report_peak_memory_footprint`'s overall peak).
    """
    if not memory_mb:
        return None
    return {
        "flash_bytes": model_bytes,
        "rss_growth_mb": memory_mb.get("delta_overall_mb"),
        "load_growth_mb": memory_mb.get("delta_init_mb"),
        "invoke_growth_mb": None,
        "peak_rss_mb": memory_mb.get("peak_monitored_mb", memory_mb.get("peak_overall_mb")),
        "source": "benchmark_model",
    }


def profile_fields(output: BenchmarkOutput, *, what: str) -> dict[str, Any]:
    """The statistics keys of the profile JSON, in milliseconds, from a parsed benchmark_model run.

    Raises:
        DeviceError: the output has no timed runs (benchmark_model failed; its error lines are in the message).
    """
    stats = output.regular_runs
    if stats is None or output.inference_avg_us is None:
        detail = "; ".join(output.errors[-3:]) or "no `Inference timings` line in its output"
        raise DeviceError(f"{what}: benchmark_model did not report timings: {detail}")
    average = stats.get("avg") if stats.get("avg") is not None else output.inference_avg_us
    fields: dict[str, Any] = {
        "runs": stats.count,
        "min_ms": _ms(stats.get("min")),
        "median_ms": _ms(stats.get("median")),
        "mean_ms": _ms(average),
        "p90_ms": None,
        "p99_ms": None,
        "max_ms": _ms(stats.get("max")),
        "std_ms": _ms(stats.get("std")),
        "samples_ms": [],
        "samples_source": "benchmark_model reports aggregate statistics only: no per-run samples exist",
        "init_ms": _ms(output.init_us),
        "first_ms": _ms(output.first_us),
    }
    for key in ("p5", "p95"):
        if stats.get(key) is not None:
            fields[f"{key}_ms"] = _ms(stats.get(key))
    if output.memory_mb:
        fields["memory_mb"] = dict(output.memory_mb)
    if output.op_profile:
        fields["op_profile"] = output.op_profile
        fields["op_types"] = op_type_totals(output.op_profile)
    return fields


def _float(value: Optional[str]) -> Optional[float]:
    return float(value) if value is not None else None


def _ms(microseconds: Optional[float]) -> Optional[float]:
    return None if microseconds is None else microseconds / 1000.0
