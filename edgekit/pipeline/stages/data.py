"""The data stage: the train/val/test splits and their preprocessing, kept under .edgekit/data."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from edgekit import console
from edgekit.config.schema import DataSource
from edgekit.data.imagecheck import describe_counts
from edgekit.data.loading import create_splits, open_splits
from edgekit.data.sources import source_fingerprint
from edgekit.pipeline.cache import StageResult
from edgekit.pipeline.context import BuildContext
from edgekit.pipeline.graph import StageSpec
from edgekit.pipeline.results import DataOutput
from edgekit.pipeline.stages.common import run_declared


def data_stage(ctx: BuildContext) -> StageResult:
    config = ctx.config.data
    task = ctx.config.task

    def produce(work: Path) -> dict[str, Any]:
        splits, how = create_splits(config, ctx.loaded.resolve, work, task)
        ctx.memo["dataset"] = splits
        return {**how, "summary": splits.summary(), "preprocessing": splits.preprocessing.to_dict(),
                "fingerprint": splits.fingerprint()}

    result = run_declared(ctx, DATA, produce)
    if "dataset" not in ctx.memo:
        ctx.memo["dataset"] = open_splits(config, result.meta, result.folder)
    summary = result.output.summary
    labels = (f"{summary['targets']} float target(s) (regression)" if "targets" in summary
              else f"{summary['num_classes']} classes")
    console.info(f"data: {summary['source']}, {summary['train']} train / {summary['val']} val / "
                 f"{summary['test']} test, input {tuple(summary['input_shape'])}, {labels}")
    issues = describe_counts(summary)
    if issues:
        console.warn(f"data: {issues}")
    return result


def data_files(ctx: BuildContext) -> dict[str, Optional[str]]:
    """The data set's file or folder (its fingerprint), unless the source is built in."""
    config = ctx.loaded.config.data
    if config.source is DataSource.DIGITS:
        return {}
    path = ctx.loaded.resolve(config.path)
    # A missing path fails in produce, with a message.
    return {"data.path": source_fingerprint(path) if path.exists() else None}


DATA = StageSpec(
    name="data", run=data_stage, output=DataOutput, folder=".edgekit/data",
    reads=("data", "task"), files=data_files, inputs=("numpy",), every_worker=True)
