"""Device adapters: one small interface (connect, push, run, fetch, close), registered by name."""

from edgekit.adapters.base import Adapter, ConnectionOptions
from edgekit.adapters.registry import adapter_class, known_adapters, open_adapter, register_adapter

__all__ = ["Adapter", "ConnectionOptions", "adapter_class", "known_adapters", "open_adapter", "register_adapter"]
