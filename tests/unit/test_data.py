"""Data sources, deterministic splits, and the one preprocessing."""

import numpy as np
import pytest

from edgekit.config.schema import DataConfig, DataSource, Task
from edgekit.data import Dataset, build_dataset, preprocessing_for, stratified_split
from edgekit.data.preprocessing import Layout
from edgekit.data.sources import load_digits, load_npz
from edgekit.errors import DataError


def test_split_is_deterministic_disjoint_and_stratified():
    labels = np.repeat(np.arange(5), 40)
    first = stratified_split(labels, 0.1, 0.2, seed=3)
    again = stratified_split(labels, 0.1, 0.2, seed=3)
    other = stratified_split(labels, 0.1, 0.2, seed=4)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[2], other[2])
    train, val, test = first
    assert len(set(train) | set(val) | set(test)) == 200
    assert len(train) + len(val) + len(test) == 200
    assert np.bincount(labels[test]).tolist() == [8] * 5  # 20% of each class
    assert np.bincount(labels[val]).tolist() == [4] * 5


def test_digits_are_scaled_once_and_identically():
    data = build_dataset(DataConfig(), load_digits())
    assert data.input_shape == (8, 8, 1)
    assert data.num_classes == 10
    assert data.preprocessing.scale == pytest.approx(1 / 16)
    assert data.preprocessing.layout is Layout.NHWC
    assert 0.0 <= data.x_train.min() and data.x_train.max() == pytest.approx(1.0)
    assert data.x_train.dtype == np.float32
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (1259, 179, 359)
    assert data.fingerprint() == build_dataset(DataConfig(), load_digits()).fingerprint()
    assert data.fingerprint() != build_dataset(DataConfig(seed=1), load_digits()).fingerprint()


def test_preprocessing_rules():
    assert preprocessing_for(np.zeros((2, 3), np.uint8)).scale == pytest.approx(1 / 255)
    assert preprocessing_for(np.zeros((2, 3), np.float32)).scale == 1.0  # floats are never rescaled by guess
    grey = preprocessing_for(np.zeros((2, 4, 4), np.uint8))
    assert grey.add_channel_axis and grey.apply(np.full((2, 4, 4), 255, np.uint8)).shape == (2, 4, 4, 1)
    assert preprocessing_for(np.zeros((2, 5), np.float32)).layout is Layout.FEATURES
    record = grey.to_dict()
    assert record["layout"] == "NHWC" and record["formula"].startswith("x = raw * scale + offset")


def test_representative_samples_come_from_train_in_a_seeded_order():
    data = build_dataset(DataConfig(), load_digits())
    samples = data.representative_samples(50, seed=0)
    assert samples.shape == (50, 8, 8, 1)
    np.testing.assert_array_equal(samples, data.representative_samples(50, seed=0))
    train_rows = {row.tobytes() for row in data.x_train}
    assert all(sample.tobytes() in train_rows for sample in samples)
    assert len(data.representative_samples(10_000, seed=0)) == len(data.x_train)


def test_dataset_round_trips_through_its_file(tmp_path):
    data = build_dataset(DataConfig(), load_digits())
    data.save(tmp_path / "d.npz")
    again = Dataset.load(tmp_path / "d.npz")
    assert again.fingerprint() == data.fingerprint()
    assert again.class_names == data.class_names


def test_npz_with_explicit_splits(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    np.savez(path, x_train=rng.random((50, 6)), y_train=rng.integers(0, 3, 50), x_test=rng.random((20, 6)),
             y_test=rng.integers(0, 3, 20))
    data = build_dataset(DataConfig(source=DataSource.NPZ, path=str(path)), load_npz(path))
    assert len(data.y_test) == 20  # the file's test split is kept as it is
    assert len(data.y_train) + len(data.y_val) == 50
    assert data.preprocessing.layout is Layout.FEATURES


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"a": np.zeros(3)}, r"expected arrays x_train, y_train, x_test, y_test .* found a"),
        ({"x": np.zeros((4, 2)), "y": np.zeros(3, np.int64)}, r"x has 4 samples but y has 3 labels"),
        ({"x": np.zeros((4, 2)), "y": np.zeros(4, np.float32)},
         r"y has dtype float32; labels must be integer class ids \(for float targets to predict, set `task: regression`\)"),
        ({"x": np.zeros((4, 2)), "y": np.zeros((4, 2), np.int64)}, r"y has shape \(4, 2\); labels must be"),
        ({"x": np.zeros(4), "y": np.zeros(4, np.int64)}, r"x has shape \(4,\); expected \(N, features\)"),
        ({"x": np.zeros((4, 2)), "y": np.array([0, 1, -1, 0])}, r"negative label"),
    ],
)
def test_bad_npz_files_are_named_with_the_problem(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=message):
        load_npz(path, Task.CLASSIFICATION)


def test_auto_task_reads_integer_ids_as_classes_and_floats_as_targets(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "c.npz", x=rng.random((40, 3)), y=rng.integers(0, 3, 40))
    np.savez(tmp_path / "r.npz", x=rng.random((40, 3)), y=rng.random(40).astype(np.float32))
    np.savez(tmp_path / "k.npz", x=rng.random((40, 3)), y=rng.integers(0, 5, (40, 2)))
    assert load_npz(tmp_path / "c.npz").task is Task.CLASSIFICATION
    assert load_npz(tmp_path / "r.npz").task is Task.REGRESSION
    assert load_npz(tmp_path / "k.npz").task is Task.REGRESSION  # (N, k) numbers are targets
    assert load_npz(tmp_path / "c.npz", Task.REGRESSION).task is Task.REGRESSION  # integer targets when asked


def test_regression_split_is_a_seeded_shuffle_of_float_targets(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "r.npz"
    np.savez(path, x=rng.random((100, 3)), y=rng.random(100) * 10)
    config = DataConfig(source=DataSource.NPZ, path=str(path))
    data = build_dataset(config, load_npz(path))
    assert data.task is Task.REGRESSION and data.num_outputs == 1
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (70, 10, 20)
    assert data.y_test.dtype == np.float32 and data.y_test.shape == (20, 1)
    assert data.summary()["task"] == "regression" and data.summary()["targets"] == 1
    again = Dataset.load(_saved(data, tmp_path / "saved.npz"))
    assert again.task is Task.REGRESSION and again.fingerprint() == data.fingerprint()
    assert np.array_equal(build_dataset(config, load_npz(path)).y_test, data.y_test)


def _saved(data, path):
    data.save(path)
    return path


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"x": np.zeros((4, 2)), "y": np.array([0.0, np.nan, 1.0, 2.0])},
         r"y has a value that is not finite \(nan at index \(1,\)\)"),
        ({"x": np.zeros((4, 2)), "y": np.zeros((4, 2, 2))}, r"y has shape \(4, 2, 2\); regression targets must have"),
        ({"x_train": np.zeros((4, 2)), "y_train": np.zeros(4, np.int64), "x_test": np.zeros((2, 2)),
          "y_test": np.zeros(2, np.float32)}, r"y_train hold integer class ids but y_test do not"),
        ({"x_train": np.zeros((4, 2)), "y_train": np.zeros((4, 2)), "x_test": np.zeros((2, 2)),
          "y_test": np.zeros((2, 3))}, r"the splits have targets of different shapes"),
    ],
)
def test_bad_regression_targets_are_named(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=message):
        load_npz(path)


def test_npz_that_is_not_an_npz(tmp_path):
    path = tmp_path / "x.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable npz file"):
        load_npz(path)
    with pytest.raises(DataError, match="no such npz file"):
        load_npz(tmp_path / "missing.npz")


