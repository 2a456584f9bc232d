"""Adapters by name, imported on first use (the fsspec pattern). Third parties register through entry points."""

from __future__ import annotations

import importlib
from importlib import metadata
from types import MappingProxyType

from edgekit.adapters.base import Adapter, ConnectionOptions
from edgekit.config.target import Target
from edgekit.config.yamlsource import did_you_mean
from edgekit.errors import ConfigError

ENTRY_POINT_GROUP = "edgekit.adapters"

_KNOWN = {
    "local": {"class": "edgekit.adapters.local:LocalAdapter", "err": None},
    "ssh": {"class": "edgekit.adapters.ssh:SshAdapter", "err": "needs the OpenSSH client (`apt-get install openssh-client`)"},
    "adb": {"class": "edgekit.adapters.adb:AdbAdapter", "err": "needs the adb client (`apt-get install adb`)"},
    "coral": {"class": "edgekit.adapters.coral:CoralAdapter", "err": "needs the OpenSSH client; edgetpu_compiler to compile"},
}

#: read-only view of the built-in adapters: name -> {"class": "module:Class", "err": install hint}
known_adapters = MappingProxyType(_KNOWN)


def register_adapter(name: str, class_path: str, err: str | None = None) -> None:
    """Register an adapter class by its import path ("pkg.module:Class")."""
    _KNOWN[name] = {"class": class_path, "err": err}


def adapter_class(name: str) -> type[Adapter]:
    """The adapter class registered as `name` (built in, or from the `edgekit.adapters` entry points).

    Raises:
        ConfigError: no adapter of that name, or its module cannot be imported.
    """
    spec = _KNOWN.get(name)
    if spec is None:
        for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if entry_point.name == name:
                return entry_point.load()
        raise ConfigError(f"unknown adapter '{name}'{did_you_mean(name, _KNOWN)}; known adapters: {', '.join(_KNOWN)}")
    module_name, _, class_name = spec["class"].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        # The install hint names what the adapter's module needs; a broken edgekit module is not that.
        missing = error.name if isinstance(error, ModuleNotFoundError) else None
        hint = spec["err"] if spec["err"] and missing and not missing.startswith("edgekit") else None
        raise ConfigError(f"adapter '{name}' is not available: {hint or error}") from None
    return getattr(module, class_name)


def open_adapter(target: Target, options: ConnectionOptions) -> Adapter:
    """An adapter for `target` (not yet connected: use it in a `with` block)."""
    return adapter_class(target.adapter)(target, options)
