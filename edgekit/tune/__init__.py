"""`edgekit tune`: find the best configuration that fits a device's budget, measured on the device.

`edgekit.tune(...)` is this package called as a function (see `tune` below): the package and the function share
the name, so the module itself is callable and `import edgekit.tune` never hides the function.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Optional


def tune(config: Path | str = "edgekit.yaml", *, target: str = "host", device: Optional[str] = None,
         max_latency_ms: Optional[float] = None, max_bytes: Optional[int] = None, max_ram_mb: Optional[float] = None,
         min_accuracy: Optional[float] = None, max_accuracy_drop: Optional[float] = None,
         budget_minutes: Optional[float] = None, trials: Optional[int] = None, out: Optional[Path | str] = None,
         ssh_config: Optional[Path | str] = None, remote_python: Optional[str] = None):
    """Search the config's space (its `tune:` section) for the most accurate candidate that fits the limits.

    A limit left None takes the `tune:` section's value. Re-running with the same arguments continues a run that
    was killed. No candidate fitting is not an exception: `result.error` holds the NothingFits to raise or show.

    Returns:
        edgekit.tune.run.TuneResult: the tune folder, every trial, the chosen and the default build's trials.

    Raises:
        ConfigError: bad arguments or config; DeviceError: the device failed.
    """
    from edgekit.tune.run import TuneRequest, run_tune

    return run_tune(TuneRequest(
        config_path=Path(config), target=target, device=device, max_latency_ms=max_latency_ms, max_bytes=max_bytes,
        max_ram_mb=max_ram_mb, min_accuracy=min_accuracy, max_accuracy_drop=max_accuracy_drop,
        budget_minutes=budget_minutes, trials=trials, out=Path(out) if out is not None else None,
        ssh_config=Path(ssh_config) if ssh_config is not None else None, remote_python=remote_python))


class _CallableModule(types.ModuleType):
    """`edgekit.tune(...)` calls `tune` whether `edgekit.tune` resolves to this package or to the function."""

    def __call__(self, *args, **kwargs):
        return tune(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
__all__ = ["tune"]
