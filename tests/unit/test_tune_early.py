"""What keeps `edgekit tune` cheap, without training: candidates eliminated by file sizes before they are built
(exact facts and safe bounds), one rung-0 build and one profiler process per build folder, and the default
candidate's rung 1 taken from the default build. The search runs with a builder and a timer that only count."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from edgekit.adapters import ConnectionOptions
from edgekit.config.target import load_target
from edgekit.config.tune import TuneConfig
from edgekit.tune.builds import BuiltArtifact, VariantBuild
from edgekit.tune.constraints import Constraints
from edgekit.tune.early import SizeFact, bytes_miss
from edgekit.tune.measure import Timed, Timer, Timing
from edgekit.tune.search import Limits, Search
from edgekit.tune.space import Candidate, SearchSpace
from edgekit.tune.trials import Stopped, TrialStatus, TuneStore

# (width, quantization) -> file bytes, as a small CNN's exports are: width 1.0 float32 over 100 kB, int8 under.
SIZES = {(0.5, "float32"): 80_000, (0.5, "int8"): 25_000, (1.0, "float32"): 300_000, (1.0, "int8"): 85_000}


def _candidate(width=1.0, quantization="int8", sparsity=0.0, threads=1, size=None):
    return Candidate(width, size, sparsity, quantization, "float32", threads)


# ------------------------------------------------------------------------------------------------ size facts
def test_a_sibling_export_of_the_same_model_is_an_exact_size():
    facts = [SizeFact(1.0, None, "float32", 300_000, "t0000"), SizeFact(1.0, None, "int8", 85_000, "t0000")]
    early = bytes_miss(_candidate(quantization="float32", sparsity=0.5, threads=2), facts, 100_000,
                       scales_with_knobs=False)
    assert early.exact and (early.miss.constraint, early.miss.limit, early.miss.measured) == (
        "max_bytes", 100_000, 300_000)
    assert early.reason == ("before building: file size 300,000 bytes > 100,000 bytes, exactly as the float32 "
                            "export of t0000's build (same width and input size; the size does not depend on "
                            "training, sparsity or precision)")
    assert bytes_miss(_candidate(quantization="int8"), facts, 100_000, scales_with_knobs=True) is None
    assert bytes_miss(_candidate(quantization="float32"), facts, None, scales_with_knobs=True) is None


def test_bounds_only_where_safe_wider_inputs_and_less_compressed_files():
    narrow_int8 = [SizeFact(0.5, 64, "int8", 120_000, "t0003")]
    # a wider, larger-input built-in in float16 holds at least those int8 bytes
    early = bytes_miss(_candidate(width=1.0, quantization="float16", size=96), narrow_int8, 100_000,
                       scales_with_knobs=True)
    assert not early.exact and early.miss.measured == 120_000
    assert "file size at least 120,000 bytes > 100,000 bytes" in early.reason
    # a factory's width says nothing edgekit can rely on; a narrower or smaller model is not bounded
    assert bytes_miss(_candidate(width=1.0, quantization="float16", size=96), narrow_int8, 100_000,
                      scales_with_knobs=False) is None
    assert bytes_miss(_candidate(width=0.25, quantization="float16", size=64), narrow_int8, 100_000,
                      scales_with_knobs=True) is None
    assert bytes_miss(_candidate(width=0.5, quantization="float16", size=48), narrow_int8, 100_000,
                      scales_with_knobs=True) is None
    # dynamic is not ordered against int8, and int8-mixed's own size is never exact (recovery decides it)
    assert bytes_miss(_candidate(width=0.5, quantization="dynamic", size=64), narrow_int8, 100_000,
                      scales_with_knobs=True) is None
    mixed = bytes_miss(_candidate(width=0.5, quantization="int8-mixed", size=64), narrow_int8, 100_000,
                       scales_with_knobs=True)
    assert mixed is not None and not mixed.exact
    assert bytes_miss(_candidate(width=0.5, quantization="int8-mixed", size=64),
                      [SizeFact(0.5, 64, "int8-mixed", 120_000, "t0003")], 100_000, scales_with_knobs=True) is None


# ------------------------------------------------------------------------------------------------ the search
class CountingBuilder:
    """Builds nothing: records each build and hands back files of SIZES with an accuracy from the knobs; rung 0's
    in-memory scores (rank) come from the same knobs, without the int8 penalty (a float model's)."""

    def __init__(self, root: Path):
        self.root = root
        self.loaded = None
        self.calls = []  # rank's and build's variants, in order
        self.ranks = []  # rank's alone (rung 0, scored in memory)
        self.built = []  # build's alone
        self.exported = []
        self.ranked = {}
        self.test_samples = 400  # rung 0's test split: its standard errors
        self.epoch_seconds = []  # the train stage's epoch times (none: rung 0 cannot choose its length by cost)
        self.float_accuracy = None  # the dense float model's (none: the quantization loss is unknown)

    def rank(self, variant):
        from edgekit.tune.builds import RankedVariant
        from edgekit.tune.masked import Ranked

        if variant not in self.ranked:
            self.calls.append(variant)
            self.ranks.append(variant)
            group = type(variant)(variant.width, variant.input_size, 0, variant.precision, variant.epochs,
                                  variant.short)
            dense = self.root / group.folder() / "train" / "m-dense.keras"
            dense.parent.mkdir(parents=True, exist_ok=True)
            dense.write_bytes(b"weights")
            accuracy = 0.5 + 0.3 * variant.width + 0.01 * variant.epochs - 0.1 * float(variant.sparsity)
            self.ranked[variant] = RankedVariant(
                config={}, ranked=Ranked(round(accuracy, 4), float(variant.sparsity), 0.5, 0.1, self.test_samples), train_seconds=1.0,
                stage_seconds={"train": 2.0}, cached=[], cache_keys={"train": "k"}, dense_model=dense)
        return self.ranked[variant]

    def build(self, variant, quantizations):
        self.calls.append(variant)
        self.built.append(variant)
        self.exported.append((variant.width, variant.sparsity, variant.short, tuple(quantizations)))
        folder = self.root / variant.folder()
        folder.mkdir(parents=True, exist_ok=True)
        artifacts = {}
        for quantization in quantizations:
            path = folder / f"{quantization}.tflite"
            path.write_bytes(b"model")
            accuracy = 0.5 + 0.3 * variant.width + 0.01 * variant.epochs - 0.1 * float(variant.sparsity) - (
                0.02 if quantization == "int8" else 0.0)
            artifacts[quantization] = BuiltArtifact(path, SIZES[(variant.width, quantization)], round(accuracy, 4))
        dense = folder / "train" / "m-dense.keras"
        dense.parent.mkdir(exist_ok=True)
        dense.write_bytes(b"weights")
        return VariantBuild(build_dir=folder, config={}, artifacts=artifacts, float_accuracy=self.float_accuracy,
                            train_seconds=1.0, stage_seconds={"train": 2.0}, cached=[], cache_keys={"train": "k"},
                            dense_model=dense, epoch_seconds=list(self.epoch_seconds))


class CountingTimer:
    def __init__(self):
        self.quick_calls, self.ab_calls, self.rounds = [], [], []

    def quick_many(self, models):
        self.quick_calls.append(list(models))
        return [Timing(samples_ms=[1.0] * 5) for _ in models]

    def ab(self, mine, theirs, rounds):
        self.ab_calls.append((mine, theirs))
        self.rounds.append(rounds)
        return Timing(samples_ms=[1.0] * 5, peak_memory_mb=10.0), Timing(samples_ms=[1.0] * 5) if theirs else None


def _search(tmp_path, *, max_trials=None, threads=(1, 2), full_epochs=12, warm_start=False, keep_fraction=0.25,
            keep_within_se=2.0, race=False):
    """A search over widths 0.5 and 1.0, sparsities 0 and 0.5, float32 and int8 (race off unless asked: these
    tests are about which folders rung 0 keeps, and CountingBuilder's kept folder cannot beat the default)."""
    space = SearchSpace([0.5, 1.0], [None], [0.0, 0.5], ["float32", "int8"], ["float32"], list(threads))
    builder, timer = CountingBuilder(tmp_path / "builds"), CountingTimer()
    search = Search(settings=TuneConfig(warm_start=warm_start, keep_fraction=keep_fraction,
                                        keep_within_se=keep_within_se, race=race),
                    constraints=Constraints(max_bytes=100_000), space=space,
                    default=_candidate(), builder=builder, timer=timer, store=TuneStore(tmp_path), trials={},
                    full_epochs=full_epochs, limits=Limits(None, max_trials, 0.0), on_trial=lambda: None, sizes_scale=True)
    return search, builder, timer


def test_rung0_builds_each_folder_once_and_skips_what_the_default_build_already_rules_out(tmp_path):
    search, builder, timer = _search(tmp_path)
    assert search.run() is Stopped.DONE
    rung0_builds = [(v.width, v.sparsity, v.epochs) for v in builder.ranks]
    # not one per quantization or threads; none for the default build's own folder (w1 dense: trained in full);
    # width 1.0 is ranked on the default build's full training (done already), width 0.5 on a quarter (the
    # default build's training has no epoch times here to choose by)
    assert rung0_builds == [(0.5, 0.0, 3), (0.5, 0.5, 3), (1.0, 0.5, 12)]
    assert [t.extra["rung0_epochs"] for t in search.trials.values() if t.extra.get("ranked_in_memory")][-1] == \
        "12 of 12: the default build's training, done already"
    # rung 0 exports nothing (scored in memory); its trials are the least compressed quantization that can fit
    # (width 1.0: int8, its float32 is out), one per thread count
    assert not [exported for exported in builder.exported if exported[2]]
    rung0 = [t for t in search.trials.values() if t.extra.get("ranked_in_memory")]
    assert sorted((t.candidate.width, t.candidate.sparsity, t.candidate.quantization, t.candidate.threads)
                  for t in rung0) == [(0.5, 0.0, "float32", 1), (0.5, 0.0, "float32", 2), (0.5, 0.5, "float32", 1),
                                      (0.5, 0.5, "float32", 2), (1.0, 0.5, "int8", 1), (1.0, 0.5, "int8", 2)]
    assert all(t.extra["ranked_in_memory"]["accuracy_of"].startswith("the float model") for t in rung0)
    # the default build exports the whole space; the kept folder (w1 sparse) only what its survivors need
    assert [(w, s, q) for w, s, short, q in builder.exported if not short] == [
        (1.0, 0.0, ("float32", "int8")), (1.0, 0.5, ("int8",))]
    # no probe here, so rung 0 has no latency: nothing is profiled before rung 1
    assert timer.quick_calls == [] and all(t.p90 is None and t.bytes is None for t in rung0)
    # the folders not kept: their other quantization was neither exported nor timed, and says so
    unmeasured = [t for t in search.trials.values() if t.extra.get("deferred")]
    assert sorted((t.candidate.sparsity, t.candidate.quantization) for t in unmeasured) == [
        (0.0, "int8"), (0.0, "int8"), (0.5, "int8"), (0.5, "int8")]
    assert all(t.status is TrialStatus.ELIMINATED and t.reason.startswith("rung 0: not exported; its build folder "
                                                                          "ranked") for t in unmeasured)
    # the default build's folder goes straight to rung 1: its other live candidate (2 threads) timed in A/B
    direct = [t for t in search.trials.values() if t.extra.get("rung0", "").startswith("skipped")]
    assert [(t.candidate.quantization, t.candidate.threads, t.rung) for t in direct] == [("int8", 1, 1),
                                                                                          ("int8", 2, 1)]
    early = [t for t in search.trials.values() if t.extra.get("early")]
    assert sorted((t.candidate.sparsity, t.candidate.threads) for t in early) == [(0.0, 1), (0.0, 2), (0.5, 1),
                                                                                 (0.5, 2)]
    for trial in early:  # width 1.0 float32: the default build exported it, 300,000 bytes
        assert trial.candidate.width == 1.0 and trial.candidate.quantization == "float32"
        assert trial.status is TrialStatus.ELIMINATED and trial.bytes == 300_000 and trial.epochs == 0
        assert trial.reason.startswith("before building: file size 300,000 bytes > 100,000 bytes, exactly as")
    reread = TuneStore(tmp_path).read_trials()
    assert all(reread[t.id].extra["early"] for t in early)


@pytest.mark.parametrize("test_samples, keep_within_se, kept", [
    (400, 2.0, [(1.0, 0.5)]),  # 0.78 against 0.68 and 0.63: 0.10 apart, two standard errors are 0.06
    (20, 2.0, [(0.5, 0.0), (0.5, 0.5), (1.0, 0.5)]),  # 20 test samples: two standard errors are 0.28
    (20, 0.0, [(1.0, 0.5)]),  # the band off: the top quarter alone
])
def test_rung0_keeps_every_folder_it_cannot_tell_from_the_best(tmp_path, test_samples, keep_within_se, kept):
    search, builder, _ = _search(tmp_path, threads=(1,), keep_within_se=keep_within_se)
    builder.test_samples = test_samples
    search.run()
    full = sorted({(width, sparsity) for width, sparsity, *_ in builder.exported} - {(1.0, 0.0)})
    assert full == kept
    rung0 = {(t.candidate.width, t.candidate.sparsity): t for t in search.trials.values()
             if t.extra.get("ranked_in_memory")}
    for key, trial in rung0.items():
        if key == (1.0, 0.5):
            assert "kept_within_se" not in trial.extra  # the best folder: kept as the top quarter
        elif key in kept:
            assert trial.extra["kept_within_se"].startswith("ranked ") and "rung 0 cannot tell them apart" in \
                trial.extra["kept_within_se"]
        else:
            assert trial.status is TrialStatus.ELIMINATED and "the top 1 were trained in full" in trial.reason
            assert ("standard errors" in trial.reason) is bool(keep_within_se)


def test_the_default_candidates_rung1_is_the_default_build_itself(tmp_path):
    search, builder, timer = _search(tmp_path, threads=(1,))
    search.run()
    again = [t for t in search.trials.values() if t.rung == 1 and t.candidate == search.default
             and t.extra.get("role") == "search"]
    assert len(again) == 1, "the default candidate is the most accurate: it survives rung 0"
    (trial,) = again
    baseline = search.baseline
    assert trial.extra["same_as"] == baseline.id and trial.latency_ms == baseline.latency_ms
    assert trial.accuracy == baseline.accuracy and trial.extra["became_best"] is False
    assert search.best is baseline
    full_default = [v for v in builder.exported if v[:2] == (1.0, 0.0)]
    assert len(full_default) == 1  # built once, for the default build
    assert all(mine.path != Path(search.builder.root / baseline.extra["artifact"]) for mine, _ in timer.ab_calls[1:])


def test_a_rung0_that_trains_every_epoch_ranks_in_memory_on_the_full_builds_training(tmp_path):
    search, builder, _ = _search(tmp_path, full_epochs=1, threads=(1,))
    search.run()
    # rung 0 scores in memory (no export) on the training its folders' full builds take from the cache
    assert [(v.width, v.sparsity, v.epochs, v.short) for v in builder.ranks] == [
        (0.5, 0.0, 1, False), (0.5, 0.5, 1, False), (1.0, 0.5, 1, False)]
    assert [(w, s, q) for w, s, _, q in builder.exported] == [(1.0, 0.0, ("float32", "int8")), (1.0, 0.5, ("int8",))]
    kept = next(v for v in builder.calls if (v.width, v.sparsity) == (1.0, 0.5))
    assert kept.folder().parent == builder.ranks[2].folder().parent


def test_rung0_length_by_cost_every_epoch_when_the_set_up_dominates():
    from edgekit.tune.rung0 import rung0_epochs_by_cost

    # MobileNetV2 here: set-up and tracing dominate (1 epoch 29 s of a 4-epoch 36 s training)
    epochs, why = rung0_epochs_by_cost(4, 1, 36.0, [27.0, 2.3, 2.3, 2.4], 0.25)
    assert epochs == 4 and why.startswith("1 epochs would cost 29.0 s of the full training's 36.0 s (81%")
    # the epochs dominate: a quarter
    epochs, why = rung0_epochs_by_cost(12, 3, 13.0, [2.0] + [1.0] * 11, 0.25)
    assert epochs == 3 and "4.0 s of the full training's 13.0 s (31%" in why and why.endswith("a quarter")
    # the break-even is 1 - keep_fraction: keeping half the folders, 50 % is enough
    assert rung0_epochs_by_cost(12, 3, 13.0, [5.0] + [0.5] * 11, 0.5)[0] == 12
    assert rung0_epochs_by_cost(12, 3, 13.0, [5.0] + [0.5] * 11, 0.25)[0] == 3
    # no epoch times (an older record, a model taken as given): a quarter, saying why
    assert rung0_epochs_by_cost(12, 3, 13.0, [], 0.25) == (
        3, "a quarter (the default build's training has no epoch times)")
    assert rung0_epochs_by_cost(12, 12, 13.0, [1.0] * 12, 0.25) == (12, "every epoch")


@pytest.mark.parametrize("epoch_seconds, narrow_epochs", [([1.8] + [0.02] * 11, 12), ([0.2] + [0.15] * 11, 3)])
def test_rung0_trains_other_groups_in_full_when_a_short_training_costs_nearly_as_much(
        tmp_path, epoch_seconds, narrow_epochs):
    search, builder, _ = _search(tmp_path, threads=(1,), keep_within_se=10.0)  # every folder kept
    builder.epoch_seconds = epoch_seconds  # the default build's training: 2.0 s in all
    search.run()
    assert search.baseline.extra["train_epoch_seconds"] == epoch_seconds
    assert [(v.width, v.epochs) for v in builder.ranks] == [(0.5, narrow_epochs), (0.5, narrow_epochs), (1.0, 12)]
    narrow = [t for t in search.trials.values() if t.extra.get("ranked_in_memory") and t.candidate.width == 0.5]
    assert narrow and all(t.epochs == narrow_epochs for t in narrow)
    assert all(("every epoch, which the kept folders' builds reuse" in t.extra["rung0_epochs"])
               is (narrow_epochs == 12) for t in narrow)
    # every folder kept: a width-0.5 full build shares its training folder with rung 0 only when rung 0 was full
    built = [v for v in builder.built if v.width == 0.5]
    assert len(built) == 2 and all(v.epochs == 12 for v in built)
    shared = {v.folder().parent for v in built} == {v.folder().parent for v in builder.ranks if v.width == 0.5}
    assert shared is (narrow_epochs == 12)


@pytest.mark.parametrize("float_accuracy, kept", [
    (0.92, [(1.0, 0.5)]),  # the default build lost 0.02 to int8 (0.92 -> 0.90): the band is 0.025
    (1.0, [(0.5, 0.0), (1.0, 0.5)]),  # it lost 0.10: width 0.5 dense (0.77, 0.10 below 0.87) is kept too
])
def test_a_rung0_of_every_epoch_keeps_what_quantization_could_reorder(tmp_path, float_accuracy, kept):
    search, builder, _ = _search(tmp_path, threads=(1,))
    builder.epoch_seconds = [1.8] + [0.02] * 11  # a short training would cost nearly the full one: every epoch
    builder.float_accuracy = float_accuracy
    # with a float accuracy, each full build's gate is recorded against the user's evaluate.max_accuracy_drop
    builder.loaded = SimpleNamespace(config=SimpleNamespace(evaluate=SimpleNamespace(max_accuracy_drop=0.1)))
    builder.test_samples = 20  # two standard errors would be 0.28 and keep every folder
    search.run()
    assert {v.epochs for v in builder.ranks} == {12}
    assert sorted({(width, sparsity) for width, sparsity, *_ in builder.exported} - {(1.0, 0.0)}) == kept
    loss = f"{float_accuracy - 0.90:.4f}"
    rung0 = {(t.candidate.width, t.candidate.sparsity): t for t in search.trials.values()
             if t.extra.get("ranked_in_memory")}
    for key, trial in rung0.items():
        if key == (1.0, 0.5):
            continue
        text = trial.extra.get("kept_within_se") if key in kept else trial.reason
        assert f"within the default build's largest accuracy loss to quantization ({loss}) plus " \
               f"tune.accuracy_tolerance" in text, text


def test_the_trial_limit_holds_inside_a_build_folder(tmp_path):
    search, builder, timer = _search(tmp_path, max_trials=2)
    assert search.run() is Stopped.TRIALS
    recorded = TuneStore(tmp_path).read_trials()
    # the default build and one rung-0 trial; eliminated before building (free) are not counted
    assert sorted(key for key, trial in recorded.items() if not trial.extra.get("early")) == ["t0000", "t0001"]
    assert timer.quick_calls == []


# ------------------------------------------------------------------------------------------------ the timer
def test_quick_profiles_share_one_process_per_thread_count(tmp_path, monkeypatch):
    import importlib

    calls = []

    def fake_profile_models(paths, target, connection, settings, *, interleave=False, lock_timeout_s=None):
        calls.append(([path.name for path in paths], settings.threads, interleave))
        return [{"samples_ms": [1.0, 2.0, 3.0], "memory": {"peak_rss_mb": 50.0}} for _ in paths]

    monkeypatch.setattr(importlib.import_module("edgekit.tune.measure"), "profile_models", fake_profile_models)
    timer = Timer(load_target("host"), ConnectionOptions(), runs=20)
    models = [Timed(tmp_path / "a.tflite", 1), Timed(tmp_path / "b.tflite", 1), Timed(tmp_path / "a.tflite", 2)]
    timings = timer.quick_many(models)
    assert calls == [(["a.tflite", "b.tflite"], 1, True), (["a.tflite"], 2, False)]
    assert [timing.peak_memory_mb for timing in timings] == [None, None, 50.0]  # a shared process's peak is no one's
    assert timings[0].p90 == pytest.approx(2.8)


# ------------------------------------------------------------------------------------------------ warm start
def test_survivors_of_another_training_continue_from_their_rung0_weights(tmp_path):
    search, builder, _ = _search(tmp_path, threads=(1,), warm_start=True, keep_fraction=0.5)
    search.run()
    full = {(v.width, v.sparsity): v for v in builder.calls if not v.short and v.epochs == 12}
    narrow = [v for (width, _), v in full.items() if width == 0.5]
    assert narrow, "a width-0.5 candidate survives rung 0"
    for variant in narrow:  # width 0.5: not the default build's training, so it continues rung 0's
        # rung 0's training of the group: its dense folder's (rung 0 pruned it in memory)
        rung0 = builder.root / type(variant)(0.5, None, 0, "float32", 3, True).folder()
        assert variant.initial_model == rung0 / "train" / "m-dense.keras" and variant.warm_epochs == 3
        assert variant.folder().parts[0] == "w0.5-float32-e12-from-e3"
    assert full[(1.0, 0.0)].initial_model is None  # the default build's training is shared, not continued
    warm = [t for t in search.trials.values() if t.extra.get("warm_start")]
    assert warm and all(t.extra["warm_start"]["epochs"] == 9 and t.train_seconds == 3.0 for t in warm)
    assert warm[0].extra["warm_start"]["from"] == warm[0].extra["parent"]


def test_without_warm_start_every_full_build_trains_from_scratch(tmp_path):
    search, builder, _ = _search(tmp_path, threads=(1,))
    search.run()
    assert all(v.initial_model is None for v in builder.calls)
    assert not any(t.extra.get("warm_start") for t in search.trials.values())


def test_full_variant_continues_only_a_short_rung0_of_another_training(tmp_path):
    from edgekit.tune.builds import full_variant

    model = tmp_path / "m-dense.keras"
    model.write_bytes(b"weights")
    default = _candidate()
    assert full_variant(_candidate(width=0.5), default, 12, 3, model).initial_model == model
    assert full_variant(_candidate(sparsity=0.5), default, 12, 3, model).initial_model is None  # shares default's
    assert full_variant(_candidate(width=0.5), default, 12, 12, model).initial_model is None  # rung 0 was full
    assert full_variant(_candidate(width=0.5), default, 12, 3, tmp_path / "gone.keras").initial_model is None


def test_the_train_stage_starts_from_the_given_weights_and_keys_them(tmp_path):
    from types import SimpleNamespace

    from edgekit._tf import keras
    from edgekit.errors import InputFileError
    from edgekit.pipeline.stages.train import _start_from

    def tiny(units):
        return keras().Sequential([keras().layers.Input((4,)), keras().layers.Dense(units)])

    trained = tiny(3)
    trained.set_weights([w + 1.5 for w in trained.get_weights()])
    trained.save(tmp_path / "rung0.keras")
    fresh = tiny(3)
    assert _start_from(SimpleNamespace(initial_model=None), fresh) is None
    assert _start_from(SimpleNamespace(initial_model=tmp_path / "rung0.keras"), fresh) == "rung0.keras"
    for mine, theirs in zip(fresh.get_weights(), trained.get_weights()):
        assert (mine == theirs).all()
    with pytest.raises(InputFileError, match="rung0.keras: its weights do not fit this model"):
        _start_from(SimpleNamespace(initial_model=tmp_path / "rung0.keras"), tiny(5))
    # the starting weights are part of the train stage's key; a build from scratch keeps the key it had
    from edgekit import fsutil
    from edgekit.pipeline.stages.train import model_files

    builtin = SimpleNamespace(config=SimpleNamespace(model=SimpleNamespace(file=None, factory=None)))
    assert model_files(SimpleNamespace(loaded=builtin, initial_model=None)) == {}
    assert model_files(SimpleNamespace(loaded=builtin, initial_model=tmp_path / "rung0.keras")) == {
        "initial_model": fsutil.sha256_file(tmp_path / "rung0.keras")}


# ------------------------------------------------------------------------------------------------ the probe
class FakeProbe:
    """edgekit.tune.probe.Probe with its export replaced: files of SIZES, `weights` kernel weights by width
    (none unless given); the timer gives width 1.0 3 ms."""

    def __new__(cls, builder, timer, path, default_structure=None, weights=None):
        from edgekit.tune.probe import Probe

        class Fake(Probe):
            def _count(self, structure):
                return (weights or {}).get(structure.width, 0)

            def _export(self, structure, quantizations):
                made = {}
                for quantization in quantizations:
                    path = self.builder.root / "probe" / structure.folder() / f"{quantization}.tflite"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(b"x" * SIZES.get((structure.width, quantization), 1000))
                    made[quantization] = path
                return made

        return Fake(builder, timer, path, default_structure=default_structure)


class SlowWideTimer(CountingTimer):
    def quick_many(self, models):
        self.quick_calls.append(list(models))
        return [Timing(samples_ms=[3.0 if "w1" in model.path.parent.name else 0.5] * 5) for model in models]


def test_the_probe_rules_out_structures_before_training_and_times_rung0(tmp_path):
    from edgekit.tune.probe import Probe

    space = SearchSpace([0.5, 1.0], [None], [0.0, 0.5, 0.75], ["float32", "int8"], ["float32"], [1, 2])
    builder, timer = CountingBuilder(tmp_path / "builds"), SlowWideTimer()
    probe = FakeProbe(builder, timer, tmp_path / "probe.json")
    search = Search(settings=TuneConfig(), constraints=Constraints(max_latency_ms=1.0), space=space,
                    default=_candidate(width=0.5), builder=builder, timer=timer, store=TuneStore(tmp_path),
                    trials={}, full_epochs=12, limits=Limits(None, None, 0.0), on_trial=lambda: None, probe=probe,
                    sizes_scale=True)
    assert search.run() is Stopped.DONE
    # one profiler call for the probe (every structure, quantization and threads); rung 0 takes its latencies
    assert [len(models) for models in timer.quick_calls] == [8]
    # width 0.5 is the default build's training: rung 0 ranks on it (every epoch), none is trained short
    assert {(v.width, v.short) for v in builder.calls} == {(0.5, False)}
    wide = [t for t in search.trials.values() if t.candidate.width == 1.0]
    assert len(wide) == 12 and all(t.status is TrialStatus.ELIMINATED and t.extra["early"] for t in wide)
    assert all(t.reason.startswith("before training: median 3.000 ms (p90 3.000) > 1.25 x 1 ms, measured on the "
                                   "target") for t in wide)
    rung0 = [t for t in search.trials.values() if t.rung == 0 and not t.extra.get("early")
             and not t.extra.get("deferred")]
    assert rung0 and all(t.extra["latency_from"].startswith("the probe (probe/w0.5/") and t.p90 == 0.5
                         for t in rung0)
    assert [t.bytes for t in rung0] == [80_000] * 4  # the probe's float32 files (int8 waits for rung 1)
    assert all(t.extra["ranked_in_memory"] for t in rung0)
    # a killed run's probe is read back, not measured again
    again = Probe(builder, timer, tmp_path / "probe.json")
    again.load()
    assert again.facts == probe.facts and again.fact(_candidate(width=1.0, threads=2)).timing().p90 == 3.0


def test_a_structure_whose_weights_cannot_fit_is_not_exported(tmp_path):
    from edgekit.tune.probe import Probe, Structure

    space = SearchSpace([0.5, 1.0, 2.0], [None], [0.0], ["float32", "int8"], ["float32"], [1])
    builder, timer = CountingBuilder(tmp_path / "builds"), CountingTimer()
    probe = FakeProbe(builder, timer, tmp_path / "probe.json", default_structure=Structure(0.5, None),
                      weights={1.0: 60_000, 2.0: 240_000})
    search = Search(settings=TuneConfig(), constraints=Constraints(max_bytes=100_000), space=space,
                    default=_candidate(width=0.5), builder=builder, timer=timer, store=TuneStore(tmp_path),
                    trials={}, full_epochs=12, limits=Limits(None, None, 0.0), on_trial=lambda: None, probe=probe,
                    sizes_scale=True)
    search.run()
    assert probe.weights == {"1/-": 60_000, "2/-": 240_000}  # the default build's structure is not counted
    # width 2 is out in every quantization by its weights alone: never exported; width 1's int8 is probed
    assert not (builder.root / "probe" / "w2").exists() and (builder.root / "probe" / "w1").exists()
    assert sorted(key for key in probe.facts if not key.startswith("0.5/")) == ["1/-/int8/1"]
    by = {(t.candidate.width, t.candidate.quantization): t for t in search.trials.values() if t.rung == 0}
    for key, least in (((2.0, "int8"), 240_000), ((2.0, "float32"), 960_000), ((1.0, "float32"), 240_000)):
        trial = by[key]
        assert trial.extra["early"] and trial.extra["bytes_exact"] is False and trial.bytes is None
        assert trial.reason.startswith(f"before building: file size at least {least:,} bytes > 100,000 bytes, "
                                       f"the model's {least // (4 if key[1] == 'float32' else 1):,} kernel weights")
    # a killed run's counts are read back, not counted again
    again = Probe(builder, timer, tmp_path / "probe.json")
    again.load()
    assert again.weights == probe.weights


def test_rung1_drops_a_kept_folder_that_cannot_beat_the_best(tmp_path):
    search, builder, timer = _search(tmp_path, race=True)
    assert search.run() is Stopped.DONE
    # w1 sparse 0.5 was kept by rung 0 (every epoch: the default build's training), but its float model scored
    # 0.87 and the default build's int8 file 0.90: with no gain from quantization seen, it cannot win
    assert [(w, s, q) for w, s, short, q in builder.exported if not short] == [(1.0, 0.0, ("float32", "int8"))]
    dropped = [t for t in search.trials.values() if (t.reason or "").startswith("rung 1: not built")]
    assert sorted((t.candidate.sparsity, t.candidate.threads, t.rung) for t in dropped) == [(0.5, 1, 0), (0.5, 2, 0)]
    assert all(t.status is TrialStatus.ELIMINATED for t in dropped)
    assert dropped[0].reason.endswith("(0.0000) and one test sample (0.0025) it reaches 0.8725 < t0000's 0.9000 - "
                                      "tune.accuracy_tolerance: it cannot become the best (tune.race)")
    assert not [t for t in search.trials.values() if t.rung == 1 and t.candidate.sparsity == 0.5]
    # a run where a file gained over its float model: the default build's int8 0.05 over 0.85; the folder may
    # win after all, and is built
    again, builder, _ = _search(tmp_path / "gain", race=True)
    builder.float_accuracy = 0.85
    builder.loaded = SimpleNamespace(config=SimpleNamespace(evaluate=SimpleNamespace(max_accuracy_drop=0.1)))
    again.run()
    assert (1.0, 0.5, False, ("int8",)) in builder.exported
    assert not [t for t in again.trials.values() if (t.reason or "").startswith("rung 1: not built")]


def test_a_survivor_that_cannot_win_is_profiled_once_alone(tmp_path):
    search, builder, timer = _search(tmp_path, threads=(1,), keep_fraction=1.0)
    search.run()
    full = [t for t in search.trials.values() if t.rung == 1 and t.extra.get("role") == "search"
            and "same_as" not in t.extra]
    alone = [t for t in full if "timed_alone" in t.extra]
    # CountingBuilder: width 0.5 and the pruned folders score below the default build beyond the tolerance
    assert alone and all(t.accuracy < search.best.accuracy - 0.005 and "ab" not in t.extra
                         and t.extra["became_best"] is False for t in alone)
    assert all(t.extra["timed_alone"].startswith(f"accuracy {t.accuracy:.4f} < t0000's") for t in alone)
    contenders = [t for t in full if "timed_alone" not in t.extra]
    assert all(t.extra["ab"]["rounds"] == 2 for t in contenders)
    # one round, no opponent, for each that cannot win; the settings' rounds for the others
    assert sorted(timer.rounds) == sorted([2] * (1 + len(contenders)) + [1] * len(alone))


def test_the_probe_times_the_default_builds_own_files_for_its_structure(tmp_path):
    from edgekit.tune.probe import Structure

    space = SearchSpace([0.5, 1.0], [None], [0.0], ["float32", "int8"], ["float32"], [1])
    builder, timer = CountingBuilder(tmp_path / "builds"), SlowWideTimer()
    probe = FakeProbe(builder, timer, tmp_path / "probe.json", default_structure=Structure(0.5, None))
    search = Search(settings=TuneConfig(), constraints=Constraints(max_latency_ms=1.0), space=space,
                    default=_candidate(width=0.5), builder=builder, timer=timer, store=TuneStore(tmp_path),
                    trials={}, full_epochs=12, limits=Limits(None, None, 0.0), on_trial=lambda: None, probe=probe,
                    sizes_scale=True)
    search.run()
    files = {key: fact.file for key, fact in probe.facts.items()}
    assert files["0.5/-/int8/1"] == "w0.5-float32-e12/dense/int8.tflite"  # the default build's, not exported again
    assert files["1/-/int8/1"] == "probe/w1/int8.tflite"
    assert not (builder.root / "probe" / "w0.5").exists()


def test_rung0_is_skipped_when_every_folder_left_would_be_kept(tmp_path):
    from edgekit.tune.rung0 import SKIPPED_ALL_KEPT

    space = SearchSpace([1.0], [None], [0.0, 0.5], ["int8"], ["float32"], [1])
    builder, timer = CountingBuilder(tmp_path / "builds"), CountingTimer()
    search = Search(settings=TuneConfig(), constraints=Constraints(), space=space, default=_candidate(),
                    builder=builder, timer=timer, store=TuneStore(tmp_path), trials={}, full_epochs=12,
                    limits=Limits(None, None, 0.0), on_trial=lambda: None, sizes_scale=True)
    assert search.run() is Stopped.DONE
    assert not [v for v in builder.calls if v.short]  # one other folder: nothing for rung 0 to choose
    (pruned,) = [t for t in search.trials.values() if t.candidate.sparsity == 0.5]
    assert pruned.rung == 1 and pruned.extra["rung0"] == SKIPPED_ALL_KEPT and pruned.extra["parent"] is None
