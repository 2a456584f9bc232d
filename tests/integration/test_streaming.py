"""Image folders and TFRecord files are streamed through tf.data, split deterministically and never held in memory."""

import numpy as np
import pytest
from PIL import Image

from edgekit.config.schema import DataConfig, DataSource
from edgekit.data.loading import create_splits, open_splits
from edgekit.data.streaming import ImageFolderSplits, TFRecordSplits, list_images
from edgekit.errors import DataError


def make_image_folder(root, per_class=10, size=(20, 16)):
    for class_id, name in enumerate(["cat", "dog"]):
        (root / name).mkdir(parents=True)
        for index in range(per_class):
            Image.new("RGB", size, color=(class_id * 200, index, 0)).save(root / name / f"{index}.png")
    return root


def test_image_folder_streams_resized_scaled_batches(tmp_path):
    folder = make_image_folder(tmp_path / "images")
    (folder / "dog" / "notes.txt").write_text("ignored: not an image")
    config = DataConfig(source=DataSource.IMAGES, path=str(folder), image_size=(8, 6), test_fraction=0.2,
                        val_fraction=0.1)
    splits = ImageFolderSplits(list_images(folder, config), (8, 6))
    assert splits.class_names == ["cat", "dog"]
    assert splits.input_shape == (8, 6, 3)
    assert (splits.size("train"), splits.size("val"), splits.size("test")) == (14, 2, 4)
    batches = list(splits.batches("test", 3))
    assert [len(y) for _, y in batches] == [3, 1]
    x, y = batches[0]
    assert x.shape == (3, 8, 6, 3) and x.dtype == np.float32
    red = x[:, 0, 0, 0]
    assert np.allclose(red[y == 1], 200 / 255, atol=1e-5) and np.allclose(red[y == 0], 0.0)
    # The order of a split is fixed; the seeded shuffle only applies to training.
    assert np.array_equal(np.concatenate([b[1] for b in splits.batches("test", 3)]), np.concatenate([b[1] for b in batches]))
    assert splits.representative_samples(5, seed=0).shape == (5, 8, 6, 3)
    np.testing.assert_array_equal(splits.representative_samples(5, seed=0), splits.representative_samples(5, seed=0))
    record = splits.preprocessing.to_dict()
    assert record["resize"] == [8, 6] and record["formula"].startswith("x = resize_bilinear(rgb8, resize)")


def test_image_splits_reopen_from_the_data_stage_files(tmp_path):
    folder = make_image_folder(tmp_path / "images")
    config = DataConfig(source=DataSource.IMAGES, path=str(folder), image_size=(8, 8))
    (tmp_path / "stage").mkdir()
    splits, meta = create_splits(config, lambda path: folder, tmp_path / "stage")
    again = open_splits(config, meta, tmp_path / "stage")
    assert meta == {"kind": "images"}
    assert again.fingerprint() == splits.fingerprint()
    assert again.summary() == splits.summary()


def test_bad_image_folders(tmp_path):
    config = DataConfig(source=DataSource.IMAGES, path="x", image_size=(8, 8))
    with pytest.raises(DataError, match="no such folder of images"):
        list_images(tmp_path / "nope", config)
    (tmp_path / "only").mkdir()
    with pytest.raises(DataError, match=r"found 1 class folder\(s\); a classifier needs at least 2"):
        list_images(tmp_path, config)
    (tmp_path / "empty").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "only" / "a.png")
    with pytest.raises(DataError, match="empty: no images"):
        list_images(tmp_path, config)
    Image.new("RGB", (4, 4)).save(tmp_path / "empty" / "b.png")
    (tmp_path / "empty" / "broken.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DataError, match=r"broken.png: cannot decode this image"):
        list_images(tmp_path, config)


def write_tfrecord(path, count, image_key="image", label_key="label", size=(12, 10)):
    import io

    from edgekit._tf import tf as tensorflow

    tf = tensorflow()
    with tf.io.TFRecordWriter(str(path)) as writer:
        for index in range(count):
            label = index % 3
            buffer = io.BytesIO()
            Image.new("RGB", size, color=(label * 100, 0, 0)).save(buffer, format="PNG")
            feature = {image_key: tf.train.Feature(bytes_list=tf.train.BytesList(value=[buffer.getvalue()])),
                       label_key: tf.train.Feature(int64_list=tf.train.Int64List(value=[label]))}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())


def test_tfrecord_hash_split_is_deterministic(tmp_path):
    write_tfrecord(tmp_path / "all.tfrecord", 300)
    config = DataConfig(source=DataSource.TFRECORD, path="all.tfrecord", image_size=(6, 6), seed=1)
    (tmp_path / "stage").mkdir()
    splits, meta = create_splits(config, lambda path: tmp_path / path, tmp_path / "stage")
    assert isinstance(splits, TFRecordSplits)
    sizes = [splits.size(name) for name in ("train", "val", "test")]
    assert sum(sizes) == 300
    assert 30 <= sizes[2] <= 90 and 10 <= sizes[1] <= 55  # 20% and 10%, by hash
    assert splits.num_classes == 3
    labels = np.concatenate([y for _, y in splits.batches("test", 64)])
    assert len(labels) == sizes[2]
    again = open_splits(config, meta, tmp_path / "stage")
    assert np.array_equal(np.concatenate([y for _, y in again.batches("test", 64)]), labels)
    x, y = next(splits.batches("train", 4))
    assert x.shape == (4, 6, 6, 3) and np.allclose(x[:, 0, 0, 0], y * 100 / 255, atol=1e-5)


def test_tfrecord_files_named_by_split_and_object_detection_keys(tmp_path):
    folder = tmp_path / "records"
    folder.mkdir()
    for name, count in (("train-00000.tfrecord", 30), ("validation.tfrecord", 6), ("test.tfrecord", 9)):
        write_tfrecord(folder / name, count, image_key="image/encoded", label_key="image/class/label")
    config = DataConfig(source=DataSource.TFRECORD, path=str(folder), image_size=(6, 6))
    (tmp_path / "stage").mkdir()
    splits, _ = create_splits(config, lambda path: folder, tmp_path / "stage")
    assert [splits.size(name) for name in ("train", "val", "test")] == [30, 6, 9]


def test_bad_tfrecords(tmp_path):
    config = DataConfig(source=DataSource.TFRECORD, path="x", image_size=(6, 6))
    (tmp_path / "stage").mkdir()
    with pytest.raises(DataError, match="no TFRecord files"):
        create_splits(config, lambda path: tmp_path / "none" / "*.tfrecord", tmp_path / "stage")
    (tmp_path / "junk.tfrecord").write_bytes(b"definitely not a record")
    with pytest.raises(DataError, match="junk.tfrecord: not a readable TFRecord file"):
        create_splits(config, lambda path: tmp_path / "junk.tfrecord", tmp_path / "stage")
    write_tfrecord(tmp_path / "wrong.tfrecord", 3, image_key="pixels", label_key="y")
    with pytest.raises(DataError, match=r"needs an encoded image under image or image/encoded .* found pixels, y"):
        create_splits(config, lambda path: tmp_path / "wrong.tfrecord", tmp_path / "stage")


@pytest.mark.slow
def test_build_from_tfrecords(tmp_path):
    from tests.integration.helpers import artifact, build, write_config

    write_tfrecord(tmp_path / "shades.tfrecord", 120)
    config = write_config(tmp_path, """
        name: shades
        data: {source: tfrecord, path: shades.tfrecord, image_size: [8, 8]}
        model: {builtin: small_cnn, width: 0.25}
        train: {epochs: 3, batch_size: 16, learning_rate: 0.01}
        prune: {enabled: true, epochs: 1}
        qat: {enabled: false}
        export: {formats: [tflite, onnx], quantization: [float32, int8]}
        profile: {runs: 5, warmup: 1, min_seconds: 0}
        evaluate: {max_accuracy_drop: 1.0, min_agreement: 0.0}
    """)
    result, manifest = build(config)
    assert result.exit_code == 0, result.output
    assert manifest["data"]["source"] == "tfrecord" and manifest["data"]["num_classes"] == 3
    assert sum(manifest["data"][split] for split in ("train", "val", "test")) == 120
    assert artifact(manifest, "onnx-float32")["max_abs_diff"] <= 1e-4
    assert artifact(manifest, "tflite-int8")["accuracy"] is not None
    assert abs(manifest["sparsity"]["overall"] - 0.5) <= 0.01
