"""A pool of devices: which devices (devices.yaml, repeated --device), one edgekit process per device at a time
(locks on this machine and on the device), profiling them concurrently, and the fleet summary."""

from edgekit.fleet.inventory import DeviceChoice, DevicePool, choose_devices, load_inventory
from edgekit.fleet.pool import FleetRun, fleet_document, print_fleet, profile_pool
from edgekit.fleet.summary import fleet_statistics

__all__ = ["DeviceChoice", "DevicePool", "FleetRun", "choose_devices", "fleet_document", "fleet_statistics",
           "load_inventory", "print_fleet", "profile_pool"]
