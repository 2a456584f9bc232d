"""Coral Edge TPU targets: an int8 model is compiled with edgetpu_compiler on this machine, and the compiled
`*_edgetpu.tflite` is timed on the device over SSH by edgekit's profiler with the libedgetpu delegate.

A model that is not compiled runs entirely on the CPU even with the delegate loaded, so profiling it would
report CPU latency under an Edge TPU label: without the compiler, only an already compiled model is profiled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit import console
from edgekit.adapters.acceptance import model_kind
from edgekit.adapters.ssh import SshAdapter
from edgekit.errors import ToolError
from edgekit.export.edgetpu import (COMPILER, INSTALL_HINT, CompilerReport, EdgeTpuCompilation, compile_for_edgetpu,
                                   compiler_available)
from edgekit.profiling.profile import ProfileSettings


class CoralAdapter(SshAdapter):
    """A Coral USB Accelerator on a Linux board, or a Coral Dev Board, over SSH."""

    name = "coral"

    def measure(self, models: list[Path], settings: ProfileSettings) -> list[dict[str, Any]]:
        """Compile (when needed) and time each accepted model; each profile gets an "edgetpu" record of the
        compilation."""
        compilations = [self.compiled(model) for model in models]
        profiles = super().measure([compilation.model for compilation in compilations], settings)
        for profile, source, compilation in zip(profiles, models, compilations):
            profile["edgetpu"] = {
                "source_model": str(source),
                "compiled_model": str(compilation.model),
                "compiler_log": str(compilation.log) if compilation.log else None,
                **compilation.report.to_json(),
                "estimate": static_estimate(source),  # edgekit inspect's rules, beside what the compiler did
            }
        return profiles

    def compiled(self, model: Path) -> EdgeTpuCompilation:
        """The Edge TPU version of `model`: itself when already compiled, else edgetpu_compiler's output beside it.

        Raises:
            ToolError: the model is not compiled and edgetpu_compiler is not on PATH.
        """
        if model_kind(model).edgetpu_compiled:
            return EdgeTpuCompilation(model, None, CompilerReport())
        if not compiler_available():
            estimate = static_estimate(model)
            raise ToolError(f"{model.name} is not compiled for the Edge TPU and {COMPILER} is not on PATH: "
                            f"{INSTALL_HINT}; or pass a model it already compiled (*_edgetpu.tflite). Without "
                            f"compiling, `edgekit inspect --edgetpu` estimates {estimate['ops_on_edgetpu']} ops on "
                            f"the Edge TPU and {estimate['ops_on_cpu']} on the CPU")
        out_dir = Path(self.options.extra.get("edgetpu_out_dir") or model.parent)
        compilation = compile_for_edgetpu(model, out_dir)
        report = compilation.report
        if report.operations_on_cpu:
            console.warn(f"{model.name}: {report.operations_on_cpu} of {report.total_operations} operations stay on "
                         f"the CPU (see {compilation.log})")
        return compilation


def static_estimate(model: Path) -> dict[str, Any]:
    """Ops on the Edge TPU vs the CPU as `edgekit inspect --edgetpu` estimates them, without the compiler."""
    from edgekit.inspect.edgetpu import map_to_edgetpu
    from edgekit.inspect.tflite import read_tflite

    mapping = map_to_edgetpu(read_tflite(model))
    return {"ops_on_edgetpu": mapping.ops_on_edgetpu, "ops_on_cpu": mapping.ops_on_cpu}
