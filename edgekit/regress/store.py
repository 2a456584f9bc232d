"""The baseline store: a history of latency profiles per (target, device, artifact), as JSON lines.

    <store>/<target>/<device-slug>/<artifact-slug>.jsonl     one line per saved baseline, oldest first
    <store>/models/<sha256>.tflite                           each baselined model, once

Each line holds the whole profile (its samples are what the gate tests), when it was saved and from
which file. Lines are only ever added; the newest line is "the baseline". The model file is kept too
(when it was found with the sha256 its profile records), so a later `edgekit regress --against-store`
can time the baseline and the current model again, interleaved.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

from edgekit import fsutil
from edgekit.errors import InputFileError
from edgekit.profiling.device_profiler import percentile
from edgekit.regress.inputs import (LatencySet, SetKind, checked_profile, describe_device, device_identity,
                                    load_latency_set, locate_model)

DEFAULT_STORE = Path(".edgekit") / "baselines"
HISTORY_SUFFIX = ".jsonl"
MODELS_FOLDER = "models"


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

        Each history file is rewritten whole to a temporary name and renamed, so a crash never leaves half a line.
        """
        saved_at = (now or datetime.datetime.now(datetime.timezone.utc)).isoformat(timespec="seconds")
        written = []
        for name, profile in latency_set.profiles.items():
            model = latency_set.model_paths.get(name)
            entry = SavedBaseline(saved_at=saved_at, source=latency_set.source, target=str(profile.get("target")),
                                  device=profile.get("device") or {}, artifact=name, profile=profile,
                                  model_file=self._keep_model(model) if model else None)
            path = self.history_path(entry.target, entry.device, name)
            existing = path.read_text(encoding="utf-8") if path.exists() else ""
            fsutil.write_text(path, existing + json.dumps(entry.to_json()) + "\n")
            written.append((entry, path))
        return written

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
        profiles: dict[str, dict[str, Any]] = {}
        model_paths: dict[str, Path] = {}
        for name, profile in current.profiles.items():
            target = str(profile.get("target"))
            history = self._read(self.history_path(target, profile.get("device"), name))
            if not history and allow_device_change:
                history = max((h.entries for h in self.histories(target=target, artifact=name)),
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


def _read_history(path: Path) -> Iterator[SavedBaseline]:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            entry = SavedBaseline(**{key: record[key] for key in
                                     ("saved_at", "source", "target", "device", "artifact", "profile")},
                                  model_file=record.get("model_file"))
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise InputFileError(f"{path}: line {number} is not a saved baseline ({error})") from None
        checked_profile(path, entry.profile, entry.artifact)
        yield entry


def save_baseline_file(path: Path, store: BaselineStore) -> list[tuple[SavedBaseline, Path]]:
    """Read a profile or manifest and append each of its profiles to the store.

    Raises:
        InputFileError: the file is not a profile or manifest with latency samples.
    """
    return store.save(load_latency_set(path))
