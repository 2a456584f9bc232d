"""The export stage: every (format, quantization) artifact of the float and QAT models, each checked as made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit import console
from edgekit.config.formats import FORMATS, Format, Quantization
from edgekit.pipeline.cache import StageResult
from edgekit.pipeline.context import BuildContext
from edgekit.pipeline.graph import StageSpec
from edgekit.pipeline.results import ExportOutput
from edgekit.pipeline.stages.common import build_task, dataset, float_source, load_keras, run_declared


def export_stage(ctx: BuildContext) -> StageResult:
    from edgekit.export.exporter import Exporter

    config = ctx.config
    float_stage, float_key = float_source(ctx)
    has_qat = ctx.results.qat is not None

    def produce(work: Path) -> dict[str, Any]:
        data = dataset(ctx)
        representative = data.representative_samples(config.export.representative_samples, ctx.seed)
        if len(representative) < config.export.representative_samples:
            console.warn(f"export.representative_samples is {config.export.representative_samples}, but the "
                         f"training split has {len(representative)} samples: calibrating int8 on all of them")
        exporter = Exporter(float_model=load_keras(ctx, float_stage, float_key), float_stage=float_stage,
                            qat_model=load_keras(ctx, "qat", "qat") if has_qat else None,
                            representative=representative, data=data, opset=config.export.onnx_opset,
                            task=build_task(ctx), project=config.name)
        combinations = export_combinations(ctx, warn=True)
        artifacts = []
        try:
            with console.steps("export", len(combinations)) as progress:
                for fmt, quantization in combinations:
                    artifacts.append(exporter.write(work, fmt, quantization))
                    progress.advance(description=f"export: {fmt.value}-{quantization.value}")
        finally:
            exporter.close()
        return {"artifacts": artifacts, "representative_samples": int(len(representative))}

    return run_declared(ctx, EXPORT, produce)


def export_combinations(ctx: BuildContext, warn: bool = False) -> list[tuple[Format, Quantization]]:
    """Every artifact to make, in an order where an artifact comes after the one it is made from: what the
    configuration asks for, and the derived ones it did not (edgetpu from tflite int8 when the target needs it
    or edgetpu_compiler is on PATH).

    Raises:
        ToolError: the target needs a derived artifact and its tool is missing (exit 3, with how to install it).
    """
    wanted, derived = _wanted_and_derived(ctx, warn)
    return sorted(wanted + derived, key=lambda pair: FORMATS[pair[0]].parent is not None)


def derived_artifacts(ctx: BuildContext) -> list[str]:
    """The names of the artifacts made because of the target or a tool on PATH (part of the export's key)."""
    return [f"{fmt.value}-{quantization.value}" for fmt, quantization in _wanted_and_derived(ctx, warn=False)[1]]


def _wanted_and_derived(ctx: BuildContext, warn: bool):
    import shutil

    from edgekit.export.exporter import derived_formats

    wanted = ctx.config.export.combinations()
    added, notes = derived_formats(wanted, list(ctx.target.accepts.formats), lambda tool: shutil.which(tool) is not None)
    for note in notes if warn else ():
        console.warn(f"export: {note}")
    return wanted, added


EXPORT = StageSpec(
    name="export", run=export_stage, output=ExportOutput, upstream=("data", "train", "prune", "qat"),
    # int8_recovery shapes the diagnose stage only: changing it must not export again.
    reads=("export", "name", "data.seed", "model"), ignores=("export.int8_recovery",), inputs=("tools", "derived_formats"))
