"""A model whose full-integer int8 export fails the accuracy gate, to show edgekit's int8 recovery.

A fixed (non-trainable) dense layer passes the 64 pixels of a digits image through unchanged, except that
every output also reads the top-left pixel with weight 1000. That pixel is blank in every image of the
digits data set, so in float the layer is the identity and the model learns as usual. Quantized, each
output channel's weights share one int8 scale, set by the 1000: the identity weights (1.0) round to
0, the layer outputs nothing, and the classifier after it guesses. The per-layer error ranks this op first;
keeping it in float recovers the accuracy (int16 activations do not help: its weights are the problem).
"""

import numpy as np
import tf_keras as keras

# The weight on the always-blank pixel: large enough that 1.0 rounds to 0 in int8 (1000 / 127 > 2).
OUTLIER_WEIGHT = 1000.0


def build(input_shape, num_classes):
    pixels = int(np.prod(input_shape))
    kernel = np.eye(pixels, dtype=np.float32)
    kernel[0, :] = OUTLIER_WEIGHT
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(pixels, use_bias=False, trainable=False, name="wide_range",
                           kernel_initializer=keras.initializers.Constant(kernel))(x)
    x = keras.layers.Dense(32, activation="relu", name="features")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="classifier")(x)
    return keras.Model(inputs, outputs, name="wide_range")
