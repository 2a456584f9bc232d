"""The values of a manifest that readers compute with, checked once when the manifest is loaded (before its types).

A manifest is JSON anyone can edit. A missing field is fine (the report says the section has no data); a field of
the wrong type, or a number that is not finite or out of range, is refused here with the field's place in the file
(`artifacts[2].latency.samples_ms[5]`) and what was expected, instead of failing half-way through drawing a page
or judging a gate. The types of every other field are the models' (edgekit.manifest.models).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Optional

from edgekit.errors import InputFileError
from edgekit.finite import is_count, is_finite, is_latency, is_number

Check = Callable[[Any], Optional[str]]  # None when the value fits, else what was expected


def _optional(check: Check) -> Check:
    return lambda value: None if value is None else check(value)


def _kind(kind: type, expected: str) -> Check:
    return lambda value: None if isinstance(value, kind) else expected


def _number_in(low: float, high: float, expected: str) -> Check:
    return lambda value: None if is_finite(value, low, high) else expected


_OBJECT = _kind(dict, "an object")
_LIST = _kind(list, "a list")
_FRACTION = _number_in(0.0, 1.0, "a number from 0 to 1")
_MILLISECONDS = _number_in(0.0, float("inf"), "a finite number of milliseconds, 0 or more")


def _count(value: Any) -> Optional[str]:
    return None if is_count(value) else "a whole number, 0 or more"


def _name(value: Any) -> Optional[str]:
    return None if isinstance(value, str) and value else "a non-empty string"


def _latency_sample(value: Any) -> Optional[str]:
    return None if is_latency(value) else "a latency in milliseconds (a finite number above 0)"


def _history_value(value: Any) -> Optional[str]:
    # NaN is a real training outcome (a diverged loss) and is drawn as a gap, so any number is accepted here.
    return None if is_number(value) else "a number"


# Per artifact: the fields the summary table, the plots and the latency table read.
_ARTIFACT_FIELDS: dict[str, Check] = {
    "name": _name,
    "bytes": _optional(_count),
    "gzip_bytes": _optional(_count),
    "sparsity": _optional(_FRACTION),
    "accuracy": _optional(_FRACTION),
    "agreement": _optional(_FRACTION),
    "latency": _optional(_OBJECT),
}
_LATENCY_FIELDS: dict[str, Check] = {
    "samples_ms": _optional(_LIST),
    "median_ms": _latency_sample,  # every latency edgekit records has one; the summary's speedup divides by it
    **{key: _optional(_MILLISECONDS) for key in ("min_ms", "mean_ms", "p90_ms", "p99_ms", "max_ms", "init_ms",
                                                   "first_ms")},
}
_TOP_FIELDS: dict[str, Check] = {
    "device": _optional(_OBJECT),
    "gate": _optional(_OBJECT),
    "sparsity": _optional(_OBJECT),
    "history": _optional(_OBJECT),
    "stages": _optional(_LIST),
    "versions": _optional(_OBJECT),
    "preprocessing": _optional(_OBJECT),
    "profile_skipped": _optional(_OBJECT),
}
_GATE_FIELDS: dict[str, Check] = {
    "baseline_accuracy": _optional(_FRACTION),
    "failures": _optional(_LIST),
}
_SPARSITY_FIELDS: dict[str, Check] = {"layers": _optional(_OBJECT), "target": _optional(_FRACTION)}


def check_manifest(path: Path, manifest: dict[str, Any], error: type[InputFileError] = InputFileError) -> None:
    """Refuse a manifest whose fields readers compute with have the wrong shape or value.

    Raises:
        error (an InputFileError): names the first misshapen field, what it holds, and what was expected.
    """
    problem = _text_problem(manifest, "")
    if problem is None:
        problem = _manifest_problem(manifest)
    if problem is not None:
        where, expected, value = problem
        raise error(f"{path}: {where} is {shown(value)}, expected {expected}; this is not a manifest "
                             f"edgekit wrote (rebuild, or fix the field)")


def _manifest_problem(manifest: dict[str, Any]) -> Optional[tuple[str, str, Any]]:
    problem = _fields(manifest, _TOP_FIELDS, "")
    for name, fields in (("gate", _GATE_FIELDS), ("sparsity", _SPARSITY_FIELDS)):
        if problem is None and manifest.get(name) is not None:
            problem = _fields(manifest[name], fields, f"{name}.")
    if problem is not None:
        return problem
    layers = (manifest.get("sparsity") or {}).get("layers") or {}
    problem = _each(layers.items(), _FRACTION, "sparsity.layers")
    for stage, metrics in (manifest.get("history") or {}).items():
        problem = problem or _history_problem(stage, metrics)
    for index, stage in enumerate(manifest.get("stages") or []):
        if problem is None and not isinstance(stage, dict):
            problem = f"stages[{index}]", "an object", stage
    for index, artifact in enumerate(manifest["artifacts"]):
        problem = problem or _artifact_problem(f"artifacts[{index}]", artifact)
    return problem


def _artifact_problem(where: str, artifact: Any) -> Optional[tuple[str, str, Any]]:
    if not isinstance(artifact, dict):
        return where, "an artifact object", artifact
    if "name" not in artifact:
        return f"{where}.name", "a non-empty string (every artifact has a name)", None
    problem = _fields(artifact, _ARTIFACT_FIELDS, f"{where}.")
    latency = artifact.get("latency")
    if problem is None and isinstance(latency, dict):
        problem = _fields(latency, _LATENCY_FIELDS, f"{where}.latency.")
        samples = latency.get("samples_ms") or []
        problem = problem or _each(enumerate(samples), _latency_sample, f"{where}.latency.samples_ms")
    return problem


def _history_problem(stage: str, metrics: Any) -> Optional[tuple[str, str, Any]]:
    if metrics is None:
        return None
    if not isinstance(metrics, dict):
        return f"history.{stage}", "an object of metric series", metrics
    for metric, series in metrics.items():
        if not isinstance(series, list):
            return f"history.{stage}.{metric}", "a list of numbers", series
        problem = _each(enumerate(series), _history_value, f"history.{stage}.{metric}")
        if problem is not None:
            return problem
    return None


def _fields(record: dict[str, Any], checks: dict[str, Check], prefix: str) -> Optional[tuple[str, str, Any]]:
    for key, check in checks.items():
        expected = check(record.get(key))
        if expected is not None:
            return f"{prefix}{key}", expected, record.get(key)
    return None


def _each(items, check: Check, where: str) -> Optional[tuple[str, str, Any]]:
    for key, value in items:
        expected = check(value)
        if expected is not None:
            return f"{where}[{key!r}]" if isinstance(key, str) else f"{where}[{key}]", expected, value
    return None


def _text_problem(value: Any, where: str) -> Optional[tuple[str, str, Any]]:
    """A string holding a lone surrogate (JSON allows "\\ud800"; no UTF-8 file or page can hold it)."""
    stack = [(value, where)]
    while stack:
        item, place = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return place or "the manifest", "text (it holds a lone UTF-16 surrogate)", item
        elif isinstance(item, dict):
            stack.extend((key, f"{place}.{key!r} (a key)".lstrip(".")) for key in item)
            stack.extend((child, f"{place}.{key}".lstrip(".")) for key, child in item.items()
                         if isinstance(key, str))
        elif isinstance(item, list):
            stack.extend((child, f"{place}[{index}]") for index, child in enumerate(item))
    return None


def shown(value: Any) -> str:
    """A value from a file in a message: its JSON form, cut short."""
    try:
        text = json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
