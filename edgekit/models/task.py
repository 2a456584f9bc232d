"""The model of a build for its task: a classifier as `build_model` makes it, or a regressor with a linear output.

A mismatch between the labels and the model's output layer (float targets and a softmax, say) is refused with
what to change, before any training.
"""

from __future__ import annotations

from edgekit._tf import keras
from edgekit.config.loader import LoadedConfig
from edgekit.config.schema import ModelConfig, Task
from edgekit.errors import ModelError
from edgekit.models.loading import IntakePath, ModelIntake, check_fits, outputs_probabilities, take_in_model
from edgekit.models.zoo import BUILTINS

REGRESSION_HEAD = "regression"


def build_task_model(config: ModelConfig, loaded: LoadedConfig, input_shape: tuple[int, ...], task: Task,
                     outputs: int, configured: Task = Task.AUTO, *, check_samples=None,
                     converter_allowed: bool = False) -> ModelIntake:
    """The uncompiled tf_keras model for `task`, checked to fit the data, with how it came in (a Keras 3 model
    is rebuilt in tf_keras by `take_in_model`).

    Args:
        task: the build's task (classification or regression), as the data stage resolved it.
        outputs: number of classes, or of regression targets.
        configured: the config's `task` (auto or the same as `task`): what the error messages suggest.
        check_samples, converter_allowed: as `take_in_model` takes them.

    Raises:
        ModelError: it cannot be built, does not fit the data, or its output layer is for the other task.
    """
    intake = dict(check_samples=check_samples, converter_allowed=converter_allowed)
    if task is Task.CLASSIFICATION:
        return take_in_model(config, loaded, input_shape, outputs, **intake)
    if config.builtin is not None:
        # The builtins are classifiers: their softmax layer is replaced by a linear one with a unit per target.
        classifier = BUILTINS[config.builtin](tuple(input_shape), max(outputs, 2), config.width)
        return ModelIntake(linear_head(classifier, outputs), {"kind": "builtin", "keras": "tf_keras",
                                                              "keras_version": keras().__version__,
                                                              "path": IntakePath.NATIVE.value})
    # A factory's `num_classes` receives the number of targets.
    return take_in_model(config, loaded, input_shape, outputs, **intake,
                         fits=lambda model: check_regressor(model, input_shape, outputs, configured))


def linear_head(classifier, outputs: int):
    """`classifier` with its last layer replaced by Dense(outputs) without activation (shares its weights)."""
    features = classifier.layers[-1].input
    head = keras().layers.Dense(outputs, name=REGRESSION_HEAD)(features)
    return keras().Model(classifier.inputs, head, name=classifier.name)


def check_regressor(model, input_shape: tuple[int, ...], outputs: int, configured: Task) -> None:
    """A regression model gives `outputs` unbounded numbers, never class probabilities.

    Raises:
        ModelError: a softmax output (a classifier), or an output of another width, naming what to set.
    """
    if len(model.outputs) == 1 and outputs_probabilities(model):
        width = tuple(model.outputs[0].shape[1:])
        targets = "float targets of shape (N,)" if outputs == 1 else f"float targets of shape (N, {outputs})"
        why = "the labels are " + targets if configured is Task.AUTO else "task is 'regression'"
        raise ModelError(
            f"{why}, but the model ends in a softmax over {width[-1] if width else '?'} classes (a classifier). "
            f"To predict the numbers, set `task: regression` and end the model in a linear layer "
            f"(Dense({outputs}) with no activation); to classify, store integer class ids in y "
            f"(y.argmax(axis=1) of one-hot labels) and keep the softmax"
        )
    if len(model.outputs) == 1:
        width = tuple(model.outputs[0].shape[1:])
        if width != (outputs,):
            raise ModelError(
                f"the model's output has shape {_shape(width)}, but the data has {outputs} regression target(s): "
                f"expected ({outputs},) (targets of shape (N,) need one output unit, (N, k) need k)"
            )
    check_fits(model, input_shape, outputs)


def _shape(shape: tuple) -> str:
    return "(" + ", ".join("None" if dim is None else str(dim) for dim in shape) + (",)" if len(shape) == 1 else ")")
