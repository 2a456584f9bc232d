"""Linux boards over SSH (edgekit.transport.ssh): edgekit's profiler runs there with the board's Python and
TFLite runtime (or benchmark_model, for a target file with `runtime: benchmark_model`)."""

from __future__ import annotations

from edgekit.adapters.base import Adapter
from edgekit.transport.ssh import SshTransport


class SshAdapter(Adapter):
    """A board at `--device user@host[:port]` (or an ssh config alias; `--ssh-config` is passed as -F)."""

    name = "ssh"

    def make_transport(self) -> SshTransport:
        return SshTransport(self.options.address, ssh_config=self.options.ssh_config, **self.transport_settings())
