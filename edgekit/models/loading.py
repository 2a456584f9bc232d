"""The model of a build: a builtin, the user's file, or the user's factory function; checked against the data."""

from __future__ import annotations

import contextlib
import importlib
import inspect
import sys
from pathlib import Path

from edgekit._tf import keras
from edgekit.config.loader import LoadedConfig
from edgekit.config.schema import ModelConfig
from edgekit.errors import ModelError
from edgekit.models.trust import refuse_code
from edgekit.models.zoo import BUILTINS


def build_model(config: ModelConfig, loaded: LoadedConfig, input_shape: tuple[int, ...], num_classes: int):
    """The uncompiled tf_keras model described by `config`, checked to fit the data.

    Raises:
        ModelError: it cannot be built or loaded, is not a tf_keras model, or does not fit the data.
    """
    if config.builtin is not None:
        model = BUILTINS[config.builtin](tuple(input_shape), num_classes, config.width)
    elif config.file is not None:
        model = load_model_file(loaded.resolve(config.file), trust_code=config.trust_code)
    else:
        model = call_factory(config.factory, loaded.directory, input_shape, num_classes)
    check_fits(model, input_shape, num_classes)
    return model


def load_model_file(path: Path, *, trust_code: bool = False):
    """A .keras, .h5 or SavedModel folder, loaded without its training configuration.

    Unless `trust_code`, a file that would run Python code stored in it (a Lambda layer) is refused before
    it is loaded (see `edgekit.models.trust`).
    """
    if not path.exists():
        raise ModelError(f"{path}: no such model file")
    if path.is_file() and path.suffix not in (".keras", ".h5", ".hdf5"):
        raise ModelError(f"{path}: expected a .keras or .h5 file, or a SavedModel folder")
    if path.is_dir() and not (path / "saved_model.pb").exists():
        raise ModelError(f"{path}: a folder must be a SavedModel (it has no saved_model.pb)")
    if not trust_code:
        refuse_code(path)
    try:
        model = keras().models.load_model(path, compile=False, safe_mode=not trust_code)
    except Exception as error:  # Keras raises anything from ValueError to OSError to KeyError here
        raise ModelError(f"{path}: cannot load this model with tf_keras: {type(error).__name__}: {error}") from None
    if not isinstance(model, keras().Model):
        raise ModelError(f"{path}: is a SavedModel without Keras metadata; save it from tf_keras with model.save()")
    return model


def call_factory(spec: str, config_dir: Path, input_shape: tuple[int, ...], num_classes: int):
    """Import `package.module:function` (the config's folder is on the path) and call it.

    The function gets `input_shape` and `num_classes` when its signature takes them.
    """
    module_name, _, function_name = spec.partition(":")
    if str(config_dir) not in sys.path:
        sys.path.insert(0, str(config_dir))
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ModelError(f"model.factory '{spec}': cannot import {module_name}: {error}") from None
    function = module
    for part in function_name.split("."):
        function = getattr(function, part, None)
        if function is None:
            raise ModelError(f"model.factory '{spec}': {module_name} has no attribute {function_name}")
    if not callable(function):
        raise ModelError(f"model.factory '{spec}': {function_name} is not callable")
    parameters = inspect.signature(function).parameters
    kwargs = {}
    if "input_shape" in parameters:
        kwargs["input_shape"] = tuple(input_shape)
    if "num_classes" in parameters:
        kwargs["num_classes"] = num_classes
    model = function(**kwargs)
    if not isinstance(model, keras().Model):
        kind = f"{type(model).__module__}.{type(model).__name__}"
        hint = " (a Keras 3 model: build it with `import tf_keras as keras`; tfmot needs Keras 2)" \
            if type(model).__module__.startswith("keras") else ""
        raise ModelError(f"model.factory '{spec}' returned {kind}, not a tf_keras model{hint}")
    return model


def check_fits(model, input_shape: tuple[int, ...], num_classes: int) -> None:
    """The model takes one input of the data's sample shape and gives `num_classes` scores.

    Raises:
        ModelError: naming both shapes.
    """
    if len(model.inputs) != 1:
        raise ModelError(f"the model has {len(model.inputs)} inputs; edgekit builds single-input classifiers")
    expected = tuple(model.inputs[0].shape[1:])
    data_shape = tuple(input_shape)
    fits = len(expected) == len(data_shape) and all(e is None or e == d for e, d in zip(expected, data_shape))
    if not fits:
        raise ModelError(
            f"the model expects inputs of shape {_shape(expected)}, but the data's samples have shape "
            f"{_shape(data_shape)} (check data.image_size, or the model's input layer)"
        )
    if len(model.outputs) != 1:
        raise ModelError(f"the model has {len(model.outputs)} outputs; edgekit builds single-output classifiers")
    output_shape = tuple(model.outputs[0].shape[1:])
    if output_shape != (num_classes,):
        raise ModelError(
            f"the model's output has shape {_shape(output_shape)}, but the data has {num_classes} classes: "
            f"expected ({num_classes},)"
        )


def _shape(shape: tuple) -> str:
    return "(" + ", ".join("None" if dim is None else str(dim) for dim in shape) + (",)" if len(shape) == 1 else ")")


@contextlib.contextmanager
def rebuilding_in_memory():
    """Let Keras rebuild an in-memory model from its config even when it has Lambda layers.

    Cloning (and tfmot's quantize_apply) rebuilds every layer from its config, and Keras' safe mode
    refuses a Lambda layer's Python function there. These models are already in memory, built or
    loaded by the user's own code: no untrusted file is read, so safe mode has nothing to protect.
    """
    keras()
    from tf_keras.src.saving.serialization_lib import SafeModeScope

    with SafeModeScope(safe_mode=False):
        yield


def outputs_probabilities(model) -> bool:
    """True when the model ends in a softmax (its outputs are probabilities, not logits)."""
    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    return type(last).__name__ == "Softmax" or getattr(activation, "__name__", "") == "softmax"
