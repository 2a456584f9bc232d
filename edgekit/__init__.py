"""edgekit: train, compress, export, check and profile Keras models for phones and boards."""

__version__ = "0.1.0"

__all__ = ["__version__"]


def __getattr__(name):  # edgekit.tune(...), imported on first use (edgekit/tune/__init__.py is callable)
    if name == "tune":
        import importlib

        return importlib.import_module("edgekit.tune")
    raise AttributeError(f"module 'edgekit' has no attribute {name!r}")
