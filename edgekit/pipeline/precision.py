"""Mixed precision: choose the policy, and rebuild a model under a policy with its weights."""

from __future__ import annotations

from dataclasses import dataclass

from edgekit._native import captured_stderr
from edgekit._tf import keras, tf
from edgekit.config.schema import Precision
from edgekit.errors import ModelError

# Tensor Cores (Volta, compute capability 7.0) are where float16 pays off; older GPUs run it slower.
MIN_FLOAT16_COMPUTE_CAPABILITY = (7, 0)


@dataclass(frozen=True)
class PrecisionChoice:
    """The Keras dtype policy a build trains with, and why."""

    policy: str
    reason: str


def choose_precision(requested: Precision) -> PrecisionChoice:
    """`auto` picks mixed_float16 on a GPU with compute capability >= 7.0, else float32; others are taken as asked."""
    if requested is not Precision.AUTO:
        return PrecisionChoice(requested.value, "set in train.precision")
    with captured_stderr():  # "failed call to cuInit" on every machine without a GPU driver
        gpus = tf().config.list_physical_devices("GPU")
    if not gpus:
        return PrecisionChoice("float32", "auto: no GPU visible")
    capabilities = [tf().config.experimental.get_device_details(gpu).get("compute_capability") for gpu in gpus]
    if all(cap is not None and tuple(cap) >= MIN_FLOAT16_COMPUTE_CAPABILITY for cap in capabilities):
        return PrecisionChoice("mixed_float16", f"auto: GPU compute capability {capabilities[0]}")
    return PrecisionChoice("float32", f"auto: GPU compute capability {capabilities} below 7.0")


def with_policy(model, policy: str):
    """A copy of a functional or sequential `model` whose layers compute in `policy`, with the same weights.

    The output layers stay float32: softmax and the loss are numerically fragile in float16,
    which is what Keras' mixed precision guide prescribes. Variables stay float32 under mixed
    policies, so weights copy over unchanged.

    Raises:
        ModelError: the model cannot be rebuilt from its config (a subclassed model, say).
    """
    output_layers = {tensor._keras_history.layer.name for tensor in model.outputs}
    try:
        config = model.get_config()
        for layer_config in config["layers"]:
            inner = layer_config["config"]
            if layer_config["class_name"] == "InputLayer":
                continue
            inner["dtype"] = "float32" if inner["name"] in output_layers else policy
        rebuilt = model.__class__.from_config(config)
        rebuilt.set_weights(model.get_weights())
    except (NotImplementedError, KeyError, TypeError, ValueError) as error:
        raise ModelError(
            f"cannot rebuild model '{model.name}' under the {policy} policy ({type(error).__name__}: {error}); "
            f"mixed precision needs a functional or sequential model: set train.precision: float32"
        ) from None
    return rebuilt


def make_optimizer(learning_rate: float, policy: str):
    """Adam; wrapped in a LossScaleOptimizer under mixed_float16 (dynamic loss scaling, as Keras does it).

    bfloat16 has float32's exponent range, so it needs no loss scaling.
    """
    optimizer = keras().optimizers.Adam(learning_rate=learning_rate)
    if policy == "mixed_float16":
        optimizer = keras().mixed_precision.LossScaleOptimizer(optimizer)
    return optimizer
