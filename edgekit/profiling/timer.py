"""The one interface of every way to time models on a device: a Timer runs over any Transport.

Two timers exist: edgekit's own Python profiler (python_timer; per-run samples, LiteRT and ONNX Runtime) and
TFLite's benchmark_model binary (benchmark_timer; aggregates only, for devices without Python such as phones).
Adapters (edgekit.adapters) pick one for a target and give it their transport; the timer pushes what it needs,
times on the device (never across the link), and builds each profile with profile.build_profile.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any, Optional

from edgekit.config.target import Delegate, Target
from edgekit.profiling.profile import ProfileSettings
from edgekit.transport import Transport

ONNX_SUFFIX = ".onnx"


class Timer(abc.ABC):
    """Times models of one target on a device reached by any transport."""

    #: the `runtime:` of target files that selects this timer (Python profiler: any other runtime name)
    name: str = ""

    def __init__(self, target: Target):
        self.target = target

    @abc.abstractmethod
    def measure(self, transport: Transport, models: list[Path], settings: ProfileSettings) -> list[dict[str, Any]]:
        """Push and time already accepted local models; returns one profile JSON each, in order.

        `settings.threads` is set (the caller puts the target's in when the user gave none).

        Raises:
            RuntimeMissing, ToolError: what times the models is not on the device (the message says what to get).
            DeviceError: the device failed, or what it printed is not a measurement.
        """

    def delegate_name(self, model: Path) -> Optional[str]:
        """The "delegate" of a profile: the target's TFLite delegate, None for .onnx models and for `none`."""
        if model.suffix.lower() == ONNX_SUFFIX or self.target.delegate == Delegate.NONE:
            return None
        return self.target.delegate.value
