"""The diagnose stage's declaration (the stage itself: edgekit.pipeline.diagnose)."""

from __future__ import annotations

from edgekit.config.schema import ExportFormat, Quantization
from edgekit.pipeline.context import BuildContext
from edgekit.pipeline.diagnose import diagnose_stage, wants_recovery
from edgekit.pipeline.graph import StageSpec
from edgekit.pipeline.results import DiagnoseOutput


def recovery_reads(ctx: BuildContext) -> tuple[str, ...]:
    """Recovery converts again and profiles its candidates: only then do these shape the stage's output."""
    int8 = [artifact for artifact in ctx.results.export.output.artifacts
            if artifact.format == ExportFormat.TFLITE.value and artifact.quantization == Quantization.INT8.value]
    if not any(wants_recovery(ctx, artifact) for artifact in int8):
        return ()
    return ("export.representative_samples", "profile", "input:target", "input:device")


DIAGNOSE = StageSpec(
    name="diagnose", run=diagnose_stage, output=DiagnoseOutput,
    upstream=("data", "train", "prune", "export", "evaluate"),
    reads=("export.int8_recovery", "evaluate", "data.seed", "model", "name"), reads_if=recovery_reads,
    inputs=("tools",))
