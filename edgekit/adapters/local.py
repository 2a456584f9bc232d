"""The host target: this machine as the device (edgekit.transport.local), timed by edgekit's profiler in a child
process with edgekit's own Python, as a board would be."""

from __future__ import annotations

import sys

from edgekit.adapters.base import Adapter
from edgekit.transport.local import LocalTransport


class LocalAdapter(Adapter):
    """Runs everything on this machine, in a temporary work folder."""

    name = "local"

    def make_transport(self) -> LocalTransport:
        return LocalTransport(self.options.address, **self.transport_settings())

    @property
    def python(self) -> str:
        # edgekit's own interpreter has ai-edge-litert; a target's `python: python3` would find another one.
        return self.options.remote_python or sys.executable
