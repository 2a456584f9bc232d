"""The models and data sets of `scripts/bench models`: what people bring, made here without downloads.

Written into the part's scratch folder as a factory module (`bench_models.py`, imported by edgekit from the
config's folder), model files (Keras 3 `.keras`, Keras 2 `.h5`, a SavedModel) and npz / image-folder data.
Keras 3 files are made in a child process without TF_USE_LEGACY_KERAS, as a user's script would make them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

SHAPES = ("circle", "square", "triangle")

# The factory module every row's config names (`model: {factory: "bench_models:NAME"}`).
FACTORIES = textwrap.dedent('''
    """Models a user would bring, as factories edgekit calls with the data's input shape and class count."""
    import os

    def _tfk():
        import tf_keras
        return tf_keras

    def cnn(input_shape, num_classes):
        """The digits CNN, as plain tf_keras (the same network the Keras 3 / .h5 / SavedModel rows hold)."""
        k = _tfk()
        inputs = k.Input(input_shape)
        x = k.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
        x = k.layers.MaxPooling2D()(x)
        x = k.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
        x = k.layers.GlobalAveragePooling2D()(x)
        return k.Model(inputs, k.layers.Dense(num_classes, activation="softmax")(x))

    def resnet_block(input_shape, num_classes):
        """Two residual blocks of Conv + BatchNormalization + ReLU with identity and projection shortcuts."""
        k = _tfk()
        L = k.layers
        inputs = k.Input(input_shape)
        x = L.ReLU()(L.BatchNormalization(momentum=0.9)(L.Conv2D(16, 3, padding="same", use_bias=False)(inputs)))
        for filters, stride in ((16, 1), (32, 2)):
            y = L.ReLU()(L.BatchNormalization(momentum=0.9)(
                L.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)))
            y = L.BatchNormalization(momentum=0.9)(L.Conv2D(filters, 3, padding="same", use_bias=False)(y))
            if stride != 1 or x.shape[-1] != filters:
                x = L.BatchNormalization(momentum=0.9)(L.Conv2D(filters, 1, strides=stride, use_bias=False)(x))
            x = L.ReLU()(L.Add()([x, y]))
        x = L.GlobalAveragePooling2D()(x)
        return k.Model(inputs, L.Dense(num_classes, activation="softmax")(x))

    def ds_cnn(input_shape, num_classes):
        """DS-CNN keyword spotting (Zhang et al., "Hello Edge"), small: on (49, 10, 1) MFCC frames."""
        k = _tfk()
        L = k.layers
        inputs = k.Input(input_shape)
        x = L.Conv2D(32, (10, 4), strides=(2, 2), padding="same", use_bias=False)(inputs)
        x = L.ReLU()(L.BatchNormalization(momentum=0.9)(x))
        for _ in range(3):
            x = L.ReLU()(L.BatchNormalization(momentum=0.9)(L.DepthwiseConv2D(3, padding="same", use_bias=False)(x)))
            x = L.ReLU()(L.BatchNormalization(momentum=0.9)(L.Conv2D(32, 1, use_bias=False)(x)))
        x = L.GlobalAveragePooling2D()(x)
        return k.Model(inputs, L.Dense(num_classes, activation="softmax")(x))

    def sensor_regression(input_shape):
        """Conv1D over (time, channels) accelerometer-like windows, one linear output (a regression head)."""
        k = _tfk()
        L = k.layers
        inputs = k.Input(input_shape)
        x = L.Conv1D(16, 5, activation="relu")(inputs)
        x = L.MaxPooling1D(2)(x)
        x = L.Conv1D(32, 3, activation="relu")(x)
        x = L.GlobalAveragePooling1D()(x)
        x = L.Dense(16, activation="relu")(x)
        return k.Model(inputs, L.Dense(1)(x))

    def custom_layer(input_shape, num_classes):
        """A CNN with a user-defined layer that tfmot has no quantization rule for."""
        k = _tfk()

        class ScaledSwish(k.layers.Layer):
            def __init__(self, beta=1.5, **kwargs):
                super().__init__(**kwargs)
                self.beta = beta

            def call(self, x):
                return x * k.activations.sigmoid(self.beta * x)

            def get_config(self):
                return {**super().get_config(), "beta": self.beta}

        inputs = k.Input(input_shape)
        x = k.layers.Conv2D(16, 3, padding="same")(inputs)
        x = ScaledSwish(name="scaled_swish")(x)
        x = k.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
        x = k.layers.GlobalAveragePooling2D()(x)
        return k.Model(inputs, k.layers.Dense(num_classes, activation="softmax")(x))

    def mobilenet_v3_small(input_shape, num_classes):
        """keras.applications MobileNetV3Small, Keras 3 (the user's `import keras`), untrained (weights=None)."""
        import keras
        return keras.applications.MobileNetV3Small(input_shape=input_shape, weights=None, classes=num_classes,
                                                   include_preprocessing=False, minimalistic=False, alpha=0.75)

    def efficientnet_b0(input_shape, num_classes):
        """keras.applications EfficientNetB0, Keras 3, untrained (weights=None)."""
        import keras
        return keras.applications.EfficientNetB0(input_shape=input_shape, weights=None, classes=num_classes)
''')

# Run in a child process: Keras 3 (no TF_USE_LEGACY_KERAS) for the .keras file, tf_keras for .h5 and SavedModel.
_KERAS3_FILE = textwrap.dedent('''
    import sys
    import keras
    L = keras.layers
    inputs = keras.Input((8, 8, 1))
    x = L.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    x = L.MaxPooling2D()(x)
    x = L.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = L.GlobalAveragePooling2D()(x)
    keras.Model(inputs, L.Dense(10, activation="softmax")(x)).save(sys.argv[1])
''')
_KERAS2_FILES = textwrap.dedent('''
    import sys
    sys.path.insert(0, sys.argv[1])
    import bench_models
    model = bench_models.cnn((8, 8, 1), 10)
    model.save(sys.argv[2])
    model.save(sys.argv[3], save_format="tf")
''')


def write_factories(folder: Path) -> None:
    (folder / "bench_models.py").write_text(FACTORIES)


def write_model_files(folder: Path) -> dict[str, Path]:
    """cnn-keras3.keras (Keras 3), cnn-keras2.h5 and cnn-savedmodel/ (tf_keras); returns them by kind."""
    write_factories(folder)
    files = {"keras3": folder / "cnn-keras3.keras", "h5": folder / "cnn-keras2.h5",
             "savedmodel": folder / "cnn-savedmodel"}
    keras3_env = {key: value for key, value in os.environ.items() if key != "TF_USE_LEGACY_KERAS"}
    subprocess.run([sys.executable, "-c", _KERAS3_FILE, str(files["keras3"])], check=True, env=keras3_env)
    subprocess.run([sys.executable, "-c", _KERAS2_FILES, str(folder), str(files["h5"]), str(files["savedmodel"])],
                   check=True, env={**os.environ, "TF_USE_LEGACY_KERAS": "1"})
    return files


def write_shapes(folder: Path, per_class: int, size: int, seed: int = 0) -> None:
    """A folder per shape (circle, square, triangle): one filled shape of random size, place and colours on a
    noisy background per PNG. The class is the shape, never the colour."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    for class_id, shape in enumerate(SHAPES):
        (folder / shape).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            background = tuple(int(v) for v in rng.integers(0, 256, 3))
            image = Image.new("RGB", (size, size), background)
            draw = ImageDraw.Draw(image)
            radius = rng.uniform(0.18, 0.35) * size
            cx, cy = rng.uniform(radius, size - radius, 2)
            fill = tuple(int((b + rng.integers(80, 176)) % 256) for b in background)
            box = [cx - radius, cy - radius, cx + radius, cy + radius]
            if shape == "circle":
                draw.ellipse(box, fill=fill)
            elif shape == "square":
                draw.rectangle(box, fill=fill)
            else:
                draw.polygon([(cx, cy - radius), (cx - radius, cy + radius), (cx + radius, cy + radius)], fill=fill)
            pixels = np.asarray(image, dtype=np.int16) + rng.integers(-20, 21, (size, size, 3))
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(folder / shape / f"{index:04d}.png")


def write_keyword_frames(path: Path, count: int, classes: int = 4, seed: int = 0) -> None:
    """MFCC-shaped (49, 10, 1) frames: each keyword a different time-frequency pattern, with noise and shifts."""
    rng = np.random.default_rng(seed)
    patterns = rng.normal(0, 1, (classes, 49, 10)).astype(np.float32)
    y = rng.integers(0, classes, count)
    x = np.stack([np.roll(patterns[label], rng.integers(-4, 5), axis=0) for label in y])
    x = x + rng.normal(0, 0.8, x.shape).astype(np.float32)
    np.savez(path, x=x[..., None].astype(np.float32), y=y.astype(np.int64))


def write_sensor_windows(path: Path, count: int, seed: int = 0) -> None:
    """(128, 3) accelerometer-like windows; the target is the dominant frequency (Hz) of the first channel."""
    rng = np.random.default_rng(seed)
    t = np.arange(128) / 50.0  # 50 Hz sampling
    frequency = rng.uniform(0.5, 5.0, count).astype(np.float32)
    x = np.stack([np.stack([np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3)),
                            rng.normal(0, 0.3, 128), np.cos(2 * np.pi * f * t)], axis=-1) for f in frequency])
    x = x + rng.normal(0, 0.2, x.shape)
    np.savez(path, x=x.astype(np.float32), y=frequency)
