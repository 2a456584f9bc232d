"""Successive halving over the candidates: every candidate trained briefly (rung 0) and timed; the ones that can
still fit and are the most accurate trained in full (rung 1) and timed in A/B rounds against the current best.
Cheap where it is honest (docs/tune.md): early elimination by file size, one rung-0 build and profiler process per
folder, survivors continued from rung 0, and the default candidate's rung 1 taken from the default build."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Callable, Optional

from edgekit import console
from edgekit.config.tune import TuneConfig
from edgekit.errors import EdgekitError
from edgekit.tune.builds import Variant, VariantBuild, VariantBuilder, full_variant
from edgekit.tune.constraints import Constraints
from edgekit.tune.limits import Limits, Stop
from edgekit.tune.measure import Timed, Timer, Timing
from edgekit.tune.probe import Probe
from edgekit.tune.rung0 import Rung0
from edgekit.tune.space import Candidate, SearchSpace
from edgekit.tune.trials import Stopped, Trial, TrialStatus, TuneStore

SKIPPED_DEFAULT = "skipped: the default build's folder, trained in full already"
# Test hook: the process kills itself (SIGKILL) after writing this many new trials, as a crash would.
KILL_AFTER_TRIALS = "EDGEKIT_TUNE_KILL_AFTER_TRIALS"


class Search(Rung0):
    """One tune run's search; `trials` holds every trial (resumed ones included) by id."""

    def __init__(self, *, settings: TuneConfig, constraints: Constraints, space: SearchSpace, default: Candidate,
                 builder: VariantBuilder, timer: Timer, store: TuneStore, trials: dict[str, Trial],
                 full_epochs: int, limits: Limits, on_trial: Callable[[], None], probe: Optional[Probe] = None,
                 sizes_scale: bool = False):
        self.settings, self.constraints, self.space, self.default = settings, constraints, space, default
        self.builder, self.timer, self.store, self.limits = builder, timer, store, limits
        self.trials = trials
        self.full_epochs = full_epochs
        # A short rung 0's length; each training group's is chosen by _rung0_epochs (rung0.py)
        self.rung0_epochs = min(settings.rung0_epochs or max(1, full_epochs // 4), full_epochs)
        self.quantizations = list(dict.fromkeys([*space.quantization, default.quantization]))
        self.on_trial = on_trial
        # The full builds fine-tune with QAT (the user's qat.enabled); rung 0 never does.
        loaded = getattr(builder, "loaded", None)
        self.builder_qat = bool(loaded is not None and loaded.config.qat.enabled)
        self.probe = probe  # None: no structure probe (candidates are judged once trained)
        self.sizes_scale = sizes_scale  # a built-in: wider or larger-input means at least as many weights (early.py)
        self.reference_accuracy: Optional[float] = None
        self.baseline: Optional[Trial] = None
        self.best: Optional[Trial] = None
        self.new_trials = 0
        self._failed_builds: dict[tuple, str] = {}
        self._builds: dict[tuple, VariantBuild] = {}
        # build folder -> its live candidates a short rung 0 did not export (they follow the folder's rank)
        self._deferred: dict[tuple, list[Candidate]] = {}
        # build folder -> the quantizations its full build exports (a kept folder's survivors'; the default
        # build's folder: all of the space's)
        self._full_exports: dict[tuple, list[str]] = {}
        # kept build folder -> why rung 1 does not build it (tune.race), or None: it is built; decided once
        self._raced: dict[tuple, Optional[str]] = {}

    def run(self) -> Stopped:
        """Search until done or stopped; returns why it ended (done, budget or trials)."""
        try:
            self._measure_baseline()
            if self.probe is not None:  # the weights first: a structure they rule out is not exported
                self.probe.count_weights(self._hopeful())
                self.probe.run(self._hopeful(), self._default_files())
            groups = self._build_groups()
            survivors, skipped = self._halve([group for group in groups if not self._is_default_folder(group[0])])
            # The default build's folder is trained in full already: its candidates go straight to rung 1.
            direct = [candidate for group in groups if self._is_default_folder(group[0]) for candidate in group
                      if self._passes_before_training(candidate)]
            for candidate in direct:
                self._rung1(candidate, parent=None, skipped=SKIPPED_DEFAULT)
            for candidate, _ in survivors:  # a kept folder exports what its survivors need, once for all of them
                self._full_exports.setdefault(candidate.build_key, []).append(candidate.quantization)
            for candidate, parent in survivors:  # most accurate first: the best measured rises early
                if not self._raced_out(candidate, parent):
                    self._rung1(candidate, parent=parent, skipped=skipped)
        except Stop as stop:
            console.info(f"tune: stopped by the {'time budget' if stop.reason is Stopped.BUDGET else 'trial limit'}; "
                         f"choosing from the {sum(t.status != TrialStatus.PENDING for t in self.trials.values())} "
                         f"trials so far")
            return stop.reason
        return Stopped.DONE

    # ------------------------------------------------------------------------------------------ trials
    def _existing(self, role: str, rung: int, candidate: Candidate) -> Optional[Trial]:
        """The trial of `candidate` at `rung` an earlier run recorded (finished or pending), if any."""
        return next((trial for trial in self.trials.values() if trial.rung == rung and trial.candidate == candidate
                     and trial.extra.get("role") == role), None)

    def _trial(self, role: str, rung: int, candidate: Candidate, epochs: int, *,
               started: int = 0) -> tuple[Trial, bool]:
        """The trial of `candidate` at `rung`: the finished one of an earlier run (True), or a new one (False).
        `started`: trials begun and not yet finished by the caller, counted against the trial limit."""
        trial = self._existing(role, rung, candidate)
        if trial is not None and trial.status != TrialStatus.PENDING:
            return trial, True
        self._check_limits(started)
        if trial is None:
            trial = Trial(id=f"t{len(self.trials):04d}", candidate=candidate, rung=rung, epochs=epochs,
                          extra={"role": role})
            self.trials[trial.id] = trial
        self.store.write_trial(trial)  # pending: a kill from here on leaves this trial to do again
        return trial, False

    def _check_limits(self, started: int = 0) -> None:
        # Candidates eliminated before building cost nothing and do not count.
        done = started + sum(trial.status != TrialStatus.PENDING and not trial.extra.get("early")
                             and not trial.extra.get("deferred") for trial in self.trials.values())
        if self.limits.max_trials is not None and done >= self.limits.max_trials:
            raise Stop(Stopped.TRIALS)
        if self.limits.budget_s is not None and self.limits.elapsed() >= self.limits.budget_s:
            raise Stop(Stopped.BUDGET)

    def _finish(self, trial: Trial) -> None:
        self.store.write_trial(trial)
        self.new_trials += 1
        self.on_trial()
        kill_after = os.environ.get(KILL_AFTER_TRIALS)
        if kill_after and self.new_trials >= int(kill_after):
            os.kill(os.getpid(), signal.SIGKILL)

    # ------------------------------------------------------------------------------------------ stages
    def _measure_baseline(self) -> None:
        trial, done = self._trial("baseline", 1, self.default, self.full_epochs)
        if not done:
            console.info(f"tune: the default build ({self.default.label()}), {self.full_epochs} epochs")
            built = self._build(trial, Variant.of(self.default, self.full_epochs, short=False))
            if built is not None:
                trial.extra["float_accuracy"] = built.float_accuracy
                trial.extra["train_epoch_seconds"] = built.epoch_seconds  # what rung 0's length is chosen by
                # what quantization cost its accuracy (the band of a rung 0 that trained every epoch, rung0.py)
                trial.extra["artifact_accuracy"] = {name: made.accuracy for name, made in built.artifacts.items()}
                # Before it is judged: --max-accuracy-drop applies to the default build too.
                self.reference_accuracy = built.float_accuracy
                self._time_full(trial, built, against=None)
            self._finish(trial)
        self.baseline = trial
        self.reference_accuracy = trial.extra.get("float_accuracy")
        if trial.fits:
            self.best = trial

    def _hopeful(self) -> list[Candidate]:
        """The space's candidates no size measured or counted so far rules out (the probe's are not in yet)."""
        return [candidate for candidate in self.space.candidates() if self._early_miss(candidate, probed=False) is None]

    def _build_groups(self) -> list[list[Candidate]]:
        """The space's candidates by build folder (they differ only in quantization and threads), in order."""
        groups: dict[tuple, list[Candidate]] = {}
        for candidate in self.space.candidates():
            groups.setdefault(candidate.build_key, []).append(candidate)
        return list(groups.values())

    def _is_default_folder(self, candidate: Candidate) -> bool:
        return candidate.build_key == self.default.build_key and self.baseline is not None \
            and self.baseline.status == TrialStatus.MEASURED

    def _rung1(self, candidate: Candidate, parent: Optional[Trial], skipped: Optional[str] = None) -> None:
        """`candidate` trained in full (from rung-0 trial `parent`, or without one: `skipped` says why) and timed
        in A/B rounds against the best."""
        trial, done = self._trial("search", 1, candidate, self.full_epochs)
        if not done:
            trial.extra["parent"] = parent.id if parent is not None else None
            if skipped is not None:
                trial.extra["rung0"] = skipped
            if self._is_default_build(candidate):
                self._same_as_baseline(trial)
            else:
                rung0_model = parent.extra.get("dense_model") if self.settings.warm_start and parent else None
                variant = full_variant(candidate, self.default, self.full_epochs,
                                       parent.epochs if parent is not None else self.full_epochs,
                                       self.builder.root / rung0_model if rung0_model else None)
                needed = self._full_exports.get(candidate.build_key)
                built = self._build(trial, variant, tuple(q for q in self.quantizations if q in needed)
                                    if needed else None)
                if built is not None:
                    self._time_full(trial, built, against=self.best)
                    if variant.initial_model is not None and parent is not None:  # what the whole training cost: rung 0's part too
                        trial.train_seconds = round(trial.train_seconds + parent.extra["stage_seconds"]["train"], 3)
                        trial.extra["warm_start"] = {"from": parent.id, "epochs_before": variant.warm_epochs,
                                                     "epochs": self.full_epochs - variant.warm_epochs}
            self._finish(trial)
        if trial.extra.get("became_best"):
            self.best = trial

    def _raced_out(self, candidate: Candidate, parent: Optional[Trial]) -> bool:
        """Whether rung 1 drops `candidate` without building its folder, because the folder cannot beat the best
        measured (tune.race; decided at the folder's first survivor, against the best then); its rung-0 trial
        (or, for a quantization rung 0 did not rank, a trial of its own) says why."""
        key = candidate.build_key
        if key not in self._raced:
            self._raced[key] = self._cannot_win(parent)
        reason = self._raced[key]
        if reason is None:
            return False
        existing = self._existing("search", 1, candidate)
        if existing is not None and existing.status != TrialStatus.PENDING:
            return False  # built by the run this one continues
        if parent is not None and parent.candidate == candidate:
            self._eliminate(parent, reason)
        else:
            self._eliminate_unmeasured(candidate, parent, reason=reason)
        return True

    def _cannot_win(self, parent: Optional[Trial]) -> Optional[str]:
        """Why the build folder ranked by rung-0 trial `parent` cannot beat the best measured, or None.

        Its rung 0 trained every epoch, so its float score is that of the very model its build exports (a pruned
        one pruned in memory with the prune stage's masks and schedule); what its files can add is what
        quantization (and QAT, which fine-tunes on) adds over the float model: taken as the largest gain any file
        of this run showed over its own float model, plus one test sample. Below the best's accuracy less
        accuracy_tolerance, none of its files can become the best (more accurate, or as accurate and faster)."""
        best = self.best
        if (not self.settings.race or parent is None or best is None or best.accuracy is None
                or parent.accuracy is None or parent.epochs < self.full_epochs):
            return None
        samples = (parent.extra.get("ranked_in_memory") or {}).get("test_samples")
        if not samples:
            return None
        gain = self._largest_gain()
        reach = parent.accuracy + gain + 1.0 / samples
        need = best.accuracy - self.settings.accuracy_tolerance
        if reach >= need:
            return None
        return (f"rung 1: not built: its float model scored {parent.accuracy:.4f} at rung 0 ({parent.id}, every "
                f"epoch: the model its build exports{', before QAT' if self.builder_qat else ''}); with the largest "
                f"gain a file of this run showed over its own float model ({gain:.4f}) and one test sample "
                f"({1.0 / samples:.4f}) it reaches {reach:.4f} < {best.id}'s {best.accuracy:.4f} - "
                f"tune.accuracy_tolerance: it cannot become the best (tune.race)")

    def _largest_gain(self) -> float:
        """The most accuracy a file built in this run gained over its own build's float model (0 when none
        gained): the default build's files, and every fully trained trial's (`build_gate`)."""
        gains = [0.0]
        baseline = self.baseline.extra if self.baseline is not None else {}
        if baseline.get("float_accuracy") is not None:
            gains += [score - baseline["float_accuracy"] for score in (baseline.get("artifact_accuracy") or {}).values()
                      if score is not None]
        gains += [-trial.extra["build_gate"]["drop"] for trial in self.trials.values()
                  if trial.rung >= 1 and trial.status == TrialStatus.MEASURED and trial.extra.get("build_gate")]
        return round(max(gains), 6)

    def _default_files(self) -> dict[str, Path]:
        """The default build's files by quantization (its structure, trained: the probe times them instead of
        exporting the structure untrained); none when this run took the default build from an earlier one."""
        built = self._builds.get((Variant.of(self.default, self.full_epochs, short=False), tuple(self.quantizations)))
        return {name: artifact.path for name, artifact in built.artifacts.items()} if built is not None else {}

    def _is_default_build(self, candidate: Candidate) -> bool:
        """The candidate is the default build (same artifact, same threads), measured, and still the best (or
        nothing is): timing it again against itself would tell nothing new."""
        baseline = self.baseline
        return (baseline is not None and candidate == baseline.candidate and baseline.status == TrialStatus.MEASURED
                and baseline.p90 is not None and (self.best is None or self.best is baseline))

    def _same_as_baseline(self, trial: Trial) -> None:
        """Rung 1 of the default candidate: the default build's own measurement (the same build folder and file,
        profiled in the same rounds), recorded with `same_as`; it does not replace the default build as best."""
        baseline = self.baseline
        trial.status = TrialStatus.MEASURED
        for name in ("accuracy", "bytes", "latency_ms", "peak_memory_mb", "train_seconds"):
            setattr(trial, name, getattr(baseline, name))
        trial.cache_keys, trial.config = dict(baseline.cache_keys), baseline.config
        for name in ("artifact", "stage_seconds", "cached_stages", "device", "file_bytes", "build_gate"):
            if name in baseline.extra:
                trial.extra[name] = baseline.extra[name]
        trial.misses = self.constraints.check(trial.measured, self.reference_accuracy)
        trial.fits = not trial.misses
        trial.extra.update({"same_as": baseline.id, "became_best": False})
        console.info(f"tune: {trial.id} {trial.candidate.label()}: the default build {baseline.id} itself "
                     f"(its measurement, not taken again)")

    # ------------------------------------------------------------------------------------------ parts
    def _build(self, trial: Trial, variant: Variant,
               quantizations: Optional[tuple[str, ...]] = None) -> Optional[VariantBuild]:
        """The variant's build exporting `quantizations` (default: every one of the space, so a full build
        folder is the same for the default build and every survivor in it), or None with the trial marked
        failed (the reason is the error's message)."""
        key = (variant, quantizations or tuple(self.quantizations))
        reason = self._failed_builds.get(key)
        built = self._builds.get(key)  # a build folder is built once for all its candidates
        if reason is None and built is None:
            try:
                built = self._builds[key] = self.builder.build(variant, list(key[1]))
            except EdgekitError as error:
                reason = self._failed_builds[key] = f"build failed: {error}"
        if built is not None and trial.candidate.quantization not in built.artifacts:
            reason = built.missing.get(trial.candidate.quantization, "no such artifact")
        if reason is not None:
            console.warn(f"tune: {trial.id} {trial.candidate.label()}: {reason}")
            trial.status, trial.reason = TrialStatus.FAILED, reason
            return None
        return built

    def _time_full(self, trial: Trial, built: VariantBuild, against: Optional[Trial]) -> None:
        """Time a fully trained candidate in A/B rounds with the current best, and decide whether it wins."""
        artifact = built.artifacts[trial.candidate.quantization]
        mine = Timed(artifact.path, trial.candidate.threads)
        theirs = None
        if against is not None:
            theirs = Timed(self.builder.root / against.extra["artifact"], against.candidate.threads)
            if theirs == mine:
                theirs = None
        contender = against is None or artifact.accuracy is None or \
            artifact.accuracy >= against.accuracy - self.settings.accuracy_tolerance
        if not contender:  # less accurate beyond the tolerance: it cannot win, whatever its latency
            theirs = None
        timing, best_timing = self.timer.ab(mine, theirs, self.settings.ab_rounds if contender else 1)
        self._record(trial, built, timing)
        wins = contender and trial.fits and (theirs is None or self._beats(trial, timing, against, best_timing))
        if not contender:
            trial.extra["timed_alone"] = (f"accuracy {artifact.accuracy:.4f} < {against.id}'s {against.accuracy:.4f} "
                                          f"- {self.settings.accuracy_tolerance:g}: it cannot become the best, so "
                                          f"one profile, not A/B rounds")
        if theirs is not None:
            trial.extra["ab"] = {"against": against.id, "rounds": self.settings.ab_rounds,
                                 "p90_ms": round(timing.p90, 4), "against_p90_ms": round(best_timing.p90, 4),
                                 "won": bool(wins)}
        trial.extra["became_best"] = bool(wins)
        verdict = "fits" if trial.fits else "misses " + "; ".join(miss.describe() for miss in trial.misses)
        console.info(f"tune: {trial.id} {trial.candidate.label()}: accuracy {trial.accuracy:.4f}, p90 "
                     f"{trial.p90:.3f} ms, {trial.bytes:,} bytes: {verdict}"
                     f"{' - the best so far' if wins else ''}")

    def _beats(self, trial: Trial, timing: Timing, best: Trial, best_timing: Timing) -> bool:
        """More accurate beyond the tolerance, or as accurate and faster in the same A/B rounds."""
        tolerance = self.settings.accuracy_tolerance
        if trial.accuracy > best.accuracy + tolerance:
            return True
        if trial.accuracy < best.accuracy - tolerance:
            return False
        return timing.p90 < best_timing.p90

    def _record(self, trial: Trial, built: VariantBuild, timing: Timing) -> None:
        artifact = built.artifacts[trial.candidate.quantization]
        trial.status = TrialStatus.MEASURED
        trial.accuracy, trial.bytes = artifact.accuracy, artifact.bytes
        trial.latency_ms, trial.peak_memory_mb = timing.latency(), timing.peak_memory_mb
        trial.train_seconds = built.train_seconds
        trial.cache_keys = built.cache_keys
        trial.config = built.config
        trial.extra.update({"artifact": str(artifact.path.relative_to(self.builder.root)),
                            # every quantization this build folder exported: exact sizes for early.py
                            "file_bytes": {name: made.bytes for name, made in built.artifacts.items()},
                            "dense_model": str(built.dense_model.relative_to(self.builder.root))
                            if built.dense_model else None,
                            "stage_seconds": built.stage_seconds, "cached_stages": built.cached,
                            "device": timing.device})
        if built.float_accuracy is not None and artifact.accuracy is not None:
            # What `edgekit build` of this candidate will judge: the artifact against its own dense float model.
            limit = self.builder.loaded.config.evaluate.max_accuracy_drop
            drop = round(built.float_accuracy - artifact.accuracy, 6)
            trial.extra["build_gate"] = {"drop": drop, "limit": limit, "passes": drop <= limit + 1e-9}
        trial.misses = self.constraints.check(trial.measured, self.reference_accuracy)
        trial.fits = not trial.misses
