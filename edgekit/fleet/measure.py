"""Profiling models on one device of a target, holding the device: what `edgekit profile`, the build's profile
stage, the device pool and `regress --reprofile` all call.

Models are checked before any connection (check_models): a file that is not a model, or one the target cannot
run, is refused without even logging in. The adapter checks acceptance again in Adapter.profile, for callers that
use it directly.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Optional

from edgekit import console
from edgekit.adapters import Adapter, ConnectionOptions
from edgekit.adapters.acceptance import check_accepted
from edgekit.config.target import Target, load_target
from edgekit.fleet.locks import locked_device
from edgekit.profiling.profile import ProfileSettings
from edgekit.profiling.run import check_tflite_file


def profile_models(
    models: list[Path],
    target: Target | str,
    options: ConnectionOptions,
    settings: ProfileSettings,
    *,
    interleave: bool = False,
    lock_timeout_s: Optional[float] = None,
) -> list[dict[str, Any]]:
    """Profile each model on the target; returns one profile JSON per model, in order.

    With `interleave`, all models run in one profiler process, alternating blocks of runs,
    so that slow drift of the device affects them equally. The device is held (edgekit.fleet.locks)
    while it is used; another edgekit process using it is waited for, at most `lock_timeout_s`.

    Raises:
        InputFileError: a model file is missing, or not a .tflite or .onnx model.
        ArtifactNotAccepted: the target cannot run one of the models.
        DeviceBusy: the device stayed busy for longer than `lock_timeout_s`.
        DeviceError: the device cannot be reached or failed.
    """
    target = load_target(target) if isinstance(target, str) else target
    check_models(models, target)
    return profile_on_device(models, target, options, settings, interleave=interleave, lock_timeout_s=lock_timeout_s)


def check_models(models: list[Path], target: Target) -> None:
    """Refuse, before connecting, a model that is not a .tflite or .onnx model or that the target cannot run.

    Raises:
        InputFileError, ArtifactNotAccepted: nothing is pushed for such a model, and no login is made.
    """
    for model in models:
        check_tflite_file(model)
        check_accepted(target, model)


def profile_on_device(
    models: list[Path],
    target: Target,
    options: ConnectionOptions,
    settings: ProfileSettings,
    *,
    interleave: bool = False,
    lock_timeout_s: Optional[float] = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Profile already checked models on one device, holding it; each profile records when it was measured
    (`measured_at`: start and end, Unix seconds of this machine's clock). Without `progress`, one line per
    model instead of a progress bar (several devices at once cannot share one bar)."""
    with locked_device(target, options, lock_timeout_s) as session:
        adapter = session.adapter
        if interleave and len(models) > 1:
            console.info(f"profiling {len(models)} models interleaved on {target.name} ({adapter.address})")
            return _measured(adapter, models, settings)
        profiles = []
        bar = console.steps(f"profiling on {target.name}", len(models)) if progress else nullcontext(None)
        with bar as steps:
            for index, model in enumerate(models, start=1):
                profiles.extend(_measured(adapter, [model], settings))
                if steps is not None:
                    steps.advance()
                else:
                    median = profiles[-1].get("median_ms")
                    console.info(f"{adapter.address}: {model.name} median "
                                 f"{'-' if median is None else format(median, '.4g')} ms ({index}/{len(models)})")
        return profiles


def _measured(adapter: Adapter, models: list[Path], settings: ProfileSettings) -> list[dict[str, Any]]:
    started = time.time()
    profiles = adapter.profile(models, settings)
    window = {"start": round(started, 3), "end": round(time.time(), 3)}
    for profile in profiles:
        profile["measured_at"] = dict(window)
    return profiles
