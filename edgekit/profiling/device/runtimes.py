"""Finding the runtimes on the device: LiteRT (or its older names) for .tflite, onnxruntime for .onnx, and the
delegate library a target names; each imported only when a model needs it."""

import sys

from .facts import distribution_version

EXIT_BAD_INPUT = 2
EXIT_NO_RUNTIME = 4
EXIT_DELEGATE = 5
ONNX_SUFFIX = ".onnx"

INSTALL_HINT = (
    "install one on the device, into the Python that runs the profiler ({python}): "
    "`{python} -m pip install ai-edge-litert` (Python 3.9+ on aarch64 or x86_64), "
    "or `{python} -m pip install tflite-runtime` on older boards (it needs numpy<2)"
)
ONNX_INSTALL_HINT = (
    "install it on the device, into the Python that runs the profiler ({python}): "
    "`{python} -m pip install onnxruntime` (wheels for aarch64 and x86_64 Linux)"
)


class ProfilerError(Exception):
    """A failure the profiler reports as JSON: `code` (runtime_missing, bad_model, ...), `message`, `exit_code`."""

    def __init__(self, code, message, exit_code):
        Exception.__init__(self, message)
        self.code = code
        self.message = message
        self.exit_code = exit_code


def is_onnx(path):
    return path.lower().endswith(ONNX_SUFFIX)


def load_runtime(preferred=None):
    """Return (name, version, Interpreter class, load_delegate function) of the first runtime found."""
    candidates = [preferred] if preferred else ["ai_edge_litert", "tflite_runtime", "tensorflow"]
    reasons = []
    for name in candidates:
        try:
            return _import_runtime(name)
        except ImportError as error:
            reasons.append("{}: {}".format(name, error))
    raise ProfilerError(
        "runtime_missing",
        "no TFLite runtime found (tried {}): {}".format(
            ", ".join(candidates), INSTALL_HINT.format(python=sys.executable or "python3")
        ),
        EXIT_NO_RUNTIME,
    )


def _import_runtime(name):
    if name == "ai_edge_litert":
        from ai_edge_litert import interpreter as module

        return name, distribution_version("ai-edge-litert"), module.Interpreter, module.load_delegate
    if name == "tflite_runtime":
        import tflite_runtime
        from tflite_runtime import interpreter as module

        version = getattr(tflite_runtime, "__version__", None) or distribution_version("tflite-runtime")
        return name, version, module.Interpreter, module.load_delegate
    # Last resort, for boards that carry full TensorFlow only: tf.lite.Interpreter is deprecated in favour of
    # ai_edge_litert, which is tried first.
    import tensorflow as tf

    return name, tf.__version__, tf.lite.Interpreter, tf.lite.experimental.load_delegate


def load_onnxruntime():
    """Return (name, version, module) of onnxruntime.

    Raises:
        ProfilerError: runtime_missing, naming the package and the Python to install it into.
    """
    try:
        import onnxruntime
    except ImportError as error:
        raise ProfilerError(
            "runtime_missing",
            "onnxruntime is not importable here ({}), so .onnx models cannot be profiled: {}".format(
                error, ONNX_INSTALL_HINT.format(python=sys.executable or "python3")),
            EXIT_NO_RUNTIME,
        )
    return "onnxruntime", getattr(onnxruntime, "__version__", None), onnxruntime


class Runtimes:
    """The runtimes the models need, each imported on first use (so a missing one fails only its models)."""

    def __init__(self, preferred=None, delegate=None, delegate_options=None):
        self.preferred = preferred
        self.delegate = delegate
        self.delegate_options = delegate_options or {}
        self._tflite = None
        self._delegates = None
        self._onnx = None

    def tflite(self):
        if self._tflite is None:
            self._tflite = load_runtime(self.preferred)
        return self._tflite

    def delegates(self):
        if self._delegates is None:
            self._delegates = []
            if self.delegate:
                load_delegate = self.tflite()[3]
                try:
                    self._delegates = [load_delegate(self.delegate, self.delegate_options)]
                except (ValueError, OSError, RuntimeError) as error:
                    raise ProfilerError("delegate_failed", "cannot load delegate {}: {}".format(self.delegate, error),
                                        EXIT_DELEGATE)
        return self._delegates

    def onnx(self):
        if self._onnx is None:
            self._onnx = load_onnxruntime()
        return self._onnx

    def loaded(self):
        """(name, version) of the first runtime loaded: the device record's runtime."""
        first = self._tflite or self._onnx
        return (first[0], first[1]) if first else (None, None)
