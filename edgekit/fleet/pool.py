"""Profiling on every device of a pool at once.

A thread per device: the work happens on the devices, so threads here only wait on ssh or adb. Each device
takes the models one at a time, as a single device does, and is held (edgekit.fleet.locks) while it works.
A device that fails is reported with what happened, its partial results are dropped, and the others finish.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from edgekit import console
from edgekit.adapters import ConnectionOptions
from edgekit.errors import DevicesFailed, EdgekitError
from edgekit.fleet.inventory import DevicePool
from edgekit.fleet.summary import fleet_by_name, print_fleet_table, profiles_by_model
from edgekit.profiling.profile import ProfileSettings


@dataclass
class DeviceRun:
    """What one device of the pool produced: its profiles, or the error that ended its run."""

    address: str
    profiles: list[dict[str, Any]] = field(default_factory=list)
    error: Optional[EdgekitError] = None
    seconds: float = 0.0

    @property
    def message(self) -> str:
        """The error without the leading address (tables and lists name the device already)."""
        text = str(self.error)
        return text[len(self.address) + 2:] if text.startswith(f"{self.address}: ") else text


@dataclass
class FleetRun:
    """Every device's run, in the pool's order."""

    target: str
    runs: list[DeviceRun]

    @property
    def succeeded(self) -> list[DeviceRun]:
        return [run for run in self.runs if run.error is None]

    @property
    def failed(self) -> list[DeviceRun]:
        return [run for run in self.runs if run.error is not None]

    @property
    def profiles(self) -> list[dict[str, Any]]:
        """The first device's profiles that succeeded: what a single-device command would have returned."""
        return self.succeeded[0].profiles if self.succeeded else []

    def failures(self) -> list[dict[str, str]]:
        """[{"address", "error"}] of the devices that failed."""
        return [{"address": run.address, "error": run.message} for run in self.failed]

    def error(self) -> Optional[DevicesFailed]:
        """The error to end the command with when a device failed (exit 3), naming each failed device."""
        if not self.failed:
            return None
        error = devices_failed(self.target, self.failures(), [run.address for run in self.succeeded])
        codes = {run.error.exit_code for run in self.failed}
        if not self.succeeded and len(codes) == 1:
            error.exit_code = codes.pop()  # the same cause everywhere (a model no device can run) keeps its code
        return error


def devices_failed(target: str, failures: list[dict[str, str]], kept: list[str]) -> DevicesFailed:
    """`profiling failed on 1 of 3 devices of target rpi4: pi@b: ...; the results of pi@a, pi@c were kept`."""
    causes = "; ".join(f"{failure['address']}: {failure['error']}" for failure in failures)
    if not kept:
        return DevicesFailed(f"profiling failed on every device of target {target}: {causes}")
    return DevicesFailed(f"profiling failed on {len(failures)} of {len(failures) + len(kept)} devices of target "
                         f"{target}: {causes}; the results of {', '.join(kept)} were kept")


def profile_pool(models: list[Path], pool: DevicePool, settings: ProfileSettings, *,
                 interleave: bool = False) -> FleetRun:
    """Profile every model on every device of the pool, the devices concurrently.

    One device behaves as `profile_models` does: its errors are raised. With several, a device's failure is
    recorded in its run and the others finish.

    Raises:
        InputFileError, ArtifactNotAccepted: a model cannot be profiled (checked before any device is used).
        DevicesFailed: every device of a pool failed.
        DeviceError: the one device failed.
    """
    from edgekit.fleet.measure import check_models, profile_on_device

    check_models(models, pool.target)
    if not pool.is_fleet:
        profiles = profile_on_device(models, pool.target, pool.first, settings, interleave=interleave,
                                     lock_timeout_s=pool.lock_timeout_s)
        return FleetRun(pool.target.name, [DeviceRun(pool.addresses[0], profiles)])
    console.info(f"profiling {len(models)} model{'s' if len(models) > 1 else ''} on {len(pool.members)} devices "
                 f"of {pool.target.name} at once: {', '.join(pool.addresses)}")
    with ThreadPoolExecutor(max_workers=len(pool.members), thread_name_prefix="edgekit-device") as executor:
        futures = [executor.submit(_run_on_device, models, pool, member, settings, interleave)
                   for member in pool.members]
        fleet = FleetRun(pool.target.name, [future.result() for future in futures])
    if not fleet.succeeded:
        raise fleet.error()
    return fleet


def _run_on_device(models: list[Path], pool: DevicePool, member: ConnectionOptions, settings: ProfileSettings,
                   interleave: bool) -> DeviceRun:
    from edgekit.fleet.measure import profile_on_device

    address = member.address or "localhost"
    started = time.monotonic()
    try:
        profiles = profile_on_device(models, pool.target, member, settings, interleave=interleave,
                                     lock_timeout_s=pool.lock_timeout_s, progress=False)
    except EdgekitError as error:
        run = DeviceRun(address, error=error, seconds=time.monotonic() - started)
        console.err.print(f"failed: {address}: {run.message}", markup=False, soft_wrap=True)
        return run
    return DeviceRun(address, profiles, seconds=time.monotonic() - started)


def profile_document(fleet: FleetRun) -> dict[str, Any]:
    """What `edgekit profile --output` writes: always {"profiles": [one profile JSON per model]}, and with
    several devices the fleet's keys beside it. One shape whatever the number of models, so a script reads
    `document["profiles"]` without looking first (`edgekit regress` still reads a bare profile of older files)."""
    if len(fleet.runs) > 1:
        return fleet_document(fleet)
    return {"profiles": fleet.profiles}


def fleet_document(fleet: FleetRun) -> dict[str, Any]:
    """What `edgekit profile --output` writes for several devices.

    "profiles" holds the first succeeding device's profiles, so every reader of a {"profiles": [...]} file
    (`edgekit regress`, `edgekit baseline save`) reads it as that device's; the rest is per device and fleet.
    """
    by_device = {run.address: run.profiles for run in fleet.succeeded}
    statistics = fleet_by_name({address: profiles_by_model(profiles) for address, profiles in by_device.items()})
    return {
        "profiles": fleet.profiles,
        "devices": [run.profiles[0]["device"] for run in fleet.succeeded if run.profiles],
        "devices_failed": fleet.failures(),
        "profiles_by_device": by_device,
        "fleet": [{"model": name, **(stats or {})} for name, stats in statistics.items()],
    }


def print_fleet(fleet: FleetRun) -> None:
    """Each device's table, then the fleet's: every model's median per device, median of medians, spread."""
    from edgekit.profiling.run import print_profiles

    for run in fleet.succeeded:
        print_profiles(run.profiles)
    by_device = {run.address: profiles_by_model(run.profiles) for run in fleet.succeeded}
    print_fleet_table(fleet.target, fleet_by_name(by_device), list(by_device), fleet.failures())
