"""Data sets read from disk as they are used: folders of images and TFRecord files, through tf.data.

Nothing here holds the data set in memory: the split is a list of file names (images) or a hash of
the record index (TFRecord), and samples are decoded, resized and scaled in parallel tf.data
pipelines with prefetching. Memory grows with the shuffle buffer, not with the number of images.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np

from edgekit.config.schema import DataConfig
from edgekit.data.base import SPLITS, Splits
from edgekit.data.dataset import stratified_split
from edgekit.data.preprocessing import Layout, Preprocessing
from edgekit.data.imagecheck import FileNote, check_image_folder, summarize
from edgekit._tf import tf as tensorflow
from edgekit.errors import DataError

# Samples shuffled in memory at once when a source cannot shuffle a list of names (TFRecord).
SHUFFLE_BUFFER = 1024
# One in this many records, by hash, goes to each split: fine enough for fractions like 0.05.
HASH_BUCKETS = 1_000_000
IMAGE_KEYS = ("image", "image/encoded")
LABEL_KEYS = ("label", "image/class/label")


def image_preprocessing(image_size: tuple[int, int]) -> Preprocessing:
    """8-bit RGB, resized (bilinear) to image_size, scaled to [0, 1]."""
    return Preprocessing(scale=1.0 / 255.0, offset=0.0, layout=Layout.NHWC, raw_dtype="uint8",
                         resize=tuple(image_size))


def _decode(tf, contents, preprocessing: Preprocessing):
    image = tf.io.decode_image(contents, channels=3, expand_animations=False)
    image = tf.image.resize(image, preprocessing.resize, method="bilinear")
    return image * preprocessing.scale + preprocessing.offset


class StreamingSplits(Splits):
    """What image folders and TFRecord files share: tf.data pipelines over the three splits."""

    def __init__(self, class_names: list[str], image_size: tuple[int, int], sizes: dict[str, int], source: str,
                 listing_digest: str):
        self.class_names = class_names
        self.preprocessing = image_preprocessing(image_size)
        self.source = source
        self._sizes = sizes
        self._listing_digest = listing_digest

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (*self.preprocessing.resize, 3)

    def size(self, split: str) -> int:
        return self._sizes[split]

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps([self._listing_digest, self.preprocessing.to_dict()],
                                         sort_keys=True).encode()).hexdigest()

    def dataset(self, split: str, *, shuffle_seed: Optional[int] = None):
        """Decoded, preprocessed (image, label) pairs of `split`, unbatched."""
        raise NotImplementedError

    def fit_arguments(self, batch_size: int, seed: int) -> dict[str, Any]:
        tf = tensorflow()

        train = self._batched(self.dataset("train", shuffle_seed=seed), batch_size)
        arguments = {"x": train, "steps_per_epoch": -(-self.size("train") // batch_size)}
        if self.size("val"):
            arguments["validation_data"] = self._batched(self.dataset("val"), batch_size)
            arguments["validation_steps"] = -(-self.size("val") // batch_size)
        options = tf.data.Options()
        # Under MultiWorkerMirroredStrategy each worker reads every file and keeps its share of the samples.
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        arguments["x"] = arguments["x"].with_options(options).repeat()
        if "validation_data" in arguments:
            arguments["validation_data"] = arguments["validation_data"].with_options(options)
        return arguments

    def batches(self, split: str, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for images, labels in self._batched(self.dataset(split), batch_size).as_numpy_iterator():
            yield images, labels

    def representative_samples(self, count: int, seed: int) -> np.ndarray:
        samples = [image for image, _ in self.dataset("train", shuffle_seed=seed).take(count).as_numpy_iterator()]
        return np.stack(samples).astype(np.float32)

    @staticmethod
    def _batched(dataset, batch_size: int):
        tf = tensorflow()

        return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


@dataclass
class ImageListing:
    """The files of an image folder, their class ids and their split (0 train, 1 val, 2 test)."""

    root: Path
    paths: np.ndarray  # relative to root, str
    labels: np.ndarray
    splits: np.ndarray
    class_names: list[str]
    # files left out, converted or suspicious (see edgekit.data.imagecheck)
    notes: list[FileNote] = dataclasses.field(default_factory=list)

    def save(self, path: Path) -> None:
        from edgekit import fsutil

        with fsutil.atomic_path(path) as temporary:
            with open(temporary, "wb") as handle:
                np.savez(handle, paths=self.paths, labels=self.labels, splits=self.splits,
                         meta=np.array(json.dumps({"root": str(self.root), "class_names": self.class_names,
                                                   "notes": [note.to_dict() for note in self.notes]})))

    @classmethod
    def load(cls, path: Path) -> "ImageListing":
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"]))
            return cls(root=Path(meta["root"]), paths=archive["paths"], labels=archive["labels"],
                       splits=archive["splits"], class_names=meta["class_names"],
                       notes=[FileNote.from_dict(note) for note in meta.get("notes", [])])

    def digest(self) -> str:
        digest = hashlib.sha256()
        for array in (self.paths, self.labels, self.splits):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()


def list_images(folder: Path, config: DataConfig) -> ImageListing:
    """List an image folder and split it (stratified, seeded), decoding each image once to sort out bad ones.

    Raises:
        DataError: see `edgekit.data.imagecheck.check_image_folder`.
    """
    checked = check_image_folder(folder, config)
    files, class_names = checked.files, checked.class_names
    labels = np.array([label for _, label in files], dtype=np.int64)
    train, val, test = stratified_split(labels, config.val_fraction, config.test_fraction, config.seed)
    splits = np.zeros(len(files), dtype=np.int8)
    splits[val], splits[test] = 1, 2
    paths = np.array([str(path.relative_to(folder)) for path, _ in files])
    return ImageListing(root=folder, paths=paths, labels=labels, splits=splits, class_names=class_names,
                        notes=checked.notes)


class ImageFolderSplits(StreamingSplits):
    """A folder with one sub-folder of images per class, decoded and resized as they are read."""

    def __init__(self, listing: ImageListing, image_size: tuple[int, int]):
        sizes = {name: int(np.count_nonzero(listing.splits == index)) for index, name in enumerate(SPLITS)}
        super().__init__(listing.class_names, image_size, sizes, "images", listing.digest())
        self.listing = listing

    def summary(self) -> dict[str, Any]:
        """For the manifest: the splits, and every file skipped, converted or suspicious."""
        return {**super().summary(), **summarize(self.listing.notes, len(self.listing.paths))}

    def dataset(self, split: str, *, shuffle_seed: Optional[int] = None):
        tf = tensorflow()

        chosen = self.listing.splits == SPLITS.index(split)
        paths = [str(self.listing.root / path) for path in self.listing.paths[chosen]]
        labels = self.listing.labels[chosen]
        files = tf.data.Dataset.from_tensor_slices((paths, labels))
        if shuffle_seed is not None:
            # Shuffling names, not images: the whole split fits in the buffer at a few bytes per file.
            files = files.shuffle(len(paths), seed=shuffle_seed, reshuffle_each_iteration=True)
        preprocessing = self.preprocessing
        return files.map(lambda path, label: (_decode(tf, tf.io.read_file(path), preprocessing), label),
                         num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


@dataclass
class RecordIndex:
    """TFRecord files, the feature names used in them, and the samples per split and class."""

    files: list[str]
    image_key: str
    label_key: str
    explicit_splits: dict[str, list[str]]  # split -> files, when file names say which split they hold
    sizes: dict[str, int]
    num_classes: int
    seed: int
    val_fraction: float
    test_fraction: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def tfrecord_files(path: Path) -> list[str]:
    """The TFRecord files of `path`: a file, a folder (*.tfrecord, *.tfrecord.gz, *.tfrec) or a glob pattern."""
    if path.is_file():
        return [str(path)]
    if path.is_dir():
        files = sorted(str(p) for p in path.iterdir() if p.is_file() and (".tfrecord" in p.name or p.suffix == ".tfrec"))
    else:
        files = sorted(glob.glob(str(path)))
    if not files:
        raise DataError(f"{path}: no TFRecord files (a file, a folder of *.tfrecord files, or a glob pattern)")
    return files


def _compression(file_name: str) -> str:
    return "GZIP" if file_name.endswith(".gz") else ""


def _records(tf, files: list[str]):
    by_compression: dict[str, list[str]] = {}
    for name in files:
        by_compression.setdefault(_compression(name), []).append(name)
    datasets = [tf.data.TFRecordDataset(names, compression_type=kind) for kind, names in by_compression.items()]
    combined = datasets[0]
    for other in datasets[1:]:
        combined = combined.concatenate(other)
    return combined


def index_tfrecords(path: Path, config: DataConfig) -> RecordIndex:
    """Read every record's label once (no image decoding) to learn the sizes of the splits and the classes.

    Files whose names start with train, val/validation or test are those splits; otherwise each record
    goes to a split by a seeded hash of its index, in the configured fractions.

    Raises:
        DataError: no files, unreadable records, or records without an image and an integer label.
    """
    tf = tensorflow()

    files = tfrecord_files(path)
    image_key, label_key = _feature_keys(tf, files)
    explicit = _explicit_splits(files)
    sizes = {split: 0 for split in SPLITS}
    largest_label = -1
    try:
        for split, labels in _label_passes(tf, files, explicit, label_key, config):
            for batch in labels.batch(4096).as_numpy_iterator():
                sizes[split] += len(batch)
                largest_label = max(largest_label, int(batch.max()))
                if batch.min() < 0:
                    raise DataError(f"{path}: a record has the negative label {batch.min()}; class ids start at 0")
    except tf.errors.OpError as error:
        raise DataError(f"{path}: cannot read the TFRecord files: {error.message.splitlines()[0]}") from None
    if sizes["train"] == 0 or sizes["test"] == 0:
        raise DataError(f"{path}: the split left {sizes['train']} training and {sizes['test']} test records")
    return RecordIndex(files=files, image_key=image_key, label_key=label_key, explicit_splits=explicit, sizes=sizes,
                       num_classes=largest_label + 1, seed=config.seed, val_fraction=config.val_fraction,
                       test_fraction=config.test_fraction)


def _feature_keys(tf, files: list[str]) -> tuple[str, str]:
    try:
        first = next(iter(_records(tf, files[:1]).take(1).as_numpy_iterator()), None)
    except tf.errors.OpError as error:
        raise DataError(f"{files[0]}: not a readable TFRecord file: {error.message.splitlines()[0]}") from None
    if first is None:
        raise DataError(f"{files[0]}: holds no records")
    try:
        features = tf.train.Example.FromString(first).features.feature
    except Exception:  # protobuf's DecodeError
        raise DataError(f"{files[0]}: its records are not tf.train.Example protos") from None
    image_key = next((key for key in IMAGE_KEYS if key in features), None)
    label_key = next((key for key in LABEL_KEYS if key in features), None)
    if image_key is None or label_key is None:
        raise DataError(f"{files[0]}: each record needs an encoded image under {' or '.join(IMAGE_KEYS)} and an "
                        f"integer label under {' or '.join(LABEL_KEYS)}; found {', '.join(sorted(features))}")
    return image_key, label_key


def _explicit_splits(files: list[str]) -> dict[str, list[str]]:
    prefixes = {"train": ("train",), "val": ("val", "validation"), "test": ("test",)}
    found: dict[str, list[str]] = {split: [] for split in SPLITS}
    for name in files:
        base = Path(name).name.lower()
        for split, starts in prefixes.items():
            if base.startswith(starts):
                found[split].append(name)
    named = sum(len(names) for names in found.values())
    return found if named == len(files) and found["train"] and found["test"] else {}


def _split_of_index(tf, index, seed: int, val_fraction: float, test_fraction: float):
    bucket = tf.strings.to_hash_bucket_fast(tf.strings.format("{}:{}", (seed, index)), HASH_BUCKETS)
    test_edge = int(test_fraction * HASH_BUCKETS)
    val_edge = test_edge + int(val_fraction * HASH_BUCKETS)
    return tf.where(bucket < test_edge, 2, tf.where(bucket < val_edge, 1, 0))


def _label_passes(tf, files, explicit, label_key, config):
    spec = {label_key: tf.io.FixedLenFeature([], tf.int64)}
    parse = lambda record: tf.io.parse_single_example(record, spec)[label_key]  # noqa: E731
    if explicit:
        for split in SPLITS:
            if explicit[split]:
                yield split, _records(tf, explicit[split]).map(parse, num_parallel_calls=tf.data.AUTOTUNE)
        return
    numbered = _records(tf, files).enumerate()
    for position, split in enumerate(SPLITS):
        chosen = numbered.filter(lambda index, record, position=position: tf.equal(
            _split_of_index(tf, index, config.seed, config.val_fraction, config.test_fraction), position))
        yield split, chosen.map(lambda index, record: parse(record), num_parallel_calls=tf.data.AUTOTUNE)


class TFRecordSplits(StreamingSplits):
    """TFRecord files of tf.train.Example records with an encoded image and an integer label."""

    def __init__(self, index: RecordIndex, image_size: tuple[int, int]):
        digest = hashlib.sha256(json.dumps(index.to_dict(), sort_keys=True).encode()).hexdigest()
        super().__init__([str(label) for label in range(index.num_classes)], image_size, index.sizes, "tfrecord",
                         digest)
        self.index = index

    def dataset(self, split: str, *, shuffle_seed: Optional[int] = None):
        tf = tensorflow()

        index = self.index
        spec = {index.image_key: tf.io.FixedLenFeature([], tf.string),
                index.label_key: tf.io.FixedLenFeature([], tf.int64)}
        if index.explicit_splits:
            records = _records(tf, index.explicit_splits[split]) if index.explicit_splits[split] else None
            if records is None:
                records = _records(tf, index.files).take(0)
        else:
            position = SPLITS.index(split)
            records = _records(tf, index.files).enumerate().filter(
                lambda i, record: tf.equal(_split_of_index(tf, i, index.seed, index.val_fraction,
                                                           index.test_fraction), position)
            ).map(lambda i, record: record)
        if shuffle_seed is not None:
            records = records.shuffle(SHUFFLE_BUFFER, seed=shuffle_seed, reshuffle_each_iteration=True)
        preprocessing = self.preprocessing

        def decode(record):
            example = tf.io.parse_single_example(record, spec)
            return _decode(tf, example[index.image_key], preprocessing), example[index.label_key]

        return records.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
