"""What the tune report reads: tune/state.json and tune/trials/*.json, validated, as typed records.

The files are the contract between `edgekit tune` (which writes them) and the report (which reads them); see the
README's "The tune/ folder". Either side may add keys, so unknown keys are kept and ignored; a key the report reads
that holds the wrong kind of value (a hand-edited file) is an InputFileError naming the file, the key and what it
holds, never a traceback.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import pydantic

from edgekit.errors import InputFileError
# The engine's own names: the files, the schema version, what "status" and "stopped" may hold.
from edgekit.tune.trials import SCHEMA_VERSION as SUPPORTED_SCHEMA
from edgekit.tune.trials import STATE_NAME, TRIALS_FOLDER, Stopped, TrialStatus



class _Record(pydantic.BaseModel):
    # extra="allow": either side of the contract may add keys. strict: a number written as "0.9" is refused,
    # not read as 0.9 (input is never corrected silently). allow_inf_nan=False: JSON's NaN/Infinity mean nothing here.
    model_config = pydantic.ConfigDict(extra="allow", strict=True, allow_inf_nan=False, frozen=True)


class Constraints(_Record):
    max_latency_ms: Optional[float] = pydantic.Field(default=None, gt=0)
    max_bytes: Optional[int] = pydantic.Field(default=None, gt=0)
    max_ram_mb: Optional[float] = pydantic.Field(default=None, gt=0)
    min_accuracy: Optional[float] = None
    max_accuracy_drop: Optional[float] = pydantic.Field(default=None, ge=0)


class Candidate(_Record):
    width: Optional[float] = None
    input_size: Optional[int] = None
    sparsity: Union[float, str, None] = 0  # 0, 0.5, 0.75 or a structure such as "2:4"
    quantization: Optional[str] = None
    precision: Optional[str] = None
    threads: Optional[int] = None


class Latency(_Record):
    p50: float = pydantic.Field(ge=0)
    p90: float = pydantic.Field(ge=0)


class Miss(_Record):
    constraint: str
    limit: Optional[float] = None
    measured: Optional[float] = None


class Trial(_Record):
    id: str
    candidate: Candidate
    status: TrialStatus
    rung: int = pydantic.Field(default=0, ge=0)
    epochs: Optional[int] = pydantic.Field(default=None, ge=0)
    reason: Optional[str] = None
    train_seconds: Optional[float] = pydantic.Field(default=None, ge=0)
    accuracy: Optional[float] = None
    bytes: Optional[int] = pydantic.Field(default=None, ge=0)
    latency_ms: Optional[Latency] = None
    peak_memory_mb: Optional[float] = pydantic.Field(default=None, ge=0)
    fits: Optional[bool] = None
    misses: list[Miss] = []

    @property
    def p90(self) -> Optional[float]:
        return self.latency_ms.p90 if self.latency_ms else None

    @property
    def reference_accuracy(self) -> Optional[float]:
        """What max_accuracy_drop is measured from: the float Keras model's accuracy ("float_accuracy", which
        edgekit tune adds to the default build's trial) where recorded, else this trial's accuracy."""
        extra = (self.model_extra or {}).get("float_accuracy")
        if isinstance(extra, (int, float)) and not isinstance(extra, bool) and math.isfinite(extra):
            return float(extra)
        return self.accuracy

    @property
    def p50(self) -> Optional[float]:
        return self.latency_ms.p50 if self.latency_ms else None


class State(_Record):
    schema_version: int
    edgekit: Optional[str] = None
    config: Optional[str] = None
    target: str
    device: Optional[str] = None
    constraints: Constraints = Constraints()
    space: dict[str, list[Any]] = {}
    metric: str = "accuracy"
    higher_is_better: bool = True
    started: Optional[str] = None
    finished: Optional[str] = None
    wall_seconds: Optional[float] = pydantic.Field(default=None, ge=0)
    stopped: Stopped
    baseline: Optional[str] = None
    chosen: Optional[str] = None
    front: list[str] = []


@dataclass(frozen=True)
class TuneRun:
    """One tune/ folder read back: its state and its trials in id order."""

    folder: Path
    state: State
    trials: list[Trial]

    def trial(self, trial_id: Optional[str]) -> Optional[Trial]:
        return next((trial for trial in self.trials if trial.id == trial_id), None) if trial_id else None

    @property
    def chosen(self) -> Optional[Trial]:
        return self.trial(self.state.chosen)

    @property
    def baseline(self) -> Optional[Trial]:
        return self.trial(self.state.baseline)

    @property
    def front(self) -> list[Trial]:
        return [trial for trial in self.trials if trial.id in set(self.state.front)]

    @property
    def min_accuracy(self) -> Optional[float]:
        """The accuracy floor: min_accuracy, or the default build's reference accuracy less max_accuracy_drop
        (the higher of the two when both are set)."""
        constraints = self.state.constraints
        floors = [constraints.min_accuracy] if constraints.min_accuracy is not None else []
        baseline = self.baseline
        reference = baseline.reference_accuracy if baseline is not None else None
        if constraints.max_accuracy_drop is not None and reference is not None:
            floors.append(reference - constraints.max_accuracy_drop
                          if self.state.higher_is_better else reference + constraints.max_accuracy_drop)
        if not floors:
            return None
        return max(floors) if self.state.higher_is_better else min(floors)


def load_tune(tune_dir: Path) -> TuneRun:
    """Read and check TUNE_DIR/state.json and every TUNE_DIR/trials/*.json.

    Raises:
        InputFileError: the folder is not a tune folder, a file is not JSON, a value has the wrong kind, or the
            state names a trial (baseline, chosen, front) that has no file.
    """
    tune_dir = Path(tune_dir)
    state_path = tune_dir / STATE_NAME
    if not tune_dir.is_dir():
        raise InputFileError(f"{tune_dir} is not a tune folder (no such folder); give the tune/ folder "
                             f"`edgekit tune` wrote")
    if not state_path.is_file():
        raise InputFileError(f"{tune_dir} has no {STATE_NAME}: it is not a folder `edgekit tune` wrote")
    state = _parse(State, state_path)
    if state.schema_version != SUPPORTED_SCHEMA:
        raise InputFileError(f"{state_path}: schema_version is {state.schema_version}; this edgekit reads "
                             f"version {SUPPORTED_SCHEMA} (written by edgekit {state.edgekit or '?'})")
    trials = []
    for path in sorted((tune_dir / TRIALS_FOLDER).glob("*.json")):
        if path.name.startswith("."):  # a temporary of an atomic write (fsutil), left by a killed run
            continue
        trial = _parse(Trial, path)
        if trial.id != path.stem:
            raise InputFileError(f"{path}: its \"id\" is {trial.id!r} but the file is named {path.name}; "
                                 f"each trial's file is named after its id")
        trials.append(trial)
    run = TuneRun(folder=tune_dir, state=state, trials=trials)
    known = {trial.id for trial in trials}
    for key, ids in (("baseline", [state.baseline]), ("chosen", [state.chosen]), ("front", state.front)):
        missing = [trial_id for trial_id in ids if trial_id is not None and trial_id not in known]
        if missing:
            raise InputFileError(f"{state_path}: \"{key}\" names trial {', '.join(missing)}, which has no file in "
                                 f"{tune_dir / TRIALS_FOLDER} ({len(known)} trial files there)")
    return run


def _parse(model: type[_Record], path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text, parse_constant=_no_constant)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputFileError(f"{path} cannot be read as JSON: {error}") from None
    except ValueError as error:  # NaN or Infinity
        raise InputFileError(f"{path}: {error}") from None
    except RecursionError:
        raise InputFileError(f"{path} cannot be read as JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise InputFileError(f"{path} holds a JSON {type(data).__name__}, not the object edgekit tune writes")
    try:
        # JSON mode: strict about numbers and booleans, and an enum's value ("measured") is its member.
        return model.model_validate_json(text)
    except pydantic.ValidationError as error:
        problems = [_describe(item) for item in error.errors()[:5]]
        more = f"\n  ... and {error.error_count() - 5} more" if error.error_count() > 5 else ""
        raise InputFileError(f"{path} is not what edgekit tune writes:\n  " + "\n  ".join(problems) + more) from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number edgekit writes (JSON has no NaN or Infinity)")


def _describe(item: dict[str, Any]) -> str:
    """One problem: the dotted key, what is wrong, what it holds ('latency_ms.p90: Input should be a valid number
    (got 'fast')')."""
    dotted = ".".join(str(part) for part in item["loc"]
                      if not (isinstance(part, str) and ("[" in part or part in ("str", "float", "int"))))
    if item["type"] == "missing":
        return f"{dotted}: required key is missing"
    message = item["msg"]
    return f"{dotted}: {message} (got {item.get('input')!r})"
