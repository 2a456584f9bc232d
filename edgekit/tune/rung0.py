"""Rung 0 and the halving: the part of edgekit.tune.search.Search that rules candidates out before training
(sizes measured so far, the structure probe), trains each other build folder briefly, and keeps the most
accurate folders for full training (docs/tune.md, "How it searches", steps 2 to 5)."""

from __future__ import annotations

import math
from typing import Optional

from edgekit import console
from edgekit.errors import EdgekitError
from edgekit.tune.builds import Variant
from edgekit.tune.early import EarlyMiss, SizeFact, bytes_miss, early_trial, size_facts
from edgekit.tune.limits import Stop
from edgekit.tune.probe import INT8_BYTES_MARGIN, LATENCY_MARGIN
from edgekit.tune.space import MIXED_INT8, Candidate
from edgekit.tune.trials import Trial, TrialStatus

SKIPPED_ALL_KEPT = "skipped: every build folder left would be trained in full (rung 0 had nothing to choose)"


def rung0_epochs_by_cost(full_epochs: int, short_epochs: int, train_seconds: Optional[float],
                         epoch_seconds: list[float], keep_fraction: float) -> tuple[int, str]:
    """Rung 0's epochs for a training group, chosen by what trainings cost (measured on the default build's),
    and why.

    A short rung 0 of G training groups costs G short trainings, and each of the S groups it keeps is then trained
    in full again; a rung 0 of every epoch costs G full trainings, and the kept folders' builds take theirs from
    the cache. So the full one is the cheaper when short / full >= 1 - S / G, taken as 1 - keep_fraction (at
    least that share is kept): a training whose set-up (the model built, the step traced, the file saved) costs
    more than its epochs. And it ranks the folders by the training they will have.
    """
    if short_epochs >= full_epochs:
        return full_epochs, "every epoch"
    if not train_seconds or len(epoch_seconds) != full_epochs:
        return short_epochs, "a quarter (the default build's training has no epoch times)"
    # The set-up and the first epochs are what a short training costs too; the later epochs are what it saves.
    short = max(0.0, train_seconds - sum(epoch_seconds[short_epochs:]))
    share = short / train_seconds
    measured = (f"{short_epochs} epochs would cost {short:.1f} s of the full training's {train_seconds:.1f} s "
                f"({share:.0%}, estimated from the default build's epoch times)")
    if share >= 1 - keep_fraction:
        return full_epochs, (f"{measured}, at least 1 - tune.keep_fraction: every epoch, which the kept folders' "
                             f"builds reuse, costs less")
    return short_epochs, f"{measured}, below 1 - tune.keep_fraction: a quarter"


class Rung0:
    """Mixed into Search, whose state it uses: trials, probe, builder, timer, store, constraints, settings,
    quantizations, rung0_epochs, full_epochs, builder_qat, sizes_scale, _deferred; and its _existing, _trial,
    _build, _record, _finish."""

    def _early_miss(self, candidate: Candidate, *, probed: bool = True) -> Optional[EarlyMiss]:
        """A miss `candidate` is sure to have before it is trained: by the sizes measured so far (the probe's
        too, once `probed`) and the least sizes of the structures' counted weights, or by the probe's latency of
        its structure."""
        probed = probed and self.probe is not None
        facts = self._size_facts() + (self.probe.weight_facts() if self.probe is not None else []) + (
            self.probe.size_facts() if probed else [])
        miss = bytes_miss(candidate, facts, self.constraints.max_bytes, scales_with_knobs=self.sizes_scale)
        if miss is None and probed:
            miss = self.probe.latency_miss(candidate, self.constraints.max_latency_ms)
        return miss

    def _halve(self, groups: list[list[Candidate]]) -> tuple[list[tuple[Candidate, Optional[Trial]]], Optional[str]]:
        """Rung 0 and the halving over these build folders: the survivors (each with its folder's rung-0 trial)
        and, when rung 0 had nothing to choose and was skipped, why (the survivors then have no rung-0 trial)."""
        if self._every_folder_kept(groups):
            return [(candidate, None) for group in groups for candidate in group
                    if self._passes_before_training(candidate)], SKIPPED_ALL_KEPT
        rung0 = [trial for group in groups for trial in self._rung0(group)]
        # Eliminated ones too: a resumed run ranks the same rung 0 as the run it continues (not those eliminated
        # before building, nor those not exported: they were never measured).
        ranked = [trial for trial in rung0 if trial.status in (TrialStatus.MEASURED, TrialStatus.ELIMINATED)
                  and not trial.extra.get("early") and not trial.extra.get("deferred")]
        return self._promote(ranked), None

    def _every_folder_kept(self, groups: list[list[Candidate]]) -> bool:
        """Whether the halving would keep every one of these build folders that has a candidate left (then
        rung 0 would choose nothing, and is skipped)."""
        live = sum(any(self._live(candidate) for candidate in group) for group in groups)
        return live <= max(1, math.ceil(live * self.settings.keep_fraction))

    def _live(self, candidate: Candidate) -> bool:
        existing = self._existing("search", 0, candidate)
        if existing is not None and existing.status != TrialStatus.PENDING:
            return not existing.extra.get("early")
        return self._early_miss(candidate) is None

    def _passes_before_training(self, candidate: Candidate) -> bool:
        """Whether a candidate that goes to rung 1 without rung 0 can still fit (if not, its trial says why)."""
        if candidate == self.default:
            return True
        existing = self._existing("search", 0, candidate)
        if existing is not None and existing.extra.get("early"):
            return False
        early = self._early_miss(candidate) if existing is None else None
        if early is not None:
            self._eliminate_early(existing, candidate, early)
            return False
        return True

    def _rung0(self, candidates: list[Candidate]) -> list[Trial]:
        """Rung 0 of one build folder's candidates, scored in memory: the float model of the training group
        (trained for _rung0_epochs) pruned as the folder says (edgekit.tune.masked), with the probe's size and
        latency of their structure."""
        trials, todo, stop, live = [], [], None, []
        for candidate in candidates:
            existing = self._existing("search", 0, candidate)
            if existing is not None and existing.status != TrialStatus.PENDING:
                trials.append(existing)
                if not existing.extra.get("early"):
                    live.append(candidate)
                continue
            early = self._early_miss(candidate)
            if early is not None:
                trials.append(self._eliminate_early(existing, candidate, early))
                continue
            live.append(candidate)
        epochs, why = self._rung0_length(candidates[0])
        # Rung 0 ranks the folder's training (by its float model: the same for every quantization); its trials
        # are the least compressed quantization that can fit, with the probe's size and latency. The folder's
        # other quantizations are made (all of them) when the folder is trained in full.
        ranked_by = min((c.quantization for c in live), key=self.quantizations.index) if live else None
        for candidate in live:
            existing = self._existing("search", 0, candidate)
            if existing is not None and existing.status != TrialStatus.PENDING:
                continue
            if candidate.quantization != ranked_by:
                self._deferred.setdefault(candidate.build_key, []).append(candidate)
                continue
            try:
                trial, _ = self._trial("search", 0, candidate, epochs, started=len(todo))
            except Stop as reached:  # the ones begun are measured first: their training is shared
                stop = reached
                break
            todo.append(trial)
            trials.append(trial)
        # Scored in memory (edgekit.tune.masked); a rung 0 of every epoch trains in the folder's full build
        # folder, so a kept folder's full build takes that training from the cache.
        variant = Variant.of(candidates[0], epochs, short=epochs < self.full_epochs)
        for trial in todo:
            self._rank_in_memory(trial, variant)
            trial.extra["rung0_epochs"] = f"{epochs} of {self.full_epochs}: {why}"
        for trial in todo:
            self._finish(trial)
        if stop is not None:
            raise stop
        return trials

    def _rung0_length(self, candidate: Candidate) -> tuple[int, str]:
        """How many epochs the rung-0 training of `candidate`'s training group (width, input size, precision)
        has, and why: every epoch for the default build's group (that training is done) and where a short one
        would cost nearly as much (rung0_epochs_by_cost); otherwise `rung0_epochs`."""
        if self._shares_default_training(candidate):
            return self.full_epochs, "the default build's training, done already"
        if self.settings.rung0_epochs is not None:
            return self.rung0_epochs, "tune.rung0_epochs"
        if self.settings.warm_start:
            return self.rung0_epochs, "a quarter (tune.warm_start continues the survivors from it)"
        baseline = self.baseline
        extra = baseline.extra if baseline is not None else {}
        return rung0_epochs_by_cost(self.full_epochs, self.rung0_epochs,
                                    (extra.get("stage_seconds") or {}).get("train"),
                                    extra.get("train_epoch_seconds") or [], self.settings.keep_fraction)

    def _shares_default_training(self, candidate: Candidate) -> bool:
        baseline, default = self.baseline, self.default
        return baseline is not None and baseline.status == TrialStatus.MEASURED and \
            candidate.training_key == default.training_key

    def _rank_in_memory(self, trial: Trial, variant: Variant) -> None:
        """Rung 0 of a folder: its accuracy is its float model's, pruned in memory; its size and latency are the
        probe's for the candidate's structure (none when the probe has no file of it)."""
        try:
            ranked = self.builder.rank(variant)
        except EdgekitError as error:
            trial.status, trial.reason = TrialStatus.FAILED, f"rung 0 failed: {error}"
            console.warn(f"tune: {trial.id} {trial.candidate.label()}: {trial.reason}")
            return
        fact = self.probe.fact(trial.candidate) if self.probe is not None else None
        trial.status = TrialStatus.MEASURED
        trial.accuracy = ranked.ranked.accuracy
        trial.bytes = fact.bytes if fact is not None else None
        trial.latency_ms = fact.timing().latency() if fact is not None else None
        trial.train_seconds = round(ranked.train_seconds + ranked.ranked.prune_seconds, 3)
        trial.cache_keys, trial.config = ranked.cache_keys, ranked.config
        trial.extra.update({
            "ranked_in_memory": {"accuracy_of": "the float model (Keras), pruned in memory; no file was made",
                                 "kernel_sparsity": ranked.ranked.sparsity,
                                 "test_samples": ranked.ranked.test_samples},
            "dense_model": str(ranked.dense_model.relative_to(self.builder.root)),
            "stage_seconds": ranked.stage_seconds, "cached_stages": ranked.cached, "device": None,
            "latency_from": f"the probe ({fact.file})" if fact is not None else None})
        trial.misses = self.constraints.check(trial.measured, self.reference_accuracy)
        trial.fits = not trial.misses
        size = f"{trial.bytes:,} bytes" if trial.bytes is not None else "size not probed"
        latency = f"p90 {trial.p90:.3f} ms" if trial.p90 is not None else "latency not probed"
        console.info(f"tune: {trial.id} rung 0 {trial.candidate.label()}: float accuracy {trial.accuracy:.4f} "
                     f"(in memory), {latency}, {size}")

    def _size_facts(self) -> list[SizeFact]:
        """Every file size the builds so far exported (the default build's: every quantization of the space)."""
        return [fact for trial in self.trials.values() if trial.extra.get("file_bytes")
                for fact in size_facts(trial.id, trial.candidate, self._qat_sizes(trial))]

    def _qat_sizes(self, trial: Trial) -> dict[str, int]:
        """A trial's export sizes that hold for every build: a short rung 0's int8 is post-training (no QAT),
        larger than the full build's, so it is no fact about that (edgekit.tune.probe.INT8_BYTES_MARGIN)."""
        sizes = trial.extra["file_bytes"]
        if trial.rung == 0 and trial.epochs < self.full_epochs and self.builder_qat:
            sizes = {name: size for name, size in sizes.items() if name not in ("int8", MIXED_INT8)}
        return sizes

    def _eliminate_early(self, pending: Optional[Trial], candidate: Candidate, early: EarlyMiss) -> Trial:
        """A trial for a candidate that cannot fit, recorded without building or timing it."""
        trial = early_trial(pending or Trial(id=f"t{len(self.trials):04d}", candidate=candidate, rung=0, epochs=0,
                                             extra={"role": "search"}), early)
        self.trials[trial.id] = trial
        self.store.write_trial(trial)
        self.new_trials += 1
        return trial

    def _promote(self, measured: list[Trial]) -> list[tuple[Candidate, Trial]]:
        """Rung 0's survivors, most accurate first: every hopeful candidate of the best `keep_fraction` of the
        build folders (a folder is built in full once for all its candidates, so folders are what is kept), and
        of every folder rung 0 cannot tell from the best (_gap); the others marked eliminated with the reason."""
        hopeful = []
        for trial in measured:  # its latency is a short profile: out only past the margin
            misses = [miss for miss in trial.misses if (
                miss.constraint == "max_bytes" and miss.measured > miss.limit * self._rung0_bytes_margin(trial)) or (
                miss.constraint == "max_latency_ms" and miss.measured > miss.limit * LATENCY_MARGIN)]
            if misses:
                self._eliminate(trial, "rung 0: " + "; ".join(miss.describe() for miss in misses))
            else:
                hopeful.append(trial)
        hopeful.sort(key=lambda trial: (-(trial.accuracy or 0.0), trial.p90 or math.inf, trial.bytes or 0))
        folders = list(dict.fromkeys(trial.candidate.build_key for trial in hopeful))  # best trial's order
        keep = max(1, math.ceil(len(folders) * self.settings.keep_fraction)) if folders else 0
        best_of = {key: next(trial for trial in hopeful if trial.candidate.build_key == key) for key in folders}
        # Beyond the top share, a folder rung 0 cannot tell from the best (its short training too noisy, its test
        # split too small, or quantization able to reorder them) goes on too: halving must not rule out on noise.
        band = {key: self._gap(best_of[key], hopeful[0]) for key in folders[keep:]}
        kept = set(folders[:keep]) | {key for key, gap in band.items() if gap is not None and gap[0] <= gap[1]}
        for trial in hopeful:
            key = trial.candidate.build_key
            rank = folders.index(key) + 1
            gap = band.get(key)
            if key in kept:
                why = None if gap is None else (
                    f"ranked {rank} of {len(folders)}, past the top {keep}, but {gap[0]:.4f} below the best "
                    f"folder's {hopeful[0].accuracy:.4f} ({hopeful[0].id}), {gap[2]} ({gap[1]:.4f}): rung 0 "
                    f"cannot tell them apart")
                if trial.status != TrialStatus.MEASURED or trial.extra.get("kept_within_se") != why:
                    trial.status, trial.reason = TrialStatus.MEASURED, None
                    trial.extra.pop("kept_within_se", None)
                    if why is not None:
                        trial.extra["kept_within_se"] = why
                    self.store.write_trial(trial)
            else:
                within = "" if gap is None else (
                    f", and those {gap[2]} of the best ({gap[1]:.4f}; this one is {gap[0]:.4f} below "
                    f"{hopeful[0].id})")
                self._eliminate(trial, f"rung 0: accuracy {trial.accuracy:.4f}; its build folder ranked {rank} of "
                                       f"{len(folders)} by its best candidate's accuracy; the top {keep} were "
                                       f"trained in full{within}")
        survivors = [(trial.candidate, trial) for trial in hopeful if trial.candidate.build_key in kept]
        for key, deferred in self._deferred.items():
            parent = next((trial for trial in hopeful if trial.candidate.build_key == key), None)
            for candidate in deferred:
                if parent is not None and key in kept:
                    survivors.append((candidate, parent))
                else:
                    self._eliminate_unmeasured(candidate, parent, folders, keep)
        return survivors

    def _gap(self, trial: Trial, best: Trial) -> Optional[tuple[float, float, str]]:
        """(how far `trial`'s rung-0 accuracy is below `best`'s, how far rung 0 cannot tell apart, what that band
        is); None when the band is off (keep_within_se 0) or unknown.

        Both trained every epoch: rung 0 scored the float models the full builds will export (a pruned one
        pruned in memory), on the same test split the full builds are judged on, so what can still reorder them
        is quantization: the band is the default build's largest accuracy loss from its float model to one of
        its files, plus accuracy_tolerance. Otherwise (a shorter training): keep_within_se binomial standard
        errors of the difference of the two accuracies on the test split, taken as independent (they share the
        split, so this errs towards keeping).
        """
        z = self.settings.keep_within_se
        if not z or trial.accuracy is None or best.accuracy is None:
            return None
        gap = round(best.accuracy - trial.accuracy, 6)
        loss = self._quantization_loss()
        if loss is not None and min(trial.epochs, best.epochs) >= self.full_epochs:
            return gap, round(loss + self.settings.accuracy_tolerance, 6), (
                f"within the default build's largest accuracy loss to quantization ({loss:.4f}) plus "
                f"tune.accuracy_tolerance (both trained every epoch)")
        counts = [(t.extra.get("ranked_in_memory") or {}).get("test_samples") for t in (trial, best)]
        if not all(counts):
            return None
        variance = sum(p * (1 - p) / n for p, n in zip((trial.accuracy, best.accuracy), counts))
        return gap, round(z * math.sqrt(variance), 6), f"within {z:g} standard errors"

    def _quantization_loss(self) -> Optional[float]:
        """The default build's largest accuracy loss from its float model to one of its files (0 when none lost
        any); None when it was not measured (a run that began before this was recorded)."""
        extra = self.baseline.extra if self.baseline is not None else {}
        reference, files = extra.get("float_accuracy"), extra.get("artifact_accuracy")
        scores = [score for score in (files or {}).values() if score is not None]
        if reference is None or not scores:
            return None
        return round(max(0.0, reference - min(scores)), 6)

    def _eliminate_unmeasured(self, candidate: Candidate, ranked: Optional[Trial], folders: Optional[list] = None,
                              keep: int = 0, *, reason: Optional[str] = None) -> None:
        """A quantization of a folder rung 0 did not keep (or rung 1 dropped: `reason`), recorded as eliminated
        (its folder was ranked by `ranked`; it was neither exported nor timed)."""
        existing = self._existing("search", 0, candidate)
        if existing is not None:
            if reason is not None:
                self._eliminate(existing, reason)
            return
        if reason is None and ranked is None:
            reason = "rung 0: its build folder has no candidate left that can fit"
        elif reason is None:
            reason = (f"rung 0: not exported; its build folder ranked {folders.index(candidate.build_key) + 1} of "
                      f"{len(folders)} by {ranked.id} ({ranked.candidate.quantization}, accuracy "
                      f"{ranked.accuracy:.4f}); the top {keep} were trained in full")
        trial = Trial(id=f"t{len(self.trials):04d}", candidate=candidate, rung=0, epochs=0,
                      status=TrialStatus.ELIMINATED, reason=reason, fits=False,
                      extra={"role": "search", "deferred": True})
        self.trials[trial.id] = trial
        self.store.write_trial(trial)
        self.new_trials += 1

    def _rung0_bytes_margin(self, trial: Trial) -> float:
        """1, or INT8_BYTES_MARGIN for an int8 size of rung 0 (the probe's: post-training, without the QAT the
        full build has)."""
        return INT8_BYTES_MARGIN if self.builder_qat and trial.candidate.quantization in ("int8", MIXED_INT8) \
            else 1.0

    def _eliminate(self, trial: Trial, reason: str) -> None:
        if trial.status != TrialStatus.ELIMINATED or trial.reason != reason:
            trial.status, trial.reason = TrialStatus.ELIMINATED, reason
            self.store.write_trial(trial)
