"""Device adapters, registered by name: each one a transport (edgekit.transport: how the device is reached) and a
timer (edgekit.profiling: how models are timed there), behind one small interface (connect, push, run, fetch,
profile, close)."""

from edgekit.adapters.base import Adapter, ConnectionOptions
from edgekit.adapters.registry import adapter_class, known_adapters, open_adapter, register_adapter

__all__ = ["Adapter", "ConnectionOptions", "adapter_class", "known_adapters", "open_adapter", "register_adapter"]
