"""`edgekit tune`: set up the search from the config, the flags and the device, run it, and write tune/."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from edgekit import console, fsutil
from edgekit.base.version import __version__
from edgekit.adapters import ConnectionOptions
from edgekit.adapters.registry import adapter_class
from edgekit.config.loader import LoadedConfig, load_config
from edgekit.config.schema import Task
from edgekit.config.target import load_target
from edgekit.config.tune import TuneConfig
from edgekit.config.yamlsource import load_yaml
from edgekit.errors import ConfigError, EdgekitError, InputFileError
from edgekit.pipeline.lock import BuildLock
from edgekit.tune import outcome
from edgekit.tune.builds import VariantBuilder
from edgekit.tune.constraints import Constraints
from edgekit.tune.limits import Limits
from edgekit.tune.measure import Timer
from edgekit.tune.probe import Probe, Structure
from edgekit.tune.search import Search
from edgekit.tune.space import build_space, default_candidate
from edgekit.tune.trials import PROBE_NAME, SCHEMA_VERSION, Stopped, Trial, TuneStore, now_iso

TUNE_FOLDER = "tune"
# Keys of TuneConfig that the command line can set (None: take the tune: section's value).
FLAG_KEYS = ("max_latency_ms", "max_bytes", "max_ram_mb", "min_accuracy", "max_accuracy_drop", "budget_minutes",
             "trials")


@dataclass
class TuneRequest:
    """What `edgekit tune` was asked to do; a None limit takes the tune: section's value."""

    config_path: Path = Path("edgekit.yaml")
    target: str = "host"
    device: Optional[str] = None
    ssh_config: Optional[Path] = None
    remote_python: Optional[str] = None
    out: Optional[Path] = None
    max_latency_ms: Optional[float] = None
    max_bytes: Optional[int] = None
    max_ram_mb: Optional[float] = None
    min_accuracy: Optional[float] = None
    max_accuracy_drop: Optional[float] = None
    budget_minutes: Optional[float] = None
    trials: Optional[int] = None
    lock_timeout_s: Optional[float] = None


@dataclass
class TuneResult:
    """A finished tune run. `error` is NothingFits when no candidate fits (every file is written first)."""

    tune_dir: Path
    state: dict[str, Any]
    trials: dict[str, Trial]
    chosen: Optional[Trial]
    baseline: Optional[Trial]
    config_path: Optional[Path]
    report_path: Optional[Path]
    error: Optional[EdgekitError] = None
    notes: list[str] = field(default_factory=list)


def run_tune(request: TuneRequest) -> TuneResult:
    """Search the space for the best candidate that fits the constraints, measured on the target.

    Raises:
        ConfigError: bad arguments, config or space (exit 2); DeviceError: the device failed (exit 3).
    """
    loaded = load_config(request.config_path)
    settings = _settings(loaded, request)
    constraints = Constraints(**{key: getattr(settings, key) for key in
                                 ("max_latency_ms", "max_bytes", "max_ram_mb", "min_accuracy", "max_accuracy_drop")})
    if loaded.config.task is Task.REGRESSION:
        raise ConfigError("tune searches classification models (accuracy); this config's task is regression")
    target = load_target(request.target)
    adapter_class(target.adapter)
    profiled_on = target
    if target.adapter != "local" and request.device is None:
        # No device to reach: the candidates are still built for the target, and timed here, said plainly.
        profiled_on = load_target("host")
        console.warn(f"tune: no --device for {target.name} (reached over {target.adapter}): profiling on this "
                     f"machine with the local adapter; latency and memory are this machine's, not a "
                     f"{target.name}'s")
    local = profiled_on.adapter == "local"
    connection = ConnectionOptions(address=request.device, ssh_config=request.ssh_config,
                                   remote_python=request.remote_python)
    space = build_space(loaded.config, profiled_on, settings.space, local=local, config_dir=loaded.directory)
    default = default_candidate(loaded.config, profiled_on, space, local=local)
    tune_dir = (request.out or loaded.directory / "build" / target.name / TUNE_FOLDER).resolve()
    base = load_yaml(loaded.path).data
    with fsutil.output_errors(tune_dir, "tune"), BuildLock(tune_dir / ".tune.lock"):
        return _tune_in(tune_dir, request, loaded, base, settings, constraints, target, profiled_on, connection,
                        space, default)


def _tune_in(tune_dir, request, loaded: LoadedConfig, base, settings: TuneConfig, constraints, target, profiled_on,
             connection, space, default) -> TuneResult:
    store = TuneStore(tune_dir)
    fingerprint = _fingerprint(loaded, target.name, request.device, constraints, space, settings)
    previous = store.read_state()
    trials: dict[str, Trial] = {}
    elapsed_before = 0.0
    if previous is not None and previous.get("fingerprint") == fingerprint:
        trials = store.read_trials()
        elapsed_before = float(previous.get("wall_seconds") or 0.0)
        console.info(f"tune: continuing the run in {tune_dir} ({len(trials)} trials recorded)")
    elif previous is not None:
        console.info(f"tune: {tune_dir} holds a run with other arguments; starting afresh (the build cache stays)")
        store.clear()
    where = (f"on {request.device}" if request.device else
             f"on this machine (local adapter{'' if profiled_on is target else ', no --device for ' + target.name})")
    console.info(f"tune: {len(space.candidates())} candidates, measured {where}")
    for note in space.notes:
        console.info(f"tune: {note}")
    state = {"schema_version": SCHEMA_VERSION, "edgekit": __version__, "config": str(loaded.path),
             "target": target.name, "device": request.device, "constraints": constraints.to_dict(),
             "space": space.to_dict(), "space_notes": space.notes, "metric": "accuracy", "higher_is_better": True,
             "started": (previous or {}).get("started") if trials else now_iso(), "finished": None,
             "wall_seconds": elapsed_before, "stopped": Stopped.RUNNING.value, "baseline": None, "chosen": None, "front": [],
             "fingerprint": fingerprint, "measured_on": request.device or where.removeprefix("on "),
             "budget_minutes": settings.budget_minutes, "max_trials": settings.trials}
    limits = Limits(budget_s=settings.budget_minutes * 60 if settings.budget_minutes else None,
                    max_trials=settings.trials, elapsed_before_s=elapsed_before)

    def save_progress() -> None:
        state["wall_seconds"] = round(limits.elapsed(), 3)
        store.write_state(state)

    save_progress()
    builder = VariantBuilder(tune_dir, loaded, base, target, connection)
    timer = Timer(profiled_on, connection, settings.profile_runs, lock_timeout_s=request.lock_timeout_s)
    probe = Probe(builder, timer, tune_dir / PROBE_NAME, default_structure=Structure.of(default))
    if trials:
        probe.load()  # what the run this one continues measured of the structures
    search = Search(settings=settings, constraints=constraints, space=space, default=default, builder=builder,
                    timer=timer, store=store, trials=trials, full_epochs=loaded.config.train.epochs, limits=limits,
                    on_trial=save_progress, probe=probe, sizes_scale=loaded.config.model.builtin is not None)
    stopped = search.run()
    chosen = outcome.choose(search.best, search.trials)
    ended = Stopped.NOTHING_FITS if chosen is None and stopped is Stopped.DONE else stopped
    state.update({"stopped": ended.value,
                  "baseline": search.baseline.id if search.baseline else None,
                  "chosen": chosen.id if chosen else None, "front": outcome.front(search.trials),
                  "finished": now_iso(), "trials_reused": len(search.trials) - search.new_trials})
    save_progress()
    config_path = None
    error = None
    if chosen is not None:
        config_path = outcome.write_chosen_config(tune_dir, chosen, base, loaded, loaded.config.train.epochs)
        gate = chosen.extra.get("build_gate") or {}
        if gate.get("passes") is False:
            console.warn(f"tune: {chosen.id} loses {gate['drop']:.4f} accuracy to its own float model, more than "
                         f"evaluate.max_accuracy_drop ({gate['limit']}): `edgekit build` of it will fail its "
                         f"accuracy gate; give --max-accuracy-drop, or raise the limit")
    else:
        (tune_dir / outcome.CHOSEN_CONFIG).unlink(missing_ok=True)
        error = outcome.NothingFits(outcome.nothing_fits_message(search.trials, stopped.value))
    report_path = _write_report(tune_dir)
    return TuneResult(tune_dir=tune_dir, state=state, trials=search.trials, chosen=chosen, baseline=search.baseline,
                      config_path=config_path, report_path=report_path, error=error, notes=space.notes)


def _settings(loaded: LoadedConfig, request: TuneRequest) -> TuneConfig:
    """The tune: section with the flags given on the command line put over it."""
    section = loaded.config.tune
    flags = {key: getattr(request, key) for key in FLAG_KEYS if getattr(request, key) is not None}
    if "min_accuracy" in flags:
        section = section.model_copy(update={"max_accuracy_drop": None})
    if "max_accuracy_drop" in flags:
        section = section.model_copy(update={"min_accuracy": None})
    data = {**section.model_dump(), **flags}
    try:
        return TuneConfig.model_validate(data)
    except Exception as error:  # pydantic.ValidationError: the flag's value, said in one line
        import pydantic

        if not isinstance(error, pydantic.ValidationError):
            raise
        first = error.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        if not first["loc"]:  # a check across keys: its message names them
            raise ConfigError(f"tune: {message}") from None
        key = str(first["loc"][0])
        flag = f"--{key.replace('_', '-')}" if key in flags else f"tune.{key}"
        raise ConfigError(f"{flag}: {message} (got {first.get('input')!r})") from None


def _fingerprint(loaded: LoadedConfig, target: str, device, constraints, space, settings: TuneConfig) -> str:
    """What must match for a run to continue an earlier one (the budget and trial limit may change)."""
    material = {"config": loaded.sha256, "target": target, "device": device, "constraints": constraints.to_dict(),
                "space": space.to_dict(), "edgekit": __version__,
                "settings": settings.model_dump(mode="json", exclude={"budget_minutes", "trials"})}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def _write_report(tune_dir: Path) -> Optional[Path]:
    """tune/report.html; a trial file that cannot be drawn (edited by hand) leaves the page out with a warning,
    never the search's result (state.json, trials/ and the chosen edgekit.yaml are written before)."""
    from edgekit.tune.report import write_tune_report

    started = time.perf_counter()
    try:
        path = write_tune_report(tune_dir)
    except InputFileError as error:
        console.warn(f"tune: no report page: {error}")
        return None
    console.info(f"tune: report {path} ({time.perf_counter() - started:.1f} s)")
    return path
