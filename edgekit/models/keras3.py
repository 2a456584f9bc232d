"""Keras 3 models brought into tf_keras: recognised, rebuilt from their config with the weights copied, and checked.

tfmot (pruning, QAT) works only on tf_keras (Keras 2) models, but `import keras` has been Keras 3 since
TensorFlow 2.16, so most users' models are Keras 3. A Keras 3 functional or sequential model of standard
layers describes itself in a config that tf_keras can read after a few mechanical changes:

- InputLayer `batch_shape` is tf_keras' `batch_input_shape`;
- dtype policies (`{"class_name": "DTypePolicy", "config": {"name": "float32"}}`) are dtype names;
- a node is `{"args": [keras_tensor, ...], "kwargs": {...}}`, in tf_keras `[[layer, node, tensor, kwargs], ...]`;
- `input_layers`/`output_layers` may be one `[layer, node, tensor]` instead of a list of them;
- a few arguments were renamed (LeakyReLU `negative_slope` was `alpha`), and Keras 3 added some that
  tf_keras lacks: those are dropped only while they hold their "off" value (None or False).

The rebuilt model gets the Keras 3 model's weights, layer by layer, and `keras3_check.compare_outputs` checks
that both compute the same thing (files are read in `keras3_files`). Anything else (a custom or Lambda layer,
a subclassed model, an argument tf_keras has no equivalent for) raises `Untranslatable`, naming the layer and
its class.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import numpy as np

from edgekit._tf import keras as tf_keras, tf
from edgekit.errors import ModelError

# Layer families rebuilt and checked output for output by edgekit's tests. Other layers of the same name in
# both Kerases are attempted too: the output comparison decides whether the rebuild computes the same thing.
TESTED_LAYERS = (
    "InputLayer", "Conv1D", "Conv2D", "DepthwiseConv2D", "SeparableConv2D", "BatchNormalization",
    "LayerNormalization", "Dense", "Dropout", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
    "GlobalMaxPooling2D", "MaxPooling1D", "GlobalAveragePooling1D", "Rescaling", "Reshape", "Flatten", "Add",
    "Concatenate", "Multiply", "Activation", "ReLU", "LeakyReLU", "Softmax", "Functional", "Sequential",
)

# Keras 3 argument names that tf_keras spells differently: {(class, Keras 3 name): tf_keras name}.
RENAMED_ARGUMENTS = {("LeakyReLU", "negative_slope"): "alpha"}

# Never rebuilt from a config: a Lambda's function is Python bytecode in Keras 3's own format, and
# TFSMLayer/TorchModuleWrapper wrap something that is not a Keras config at all.
REFUSED_LAYERS = {
    "Lambda": "its Python function cannot be carried from Keras 3 to tf_keras; replace it with a standard layer",
    "TFSMLayer": "it wraps a SavedModel, not Keras layers",
    "TorchModuleWrapper": "it wraps a PyTorch module",
}

# Arguments every tf_keras layer takes through **kwargs (base Layer.__init__).
_BASE_LAYER_ARGUMENTS = {"name", "trainable", "dtype", "dynamic", "input_dim", "input_shape", "batch_input_shape",
                         "batch_size", "weights", "activity_regularizer", "autocast"}

MODEL_CLASSES = ("Functional", "Sequential", "Model")


class Untranslatable(ModelError):
    """A Keras 3 model that edgekit cannot rebuild in tf_keras; the message names the layer and its class."""


@functools.cache
def keras3():
    """The Keras 3 package (`import keras`), imported after TensorFlow so `tf.keras` stays tf_keras."""
    tf()
    try:
        import keras
    except ImportError as error:  # TensorFlow depends on keras, so this is a broken install
        raise ModelError(f"this is a Keras 3 model, but Keras 3 cannot be imported: {error}") from None
    if not keras.__version__.startswith("3."):
        raise ModelError(f"this is a Keras 3 model, but the installed keras is {keras.__version__}")
    return keras


def is_keras3_model(model: Any) -> bool:
    """True for a model object of Keras 3 (not tf_keras)."""
    if not type(model).__module__.startswith("keras"):
        return False
    return isinstance(model, keras3().Model)


# ------------------------------------------------------------------------------------------------ rebuilding
def translate(model3):
    """The tf_keras model equal to a Keras 3 functional or sequential model, its weights copied.

    Raises:
        Untranslatable: naming the first layer that cannot be rebuilt, its class, and why.
    """
    kind = _model_class(model3)
    config = {"class_name": kind, "config": _model_config(kind, model3.get_config())}
    try:
        rebuilt = tf_keras().layers.deserialize(config)
    except Exception as error:  # tf_keras raises TypeError, ValueError, KeyError on a config it cannot read
        first_line = (str(error).strip().splitlines() or [""])[0][:300]
        raise Untranslatable(f"the Keras 3 model '{model3.name}' cannot be rebuilt in tf_keras: "
                             f"{type(error).__name__}: {first_line}") from None
    copy_weights(model3, rebuilt)
    return rebuilt


def _model_class(model3) -> str:
    keras = keras3()
    if isinstance(model3, keras.Sequential):
        return "Sequential"
    from keras.src.models.functional import Functional

    if isinstance(model3, Functional):
        return "Functional"
    raise Untranslatable(f"the Keras 3 model '{model3.name}' is a subclassed model ({type(model3).__name__}): "
                         f"its structure is Python code, not a config tf_keras can read; build it with the "
                         f"functional API or keras.Sequential")


def _model_config(kind: str, config: dict) -> dict:
    if kind == "Sequential":
        layers = [_layer_entry(layer, functional=False) for layer in config["layers"]]
        translated = {"name": config["name"], "layers": layers}
        if config.get("build_input_shape"):  # a Sequential without an InputLayer, built on its first call
            translated["build_input_shape"] = config["build_input_shape"]
        return translated
    layers = [_layer_entry(layer, functional=True) for layer in config["layers"]]
    return {"name": config["name"], "trainable": config.get("trainable", True), "layers": layers,
            "input_layers": _endpoints(config["input_layers"]), "output_layers": _endpoints(config["output_layers"])}


def _endpoints(value: list) -> list:
    """Keras 3 writes one endpoint as ["name", 0, 0]; tf_keras always wants a list of them."""
    return [value] if value and isinstance(value[0], str) else [list(item) for item in value]


def _layer_entry(entry: dict, *, functional: bool) -> dict:
    class_name = entry["class_name"]
    config = entry.get("config", {})
    name = config.get("name") or entry.get("name", "?")
    if class_name in MODEL_CLASSES:
        inner = "Sequential" if class_name == "Sequential" else "Functional"
        if "layers" not in config:
            raise Untranslatable(f"layer '{name}' is a subclassed Keras 3 model ({class_name}): its structure is "
                                 f"Python code, not a config tf_keras can read")
        translated = {"class_name": inner, "config": _model_config(inner, config)}
    else:
        translated = {"class_name": class_name, "config": _layer_config(class_name, config, entry)}
    if functional:
        translated["name"] = entry.get("name", name)
        translated["inbound_nodes"] = [_node(node, name) for node in entry.get("inbound_nodes", [])]
    return translated


def _layer_config(class_name: str, config: dict, entry: dict) -> dict:
    name = config.get("name", "?")
    module = entry.get("module") or ""
    if class_name in REFUSED_LAYERS:
        raise Untranslatable(f"layer '{name}' is a {class_name}: {REFUSED_LAYERS[class_name]}")
    layer_class = getattr(tf_keras().layers, class_name, None)
    if not module.startswith("keras") or layer_class is None:
        where = f" (module {module})" if module else ""
        raise Untranslatable(f"layer '{name}' is of class {class_name}{where}, which is not a standard Keras layer "
                             f"that tf_keras has: edgekit cannot rebuild it")
    translated = {}
    for key, value in config.items():
        key = RENAMED_ARGUMENTS.get((class_name, key), key)
        if class_name == "InputLayer" and key == "batch_shape":
            key = "batch_input_shape"
        translated[key] = _value(key, value, name, class_name)
    return _accepted_arguments(layer_class, class_name, translated, name)


def _value(key: str, value: Any, layer: str, class_name: str) -> Any:
    """One argument of a layer config in tf_keras' terms."""
    if key == "dtype" and isinstance(value, dict):
        if value.get("class_name") != "DTypePolicy":
            raise Untranslatable(f"layer '{layer}' ({class_name}) has the dtype policy {value.get('class_name')} "
                                 f"({value.get('config', {}).get('name')}); tf_keras has no such policy")
        return value["config"]["name"]
    if key == "activation" and isinstance(value, str):
        try:
            tf_keras().activations.get(value)
        except (ValueError, TypeError):
            raise Untranslatable(f"layer '{layer}' ({class_name}) uses the activation '{value}', which tf_keras "
                                 f"does not have") from None
        return value
    if isinstance(value, dict) and "class_name" in value and "config" in value:
        return _keras_object(key, value, layer, class_name)
    return value


def _keras_object(key: str, value: dict, layer: str, class_name: str) -> dict:
    """An initializer, regularizer or constraint, in the plain {"class_name", "config"} form tf_keras reads."""
    module = value.get("module") or ""
    families = {"keras.initializers": tf_keras().initializers, "keras.regularizers": tf_keras().regularizers,
                "keras.constraints": tf_keras().constraints, "keras.activations": tf_keras().activations}
    family = families.get(module)
    target = getattr(family, value["class_name"], None) if family is not None else None
    if target is None:
        raise Untranslatable(f"layer '{layer}' ({class_name}) sets {key} to {value['class_name']}"
                             f"{f' (module {module})' if module else ''}, which tf_keras does not have")
    if module == "keras.activations":
        return value["class_name"]
    config = _accepted_arguments(target, value["class_name"], dict(value.get("config") or {}),
                                 f"{layer}.{key}", base=set())
    return {"class_name": value["class_name"], "config": config}


def _accepted_arguments(target, class_name: str, config: dict, where: str, base=_BASE_LAYER_ARGUMENTS) -> dict:
    """`config` without the Keras 3 arguments tf_keras lacks, which may go only while they are off (None/False)."""
    accepted = _init_arguments(target, base)
    kept = {}
    for key, value in config.items():
        if key in accepted:
            kept[key] = value
        elif value is not None and value is not False:
            raise Untranslatable(f"layer '{where}' ({class_name}) sets {key}={value!r}, which tf_keras' "
                                 f"{class_name} does not have")
    return kept


def _init_arguments(target, base: set) -> set:
    """Arguments `target(...)` accepts: its own, its parents' through **kwargs, and `base` (what tf_keras'
    base Layer pops from **kwargs)."""
    accepted: set = set()
    for cls in target.__mro__:
        if "__init__" not in vars(cls):
            continue
        parameters = inspect.signature(cls.__init__).parameters
        accepted |= {name for name, p in parameters.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
            break
    return accepted | base


def _node(node: Any, layer: str) -> list:
    """A Keras 3 node ({"args", "kwargs"}) as tf_keras' list of [layer, node, tensor, kwargs]."""
    if not isinstance(node, dict):
        return node  # already tf_keras' form
    args = node.get("args", [])
    kwargs = {key: value for key, value in (node.get("kwargs") or {}).items() if value is not None}
    if len(args) != 1:
        raise Untranslatable(f"layer '{layer}' is called with {len(args)} positional inputs; tf_keras layers take "
                             f"one (a tensor or a list of tensors)")
    tensors = args[0] if isinstance(args[0], list) else [args[0]]
    translated = []
    for tensor in tensors:
        history = tensor.get("config", {}).get("keras_history") if isinstance(tensor, dict) else None
        if history is None:
            raise Untranslatable(f"layer '{layer}' takes an input that is not a Keras tensor ({tensor!r})")
        translated.append([history[0], history[1], history[2], kwargs])
    return translated


# ------------------------------------------------------------------------------------------------ weights
def copy_weights(model3, rebuilt) -> None:
    """Copy every layer's weights from the Keras 3 model into its tf_keras rebuild, by layer name.

    Raises:
        Untranslatable: a layer's weights differ in number or shape (the layer means something else in tf_keras).
    """
    for layer3 in model3.layers:
        target = rebuilt.get_layer(layer3.name)
        if isinstance(layer3, keras3().Model):
            copy_weights(layer3, target)
            continue
        values = [np.asarray(weight) for weight in layer3.get_weights()]
        expected = [tuple(weight.shape) for weight in target.weights]
        if [tuple(value.shape) for value in values] != expected:
            raise Untranslatable(
                f"layer '{layer3.name}' ({type(layer3).__name__}) has weights of shapes "
                f"{[tuple(v.shape) for v in values]} in Keras 3, but {expected} when rebuilt in tf_keras")
        if values:
            target.set_weights(values)


# ------------------------------------------------------------------------------------------------ converter path
def wrap_for_converter(model3):
    """A tf_keras model whose one layer calls the Keras 3 model, for the TFLite converter and tf2onnx.

    Nothing of it can be pruned or quantization-aware trained: it is used only when prune and QAT are off.
    """
    keras = tf_keras()
    layer = _keras3_call_layer()(model3)
    inputs = keras.Input(tuple(model3.inputs[0].shape[1:]), name="input")
    return keras.Model(inputs, layer(inputs), name=model3.name)


@functools.cache
def _keras3_call_layer():
    class Keras3Call(tf_keras().layers.Layer):
        """Calls a Keras 3 model (in inference mode) from tf_keras."""

        def __init__(self, model3, **kwargs):
            super().__init__(name="keras3_model", trainable=False, **kwargs)
            # Kept out of tf_keras' attribute tracking: a Keras 3 model is not a tf_keras layer.
            object.__setattr__(self, "model3", model3)

        def call(self, inputs):
            return self.model3(inputs, training=False)

        def compute_output_shape(self, input_shape):
            return tf().TensorShape(self.model3.compute_output_shape(tuple(input_shape)))

    return Keras3Call
