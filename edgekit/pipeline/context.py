"""What every stage of a build can see."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from edgekit.adapters import ConnectionOptions
from edgekit.config.loader import LoadedConfig
from edgekit.config.target import Target
from edgekit.pipeline.cache import StageCache, StageResult

STAGES = ("data", "train", "prune", "qat", "export", "evaluate", "profile")


@dataclass
class BuildContext:
    loaded: LoadedConfig
    target: Target
    build_dir: Path
    cache: StageCache
    connection: ConnectionOptions
    tools: dict[str, Optional[str]]
    distribution: Any = None  # edgekit.pipeline.distribute.Distribution
    results: dict[str, StageResult] = field(default_factory=dict)
    # objects loaded once and shared by later stages (the data set, Keras models)
    memo: dict[str, Any] = field(default_factory=dict)

    @property
    def config(self):
        return self.loaded.config

    @property
    def seed(self) -> int:
        return self.config.data.seed
