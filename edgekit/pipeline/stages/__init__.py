"""The stages of a build, one module each, and the graph their declarations make.

Each module holds its stage (`<name>_stage(ctx) -> StageResult`) and its declaration (a StageSpec: the config it
reads, its upstream stages, its files); edgekit.pipeline.graph derives the run order and each cache key from them.
"""

from __future__ import annotations

from edgekit.pipeline.graph import StageSpec, stage_order
from edgekit.pipeline.stages.common import build_task, dataset, float_source, load_keras, save_model
from edgekit.pipeline.stages.data import DATA
from edgekit.pipeline.stages.diagnose import DIAGNOSE
from edgekit.pipeline.stages.evaluate import EVALUATE
from edgekit.pipeline.stages.export import EXPORT
from edgekit.pipeline.stages.profile import PROFILE, profile_not_run
from edgekit.pipeline.stages.prune import PRUNE
from edgekit.pipeline.stages.qat import QAT
from edgekit.pipeline.stages.train import TRAIN

# Every stage's declaration; the order they run in comes from their upstream edges, not from this list.
DECLARED: tuple[StageSpec, ...] = (DATA, TRAIN, PRUNE, QAT, EXPORT, EVALUATE, DIAGNOSE, PROFILE)
ORDER: tuple[StageSpec, ...] = stage_order(DECLARED)
STAGES: tuple[str, ...] = tuple(spec.name for spec in ORDER)
BY_NAME = {spec.name: spec for spec in ORDER}

__all__ = ["BY_NAME", "DECLARED", "ORDER", "STAGES", "build_task", "dataset", "float_source", "load_keras",
           "profile_not_run", "save_model"]
