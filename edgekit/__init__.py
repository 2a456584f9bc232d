"""edgekit: train, compress, export, check and profile Keras models for phones and boards."""

__version__ = "0.1.0"

__all__ = ["__version__"]
