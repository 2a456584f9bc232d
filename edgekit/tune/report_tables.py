"""The tune report's table cells: a trial as one row, the budget as rows, and one row per kind of variant.

Every cell is HTML already (text escaped here), as the build report's `html_table` expects.
"""

from __future__ import annotations

from html import escape


from edgekit.pipeline.summary import human_bytes
from edgekit.report.page import number_cell
from edgekit.tune.report_data import Candidate, Miss, Trial, TrialStatus, TuneRun

TRIAL_HEADERS = ["trial", "candidate", "status", "rung", "epochs", "train s", "accuracy", "bytes", "p50 ms", "p90 ms",
                 "peak MB", "fits"]

# Each constraint as the page names it, with its unit.
CONSTRAINT_TEXT = {"max_latency_ms": ("p90 latency", "ms"), "max_bytes": ("file", "bytes"),
                   "max_ram_mb": ("peak memory", "MB"), "min_accuracy": ("accuracy", ""),
                   "max_accuracy_drop": ("accuracy drop", "")}
_STATUS_CSS = {TrialStatus.MEASURED: "neutral", TrialStatus.ELIMINATED: "neutral", TrialStatus.FAILED: "fail",
               TrialStatus.PENDING: "neutral"}


def candidate_text(trial: Trial) -> str:
    """'width 0.5 · 32 px · sparsity 50 % · int8 · float32 training · 2 threads' (only the axes the trial sets)."""
    candidate = trial.candidate
    parts = []
    if candidate.width is not None:
        parts.append(f"width {candidate.width:g}")
    if candidate.input_size is not None:
        parts.append(f"{candidate.input_size} px")
    parts.append(sparsity_text(candidate))
    if candidate.quantization:
        parts.append(candidate.quantization)
    if candidate.precision:
        parts.append(f"{candidate.precision} training")
    if candidate.threads is not None:
        parts.append(f"{candidate.threads} thread{'s' if candidate.threads != 1 else ''}")
    return " · ".join(parts)


def sparsity_text(candidate: Candidate) -> str:
    sparsity = candidate.sparsity
    if isinstance(sparsity, str):
        return f"sparsity {sparsity}"
    if not sparsity:
        return "dense"
    return f"sparsity {sparsity:.0%}"


def miss_text(miss: Miss) -> str:
    """'p90 latency 7.2 > 5 ms'."""
    name, unit = CONSTRAINT_TEXT.get(miss.constraint, (miss.constraint, ""))
    if miss.measured is None or miss.limit is None:
        return f"{name}: not measured" if miss.measured is None else name
    relation = "<" if miss.constraint.startswith("min") else ">"
    value = human_bytes(int(miss.measured)) if unit == "bytes" else f"{miss.measured:.4g}"
    limit = human_bytes(int(miss.limit)) if unit == "bytes" else f"{miss.limit:.4g}"
    return f"{name} {value} {relation} {limit}" + (f" {unit}" if unit and unit != "bytes" else "")


def misses_text(trial: Trial) -> str:
    return "; ".join(miss_text(miss) for miss in trial.misses)


def fits_cell(trial: Trial) -> str:
    if trial.fits is True:
        return "<span class=\"badge pass\">fits</span>"
    if trial.fits is False:
        return "<span class=\"badge fail\">misses</span> " + escape(misses_text(trial) or "a constraint")
    return "-"


def trial_cells(trial: Trial, run: TuneRun) -> list[str]:
    """One row of TRIAL_HEADERS."""
    marks = [mark for mark, trial_id in (("chosen", run.state.chosen), ("default build", run.state.baseline))
             if trial.id == trial_id]
    name = escape(trial.id) + "".join(f" <b>({escape(mark)})</b>" for mark in marks)
    status = f"<span class=\"badge {_STATUS_CSS[trial.status]}\">{escape(trial.status.value)}</span>"
    if trial.reason:
        status += " " + escape(trial.reason)
    return [name, escape(candidate_text(trial)), status, number_cell(trial.rung, "{}"), number_cell(trial.epochs, "{}"),
            number_cell(trial.train_seconds, "{:.1f}"), number_cell(trial.accuracy, "{:.4f}"),
            human_bytes(trial.bytes) if trial.bytes is not None else "-", number_cell(trial.p50, "{:.4g}"),
            number_cell(trial.p90, "{:.4g}"), number_cell(trial.peak_memory_mb, "{:.1f}"), fits_cell(trial)]


def constraint_rows(run: TuneRun) -> list[list[str]]:
    """The budget, one row per constraint set (the accuracy floor worked out when it is relative)."""
    constraints = run.state.constraints
    rows = []
    if constraints.max_latency_ms is not None:
        rows.append(["max p90 latency", f"{constraints.max_latency_ms:g} ms"])
    if constraints.max_bytes is not None:
        rows.append(["max model file", f"{human_bytes(constraints.max_bytes)} ({constraints.max_bytes} bytes)"])
    if constraints.max_ram_mb is not None:
        rows.append(["max peak memory", f"{constraints.max_ram_mb:g} MB"])
    if constraints.min_accuracy is not None:
        rows.append([f"min {run.state.metric}", f"{constraints.min_accuracy:g}"])
    if constraints.max_accuracy_drop is not None:
        floor = run.min_accuracy
        rows.append([f"max {run.state.metric} drop", f"{constraints.max_accuracy_drop:g} from the default build"
                     + (f" (floor {floor:.4f})" if floor is not None else "")])
    if not rows:
        rows.append(["none", "every measured trial fits; the most accurate wins"])
    return [[escape(name), escape(limit)] for name, limit in rows]


def variant_kind(candidate: Candidate) -> str:
    """'uncompressed', or what was done to the model: 'pruned 50 % + int8 + mixed_float16 training'."""
    parts = []
    if candidate.sparsity:
        parts.append(f"pruned {sparsity_text(candidate).removeprefix('sparsity ')}")
    if candidate.quantization and candidate.quantization != "float32":
        parts.append(f"quantized {candidate.quantization}")
    if candidate.precision and candidate.precision != "float32":
        parts.append(f"{candidate.precision} training")
    return " + ".join(parts) if parts else "uncompressed"


def variant_rows(run: TuneRun) -> list[list[str]]:
    """One row per kind of variant (sparsity × quantization × precision): its fully trained trial (highest rung)
    that is most accurate, else an early-rung one; the uncompressed first, then by how much was done to it."""
    best: dict[str, tuple[int, Trial]] = {}
    for trial in run.trials:
        if trial.status not in (TrialStatus.MEASURED, TrialStatus.ELIMINATED) or trial.accuracy is None \
                or trial.latency_ms is None:
            continue
        kind = variant_kind(trial.candidate)
        count = best[kind][0] + 1 if kind in best else 1
        current = best[kind][1] if kind in best else None
        best[kind] = (count, trial if current is None or _better(trial, current, run) else current)
    order = sorted(best, key=lambda kind: (kind != "uncompressed", kind.count("+"), kind))
    rows = []
    for kind in order:
        count, trial = best[kind]
        rows.append([escape(kind), str(count), escape(trial.id), escape(candidate_text(trial)),
                     f"{trial.rung} / {number_cell(trial.epochs, '{}')}",
                     number_cell(trial.train_seconds, "{:.1f}"), number_cell(trial.accuracy, "{:.4f}"),
                     human_bytes(trial.bytes) if trial.bytes is not None else "-", number_cell(trial.p50, "{:.4g}"),
                     number_cell(trial.p90, "{:.4g}"), number_cell(trial.peak_memory_mb, "{:.1f}"), fits_cell(trial)])
    return rows


def _better(trial: Trial, than: Trial, run: TuneRun) -> bool:
    """Trained longer (a higher rung); then more accurate (by the metric's direction); then the faster p90."""
    if trial.rung != than.rung:
        return trial.rung > than.rung
    sign = 1 if run.state.higher_is_better else -1
    if trial.accuracy != than.accuracy:
        return sign * (trial.accuracy or 0) > sign * (than.accuracy or 0)
    return (trial.p90 or float("inf")) < (than.p90 or float("inf"))
