"""The baseline store: a history of latency profiles per (target, device, artifact), as JSON lines.

    <store>/<target>/<device-slug>/<artifact-slug>.jsonl     one line per saved baseline, oldest first
    <store>/models/<sha256>.tflite                           each baselined model, once

    <store>/.lock                                            flock'd while the store is written (or read)

Each line holds the whole profile (its samples are what the gate tests), when it was saved and from
which file. Lines are only ever added; the newest line is "the baseline". The model file is kept too
(when it was found with the sha256 its profile records), so a later `edgekit regress --against-store`
can time the baseline and the current model again, interleaved.

Several processes may save at once (CI jobs of one pipeline sharing a store): a save holds an exclusive flock
on `<store>/.lock` while it reads, extends and replaces its history files, so no line is lost and every
history of one store lists the saves in the same order. Readers take the lock shared, so they never see half
of a save that touched several histories; a store they cannot lock (a read-only copy) is read as it is.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Iterator, Optional

from edgekit import fsutil
from edgekit.errors import InputFileError
from edgekit.profiling.device.stats import percentile
from edgekit.regress.inputs import (LatencySet, SetKind, checked_profile, describe_device, device_identity,
                                    load_latency_set, locate_model)

DEFAULT_STORE = Path(".edgekit") / "baselines"
HISTORY_SUFFIX = ".jsonl"
MODELS_FOLDER = "models"
LOCK_NAME = ".lock"
# The fields of a saved line, with the type each must have.
_LINE_FIELDS = {"saved_at": str, "source": str, "target": str, "device": dict, "artifact": str, "profile": dict}


@dataclass(frozen=True)
class SavedBaseline:
    """One line of the store."""

    saved_at: str
    source: str
    target: str
    device: dict[str, Any]
    artifact: str
    profile: dict[str, Any]
    model_file: Optional[str] = None  # relative to the store

    @property
    def median_ms(self) -> float:
        return float(percentile(sorted(self.profile["samples_ms"]), 50.0))

    def to_json(self) -> dict[str, Any]:
        return {"saved_at": self.saved_at, "source": self.source, "target": self.target, "device": self.device,
                "artifact": self.artifact, "profile": self.profile, "model_file": self.model_file}


@dataclass(frozen=True)
class History:
    """Every saved baseline of one (target, device, artifact), oldest first."""

    path: Path
    entries: list[SavedBaseline]

    @property
    def latest(self) -> SavedBaseline:
        return self.entries[-1]

    def to_json(self) -> dict[str, Any]:
        """The history without samples: what `edgekit baseline show --json` prints."""
        latest = self.latest
        return {"target": latest.target, "device": latest.device, "artifact": latest.artifact, "path": str(self.path),
                "entries": [{"saved_at": entry.saved_at, "source": entry.source, "median_ms": entry.median_ms,
                             "runs": len(entry.profile["samples_ms"]),
                             "model_sha256": (entry.profile.get("model") or {}).get("sha256")}
                            for entry in self.entries]}


def slug(text: str) -> str:
    """A file-name-safe form of `text` (lowercase letters, digits, `.`, `_` and `-`)."""
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-.") or "unnamed"


def device_folder(device: Optional[dict[str, Any]]) -> str:
    """`localhost-x86_64-amd-epyc-1a2b3c4d`: readable, and the hash keeps two devices with similar names apart."""
    identity = device_identity(device)
    digest = hashlib.sha256("\0".join(identity).encode()).hexdigest()[:8]
    return f"{slug('-'.join(identity))[:60]}-{digest}"


class BaselineStore:
    """Baselines under one folder (default `.edgekit/baselines`)."""

    def __init__(self, root: Path = DEFAULT_STORE):
        self.root = Path(root)

    def history_path(self, target: str, device: Optional[dict[str, Any]], artifact: str) -> Path:
        return self.root / slug(target) / device_folder(device) / f"{slug(artifact)}{HISTORY_SUFFIX}"

    def save(self, latency_set: LatencySet, *, now: Optional[datetime.datetime] = None) -> list[tuple[SavedBaseline, Path]]:
        """Append every profile of `latency_set` to its history; returns what was saved, and where.

        The whole save holds the store's lock; each history file is rewritten whole to a temporary name and
        renamed, so neither a concurrent save nor a crash loses or halves a line.
        """
        with self._locked(exclusive=True):
            saved_at = (now or datetime.datetime.now(datetime.timezone.utc)).isoformat(timespec="seconds")
            written = []
            for name, profile in latency_set.profiles.items():
                model = latency_set.model_paths.get(name)
                entry = SavedBaseline(saved_at=saved_at, source=latency_set.source,
                                      target=str(profile.get("target")), device=profile.get("device") or {},
                                      artifact=name, profile=profile,
                                      model_file=self._keep_model(model) if model else None)
                path = self.history_path(entry.target, entry.device, name)
                existing = _read_bytes(path) if path.exists() else b""
                if existing and not existing.endswith(b"\n"):
                    existing += b"\n"  # a line cut short by hand stays its own (damaged) line
                fsutil.write_bytes(path, existing + json.dumps(entry.to_json()).encode("utf-8") + b"\n")
                written.append((entry, path))
            return written

    @contextlib.contextmanager
    def _locked(self, *, exclusive: bool) -> Iterator[None]:
        """Hold the store's flock: exclusive to write, shared to read (skipped when a reader cannot open it).

        Raises:
            InputFileError: the store cannot be written (a writer only).
        """
        lock = self.root / LOCK_NAME
        descriptor: Optional[int] = None
        try:
            if exclusive:
                self.root.mkdir(parents=True, exist_ok=True)
                descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
            else:  # a reader never writes, not even the lock file
                descriptor = os.open(lock, os.O_RDONLY)
        except OSError as error:
            if exclusive:
                raise InputFileError(f"{self.root}: cannot write to the baseline store: "
                                     f"{error.strerror or error}") from None
            # A store this process cannot lock (read-only, or without a lock file yet): read it as it is.
        try:
            if descriptor is not None:
                fcntl.flock(descriptor, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            if descriptor is not None:
                os.close(descriptor)  # closing drops the flock

    def _keep_model(self, model: Path) -> str:
        """Copy a model into the store under its sha256 (once); returns its path relative to the store."""
        relative = f"{MODELS_FOLDER}/{fsutil.sha256_file(model)}{model.suffix.lower()}"
        if not (self.root / relative).is_file():
            fsutil.write_bytes(self.root / relative, model.read_bytes())
        return relative

    def histories(self, target: Optional[str] = None, artifact: Optional[str] = None) -> list[History]:
        """Every history in the store, optionally only one target's or one artifact's, sorted by path.

        Raises:
            InputFileError: a history file is damaged (the message names the file and line).
        """
        if not self.root.is_dir():
            return []
        with self._locked(exclusive=False):
            return self._histories(target, artifact)

    def _histories(self, target: Optional[str], artifact: Optional[str]) -> list[History]:
        found = []
        for path in sorted(self.root.glob(f"*/*/*{HISTORY_SUFFIX}")):
            entries = list(_read_history(path))
            if not entries:
                continue
            if target is not None and entries[-1].target != target:
                continue
            if artifact is not None and entries[-1].artifact != artifact:
                continue
            found.append(History(path, entries))
        return found

    def latest_for(self, current: LatencySet, *, allow_device_change: bool = False) -> LatencySet:
        """The newest saved baseline of each artifact of `current`, for the same target and device.

        With `allow_device_change`, an artifact never saved on this device takes the newest baseline of the
        same target from any device (the comparison then notes the change).

        Raises:
            InputFileError: nothing at all is saved for this target and device.
        """
        with self._locked(exclusive=False):
            return self._latest_for(current, allow_device_change)

    def _latest_for(self, current: LatencySet, allow_device_change: bool) -> LatencySet:
        profiles: dict[str, dict[str, Any]] = {}
        model_paths: dict[str, Path] = {}
        for name, profile in current.profiles.items():
            target = str(profile.get("target"))
            history = self._read(self.history_path(target, profile.get("device"), name))
            if not history and allow_device_change and self.root.is_dir():
                history = max((h.entries for h in self._histories(target, name)),
                              key=lambda entries: entries[-1].saved_at, default=[])
            if history:
                latest = history[-1]
                profiles[name] = latest.profile
                found = latest.model_file and locate_model([self.root / latest.model_file],
                                                           (latest.profile.get("model") or {}).get("sha256"))
                model_paths.update({name: found} if found else {})
        if not profiles:
            target = current.target
            raise InputFileError(
                f"{self.root}: no baseline saved for target {target!r} on device {describe_device(current.device)} "
                f"for any of {', '.join(current.profiles)}; save one first with `edgekit baseline save "
                f"{current.source} --store {self.root}`")
        kind = SetKind.PROFILE if current.kind is SetKind.PROFILE else SetKind.STORE
        return LatencySet(f"baseline store {self.root}", kind, profiles, model_paths=model_paths)

    def _read(self, path: Path) -> list[SavedBaseline]:
        return list(_read_history(path)) if path.is_file() else []


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise InputFileError(f"{path}: cannot be read: {error.strerror or error}") from None


def _read_history(path: Path) -> Iterator[SavedBaseline]:
    """The saved baselines of one history file, oldest first.

    Raises:
        InputFileError: a line is not UTF-8 JSON, lacks a field, has one of the wrong type, holds samples that
            are not finite positive latencies, or names a model file outside the store (the message names the
            file and the line).
    """
    for number, raw in enumerate(_read_bytes(path).split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise InputFileError(f"{path}: line {number} is not a saved baseline (not UTF-8 text)") from None
        except json.JSONDecodeError as error:
            raise InputFileError(f"{path}: line {number} is not a saved baseline ({error})") from None
        entry = _saved_baseline(path, number, record)
        checked_profile(Path(f"{path}: line {number}"), entry.profile, entry.artifact)
        yield entry


def _saved_baseline(path: Path, number: int, record: Any) -> SavedBaseline:
    where = f"{path}: line {number} is not a saved baseline"
    if not isinstance(record, dict):
        raise InputFileError(f"{where} (not a JSON object)")
    for key, kind in _LINE_FIELDS.items():
        if key not in record:
            raise InputFileError(f"{where} (no {key!r})")
        if not isinstance(record[key], kind):
            raise InputFileError(f"{where} ({key!r} is not {'a string' if kind is str else 'an object'})")
    model_file = record.get("model_file")
    if model_file is not None and not _inside_store(model_file):
        raise InputFileError(f"{where} (\"model_file\" {model_file!r} is not a file under {MODELS_FOLDER}/ of "
                             f"the store)")
    return SavedBaseline(**{key: record[key] for key in _LINE_FIELDS}, model_file=model_file)


def _inside_store(model_file: Any) -> bool:
    """Whether a recorded model file is what `_keep_model` writes: models/<name>, relative, inside the store."""
    if not isinstance(model_file, str) or "\0" in model_file or "\\" in model_file:
        return False
    parts = PurePosixPath(model_file).parts
    return len(parts) == 2 and parts[0] == MODELS_FOLDER and parts[1] not in ("..", ".")


def save_baseline_file(path: Path, store: BaselineStore) -> list[tuple[SavedBaseline, Path]]:
    """Read a profile or manifest and append each of its profiles to the store.

    Raises:
        InputFileError: the file is not a profile or manifest with latency samples.
    """
    return store.save(load_latency_set(path))
