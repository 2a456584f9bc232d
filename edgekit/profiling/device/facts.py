"""What the device is (machine, OS, CPU, runtime) and how much memory this process holds, read on the device."""

import os
import platform
import resource
import sys


def device_info(runtime_name, runtime_version):
    """What the device is: machine, OS, CPU, runtime."""
    return {
        "machine": platform.machine(),
        "os": _os_name(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "runtime": runtime_name,
        "runtime_version": runtime_version,
        "hostname": platform.node(),
    }


def distribution_version(name):
    """The installed version of the distribution `name`, or None (Python 3.7 has no importlib.metadata)."""
    try:
        from importlib import metadata
    except ImportError:  # Python 3.7
        return None
    try:
        return metadata.version(name)
    except Exception:
        return None


def _os_name():
    try:
        with open("/etc/os-release") as handle:
            for line in handle:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.platform()


def _cpu_name():
    try:
        with open("/proc/device-tree/model", "rb") as handle:  # Raspberry Pi and most boards
            model = handle.read().rstrip(b"\0").decode("utf-8", "replace").strip()
            if model:
                return model
    except OSError:
        pass
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Hardware", "Model", "cpu model"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_reading():
    """The process's resident set now and its peak so far, in KiB: {"rss_kb", "hwm_kb", "source"}.

    Linux: VmRSS and VmHWM of /proc/self/status. Elsewhere getrusage's ru_maxrss (a peak only, so it stands
    in for both; KiB on Linux, bytes on macOS).
    """
    try:
        with open("/proc/self/status") as handle:
            fields = {}
            for line in handle:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    fields[key] = int(value.split()[0])  # "VmRSS:	  123456 kB"
        if "VmRSS" in fields and "VmHWM" in fields:
            return {"rss_kb": fields["VmRSS"], "hwm_kb": fields["VmHWM"], "source": "proc_status"}
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if sys.platform == "darwin":
        peak //= 1024
    return {"rss_kb": peak, "hwm_kb": peak, "source": "getrusage"}


def memory_record(before_load, after_load, after_runs):
    """One model's memory: its resident-set growth across loading and across its first runs, and the peak.

    The growth runs to the highest resident set seen while this model loaded and ran: the high-water mark when it
    rose in that window (a peak between readings), else the highest reading (an earlier model's peak is not it).
    """
    if after_runs["hwm_kb"] > before_load["hwm_kb"]:
        highest = after_runs["hwm_kb"]
    else:
        highest = max(after_load["rss_kb"], after_runs["rss_kb"])
    return {
        "rss_before_load_kb": before_load["rss_kb"],
        "rss_after_load_kb": after_load["rss_kb"],
        "rss_after_invoke_kb": after_runs["rss_kb"],
        "load_growth_kb": after_load["rss_kb"] - before_load["rss_kb"],
        "invoke_growth_kb": after_runs["rss_kb"] - after_load["rss_kb"],
        "rss_growth_kb": highest - before_load["rss_kb"],
        "peak_rss_kb": after_runs["hwm_kb"],
        "source": after_runs["source"],
    }
