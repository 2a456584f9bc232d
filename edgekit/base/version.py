"""The package version, apart from edgekit/__init__.py: that module is the public API (the top layer), and the
modules below it that record the version (cache keys, manifests, the report) must not import upward."""

__version__ = "0.2.0"
