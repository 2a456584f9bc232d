"""Makes the tiny .tflite models the adapter and lab tests use (committed; rerun only to change them).

    .venv/bin/python tests/data/models/make_models.py

A 2-layer MLP (32 inputs, 64 hidden units, 4 outputs; the converter quantizes only weight tensors of more than 1024 values) in the four quantizations edgekit exports: float32, float16,
dynamic-range and full-integer int8 (int8 inputs and outputs, as the Edge TPU requires).
"""

from pathlib import Path

import numpy as np

from edgekit._tf import keras, tf

HERE = Path(__file__).resolve().parent


def main() -> None:
    layers = keras().layers
    model = keras().Sequential([layers.Input((32,)), layers.Dense(64, activation="relu"), layers.Dense(4)])
    rng = np.random.default_rng(0)
    representative = rng.uniform(0, 1, (32, 32)).astype(np.float32)

    def converter():
        return tf().lite.TFLiteConverter.from_keras_model(model)

    flavours = {}
    flavours["float32"] = converter()
    half = converter()
    half.optimizations = [tf().lite.Optimize.DEFAULT]
    half.target_spec.supported_types = [tf().float16]
    flavours["float16"] = half
    dynamic = converter()
    dynamic.optimizations = [tf().lite.Optimize.DEFAULT]
    flavours["dynamic"] = dynamic
    full = converter()
    full.optimizations = [tf().lite.Optimize.DEFAULT]
    full.representative_dataset = lambda: ([row[None]] for row in representative)
    full.target_spec.supported_ops = [tf().lite.OpsSet.TFLITE_BUILTINS_INT8]
    full.inference_input_type = tf().int8
    full.inference_output_type = tf().int8
    flavours["int8"] = full
    for name, flavour in flavours.items():
        (HERE / f"mlp-{name}.tflite").write_bytes(flavour.convert())


if __name__ == "__main__":
    main()
