"""edgekit.yaml: loading, validation and the starter file."""

from edgekit.config.loader import STARTER_CONFIG, load_config, write_starter_config
from edgekit.config.schema import (
    Builtin,
    DataSource,
    EdgekitConfig,
    ExportFormat,
    Precision,
    PruneStructure,
    Quantization,
)

__all__ = [
    "STARTER_CONFIG",
    "Builtin",
    "DataSource",
    "EdgekitConfig",
    "ExportFormat",
    "Precision",
    "PruneStructure",
    "Quantization",
    "load_config",
    "write_starter_config",
]
