"""Data sources: scikit-learn's digits (built in), npz files, and folders of images."""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from edgekit.config.schema import Task
from edgekit.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


@dataclass
class RawData:
    """Samples as stored, before preprocessing; explicit splits when the source has them."""

    x: np.ndarray
    y: np.ndarray
    class_names: list[str]
    value_range: Optional[float] = None
    x_test: Optional[np.ndarray] = None
    y_test: Optional[np.ndarray] = None
    x_val: Optional[np.ndarray] = None
    y_val: Optional[np.ndarray] = None
    # classification (y: integer class ids) or regression (y: float targets); never auto
    task: Task = Task.CLASSIFICATION


def load_digits() -> RawData:
    """scikit-learn's handwritten digits: 1,797 grey 8×8 images with values 0..16, 10 classes. Ships with scikit-learn."""
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    return RawData(x=digits.images.astype(np.uint8), y=digits.target.astype(np.int64),
                   class_names=[str(name) for name in digits.target_names], value_range=16.0)


def load_npz(path: Path, task: Task = Task.AUTO) -> RawData:
    """An npz with x_train, y_train, x_test, y_test (optionally x_val, y_val), or x and y to be split.

    Args:
        task: classification wants integer class ids of shape (N,); regression takes numbers of shape (N,)
            or (N, k) as float targets; auto decides from the labels: integer ids of shape (N,) are classes,
            anything else numeric is a regression target.

    Raises:
        DataError: missing file, not an npz, missing or inconsistent arrays, labels the task cannot use.
    """
    if not path.is_file():
        raise DataError(f"{path}: no such npz file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise DataError(f"{path}: not a readable npz file ({error})") from None
    keys = set(arrays)
    if {"x_train", "y_train", "x_test", "y_test"} <= keys:
        raw = RawData(x=arrays["x_train"], y=arrays["y_train"], class_names=[], x_test=arrays["x_test"],
                      y_test=arrays["y_test"])
        if {"x_val", "y_val"} <= keys:
            raw.x_val, raw.y_val = arrays["x_val"], arrays["y_val"]
    elif {"x", "y"} <= keys:
        raw = RawData(x=arrays["x"], y=arrays["y"], class_names=[])
    else:
        raise DataError(
            f"{path}: expected arrays x_train, y_train, x_test, y_test (optionally x_val, y_val), or x and y; "
            f"found {', '.join(sorted(keys)) or 'none'}"
        )
    pairs = [("x_train" if raw.x_test is not None else "x", raw.x, raw.y)]
    if raw.x_test is not None:
        pairs.append(("x_test", raw.x_test, raw.y_test))
    if raw.x_val is not None:
        pairs.append(("x_val", raw.x_val, raw.y_val))
    raw.task = labels_task(path, [("y" + name[1:], y) for name, _, y in pairs], task)
    for name, x, y in pairs:
        _check_pair(path, name, x, y, raw.task)
    shapes = {x.shape[1:] for _, x, _ in pairs}
    if len(shapes) > 1:
        raise DataError(f"{path}: the splits have different sample shapes: {sorted(shapes)}")
    if raw.task is Task.REGRESSION:
        widths = {y.shape[1:] for _, _, y in pairs}
        if len(widths) > 1:
            raise DataError(f"{path}: the splits have targets of different shapes: "
                            f"{', '.join(f'{name} {y.shape}' for name, _, y in pairs)}")
        return raw
    labels = np.concatenate([y for _, _, y in pairs])
    raw.class_names = [str(label) for label in range(int(labels.max()) + 1)]
    return raw


def labels_task(path: Path, labels: list[tuple[str, np.ndarray]], task: Task) -> Task:
    """The task these labels are for: `task` itself unless it is auto, else what the labels are.

    Raises:
        DataError: under auto, some label arrays are class ids and others float targets.
    """
    if task is not Task.AUTO:
        return task
    kinds = {name: _is_class_ids(y) for name, y in labels}
    if len(set(kinds.values())) > 1:
        ids = [name for name, is_ids in kinds.items() if is_ids]
        other = [name for name, is_ids in kinds.items() if not is_ids]
        raise DataError(f"{path}: {', '.join(ids)} hold integer class ids but {', '.join(other)} do not "
                        f"({', '.join(f'{name} {y.dtype} {y.shape}' for name, y in labels)}); store every split "
                        f"the same way, and set `task: classification` or `task: regression` to say which")
    return Task.CLASSIFICATION if all(kinds.values()) else Task.REGRESSION


def _is_class_ids(y: np.ndarray) -> bool:
    return y.ndim == 1 and np.issubdtype(y.dtype, np.integer)


def _check_pair(path: Path, name: str, x: np.ndarray, y: np.ndarray, task: Task) -> None:
    label_name = "y" + name[1:]
    if x.ndim not in (2, 3, 4):
        raise DataError(f"{path}: {name} has shape {x.shape}; expected (N, features), (N, H, W) or (N, H, W, C)")
    if not (np.issubdtype(x.dtype, np.number)):
        raise DataError(f"{path}: {name} has dtype {x.dtype}; expected numbers")
    if task is Task.REGRESSION:
        _check_targets(path, label_name, y)
    else:
        _check_class_ids(path, label_name, y)
    if len(y) != len(x):
        raise DataError(f"{path}: {name} has {len(x)} samples but {label_name} has {len(y)} labels")


def _check_class_ids(path: Path, label_name: str, y: np.ndarray) -> None:
    # Float labels here mean task is classification by config (auto would have chosen regression).
    hint = " (for float targets to predict, set `task: regression`)"
    if y.ndim != 1:
        raise DataError(f"{path}: {label_name} has shape {y.shape}; labels must be integer class ids of shape (N,)"
                        + (hint if np.issubdtype(y.dtype, np.number) else ""))
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{path}: {label_name} has dtype {y.dtype}; labels must be integer class ids"
                        + (hint if np.issubdtype(y.dtype, np.floating) else ""))
    if len(y) and y.min() < 0:
        raise DataError(f"{path}: {label_name} has a negative label ({y.min()}); class ids start at 0")


def _check_targets(path: Path, label_name: str, y: np.ndarray) -> None:
    if y.ndim not in (1, 2) or (y.ndim == 2 and y.shape[1] == 0):
        raise DataError(f"{path}: {label_name} has shape {y.shape}; regression targets must have shape (N,) "
                        f"or (N, k)")
    if not np.issubdtype(y.dtype, np.number):
        raise DataError(f"{path}: {label_name} has dtype {y.dtype}; regression targets must be numbers")
    finite = np.isfinite(y.astype(np.float64))
    if not finite.all():
        where = np.argwhere(~finite)[0]
        raise DataError(f"{path}: {label_name} has a value that is not finite ({y[tuple(where)]} at index "
                        f"{tuple(int(i) for i in where)}); regression targets must be finite numbers")


def source_fingerprint(path: Path) -> str:
    """A cheap fingerprint of a data file or folder: names, sizes and modification times.

    Hashing the content of tens of thousands of images on every build would cost more than
    loading them; a changed, added or removed file changes its size, time or name.
    """
    digest = hashlib.sha256()
    entries = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for entry in entries:
        stat = entry.stat()
        digest.update(f"{entry.relative_to(path.parent)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()
