"""The one place TensorFlow is imported.

tfmot does not support Keras 3, so TF_USE_LEGACY_KERAS=1 must be set before TensorFlow is
imported anywhere, and models are built with `tf_keras`. Everything in edgekit that needs
TensorFlow calls these functions instead of importing it, which keeps `edgekit --help`,
`targets`, `inspect` and `regress` free of TensorFlow's multi-second import.
"""

from __future__ import annotations

import functools
import os


def _prepare_environment() -> None:
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    # TensorFlow's C++ INFO/WARNING lines (cuInit on machines without a GPU, oneDNN notices)
    # drown edgekit's output; errors still show. A user's own setting wins.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@functools.cache
def tf():
    """Return the `tensorflow` module, imported with legacy Keras enabled."""
    _prepare_environment()
    from edgekit._native import captured_stderr

    # TensorFlow's import prints absl and CUDA notices (cuInit on machines without a GPU) on fd 2.
    with captured_stderr():
        import tensorflow
        import tf_keras  # noqa: F401  (its first import prints too)

    tensorflow.get_logger().setLevel("ERROR")
    _split_cpu(tensorflow)
    return tensorflow


LOGICAL_CPUS_VARIABLE = "EDGEKIT_LOGICAL_CPUS"


def _split_cpu(tensorflow) -> None:
    """EDGEKIT_LOGICAL_CPUS=N splits the CPU into N logical devices, so `train.distribute: mirrored`
    can be run (and tested) on a machine without GPUs. It must happen before TensorFlow creates
    its devices, which is why it lives here, at import."""
    count = os.environ.get(LOGICAL_CPUS_VARIABLE)
    if not count:
        return
    if not count.isdigit() or int(count) < 1:
        from edgekit.errors import ConfigError

        raise ConfigError(f"{LOGICAL_CPUS_VARIABLE} must be a positive whole number, got {count!r}")
    cpu = tensorflow.config.list_physical_devices("CPU")[0]
    tensorflow.config.set_logical_device_configuration(
        cpu, [tensorflow.config.LogicalDeviceConfiguration() for _ in range(int(count))])


@functools.cache
def keras():
    """Return `tf_keras` (Keras 2), the Keras that tfmot supports."""
    tf()
    import tf_keras

    return tf_keras


@functools.cache
def tfmot():
    """Return `tensorflow_model_optimization`."""
    tf()
    import tensorflow_model_optimization

    return tensorflow_model_optimization


def tool_versions() -> dict[str, str]:
    """Versions of the tools that shape the artifacts; part of every stage's cache key."""
    from importlib import metadata

    names = {
        "tensorflow": "tensorflow",
        "tf_keras": "tf-keras",
        "keras": "keras",  # Keras 3: it loads users' Keras 3 models, which are rebuilt in tf_keras
        "tfmot": "tensorflow-model-optimization",
        "litert": "ai-edge-litert",
        "onnx": "onnx",
        "onnxruntime": "onnxruntime",
        "tf2onnx": "tf2onnx",
        "numpy": "numpy",
    }
    versions = {}
    for key, distribution in names.items():
        try:
            versions[key] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            versions[key] = None
    return versions
