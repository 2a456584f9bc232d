"""Built-in models. Each is a function (input_shape, num_classes, width) -> uncompiled tf_keras model."""

from __future__ import annotations

from typing import Callable

from edgekit._tf import keras
from edgekit.config.schema import Builtin
from edgekit.errors import ModelError

# MobileNetV2 halves the resolution five times; Keras refuses inputs under 32×32 for it.
MOBILENET_MIN_SIZE = 32


def _channels(base: int, width: float) -> int:
    return max(4, int(round(base * width)))


def small_cnn(input_shape: tuple[int, ...], num_classes: int, width: float = 1.0):
    """Two conv blocks and a dense head: a few tens of thousands of weights, good for small images.

    Global average pooling keeps the head's size independent of the image size.
    """
    _require_image(input_shape, "small_cnn")
    layers = keras().layers
    inputs = keras().Input(shape=input_shape, name="input")
    x = layers.Conv2D(_channels(32, width), 3, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.Conv2D(_channels(32, width), 3, padding="same", activation="relu", name="conv2")(x)
    if min(input_shape[:2]) >= 4:
        x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(_channels(64, width), 3, padding="same", activation="relu", name="conv3")(x)
    x = layers.Conv2D(_channels(64, width), 3, padding="same", activation="relu", name="conv4")(x)
    if min(input_shape[:2]) >= 16:
        x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(_channels(128, width), activation="relu", name="fc1")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="classifier")(x)
    return keras().Model(inputs, outputs, name="small_cnn")


def mlp(input_shape: tuple[int, ...], num_classes: int, width: float = 1.0):
    """Two hidden dense layers for flat features (images are flattened first)."""
    layers = keras().layers
    inputs = keras().Input(shape=input_shape, name="input")
    x = layers.Flatten(name="flatten")(inputs) if len(input_shape) > 1 else inputs
    x = layers.Dense(_channels(256, width), activation="relu", name="fc1")(x)
    x = layers.Dense(_channels(128, width), activation="relu", name="fc2")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="classifier")(x)
    return keras().Model(inputs, outputs, name="mlp")


def mobilenet_v2(input_shape: tuple[int, ...], num_classes: int, width: float = 1.0):
    """Keras' MobileNetV2 with a width multiplier (alpha), untrained (weights=None: no download)."""
    _require_image(input_shape, "mobilenet_v2")
    height, width_px = input_shape[:2]
    if min(height, width_px) < MOBILENET_MIN_SIZE:
        raise ModelError(
            f"mobilenet_v2 needs images of at least {MOBILENET_MIN_SIZE}×{MOBILENET_MIN_SIZE}, the data has "
            f"{height}×{width_px}: set data.image_size, or use model.builtin small_cnn"
        )
    return keras().applications.MobileNetV2(input_shape=tuple(input_shape), alpha=width, weights=None,
                                            classes=num_classes, classifier_activation="softmax")


def _require_image(input_shape: tuple[int, ...], name: str) -> None:
    if len(input_shape) != 3:
        raise ModelError(
            f"{name} expects images of shape (height, width, channels); the data's samples have shape "
            f"{tuple(input_shape)}: use model.builtin mlp for flat features"
        )


BUILTINS: dict[Builtin, Callable] = {
    Builtin.SMALL_CNN: small_cnn,
    Builtin.MLP: mlp,
    Builtin.MOBILENET_V2: mobilenet_v2,
}
