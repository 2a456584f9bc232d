"""edgekit: train, compress, export, check and profile Keras models for phones and boards."""

from edgekit.base.version import __version__

__all__ = ["__version__"]
