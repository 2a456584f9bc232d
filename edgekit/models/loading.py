"""The model of a build: a builtin, the user's file, or the user's factory function; checked against the data."""

from __future__ import annotations

import contextlib
import importlib
import inspect
import sys
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from edgekit import console
from edgekit._tf import keras
from edgekit.config.loader import LoadedConfig
from edgekit.config.schema import ModelConfig
from edgekit.errors import ModelError
from edgekit.models.keras3 import (KERAS3_TOLERANCE, Untranslatable, compare_outputs, is_keras3_model, keras3,
                                   translate, wrap_for_converter)
from edgekit.models.keras3_files import is_keras3_version, load_keras3_file, saved_keras_version
from edgekit.models.trust import refuse_code
from edgekit.models.zoo import BUILTINS


class IntakePath(str, Enum):
    """How the user's model became the tf_keras model the build works on."""

    NATIVE = "native"  # a builtin, or the user's tf_keras model as it is
    TRANSLATED = "translated"  # a Keras 3 model rebuilt in tf_keras, weights copied, outputs compared
    CONVERTER = "converter"  # a Keras 3 model that cannot be rebuilt, handed to the converters as it is


@dataclass
class ModelIntake:
    """The model a build starts from, and how it came in (the manifest's "model_source")."""

    model: Any  # a tf_keras model (for the converter path, one that calls the Keras 3 model)
    record: dict[str, Any]
    keras3_model: Any = None  # the Keras 3 model, on the converter path

    @property
    def path(self) -> IntakePath:
        return IntakePath(self.record["path"])


def build_model(config: ModelConfig, loaded: LoadedConfig, input_shape: tuple[int, ...], num_classes: int):
    """The uncompiled tf_keras model described by `config`, checked to fit the data (see `take_in_model`)."""
    return take_in_model(config, loaded, input_shape, num_classes).model


def take_in_model(config: ModelConfig, loaded: LoadedConfig, input_shape: tuple[int, ...], num_classes: int, *,
                  check_samples: Optional[np.ndarray] = None, converter_allowed: bool = False,
                  fits: Optional[Callable[[Any], None]] = None) -> ModelIntake:
    """The model described by `config` as a tf_keras model, checked to fit the data, with how it came in.

    A Keras 3 model (a file Keras 3 wrote, or a factory's return value) is rebuilt in tf_keras and both
    models' outputs are compared on `check_samples` (random samples when None).

    Args:
        converter_allowed: prune and QAT are off, so a Keras 3 model that cannot be rebuilt may go to the
            converters as it is (post-training quantization) instead of failing.
        fits: checks a model against the data (default: a classifier of `num_classes` over `input_shape`;
            a regression build passes its own check); raises ModelError when it does not fit.

    Raises:
        ModelError: it cannot be built or loaded, does not fit the data, or is a Keras 3 model that cannot be
            rebuilt (and `converter_allowed` is False), naming the layer and what to do.
    """
    if fits is None:
        def fits(model):
            check_fits(model, input_shape, num_classes)
    if config.builtin is not None:
        model = BUILTINS[config.builtin](tuple(input_shape), num_classes, config.width)
        return _native(model, "builtin", fits)
    if config.file is not None:
        path = loaded.resolve(config.file)
        version = saved_keras_version(path) if path.is_file() else None
        if not is_keras3_version(version):
            return _native(load_model_file(path, trust_code=config.trust_code), "file", fits)
        if not config.trust_code and path.exists():
            refuse_code(path)  # before Keras 3 loads it: a Lambda layer's code runs at load
        origin, model3 = f"{path}", load_keras3_file(path, version)
    else:
        # model.width reaches a factory that takes `width` only when the config sets it (edgekit tune does).
        width = config.width if "width" in config.model_fields_set else None
        model = call_factory(config.factory, loaded.directory, input_shape, num_classes, width=width)
        if not is_keras3_model(model):
            return _native(model, "factory", fits)
        origin, model3 = f"model.factory '{config.factory}'", model
    if check_samples is None:
        check_samples = np.random.default_rng(0).normal(size=(16, *input_shape)).astype(np.float32)
    return _from_keras3(model3, origin, "file" if config.file is not None else "factory", fits, check_samples,
                        converter_allowed)


def _native(model, kind: str, fits: Callable[[Any], None]) -> ModelIntake:
    fits(model)
    return ModelIntake(model, {"kind": kind, "keras": "tf_keras", "keras_version": keras().__version__,
                               "path": IntakePath.NATIVE.value})


def _from_keras3(model3, origin: str, kind: str, fits: Callable[[Any], None], samples: np.ndarray,
                 converter_allowed: bool) -> ModelIntake:
    """Rebuild a Keras 3 model in tf_keras and check it; or, when allowed, wrap it for the converters."""
    try:
        model3.inputs
    except AttributeError:  # Keras 3 raises it for an unbuilt Sequential and for every subclassed model
        raise Untranslatable(f"{origin}: the Keras 3 model '{model3.name}' ({type(model3).__name__}) has no defined "
                             f"inputs: build it with the functional API, or start the Sequential with "
                             f"keras.Input(shape)") from None
    fits(model3)
    record: dict[str, Any] = {"kind": kind, "keras": "keras", "keras_version": keras3().__version__,
                              "max_abs_diff": None, "samples": None, "tolerance": KERAS3_TOLERANCE}
    try:
        rebuilt = translate(model3)
    except Untranslatable as error:
        reason, rebuilt = str(error), None
    if rebuilt is not None:
        comparison = compare_outputs(model3, rebuilt, samples)
        record.update(max_abs_diff=comparison.max_abs_diff, samples=comparison.samples)
        if comparison.max_abs_diff <= KERAS3_TOLERANCE:
            console.info(f"model: Keras 3 model rebuilt in tf_keras, outputs equal to "
                         f"{comparison.max_abs_diff:.2g} on {comparison.samples} validation samples")
            return ModelIntake(rebuilt, {**record, "path": IntakePath.TRANSLATED.value})
        reason = (f"its tf_keras rebuild differs from it by up to {comparison.max_abs_diff:.3g} on "
                  f"{comparison.samples} validation samples (tolerance {KERAS3_TOLERANCE:g}); the first layer whose "
                  f"outputs differ is {comparison.first_differing_layer or 'not one of the top-level layers'}")
    if not converter_allowed:
        raise Untranslatable(
            f"{origin} is a Keras 3 model that edgekit cannot bring into tf_keras (which pruning and QAT need): "
            f"{reason}. Build the model with tf_keras (`import tf_keras as keras`), or set prune.enabled and "
            f"qat.enabled to false: then the Keras 3 model is exported as it is, through the converters "
            f"(post-training int8)")
    console.warn(f"model: {origin} cannot be rebuilt in tf_keras ({reason}); prune and QAT are off, so it is "
                 f"exported as it is, through the converters (post-training quantization), without training")
    return ModelIntake(wrap_for_converter(model3), {**record, "path": IntakePath.CONVERTER.value, "reason": reason},
                       keras3_model=model3)


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
        raise ModelError(f"{path}: is a SavedModel without Keras metadata (as Keras 3's model.export() writes); "
                         f"give the model's .keras file instead (model.save('model.keras')), from Keras 3 or tf_keras")
    return model


def load_converter_model(path: Path, config: ModelConfig, loaded: LoadedConfig):
    """The converter path's dense artifact (a Keras 3 .keras file) again, wrapped for the converters.

    A factory's module is imported first: it registers the custom layers the file may hold.
    """
    if config.factory is not None:
        module_name = config.factory.split(":")[0]
        if str(loaded.directory) not in sys.path:
            sys.path.insert(0, str(loaded.directory))
        with contextlib.suppress(ImportError):
            importlib.import_module(module_name)
    return wrap_for_converter(load_keras3_file(path, keras3().__version__))


def factory_function(spec: str, config_dir: Path):
    """The function `package.module:function` names (the config's folder is on the path).

    Raises:
        ModelError: the module cannot be imported, or has no such callable.
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
    return function


def call_factory(spec: str, config_dir: Path, input_shape: tuple[int, ...], num_classes: int,
                 width: Optional[float] = None):
    """Import `package.module:function` (the config's folder is on the path) and call it.

    The function gets `input_shape`, `num_classes` and `width` (when given) where its signature takes them. It
    may return a tf_keras or a Keras 3 model.
    """
    function = factory_function(spec, config_dir)
    parameters = inspect.signature(function).parameters
    kwargs = {}
    if "input_shape" in parameters:
        kwargs["input_shape"] = tuple(input_shape)
    if "num_classes" in parameters:
        kwargs["num_classes"] = num_classes
    if width is not None and "width" in parameters:
        kwargs["width"] = width
    try:
        model = function(**kwargs)
    except Exception as error:  # the user's code: whatever Keras raised while building, said in one line
        first_line = (str(error).strip().splitlines() or [""])[0][:400]
        raise ModelError(f"model.factory '{spec}' failed when called with {kwargs or 'no arguments'}: "
                         f"{type(error).__name__}: {first_line}") from None
    if not isinstance(model, keras().Model) and not is_keras3_model(model):
        kind = f"{type(model).__module__}.{type(model).__name__}"
        raise ModelError(f"model.factory '{spec}' returned {kind}, not a Keras model (tf_keras or Keras 3)")
    return model


def check_fits(model, input_shape: tuple[int, ...], num_classes: int) -> None:
    """The model (tf_keras or Keras 3) takes one input of the data's sample shape and gives `num_classes` scores.

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
    if hasattr(last, "model3"):  # the converter path's wrapper: look at the Keras 3 model's last layer
        return outputs_probabilities(last.model3)
    activation = getattr(last, "activation", None)
    return type(last).__name__ == "Softmax" or getattr(activation, "__name__", "") == "softmax"
