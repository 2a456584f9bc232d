"""The data stage's two halves: make the splits of a configured source, and open them again from the cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from edgekit.config.schema import DataConfig, DataSource, Task
from edgekit.data.base import Splits
from edgekit.data.dataset import Dataset, build_dataset, load_raw

MEMORY_FILE = "data.npz"
LISTING_FILE = "listing.npz"
RECORDS_FILE = "records.json"


def create_splits(config: DataConfig, resolve: Callable[[str], Path], folder: Path,
                  task: Task = Task.AUTO) -> tuple[Splits, dict[str, Any]]:
    """Load and split the configured source, writing what reopens it into `folder`.

    `task` is the config's: how npz labels are read (see `edgekit.data.sources.load_npz`).

    Returns:
        (splits, meta) where meta says how to reopen them (see `open_splits`).
    """
    if config.source is DataSource.IMAGES:
        from edgekit.data.streaming import ImageFolderSplits, list_images

        listing = list_images(resolve(config.path), config)
        listing.save(folder / LISTING_FILE)
        return ImageFolderSplits(listing, config.image_size), {"kind": "images"}
    if config.source is DataSource.TFRECORD:
        from edgekit.data.streaming import TFRecordSplits, index_tfrecords

        index = index_tfrecords(resolve(config.path), config)
        (folder / RECORDS_FILE).write_text(json.dumps(index.to_dict()))
        return TFRecordSplits(index, config.image_size), {"kind": "tfrecord"}
    dataset = build_dataset(config, load_raw(config, resolve, task))
    dataset.save(folder / MEMORY_FILE)
    return dataset, {"kind": "memory"}


def open_splits(config: DataConfig, meta: dict[str, Any], folder: Path) -> Splits:
    """Reopen splits made by `create_splits` from the files it wrote."""
    if meta["kind"] == "images":
        from edgekit.data.streaming import ImageFolderSplits, ImageListing

        return ImageFolderSplits(ImageListing.load(folder / LISTING_FILE), config.image_size)
    if meta["kind"] == "tfrecord":
        from edgekit.data.streaming import RecordIndex, TFRecordSplits

        return TFRecordSplits(RecordIndex(**json.loads((folder / RECORDS_FILE).read_text())), config.image_size)
    return Dataset.load(folder / MEMORY_FILE)
