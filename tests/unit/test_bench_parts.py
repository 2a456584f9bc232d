"""The benchmark parts (scripts/benchsuite) cannot rot silently: their configs still validate, their
pure helpers still compute what the tables say (the reference's end-to-end run: tests/integration/test_bench_reference.py)."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from benchsuite import artifacts, handwritten_reference, pipeline, support, training  # noqa: E402
from edgekit.config.loader import load_config  # noqa: E402


def mask_update_steps(end_step, frequency, total_steps):
    """Steps (counted from 1, as tfmot's wrapper counts them) at which tfmot updates the masks, begin_step 0."""
    return [step for step in range(1, total_steps + 1) if step <= end_step and step % frequency == 0]


@pytest.mark.parametrize("samples, batch_size, epochs", [(1259, 64, 4), (1259, 64, 1), (100, 64, 1), (5000, 32, 3)])
def test_reference_pruning_schedule_reaches_the_target_within_training(samples, batch_size, epochs):
    end_step, frequency = handwritten_reference.pruning_schedule_steps(samples, batch_size, epochs, mask_updates=10)
    total = int(np.ceil(samples / batch_size)) * epochs
    updates = mask_update_steps(end_step, frequency, total)
    assert updates and updates[-1] == end_step <= total


def test_reference_quantizes_inputs_with_rounding_and_clipping():
    detail = {"quantization": (0.5, -3), "dtype": np.int8}
    x = np.array([0.0, 0.24, 0.26, 1000.0, -1000.0], dtype=np.float32)
    assert handwritten_reference.quantize_input(x, detail).tolist() == [-3, -3, -2, 127, -128]


def test_reference_preprocessing_scales_digits_to_one():
    x = handwritten_reference.preprocess(np.full((2, 8, 8), 16.0))
    assert x.shape == (2, 8, 8, 1) and x.dtype == np.float32 and float(x.max()) == 1.0


def test_the_split_given_to_the_reference_is_edgekits(tmp_path):
    from edgekit.config.schema import DataConfig
    from edgekit.data.dataset import build_dataset
    from edgekit.data.sources import load_digits

    pipeline.write_split(tmp_path / "split.npz", support.example_config())
    split = handwritten_reference.load_split(tmp_path / "split.npz")
    dataset = build_dataset(DataConfig(**support.example_config()["data"]), load_digits())
    for name in ("train", "val", "test"):
        assert np.array_equal(split[f"y_{name}"], getattr(dataset, f"y_{name}"))
        assert np.array_equal(handwritten_reference.preprocess(split[f"x_{name}"]), getattr(dataset, f"x_{name}"))


def test_every_config_the_parts_write_is_a_valid_edgekit_yaml(tmp_path):
    configs = {"same-work": pipeline.same_work_config(), "train-only": training.train_only_config(3),
               **{f"digits-{sparsity}": config for sparsity, config in artifacts.digits_configs().items()}}
    for name, config in configs.items():
        loaded = load_config(support.write_config(tmp_path / name, config)).config
        assert loaded.name == "digits-cnn", name
    pruned = load_config(support.write_config(tmp_path / "p80", artifacts.digits_configs()[0.8])).config
    assert pruned.prune.enabled and pruned.prune.target_sparsity == 0.8 and pruned.qat.enabled


def fake_run(wall, accuracy, size):
    return {"wall_s": wall, "cpu_s": wall / 2, "lock_wait_s": 0.0, "accuracy": accuracy, "bytes": size, "name_bytes": 100,
            "sparsity": 0.5, "steps_s": {"train": wall / 3}, "test_samples": 359}


def test_pipeline_ratios_and_their_verdicts():
    runs = {"handwritten": [fake_run(40.0, 0.97, 1000), fake_run(50.0, 0.97, 1000)],
            "edgekit-same-work": [fake_run(42.0, 0.9694, 1000), fake_run(52.0, 0.9694, 1000)],
            "edgekit-full": [fake_run(60.0, 0.97, 1010), fake_run(70.0, 0.97, 1010)]}
    ratios = pipeline.summarize(runs)["ratios"]
    same, full = ratios["edgekit-same-work"], ratios["edgekit-full"]
    assert same["wall"] == pytest.approx(47 / 45) and same["wall_ok"]
    assert same["wall_per_round"] == pytest.approx([42 / 40, 52 / 50])
    assert same["accuracy_ok"] and same["size"] == 1.0 and same["size_ok"]
    assert full["wall"] == pytest.approx(65 / 45) and not full["wall_ok"]
    assert full["size"] == pytest.approx(1.01) and not full["size_ok"]
    assert full["size_without_tensor_names"] == pytest.approx(910 / 900)
    json.dumps(pipeline.summarize(runs))  # bench-results.json takes it as it is


def test_lock_waits_are_read_from_edgekits_messages():
    stderr = ("waiting for localhost: held by pid 1 (lock x); waiting without a time limit\n"
              "localhost: free after 2.5 s of waiting\nlocalhost: free after 0.5 s of waiting\n")
    assert support.Timed(1.0, 1.0, "", stderr).lock_wait_s() == 3.0
    assert support.Timed(1.0, 1.0, "").lock_wait_s() == 0.0


def test_spread_and_rotation():
    assert support.spread([3.0, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}
    assert support.spread_text(support.spread([1.0, 2.0, 3.0]), ".1f") == "2.0 (1.0–3.0)"
    assert support.spread_text(support.spread([1.5]), ".1f") == "1.5"
    assert [support.rotated(("a", "b", "c"), index) for index in range(4)] == [
        ("a", "b", "c"), ("b", "c", "a"), ("c", "a", "b"), ("a", "b", "c")]


def test_a_part_run_with_its_own_settings_is_kept_apart_from_the_default_run():
    from benchsuite.main import result_key

    assert result_key("tune", {}) == "tune"
    assert result_key("tune", {"profiler.runs": "5"}) == "tune"  # another part's setting
    assert result_key("tune", {"tune.target": "rpi4", "tune.device": "lab-pi"}) == \
        "tune [tune.device=lab-pi, tune.target=rpi4]"


def test_conversion_table_totals_include_edgekits_one_save():
    from benchsuite import conversion

    def spread(value):
        return {"median": value, "min": value, "max": value, "n": 1}

    seconds = {q: {"from_keras_model": spread(16.0), "edgekit": spread(4.0)} for q in conversion.QUANTIZATIONS}
    agreement = {q: {"bytes": 100, "from_keras_model_bytes": 100 if q != "int8" else 104,
                     "max_output_difference": 0.0} for q in conversion.QUANTIZATIONS}
    results = {"repeats": 1, "models": {"m": {"seconds": seconds, "save_seconds": spread(4.0),
                                               "agreement": agreement}}}
    text = conversion.table(results, "load 0.1 → 0.2 on 2 cores: quiet")
    rows = {line.split(" | ")[1]: line for line in text.splitlines() if line.startswith("| m |")}
    assert "| 16.0 | 4.0 | 4.0× | 100 |" in rows["float32"]
    assert "100 (vs 104)" in rows["int8"]  # a size difference is shown, not hidden
    # four conversions of 16 s against one save of 4 s and four of 4 s
    assert "| 64.0 | 20.0 | **3.2×** |" in rows["all four (edgekit: + its save, 4.0 s)"]
