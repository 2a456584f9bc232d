"""Options several `edgekit` commands share (how to reach a device, a pool, the baseline store, --quiet)."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from edgekit import console


def quiet_option(function):
    """--quiet: only errors and the result."""

    @click.option("--quiet", "-q", is_flag=True, help="Print only errors and the final result.")
    @functools.wraps(function)
    def wrapper(*args, quiet: bool, **kwargs):
        console.set_quiet(quiet)
        return function(*args, **kwargs)

    return wrapper


def pool_options(function):
    """--devices FILE and --lock-timeout: a pool of devices, and how long to wait for a busy one."""

    function = click.option("--lock-timeout", type=click.FloatRange(min=0), metavar="SECONDS",
                            help="Give up (exit 3) when a device is still used by another edgekit process after "
                                 "this long (default: wait until it is free).")(function)
    return click.option("--devices", "devices_file", type=click.Path(dir_okay=False, path_type=Path),
                        help="Devices inventory (YAML: target -> addresses); default: devices.yaml when it "
                             "exists.")(function)


def connection_options(function):
    """--device, --ssh-config, --remote-python, --benchmark-binary: how to reach the device; the command gets
    them as `devices` (a list) and `connection` (a dict of the rest, keyword arguments of the edgekit.api calls)."""

    @click.option("--device", "devices", multiple=True,
                  help="Device address: user@host[:port], an ssh alias, or an adb serial / host:port "
                       "(`profile`: repeat it to profile on several devices at once).")
    @click.option("--ssh-config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                  help="ssh config file passed to ssh as -F.")
    @click.option("--remote-python", help="Python interpreter on the device (default: the target's `python`).")
    @click.option("--benchmark-binary", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                  help="Local path of TFLite's benchmark_model for Android targets.")
    @functools.wraps(function)
    def wrapper(*args, devices, ssh_config, remote_python, benchmark_binary, **kwargs):
        connection = {"ssh_config": ssh_config, "remote_python": remote_python, "benchmark_binary": benchmark_binary}
        return function(*args, connection=connection, devices=list(devices), **kwargs)

    return wrapper


def store_option(function):
    """--store DIR: the baseline store."""
    return click.option("--store", type=click.Path(file_okay=False, path_type=Path), default=Path(".edgekit/baselines"),
                        show_default=True, help="Folder of saved baselines (JSON lines per target, device, artifact).")(function)
