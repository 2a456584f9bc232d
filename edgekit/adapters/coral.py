"""Coral Edge TPU targets: the `*_edgetpu.tflite` that the export stage compiled (an `edgetpu` artifact of the
manifest, see edgekit.config.formats) is timed on the device over SSH by edgekit's profiler with the libedgetpu
delegate.

A model that is not compiled runs entirely on the CPU even with the delegate loaded, so profiling it would
report CPU latency under an Edge TPU label: only compiled models are profiled (the Coral targets accept the
edgetpu format only, so an uncompiled one is refused before anything is pushed, with how to compile it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit.adapters.acceptance import model_kind
from edgekit.adapters.ssh import SshAdapter
from edgekit.config.formats import FORMATS, Format
from edgekit.errors import ArtifactNotAccepted
from edgekit.profiling.profile import ProfileSettings


class CoralAdapter(SshAdapter):
    """A Coral USB Accelerator on a Linux board, or a Coral Dev Board, over SSH."""

    name = "coral"

    def measure(self, models: list[Path], settings: ProfileSettings) -> list[dict[str, Any]]:
        """Time each compiled model with the edgetpu delegate (acceptance is checked by Adapter.profile first).

        Raises:
            ArtifactNotAccepted: a model is not compiled for the Edge TPU (nothing is pushed), with how to compile.
        """
        for model in models:
            if model_kind(model).format != Format.EDGETPU.value:
                raise ArtifactNotAccepted(not_compiled(model))
        return super().measure(models, settings)


def not_compiled(model: Path) -> str:
    """Why an uncompiled model is not profiled on an Edge TPU, and how to get the compiled one."""
    estimate = static_estimate(model)
    return (f"{model.name} is not compiled for the Edge TPU: `edgekit build --target <coral target>` compiles the "
            f"tflite int8 artifact with edgetpu_compiler at export ({FORMATS[Format.EDGETPU].install_hint}), or run "
            f"`edgetpu_compiler -s {model.name}` and profile the *_edgetpu.tflite it writes. Without compiling, "
            f"`edgekit inspect --edgetpu` estimates {estimate['ops_on_edgetpu']} ops on the Edge TPU and "
            f"{estimate['ops_on_cpu']} on the CPU; nothing was sent to the device")


def static_estimate(model: Path) -> dict[str, Any]:
    """Ops on the Edge TPU vs the CPU as `edgekit inspect --edgetpu` estimates them, without the compiler."""
    from edgekit.inspect.edgetpu import map_to_edgetpu
    from edgekit.inspect.tflite import read_tflite

    mapping = map_to_edgetpu(read_tflite(model))
    return {"ops_on_edgetpu": mapping.ops_on_edgetpu, "ops_on_cpu": mapping.ops_on_cpu}
