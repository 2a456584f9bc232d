"""`scripts/bench tune` cannot rot silently: its configs are valid edgekit.yaml files with a valid tune: section,
its settings are checked, and its verdicts (time ratio, same or as good a pick) compute what the table says."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from benchsuite import support, tune, tune_grid  # noqa: E402
from benchsuite.common import BenchContext  # noqa: E402
from benchsuite.main import main as bench_main  # noqa: E402
from edgekit.config.loader import load_config  # noqa: E402


@pytest.mark.parametrize("space, quick, candidates", [("small", False, 8), ("mid", False, 12), ("wide", False, 96),
                                                     ("small", True, 2)])
def test_the_digits_configs_are_valid_and_their_spaces_have_the_sizes_the_readme_gives(tmp_path, space, quick,
                                                                                         candidates):
    config = load_config(support.write_config(tmp_path, tune.digits_config(space, quick))).config
    sizes = [len(values) for values in config.tune.space.model_dump().values() if values is not None]
    total = 1
    for size in sizes:
        total *= size
    assert total == candidates
    assert config.tune.max_bytes == 100_000 and config.tune.max_accuracy_drop == 0.03


@pytest.mark.parametrize("space, candidates", [("small", 4), ("mid", 8), ("wide", 108)])
def test_the_mobilenet_configs_are_valid(tmp_path, space, candidates):
    (tmp_path / "images").mkdir()
    config = load_config(support.write_config(tmp_path, tune.mobilenet_config(space))).config
    total = 1
    for values in config.tune.space.model_dump().values():
        total *= len(values)
    assert config.model.builtin.value == "mobilenet_v2" and total == candidates


def test_part_settings_are_checked(tmp_path):
    context = BenchContext(root=ROOT, scratch=tmp_path, options={"tune.space": "huge"})
    with pytest.raises(SystemExit, match="--set tune.space=huge: the spaces are small, mid and wide"):
        tune.cases(context)
    context = BenchContext(root=ROOT, scratch=tmp_path, options={"tune.models": "digits,resnet"})
    with pytest.raises(SystemExit, match="unknown model 'resnet'; the models are digits, mobilenet_v2"):
        tune.cases(context)
    assert [case.name for case in tune.cases(BenchContext(root=ROOT, scratch=tmp_path, quick=True))] == ["digits CNN"]
    with pytest.raises(SystemExit):
        bench_main(["tune", "--set", "space=wide"])


def row(width, quantization, accuracy, p90, fits=True, size=50_000):
    candidate = {"width": width, "input_size": None, "sparsity": 0.0, "quantization": quantization,
                 "precision": "float32", "threads": 1}
    return {"candidate": candidate, "label": f"w{width} {quantization}", "accuracy": accuracy, "p90_ms": p90,
            "bytes": size, "fits": fits, "train_seconds": 3.0}


def test_the_grid_picks_by_tunes_rule():
    rows = [row(1.0, "float32", 0.97, 0.05, fits=False), row(1.0, "int8", 0.962, 0.03), row(0.5, "int8", 0.959, 0.02)]
    assert tune_grid.choose(rows, 0.005) is rows[2]  # within 0.005 of the best that fits: the faster
    assert tune_grid.choose(rows, 0.001) is rows[1]
    assert tune_grid.choose([rows[0]], 0.005) is None


def test_tunes_pick_against_the_grids():
    rows = [row(1.0, "int8", 0.962, 0.030), row(0.5, "int8", 0.959, 0.032), row(0.5, "float32", 0.95, 0.04)]
    grid = {"rows": rows, "chosen": rows[0]["candidate"], "accuracy_tolerance": 0.005, "process_wall_s": 100.0}

    def tune_run(picked, wall):
        return {"wall_s": wall, "chosen": {"candidate": picked["candidate"]} if picked else None}

    same = tune.compare(tune_run(rows[0], 30.0), grid)
    assert (same["pick"], same["pick_ok"], same["ratio"], same["ratio_ok"]) == ("same point", True, 0.3, True)
    waited = tune.compare({**tune_run(rows[0], 50.0), "lock_wait_s": 20.0}, {**grid, "lock_wait_s": 10.0})
    assert (waited["ratio"], waited["ratio_without_lock_waits"], waited["ratio_ok"]) == (0.5, 0.333, True)
    close = tune.compare(tune_run(rows[1], 40.0), grid)  # 0.003 less accurate, p90 6.7 % slower: noise
    assert (close["pick"], close["pick_ok"], close["ratio_ok"]) == ("as good", True, False)
    assert tune.compare(tune_run(rows[2], 30.0), grid)["pick"] == "worse"
    # the same accuracy, 20 % slower in the grid's own profiles, as fast in the referee's same rounds: as good;
    # and a referee that times it 20 % slower makes it worse
    slower = {**rows[0], "candidate": {**rows[0]["candidate"], "threads": 2}, "p90_ms": 0.036}
    with_slower = {**grid, "rows": [*rows, slower]}
    assert tune.compare(tune_run(slower, 30.0), with_slower)["pick"] == "worse"
    refereed = tune.compare(tune_run(slower, 30.0), with_slower,
                            {"rounds": 4, "tune_p90_ms": 0.031, "grid_p90_ms": 0.030})
    assert refereed["pick_ok"] and refereed["pick"] == ("as good (p90 0.031 against 0.03 ms in 4 referee rounds; the "
                                                        "grid's own profiles: 0.036 against 0.03)")
    assert not tune.compare(tune_run(slower, 30.0), with_slower,
                            {"rounds": 4, "tune_p90_ms": 0.036, "grid_p90_ms": 0.030})["pick_ok"]
    assert tune.compare(tune_run(None, 30.0), grid)["pick"] == "tune found nothing"
    missing = {**rows[2], "fits": False, "misses": ["accuracy drop 0.16 > 0.05"]}
    nothing = tune.compare(tune_run(None, 30.0), {**grid, "rows": [missing], "chosen": None})
    assert (nothing["pick"], nothing["pick_ok"]) == ("both: nothing fits", True)
    wrong = tune.compare(tune_run(missing, 30.0), {**grid, "rows": [missing], "chosen": None})
    assert (wrong["pick"], wrong["pick_ok"]) == ("misses a limit in the grid: accuracy drop 0.16 > 0.05", False)
