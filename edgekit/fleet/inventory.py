"""devices.yaml: the devices of each target, so a build or a profile runs on all of them.

    # devices.yaml, next to edgekit.yaml (or --devices FILE)
    rpi4:
      - pi@shelf-1.local
      - pi@shelf-2.local
      - address: pi@shelf-3.local
        remote_python: /home/pi/litert/bin/python
    android-arm64:
      - "0123456789"          # quote a serial made of digits: YAML would read a number

Keys are target names; each lists addresses (as `--device` takes them) or mappings with an `address` and
optionally the device's own `remote_python`. Errors name the key and its line, as for edgekit.yaml.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pydantic

from edgekit import console
from edgekit.adapters import ConnectionOptions
from edgekit.config.target import Target, list_targets
from edgekit.config.validation import StrictModel, validate
from edgekit.config.yamlsource import LocatedYaml, load_yaml
from edgekit.errors import ConfigError

INVENTORY_NAME = "devices.yaml"


class InventoryDevice(StrictModel):
    """One device of a target in devices.yaml."""

    address: str = pydantic.Field(min_length=1)
    # the device's own Python, when it differs from the target's (`--remote-python` is the default)
    remote_python: Optional[str] = None


@functools.lru_cache(maxsize=8)
def _inventory_model(target_names: tuple[str, ...]) -> type[StrictModel]:
    # One optional key per known target: an unknown or misspelt target is then an "unknown key" error with
    # its line and a "did you mean", like every other edgekit file.
    devices = Optional[pydantic.conlist(InventoryDevice, min_length=1)]
    return pydantic.create_model("DevicesInventory", __base__=StrictModel,
                                 **{name: (devices, None) for name in target_names})


@dataclass
class DevicePool:
    """The devices one command profiles on, all of one target, in the order they were given."""

    target: Target
    members: list[ConnectionOptions]
    lock_timeout_s: Optional[float] = None
    source: str = "--device"

    @property
    def addresses(self) -> list[str]:
        return [member.address or "localhost" for member in self.members]

    @property
    def first(self) -> ConnectionOptions:
        return self.members[0]

    @property
    def is_fleet(self) -> bool:
        """Several devices: profiled concurrently, reported per device and as a fleet."""
        return len(self.members) > 1


@dataclass
class DeviceChoice:
    """Where the devices of a command come from (the CLI's options)."""

    devices: list[str] = field(default_factory=list)
    devices_file: Optional[Path] = None
    # devices.yaml looked for when neither --device nor --devices is given (next to edgekit.yaml for a build)
    default_file: Optional[Path] = None
    # everything else about reaching a device (--ssh-config, --remote-python, ...), shared by all of them
    options: ConnectionOptions = field(default_factory=ConnectionOptions)
    lock_timeout_s: Optional[float] = None
    # May `default_file` name programs to run (remote_python)? A build's devices.yaml sits next to the
    # edgekit.yaml being built, part of that project; `profile` finds one in whatever folder it runs in.
    default_file_may_run_programs: bool = False


def load_inventory(path: Path) -> dict[str, list[InventoryDevice]]:
    """Read and validate a devices.yaml: {target name: [devices]}.

    Raises:
        ConfigError: missing file, invalid YAML, an unknown target, a device without an address, a number where
            an address belongs, or an address listed twice for one target; each named with its line.
    """
    located = load_yaml(path, what="devices inventory")
    _addresses_as_mappings(located)
    model = _inventory_model(tuple(target.name for target in list_targets()))
    inventory = validate(model, located, what="devices inventory")
    devices = {name: value for name, value in inventory.model_dump(exclude_none=True).items()}
    for name, entries in devices.items():
        _refuse_repeated_addresses(located, name, [entry["address"] for entry in entries])
    return {name: [InventoryDevice(**entry) for entry in entries] for name, entries in devices.items()}


def _addresses_as_mappings(located: LocatedYaml) -> None:
    """`- pi@host` is short for `- address: pi@host`; a number is refused (YAML turned a serial into an int)."""
    for name, entries in located.data.items():
        if not isinstance(entries, list):
            continue  # validation names the key and says a list is expected
        for index, entry in enumerate(entries):
            if isinstance(entry, (int, float)) and not isinstance(entry, bool):
                raise ConfigError(f"{located.source}, line {located.line_of((name, index))}: {name}: {entry!r} is a "
                                  f"number, not a device address; quote it (\"{entry}\") if it is an adb serial")
            if isinstance(entry, str):
                entries[index] = {"address": entry}


def _refuse_repeated_addresses(located: LocatedYaml, name: str, addresses: list[str]) -> None:
    first_line: dict[str, Any] = {}
    for index, address in enumerate(addresses):
        line = located.line_of((name, index))
        if address in first_line:
            raise ConfigError(f"{located.source}, line {line}: {name}: device {address} is listed twice "
                              f"(first on line {first_line[address]})")
        first_line[address] = line


def _refuse_implicit_programs(path: Path, target: Target, entries: list[InventoryDevice]) -> None:
    """A devices.yaml nobody named must not choose a program to run: for a target on this machine,
    remote_python is run here, so a file lying in the current folder would run what it likes."""
    named = [entry for entry in entries if entry.remote_python]
    if named:
        raise ConfigError(
            f"{path}: found in the current folder, not named with --devices, and it names a program to run for "
            f"target {target.name} (remote_python: {named[0].remote_python} for {named[0].address}); edgekit never "
            f"runs a program from a file it only found: if you trust this file, pass --devices {path}")


def choose_devices(target: Target, choice: DeviceChoice) -> DevicePool:
    """The devices to profile on: every `--device`, else the target's devices in the inventory file.

    With neither, the pool holds one member without an address (the host, or an adapter's own error asking
    for --device).

    Raises:
        ConfigError: both --device and --devices, an address given twice, an inventory file without this target
            (when named with --devices), or several devices for a target that runs on this machine.
    """
    if choice.devices and choice.devices_file:
        raise ConfigError("give the devices with --device or with --devices FILE, not both")
    entries = [InventoryDevice(address=address) for address in choice.devices]
    source = "--device"
    for index, address in enumerate(choice.devices):
        if address in choice.devices[:index]:
            raise ConfigError(f"--device {address} is given twice")
    inventory_file = choice.devices_file or choice.default_file
    if not entries and inventory_file is not None and (choice.devices_file or inventory_file.is_file()):
        inventory = load_inventory(inventory_file)
        entries = inventory.get(target.name, [])
        if not entries and choice.devices_file:
            listed = ", ".join(inventory) or "none"
            raise ConfigError(f"{inventory_file}: no devices for target {target.name} (targets listed: {listed})")
        source = str(inventory_file)
        if not choice.devices_file and not choice.default_file_may_run_programs:
            _refuse_implicit_programs(inventory_file, target, entries)
        if entries:
            console.info(f"devices of {target.name} from {inventory_file}: "
                         f"{', '.join(entry.address for entry in entries)}")
    if len(entries) > 1 and target.adapter == "local":
        raise ConfigError(f"target {target.name} runs on this machine; it takes no list of devices "
                          f"(got {len(entries)}: {', '.join(entry.address for entry in entries)})")
    shared = choice.options
    members = [dataclasses.replace(shared, address=entry.address, extra=dict(shared.extra),
                                   remote_python=entry.remote_python or shared.remote_python) for entry in entries]
    if not members:
        members = [dataclasses.replace(shared, address=None, extra=dict(shared.extra))]
    return DevicePool(target, members, choice.lock_timeout_s, source)
