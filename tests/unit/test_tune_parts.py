"""edgekit tune's parts that need no training: constraints, the Pareto front, the space, the tune: section, the
trial records, and bad arguments (exit 2 with the message, before anything is built)."""

import textwrap

import pytest

from edgekit.config.loader import load_config
from edgekit.config.schema import EdgekitConfig
from edgekit.config.target import load_target
from edgekit.config.tune import TuneSpaceConfig
from edgekit.errors import ConfigError
from edgekit.tune.constraints import Constraints, Measured, Miss, distance
from edgekit.tune.pareto import Point, pareto_front
from edgekit.tune.space import Candidate, build_space, default_candidate
from edgekit.tune.trials import Trial, TrialStatus, TuneStore
from tests.integration.helpers import run_cli


# ------------------------------------------------------------------------------------------------ constraints
def test_each_constraint_names_its_limit_and_measurement():
    limits = Constraints(max_latency_ms=5.0, max_bytes=1000, max_ram_mb=40.0, min_accuracy=0.9)
    misses = limits.check(Measured(accuracy=0.85, bytes=1200, p90_ms=7.2, peak_memory_mb=41.5), None)
    assert [miss.to_dict() for miss in misses] == [
        {"constraint": "max_latency_ms", "limit": 5.0, "measured": 7.2},
        {"constraint": "max_bytes", "limit": 1000, "measured": 1200},
        {"constraint": "max_ram_mb", "limit": 40.0, "measured": 41.5},
        {"constraint": "min_accuracy", "limit": 0.9, "measured": 0.85}]
    assert misses[0].describe() == "p90 latency 7.2 ms > 5 ms"
    assert misses[1].describe() == "file size 1,200 bytes > 1,000 bytes"
    assert misses[3].describe() == "accuracy 0.85 < 0.9"
    assert limits.check(Measured(accuracy=0.95, bytes=1000, p90_ms=5.0, peak_memory_mb=40.0), None) == []


def test_accuracy_drop_is_measured_from_the_reference_and_unmeasured_memory_cannot_miss():
    limits = Constraints(max_accuracy_drop=0.02, max_ram_mb=10.0)
    assert limits.check(Measured(accuracy=0.93, peak_memory_mb=None), reference_accuracy=0.95) == []
    (miss,) = limits.check(Measured(accuracy=0.92), reference_accuracy=0.95)
    assert (miss.constraint, miss.limit, miss.measured) == ("max_accuracy_drop", 0.02, 0.03)


def test_distance_orders_candidates_by_how_far_they_miss():
    near = [Miss("max_latency_ms", 5.0, 5.5)]
    far = [Miss("max_latency_ms", 5.0, 9.0), Miss("min_accuracy", 0.9, 0.8)]
    assert distance([]) == 0 and distance(near) == pytest.approx(0.1)
    assert distance(near) < distance(far)


@pytest.mark.parametrize("kwargs, message", [
    ({"max_latency_ms": -1.0}, "--max-latency-ms must be above 0, got -1"),
    ({"min_accuracy": 90.0}, "--min-accuracy is a fraction from 0 to 1 (0.9 for 90 %), got 90"),
    ({"min_accuracy": 0.9, "max_accuracy_drop": 0.01}, "give --min-accuracy or --max-accuracy-drop, not both"),
])
def test_impossible_limits_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Constraints(**kwargs)


# ------------------------------------------------------------------------------------------------ pareto
def test_pareto_front_keeps_the_undominated_most_accurate_first():
    points = [Point("a", 0.95, 2.0, 100), Point("b", 0.90, 1.0, 100), Point("c", 0.90, 2.0, 100),
              Point("d", 0.80, 0.5, 50), Point("e", 0.95, 2.0, 120)]
    assert pareto_front(points) == ["a", "b", "d"]


# ------------------------------------------------------------------------------------------------ space
def _config(text: str) -> EdgekitConfig:
    return EdgekitConfig.model_validate(__import__("yaml").safe_load(textwrap.dedent(text)))


def test_default_space_of_a_builtin_on_digits():
    config = _config("model: {builtin: small_cnn, width: 0.75}\nprofile: {threads: null}")
    space = build_space(config, load_target("rpi4"), TuneSpaceConfig(), local=False)
    assert space.width == [0.5, 0.75, 1.0]
    assert space.input_size == [None] and any("input_size: not searched" in note for note in space.notes)
    assert space.sparsity == [0.0, 0.5, 0.75, "2:4"]
    assert space.quantization == ["float16", "dynamic", "int8", "int8-mixed"]
    assert space.threads == [1, 2, 4]  # rpi4's four cores
    assert space.precision[0] == "float32"
    assert len(space.candidates()) == 3 * 4 * 4 * len(space.precision) * 3


def test_threads_are_capped_by_the_devices_cores_and_images_search_input_size():
    config = _config("data: {source: images, path: x, image_size: 96}\nexport: {int8_recovery: 'off'}")
    target = load_target("rpi4").model_copy(update={"threads": 2})
    space = build_space(config, target, TuneSpaceConfig(), local=False)
    assert space.threads == [1, 2] and "threads: capped at the device's 2 cores" in space.notes
    assert space.input_size == [72, 96]
    assert "int8-mixed" not in space.quantization
    with pytest.raises(ConfigError, match="tune.space.threads: 4 threads, but the device has 2 cores"):
        build_space(config, target, TuneSpaceConfig(threads=[4]), local=False)


def test_knobs_a_model_or_data_cannot_take_are_refused():
    file_model = _config("model: {file: m.keras}")
    with pytest.raises(ConfigError, match="tune.space.width: the model is a file, whose width edgekit cannot "
                                          "change"):
        build_space(file_model, load_target("host"), TuneSpaceConfig(width=[0.5]), local=True)
    with pytest.raises(ConfigError, match="tune.space.input_size: data.source 'digits' keeps its stored shape"):
        build_space(_config("{}"), load_target("host"), TuneSpaceConfig(input_size=[32]), local=True)


def test_precision_not_measurable_here_is_refused_with_the_reason(monkeypatch):
    import importlib

    # By module object: the dotted string would resolve `edgekit.tune` to the function edgekit re-exports.
    monkeypatch.setattr(importlib.import_module("edgekit.tune.space"), "hardware_precisions", lambda: ["float32"])
    space = build_space(_config("{}"), load_target("host"), TuneSpaceConfig(), local=True)
    assert space.precision == ["float32"]
    assert any("mixed_float16, mixed_bfloat16 not measured on a GPU" in note for note in space.notes)
    with pytest.raises(ConfigError, match="tune.space.precision: mixed_float16 cannot be measured on this machine"):
        build_space(_config("{}"), load_target("host"), TuneSpaceConfig(precision=["mixed_float16"]), local=True)


def test_default_candidate_is_the_users_own_build():
    config = _config("model: {width: 0.5}\nprune: {structure: '2:4'}\nprofile: {threads: 2}")
    space = build_space(config, load_target("host"), TuneSpaceConfig(threads=[1]), local=True)
    assert default_candidate(config, load_target("host"), space, local=True) == Candidate(
        width=0.5, input_size=None, sparsity="2:4", quantization="int8", precision="float32", threads=2)


# ------------------------------------------------------------------------------------------------ tune: section
def test_tune_section_is_validated_with_lines(tmp_path):
    path = tmp_path / "edgekit.yaml"
    path.write_text("tune:\n  max_latency_ms: 5\n  space:\n    sparsity: [0, 2:4]\n")
    with pytest.raises(ConfigError, match=r"line 4: .*write the 2:4 structure in quotes"):
        load_config(path)
    path.write_text("tune:\n  max_latncy_ms: 5\n")
    with pytest.raises(ConfigError, match=r"line 2: unknown key 'max_latncy_ms' in tune \(did you mean "
                                          r"'max_latency_ms'\?\)"):
        load_config(path)
    path.write_text("tune:\n  space: {quantization: [int4]}\n")
    with pytest.raises(ConfigError, match="quantization 'int4' is not one of float32, float16, dynamic, int8, "
                                          "int8-mixed"):
        load_config(path)
    path.write_text("tune:\n  min_accuracy: 0.9\n  max_accuracy_drop: 0.01\n")
    with pytest.raises(ConfigError, match="give min_accuracy or max_accuracy_drop, not both"):
        load_config(path)


# ------------------------------------------------------------------------------------------------ records
def test_trial_records_round_trip_and_a_damaged_one_is_redone(tmp_path):
    store = TuneStore(tmp_path)
    trial = Trial(id="t0003", candidate=Candidate(0.5, None, "2:4", "int8", "float32", 2), rung=1, epochs=4,
                  status=TrialStatus.MEASURED, accuracy=0.9, bytes=1000, latency_ms={"p50": 1.0, "p90": 1.5},
                  misses=[Miss("max_latency_ms", 1.0, 1.5)], extra={"role": "search", "parent": "t0001"})
    store.write_trial(trial)
    (tmp_path / "trials" / "t0004.json").write_text("{not json")
    again = store.read_trials()
    assert list(again) == ["t0003"] and again["t0003"].to_dict() == trial.to_dict()
    assert again["t0003"].to_dict()["parent"] == "t0001"


# ------------------------------------------------------------------------------------------------ CLI
@pytest.mark.parametrize("args, message", [
    (["--max-latency-ms", "0"], "--max-latency-ms: Input should be greater than 0 (got 0.0)"),
    (["--trials", "0"], "--trials: Input should be greater than or equal to 1 (got 0)"),
    (["--min-accuracy", "1.5"], "--min-accuracy: Input should be less than or equal to 1 (got 1.5)"),
    (["--min-accuracy", "0.9", "--max-accuracy-drop", "0.01"],
     "tune: give min_accuracy or max_accuracy_drop, not both"),
    (["--target", "nosuch"], "nosuch"),
])
def test_bad_arguments_exit_2_with_the_message(tmp_path, args, message):
    config = tmp_path / "edgekit.yaml"
    config.write_text("name: t\n")
    result = run_cli("tune", "--config", config, *args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "build").exists()


def test_missing_config_exits_2(tmp_path):
    result = run_cli("tune", "--config", tmp_path / "nope.yaml")
    assert result.exit_code == 2 and "no such configuration file" in result.output


def test_a_factory_that_takes_width_has_its_width_searched(tmp_path):
    (tmp_path / "tune_factories.py").write_text(
        "def wide(input_shape, num_classes, width=1.0):\n    raise NotImplementedError\n\n"
        "def fixed(input_shape, num_classes):\n    raise NotImplementedError\n")
    host = load_target("host")
    wide = _config("model: {factory: 'tune_factories:wide'}")
    assert build_space(wide, host, TuneSpaceConfig(), local=True, config_dir=tmp_path).width == [0.5, 1.0]
    fixed = _config("model: {factory: 'tune_factories:fixed'}")
    space = build_space(fixed, host, TuneSpaceConfig(), local=True, config_dir=tmp_path)
    assert space.width == [None] and "width: not searched (the model is a factory without a `width` parameter)" \
        in space.notes


# ------------------------------------------------------------------------------------------------ halving
def _search(tmp_path, constraints):
    from edgekit.config.tune import TuneConfig
    from edgekit.tune.search import Limits, Search
    from edgekit.tune.space import SearchSpace

    space = SearchSpace([0.5], [None], [0.0], ["int8"], ["float32"], [1])
    return Search(settings=TuneConfig(), constraints=constraints, space=space,
                  default=space.candidates()[0], builder=None, timer=None, store=TuneStore(tmp_path), trials={},
                  full_epochs=4, limits=Limits(None, None, 0.0), on_trial=lambda: None)


def _measured(index, accuracy, p90, size, constraints, sparsity=None):
    # one build folder per trial unless `sparsity` puts it in another's
    folder = index / 100 if sparsity is None else sparsity
    trial = Trial(id=f"t{index:04d}", candidate=Candidate(0.5, None, folder, "int8", "float32", 1), rung=0,
                  epochs=1, status=TrialStatus.MEASURED, accuracy=accuracy, bytes=size,
                  latency_ms={"p50": p90, "p90": p90})
    trial.misses = constraints.check(trial.measured, None)
    return trial


def test_rung0_drops_what_cannot_fit_and_keeps_the_most_accurate_build_folders(tmp_path):
    limits = Constraints(max_latency_ms=10.0, max_bytes=5000)
    search = _search(tmp_path, limits)
    search.settings = search.settings.model_copy(update={"keep_fraction": 0.5})
    trials = [_measured(1, 0.90, 5.0, 6000, limits),   # over the byte limit: out, whatever its accuracy
              _measured(2, 0.80, 12.0, 4000, limits),  # 1.2x the latency limit after a short run: may still fit
              _measured(3, 0.85, 13.0, 4000, limits),  # 1.3x: out
              _measured(4, 0.70, 5.0, 4000, limits),
              _measured(5, 0.60, 5.0, 4000, limits),
              _measured(6, 0.65, 5.0, 4000, limits),
              _measured(7, 0.50, 5.0, 4000, limits, sparsity=0.04)]  # t0004's folder: goes on with it
    survivors = search._promote(trials)
    # 4 hopeful folders (t0002, t0004+t0007, t0006, t0005), the top half of them trained in full
    assert [(candidate, parent.id) for candidate, parent in survivors] == [
        (trials[1].candidate, "t0002"), (trials[3].candidate, "t0004"), (trials[6].candidate, "t0007")]
    reasons = {trial.id: trial.reason for trial in trials if trial.status == TrialStatus.ELIMINATED}
    assert reasons == {"t0001": "rung 0: file size 6,000 bytes > 5,000 bytes",
                       "t0003": "rung 0: p90 latency 13 ms > 10 ms",
                       "t0006": "rung 0: accuracy 0.6500; its build folder ranked 3 of 4 by its best candidate's "
                                "accuracy; the top 2 were trained in full",
                       "t0005": "rung 0: accuracy 0.6000; its build folder ranked 4 of 4 by its best candidate's "
                                "accuracy; the top 2 were trained in full"}
    assert TuneStore(tmp_path).read_trials()["t0005"].status == TrialStatus.ELIMINATED


def test_a_survivor_wins_on_accuracy_or_as_accurate_and_faster_in_the_same_rounds(tmp_path):
    from edgekit.tune.measure import Timing

    search = _search(tmp_path, Constraints())
    best = _measured(1, 0.900, 5.0, 100, Constraints())
    fast, slow = Timing(samples_ms=[1.0] * 10), Timing(samples_ms=[2.0] * 10)
    assert search._beats(_measured(2, 0.910, 9.0, 100, Constraints()), slow, best, fast)  # beyond the tolerance
    assert search._beats(_measured(3, 0.897, 9.0, 100, Constraints()), fast, best, slow)  # a tie, and faster
    assert not search._beats(_measured(4, 0.897, 1.0, 100, Constraints()), slow, best, fast)
    assert not search._beats(_measured(5, 0.890, 1.0, 100, Constraints()), fast, best, slow)
