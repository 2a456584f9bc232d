"""The tune/ folder: state.json and one trials/<id>.json per trial, each written atomically (temp name + rename),
so a run killed at any point leaves whole files that the next run with the same arguments continues from."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any, Optional

from edgekit import fsutil
from edgekit.tune.constraints import Measured, Miss
from edgekit.tune.space import Candidate

SCHEMA_VERSION = 1
STATE_NAME = "state.json"
TRIALS_FOLDER = "trials"
PROBE_NAME = "probe.json"  # the structure probe's measurements (edgekit.tune.probe)


class TrialStatus(str, Enum):
    MEASURED = "measured"      # built, evaluated and timed
    ELIMINATED = "eliminated"  # measured at rung 0 and not trained in full (the reason says why)
    FAILED = "failed"          # could not be built (the reason is the error)
    PENDING = "pending"        # started and not finished: a resumed run does it again


class Stopped(str, Enum):
    """Why a run ended (state.json "stopped")."""

    DONE = "done"
    BUDGET = "budget"
    TRIALS = "trials"
    NOTHING_FITS = "nothing_fits"
    RUNNING = "running"


@dataclass
class Trial:
    """One candidate at one rung, with what it measured (the trials/<id>.json of tune-format)."""

    id: str
    candidate: Candidate
    rung: int
    epochs: int
    status: TrialStatus = TrialStatus.PENDING
    reason: Optional[str] = None
    train_seconds: Optional[float] = None
    accuracy: Optional[float] = None
    bytes: Optional[int] = None
    latency_ms: Optional[dict[str, float]] = None
    peak_memory_mb: Optional[float] = None
    fits: Optional[bool] = None
    misses: list[Miss] = field(default_factory=list)
    cache_keys: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # baseline, parent, ab, float_accuracy, stage_seconds, ...

    @property
    def measured(self) -> Measured:
        return Measured(accuracy=self.accuracy, bytes=self.bytes,
                        p90_ms=(self.latency_ms or {}).get("p90"), peak_memory_mb=self.peak_memory_mb)

    @property
    def p90(self) -> Optional[float]:
        return (self.latency_ms or {}).get("p90")

    def to_dict(self) -> dict[str, Any]:
        record = {"id": self.id, "candidate": self.candidate.to_dict(), "rung": self.rung, "epochs": self.epochs,
                  "status": TrialStatus(self.status).value, "reason": self.reason, "train_seconds": self.train_seconds,
                  "accuracy": self.accuracy, "bytes": self.bytes, "latency_ms": self.latency_ms,
                  "peak_memory_mb": self.peak_memory_mb, "fits": self.fits,
                  "misses": [miss.to_dict() for miss in self.misses], "cache_keys": self.cache_keys,
                  "config": self.config}
        record.update(self.extra)
        return record

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Trial":
        known = {"id", "candidate", "rung", "epochs", "status", "reason", "train_seconds", "accuracy", "bytes",
                 "latency_ms", "peak_memory_mb", "fits", "misses", "cache_keys", "config"}
        return cls(id=data["id"], candidate=Candidate.from_dict(data["candidate"]), rung=int(data["rung"]),
                   epochs=int(data["epochs"]), status=TrialStatus(data["status"]), reason=data.get("reason"),
                   train_seconds=data.get("train_seconds"), accuracy=data.get("accuracy"), bytes=data.get("bytes"),
                   latency_ms=data.get("latency_ms"), peak_memory_mb=data.get("peak_memory_mb"),
                   fits=data.get("fits"), misses=[Miss(**miss) for miss in data.get("misses") or []],
                   cache_keys=data.get("cache_keys") or {}, config=data.get("config") or {},
                   extra={key: value for key, value in data.items() if key not in known})


class TuneStore:
    """Reads and writes the tune/ folder."""

    def __init__(self, tune_dir: Path):
        self.tune_dir = tune_dir
        self.trials_dir = tune_dir / TRIALS_FOLDER

    @property
    def state_path(self) -> Path:
        return self.tune_dir / STATE_NAME

    def read_state(self) -> Optional[dict[str, Any]]:
        """The last run's state, or None when there is none or it cannot be read (then the run starts afresh)."""
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        return state if isinstance(state, dict) and state.get("schema_version") == SCHEMA_VERSION else None

    def read_trials(self) -> dict[str, Trial]:
        """Every readable trial record by id (a damaged one is left out: its trial runs again)."""
        trials = {}
        for path in sorted(self.trials_dir.glob("t*.json")):
            try:
                trial = Trial.from_dict(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
            trials[trial.id] = trial
        return trials

    def write_trial(self, trial: Trial) -> None:
        fsutil.write_json(self.trials_dir / f"{trial.id}.json", trial.to_dict())

    def write_state(self, state: dict[str, Any]) -> None:
        fsutil.write_json(self.state_path, state)

    def clear(self) -> None:
        """Forget the trials of a run with other arguments (the stage cache under builds/ is kept)."""
        for path in self.trials_dir.glob("t*.json"):
            path.unlink(missing_ok=True)
        for name in (STATE_NAME, "edgekit.yaml", PROBE_NAME):
            (self.tune_dir / name).unlink(missing_ok=True)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
