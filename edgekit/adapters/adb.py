"""Android phones over adb (edgekit.transport.adb). The phone has no Python, so its target file says
`runtime: benchmark_model`: TFLite's own benchmark_model binary, pushed once per session, times the model on the
phone pinned to the target's big cores (edgekit.profiling.benchmark_timer)."""

from __future__ import annotations

from edgekit.adapters.base import Adapter
from edgekit.transport.adb import AdbTransport


class AdbAdapter(Adapter):
    """An Android device: `--device SERIAL` (USB) or `host:port`; without --device, the only one `adb devices` lists."""

    name = "adb"

    def make_transport(self) -> AdbTransport:
        return AdbTransport(self.options.address, **self.transport_settings())
