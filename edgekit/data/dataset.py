"""The data set of a build: deterministic train/val/test splits, preprocessed once."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import fsutil
from edgekit.config.schema import DataConfig, DataSource, Task
from edgekit.data.base import SPLITS, Splits
from edgekit.data.preprocessing import Layout, Preprocessing, preprocessing_for
from edgekit.data.sources import RawData, load_digits, load_npz
from edgekit.errors import DataError


@dataclass
class Dataset(Splits):
    """Splits held in memory: preprocessed float32 inputs, and int64 class ids or float32 targets of shape
    (N, k) (digits, npz)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    preprocessing: Preprocessing
    source: str
    task: Task = Task.CLASSIFICATION

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def num_outputs(self) -> int:
        return int(self.y_train.shape[1]) if self.task is Task.REGRESSION else self.num_classes

    def size(self, split: str) -> int:
        return int(len(getattr(self, f"y_{split}")))

    def fit_arguments(self, batch_size: int, seed: int) -> dict[str, Any]:
        validation = (self.x_val, self.y_val) if len(self.y_val) else None
        return {"x": self.x_train, "y": self.y_train, "batch_size": batch_size, "validation_data": validation,
                "shuffle": True}

    def batches(self, split: str, batch_size: int):
        x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
        for start in range(0, len(y), batch_size):
            yield x[start:start + batch_size], y[start:start + batch_size]

    def fingerprint(self) -> str:
        """sha256 over every array and the preprocessing: the data's part of downstream cache keys."""
        digest = hashlib.sha256()
        for split in SPLITS:
            for array in (getattr(self, f"x_{split}"), getattr(self, f"y_{split}")):
                digest.update(str(array.shape).encode() + array.dtype.str.encode())
                digest.update(np.ascontiguousarray(array).tobytes())
        digest.update(json.dumps(self.preprocessing.to_dict(), sort_keys=True).encode())
        return digest.hexdigest()

    def representative_samples(self, count: int, seed: int) -> np.ndarray:
        """`count` training samples (all of them when there are fewer), in a seeded order.

        These calibrate full-integer quantization, so they come from the training split, through
        the same preprocessing as everything else.
        """
        order = np.random.default_rng(seed).permutation(len(self.x_train))
        return self.x_train[order[:count]]

    def save(self, path: Path) -> None:
        """Write the splits and their description to one .npz (atomically)."""
        meta = {"class_names": self.class_names, "preprocessing": self.preprocessing.to_dict(), "source": self.source,
                "task": self.task.value}
        with fsutil.atomic_path(path) as temporary:
            with open(temporary, "wb") as handle:
                np.savez(handle, meta=np.array(json.dumps(meta)),
                         **{f"{kind}_{split}": getattr(self, f"{kind}_{split}") for split in SPLITS for kind in "xy"})

    @classmethod
    def load(cls, path: Path) -> "Dataset":
        """Read a data set written by `save`."""
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"]))
            arrays = {name: archive[name] for name in archive.files if name != "meta"}
        prep = meta["preprocessing"]
        preprocessing = Preprocessing(scale=prep["scale"], offset=prep["offset"], layout=Layout(prep["layout"]),
                                      raw_dtype=prep["raw_dtype"], add_channel_axis=prep["add_channel_axis"])
        return cls(class_names=meta["class_names"], preprocessing=preprocessing, source=meta["source"],
                   task=Task(meta.get("task", Task.CLASSIFICATION.value)), **arrays)


def load_raw(config: DataConfig, resolve, task: Task = Task.AUTO) -> RawData:
    """The raw samples of an in-memory source (digits, npz); `resolve` makes config paths absolute.

    `task` (the config's) says how npz labels are read; digits are always classes."""
    if config.source is DataSource.DIGITS:
        return load_digits()
    if config.source is DataSource.NPZ:
        return load_npz(resolve(config.path), task)
    raise ValueError(f"{config.source.value} is a streaming source; see edgekit.data.streaming")


def build_dataset(config: DataConfig, raw: RawData) -> Dataset:
    """Split (unless the source has explicit splits), preprocess, and check the result.

    A classification split is stratified by class, a regression split is a plain seeded shuffle; both
    depend only on `config.seed`.

    Raises:
        DataError: too few samples for the split, or a split left empty.
    """
    split = stratified_split if raw.task is Task.CLASSIFICATION else shuffled_split
    if raw.x_test is None:
        train_idx, val_idx, test_idx = split(raw.y, config.val_fraction, config.test_fraction, config.seed)
        x_train, y_train = raw.x[train_idx], raw.y[train_idx]
        x_val, y_val = raw.x[val_idx], raw.y[val_idx]
        x_test, y_test = raw.x[test_idx], raw.y[test_idx]
    else:
        x_test, y_test = raw.x_test, raw.y_test
        if raw.x_val is not None:
            x_train, y_train, x_val, y_val = raw.x, raw.y, raw.x_val, raw.y_val
        else:
            train_idx, val_idx, _ = split(raw.y, config.val_fraction, 0.0, config.seed)
            x_train, y_train = raw.x[train_idx], raw.y[train_idx]
            x_val, y_val = raw.x[val_idx], raw.y[val_idx]
    for split, labels in (("train", y_train), ("test", y_test)):
        if len(labels) == 0:
            raise DataError(f"the {split} split is empty ({len(raw.y)} samples, fractions val {config.val_fraction}, "
                            f"test {config.test_fraction})")
    preprocessing = preprocessing_for(raw.x, value_range=raw.value_range)
    labels = _class_ids if raw.task is Task.CLASSIFICATION else _targets
    return Dataset(
        x_train=preprocessing.apply(x_train), y_train=labels(y_train),
        x_val=preprocessing.apply(x_val), y_val=labels(y_val),
        x_test=preprocessing.apply(x_test), y_test=labels(y_test),
        class_names=raw.class_names, preprocessing=preprocessing, source=config.source.value, task=raw.task,
    )


def _class_ids(y: np.ndarray) -> np.ndarray:
    return y.astype(np.int64)


def _targets(y: np.ndarray) -> np.ndarray:
    """float32 targets of shape (N, k): one target of shape (N,) becomes (N, 1), as the model's output is."""
    return y.astype(np.float32).reshape(len(y), *(y.shape[1:] or (1,)))


def shuffled_split(
    labels: np.ndarray, val_fraction: float, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index arrays (train, val, test) of a seeded shuffle, for float targets (there are no classes to stratify)."""
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = int(round(len(labels) * test_fraction))
    n_val = int(round(len(labels) * val_fraction))
    return order[n_test + n_val:], order[n_test:n_test + n_val], order[:n_test]


def stratified_split(
    labels: np.ndarray, val_fraction: float, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index arrays (train, val, test): each class is split in the given fractions, in a seeded order.

    Rounding is per class, so every class with enough samples appears in every split.
    """
    rng = np.random.default_rng(seed)
    train: list[np.ndarray] = []
    val: list[np.ndarray] = []
    test: list[np.ndarray] = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_test = int(round(len(members) * test_fraction))
        n_val = int(round(len(members) * val_fraction))
        test.append(members[:n_test])
        val.append(members[n_test:n_test + n_val])
        train.append(members[n_test + n_val:])
    # A second seeded shuffle so splits are not ordered by class.
    return tuple(rng.permutation(np.concatenate(part)) if part else np.array([], dtype=np.int64)
                 for part in (train, val, test))


