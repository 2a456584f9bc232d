"""What every stage of a build can see."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from edgekit.adapters import ConnectionOptions
from edgekit.config.loader import LoadedConfig
from edgekit.config.target import Target
from edgekit.pipeline.cache import StageCache
from edgekit.pipeline.graph import ConfigReads, ReadLog
from edgekit.pipeline.results import StageResults


@dataclass
class BuildContext:
    loaded: LoadedConfig
    target: Target
    build_dir: Path
    cache: StageCache
    connection: ConnectionOptions
    tools: dict[str, Optional[str]]
    # edgekit.pipeline.distribute.Distribution, made on first use: choosing it imports TensorFlow,
    # which a rebuild served from the cache never needs.
    chosen_distribution: Any = None
    # edgekit.fleet.DevicePool: every device the profile stage runs on (`connection` is the first)
    pool: Any = None
    # every stage's result so far, in the order they ran (typed: `results.train.output.precision`)
    results: StageResults = field(default_factory=StageResults)
    # objects loaded once and shared by later stages (the data set, Keras models)
    memo: dict[str, Any] = field(default_factory=dict)
    # set by tests (BuildRequest.record_config_reads): the configuration keys each stage reads
    read_log: Optional[ReadLog] = None
    # edgekit tune's warm start: a .keras model of the same architecture whose weights the train stage starts
    # from (then it trains train.epochs more); its sha256 is in the train stage's key. None: from scratch.
    initial_model: Optional[Path] = None

    @property
    def config(self):
        """The build's configuration (as the running stage sees it: recorded when `read_log` is set)."""
        if self.read_log is not None and self.read_log.stage is not None:
            return ConfigReads(self.loaded.config, self.read_log)
        return self.loaded.config

    @property
    def seed(self) -> int:
        return self.config.data.seed

    @property
    def hardware(self) -> dict[str, Any]:
        """What `auto` precision and distribution depend on, learned without TensorFlow (cache keys)."""
        from edgekit.pipeline.distribute import accelerator_fingerprint

        return accelerator_fingerprint()

    @property
    def distribution(self):
        if self.chosen_distribution is None:
            from edgekit.pipeline.distribute import choose_distribution

            self.chosen_distribution = choose_distribution(self.config.train.distribute)
        return self.chosen_distribution
