"""The diagnose stage's declaration (the stage itself: edgekit.pipeline.diagnose)."""

from __future__ import annotations

from edgekit.config.schema import ExportFormat, Quantization
from edgekit.pipeline.context import BuildContext
from edgekit.pipeline.diagnose import diagnose_stage, wants_recovery
from edgekit.pipeline.graph import StageSpec
from edgekit.pipeline.results import DiagnoseOutput


# Recovery converts again (calibrating on the representative samples) and profiles its candidates on the target:
# only then do these shape the stage's output.
RECOVERY_READS = ("export.representative_samples", "profile")
RECOVERY_INPUTS = ("target", "device")


def recovery_reads(ctx: BuildContext) -> tuple[str, ...]:
    """RECOVERY_READS and RECOVERY_INPUTS when int8 recovery runs in this build, else nothing."""
    int8 = [artifact for artifact in ctx.results.export.output.artifacts
            if artifact.format == ExportFormat.TFLITE.value and artifact.quantization == Quantization.INT8.value]
    if not any(wants_recovery(ctx, artifact) for artifact in int8):
        return ()
    return (*RECOVERY_READS, *(f"input:{name}" for name in RECOVERY_INPUTS))


DIAGNOSE = StageSpec(
    name="diagnose", run=diagnose_stage, output=DiagnoseOutput,
    upstream=("data", "train", "prune", "export", "evaluate"),
    reads=("export.int8_recovery", "evaluate", "data.seed", "model", "name"), reads_if=recovery_reads,
    inputs=("tools",))
