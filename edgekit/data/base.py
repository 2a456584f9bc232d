"""What every stage needs from a data set, whether it is held in memory or streamed from disk."""

from __future__ import annotations

import abc
from typing import Any, Iterator

import numpy as np

from edgekit.config.schema import Task
from edgekit.data.preprocessing import Preprocessing

SPLITS = ("train", "val", "test")


class Splits(abc.ABC):
    """Train/val/test splits of a data set, preprocessed one way for every stage.

    Labels are integer class ids (classification) or float32 targets of shape (N, k) (regression, in-memory
    sources only).

    Implementations: `Dataset` (numpy arrays in memory: digits, npz) and the streaming ones in
    `edgekit.data.streaming` (image folders, TFRecord files), which never hold the data set in memory.
    """

    class_names: list[str]
    preprocessing: Preprocessing
    source: str
    # Streaming sources (one class per folder or record label) are classifications; `Dataset` may be either.
    task: Task = Task.CLASSIFICATION

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_outputs(self) -> int:
        """Width of the model's output: the number of classes, or of regression targets."""
        return self.num_classes

    @property
    @abc.abstractmethod
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample as the model sees it."""

    @abc.abstractmethod
    def size(self, split: str) -> int:
        """Number of samples in `split` ("train", "val" or "test")."""

    @abc.abstractmethod
    def fit_arguments(self, batch_size: int, seed: int) -> dict[str, Any]:
        """Keyword arguments for `model.fit` that train on the training split, validating on val."""

    @abc.abstractmethod
    def batches(self, split: str, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(inputs, labels) of `split` in a fixed order, `batch_size` at a time."""

    @abc.abstractmethod
    def representative_samples(self, count: int, seed: int) -> np.ndarray:
        """`count` preprocessed training samples (all when there are fewer), in a seeded order."""

    @abc.abstractmethod
    def fingerprint(self) -> str:
        """A hash of the samples, the split and the preprocessing: the data's part of cache keys."""

    def summary(self) -> dict[str, Any]:
        """For the manifest."""
        return {
            "task": self.task.value,
            "source": self.source,
            "train": self.size("train"),
            "val": self.size("val"),
            "test": self.size("test"),
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "class_names": self.class_names,
            **({"targets": self.num_outputs} if self.task is Task.REGRESSION else {}),
        }
