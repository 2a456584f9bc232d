"""The stage cache: each stage's outputs, keyed by a content hash of everything that shapes them.

Layout inside a build folder:

    <stage>/                     files a stage wrote (train/, prune/, qat/, export/), replaced whole
    .edgekit/stages/<stage>.json the stage's record: key, files with sha256, metadata, seconds
    .edgekit/build.lock          held (flock) by the running build; holds its pid

A record is valid when its key matches and every file it lists has the recorded sha256; so a
stage killed half-way (its files are written to a temporary folder first), a file edited by
hand, or a changed input all make the stage run again. So does a record that is damaged (not
UTF-8 JSON, not the shape `run` writes, a file outside the stage's folder, metadata that no
longer matches its digest): a record is a cache, never an input that can stop a build.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Generic, Optional, TypeVar

from edgekit import fsutil
from edgekit.base.process import process_alive
from edgekit.base.version import __version__

STATE_FOLDER = ".edgekit"
# Part of every key: bump it when what a stage records changes shape, so older records are not reused.
# 3: keys derived from the stages' declarations (edgekit.pipeline.graph).
RECORD_FORMAT = 3

Output = TypeVar("Output")


@dataclass
class StageResult(Generic[Output]):
    """What a stage produced (fresh or from the cache); `output` is its metadata read as the stage's typed
    result (edgekit.pipeline.results), or `meta` itself for a stage without one."""

    name: str
    key: str
    folder: Path
    files: dict[str, str]  # relative path -> sha256
    meta: dict[str, Any]
    seconds: float
    cached: bool
    digest: str = field(default="")
    output: Output = None  # type: ignore[assignment]  # set by StageCache.run (or the stage) before use

    def path(self, relative: str) -> Path:
        return self.folder / relative


def cache_key(material: dict[str, Any]) -> str:
    """sha256 of canonical JSON of everything a stage's output depends on."""
    canonical = json.dumps(material, sort_keys=True, default=_canonical, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _canonical(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "value"):
        return value.value
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot hash {type(value).__name__}")


class StageCache:
    """Runs stages, or reuses their recorded outputs when nothing that shapes them changed."""

    def __init__(self, build_dir: Path, *, force_from: Optional[str] = None, order: tuple[str, ...] = (),
                 always_run: tuple[str, ...] = (), keep_previous: bool = False):
        """
        Args:
            build_dir: the build folder.
            force_from: ignore the cache for this stage and every later one in `order`.
            always_run: stages that never reuse the cache (their results are still recorded).
            keep_previous: keep the outputs and records a run replaces, until `finish` removes them or
                `roll_back` puts them back (a build that ran out of disk leaves the last build whole).
        """
        self.build_dir = build_dir
        self.records = build_dir / STATE_FOLDER / "stages"
        self._keep_previous = keep_previous
        # (path now, what it replaced set aside or None when it was new), in the order they were replaced
        self._replaced: list[tuple[Path, Optional[Path]]] = []
        self._forced: set[str] = set(always_run)
        if force_from is not None:
            self._forced |= set(order[order.index(force_from):])

    def run(self, name: str, material: dict[str, Any], produce: Callable[[Path], dict[str, Any]], *,
            folder: Optional[str] = None, output: Any = None) -> StageResult:
        """Reuse stage `name` if its record matches `material`, else call `produce(work_folder)`.

        `produce` writes its files into the work folder it is given and returns JSON-able metadata.
        The folder replaces `<build>/<folder or name>/` only once `produce` returned. `output` (a pydantic
        model class) reads the metadata as the stage's typed result; a record it cannot read is stale.
        """
        key = cache_key({"stage": name, "record_format": RECORD_FORMAT, "edgekit": __version__, **material})
        destination = self.build_dir / (folder or name)
        if name not in self._forced:
            cached = self._load(name, key, destination)
            if cached is not None:
                typed = _typed(output, cached.meta)
                if typed is not None:
                    cached.output = typed
                    return cached
        self._drop_record(name)
        started = time.perf_counter()
        previous: list[Path] = []
        with fsutil.atomic_path(destination, directory=True,
                                previous=previous if self._keep_previous else None) as work:
            meta = produce(work)
            # A shape that does not fit the stage's type is a bug: raised before it replaces the last outputs.
            typed = output.model_validate(meta) if output is not None else meta
            files = {str(p.relative_to(work)): fsutil.sha256_file(p) for p in sorted(work.rglob("*")) if p.is_file()}
        if self._keep_previous:
            self._replaced.append((destination, previous[0] if previous else None))
        seconds = time.perf_counter() - started
        if not files:
            shutil.rmtree(destination, ignore_errors=True)
        result = StageResult(name, key, destination, files, meta, seconds, cached=False)
        result.digest = _digest(result)
        result.output = typed
        fsutil.write_json(self.records / f"{name}.json", {
            "stage": name, "key": key, "folder": destination.name, "files": files, "meta": meta,
            "seconds": seconds, "digest": result.digest, "finished": time.time(),
        })
        return result

    def _load(self, name: str, key: str, destination: Path) -> Optional[StageResult]:
        """The recorded result of stage `name`, or None when there is none to reuse.

        A record that cannot be read, is not the shape `run` writes, lists a file outside the stage's folder, or
        whose files changed since is stale, never an error: the stage runs again and writes a new one.
        """
        record = _read_record(self.records / f"{name}.json")
        if record is None or record["key"] != key:
            return None
        for relative, sha in record["files"].items():
            path = destination / relative
            if not path.is_file() or fsutil.sha256_file(path) != sha:
                return None
        return StageResult(name, key, destination, record["files"], record["meta"], float(record["seconds"]),
                           cached=True, digest=record["digest"])

    def _drop_record(self, name: str) -> None:
        record = self.records / f"{name}.json"
        if self._keep_previous:
            aside = record.with_name(f".{record.name}.old-{os.getpid()}")
            try:
                os.replace(record, aside)
            except FileNotFoundError:
                aside = None
            self._replaced.append((record, aside))
        else:
            record.unlink(missing_ok=True)

    def finish(self) -> None:
        """The build is done: remove what `keep_previous` set aside."""
        for _, aside in self._replaced:
            if aside is not None:
                shutil.rmtree(aside, ignore_errors=True) if aside.is_dir() else aside.unlink(missing_ok=True)
        self._replaced.clear()

    def roll_back(self) -> None:
        """Put back every output and record this cache replaced (renames only: it works on a full disk)."""
        for path, aside in reversed(self._replaced):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            if aside is not None:
                os.replace(aside, path)
        self._replaced.clear()

    def clean_stale_temporaries(self) -> None:
        """Remove temporary folders and files left by a build that was killed."""
        leftovers = [*self.build_dir.glob(".*.tmp-*"), *self.build_dir.glob(".*.old-*"), *self.records.glob(".*.old-*")]
        for path in leftovers:
            owner = _pid_in(path.name)
            if owner is not None and owner != os.getpid() and process_alive(owner):
                continue
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


def _read_record(path: Path) -> Optional[dict[str, Any]]:
    """A stage record as `StageCache.run` writes it, or None for a missing, unreadable or malformed one."""
    try:
        record = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(record, dict):
        return None
    kinds = {"key": str, "files": dict, "meta": dict, "digest": str}
    if any(not isinstance(record.get(field), kind) for field, kind in kinds.items()):
        return None
    seconds = record.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds < float("inf"):
        return None
    if not all(isinstance(sha, str) and _inside_folder(relative) for relative, sha in record["files"].items()):
        return None
    # The digest covers the files' hashes and the metadata: an edited record (meta that later stages would
    # misread) no longer matches it.
    if cache_key({"files": record["files"], "meta": record["meta"]}) != record["digest"]:
        return None
    return record


def _typed(output: Any, meta: dict[str, Any]) -> Any:
    """A record's metadata as the stage's typed result; None when it does not fit (an older or edited record)."""
    if output is None:
        return meta
    from pydantic import ValidationError

    try:
        return output.model_validate(meta)
    except ValidationError:
        return None


def _inside_folder(relative: str) -> bool:
    """Whether a recorded file name stays inside its stage folder (`run` records paths relative to it)."""
    path = Path(relative)
    return bool(relative) and "\0" not in relative and not path.is_absolute() and ".." not in path.parts


def _digest(result: StageResult) -> str:
    """What downstream keys depend on: the files' hashes and the metadata."""
    return cache_key({"files": result.files, "meta": result.meta})


def _pid_in(name: str) -> Optional[int]:
    for marker in (".tmp-", ".old-"):
        if marker in name:
            tail = name.split(marker, 1)[1].split("-", 1)[0]
            return int(tail) if tail.isdigit() else None
    return None
