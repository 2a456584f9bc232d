"""Errors a user can cause. The CLI prints them as one message and exits with their code.

Internal bugs are not EdgekitErrors: they still raise with a traceback.
"""

from __future__ import annotations


class ExitCode:
    """Process exit codes of the CLI contract (DESIGN.md)."""

    OK = 0
    GATE_FAILED = 1
    BAD_INPUT = 2
    DEVICE_FAILED = 3


class EdgekitError(Exception):
    """Base class of every error a user can cause; `exit_code` is what the CLI exits with."""

    exit_code = ExitCode.BAD_INPUT


class ConfigError(EdgekitError):
    """edgekit.yaml or a target file is missing, malformed, or holds an impossible value."""


class DataError(EdgekitError):
    """The data set cannot be read, is malformed, or does not fit the configuration."""


class ModelError(EdgekitError):
    """The model cannot be loaded or built, or does not fit the data."""


class QuantizationError(EdgekitError):
    """Quantization-aware training or integer conversion cannot handle the model."""


class ExportError(EdgekitError):
    """An exporter failed, or produced an artifact that does not match its source."""

    exit_code = ExitCode.DEVICE_FAILED


class ToolError(EdgekitError):
    """An external tool (a converter, a compiler, a runtime) failed."""

    exit_code = ExitCode.DEVICE_FAILED


class ModelFileError(EdgekitError):
    """A model file is not a model, or is truncated or corrupt."""


class InputFileError(EdgekitError):
    """An input file (profile, manifest, baseline) is missing or not what edgekit wrote."""


class OutputError(EdgekitError):
    """A file could not be written; what was written before is left as it was (every write is atomic)."""

    exit_code = ExitCode.DEVICE_FAILED


class DiskFull(OutputError):
    """No space left (or the quota is used up) on the file system being written: the machine failed, exit 3."""


class OutputNotWritable(OutputError):
    """The output folder is read-only or not ours: a wrong --out or --output, so bad usage, exit 2."""

    exit_code = ExitCode.BAD_INPUT


class GateFailed(EdgekitError):
    """A quality gate failed: accuracy dropped too far, or latency regressed."""

    exit_code = ExitCode.GATE_FAILED


class AccuracyGateFailed(GateFailed):
    """An int8 artifact lost more accuracy than `evaluate.max_accuracy_drop` allows."""


class BuildLocked(EdgekitError):
    """Another edgekit build holds the build folder."""


class DeviceError(EdgekitError):
    """A device could not be reached, or failed while working."""

    exit_code = ExitCode.DEVICE_FAILED


class TargetUnreachable(DeviceError):
    """The device did not answer within the connect timeout."""


class AuthenticationFailed(DeviceError):
    """The device refused our credentials."""


class HostKeyUnknown(DeviceError):
    """The device's host key is not trusted yet; we never disable host key checking."""


class HostKeyChanged(DeviceError):
    """The device's host key differs from the one trusted before (a reinstalled board, or someone in between).

    Not a kind of HostKeyUnknown: the remedy differs (remove the old key first), and so does the risk.
    """


class RuntimeMissing(DeviceError):
    """No TFLite runtime is installed on the device."""


class DeviceDisconnected(DeviceError):
    """The device dropped in the middle of a command."""


class UnsafeFolder(DeviceError):
    """A folder edgekit would write into could be changed by another user (or is not ours)."""


class DeviceBusy(DeviceError):
    """Another edgekit process held the device for longer than --lock-timeout allowed to wait."""


class DevicesFailed(DeviceError):
    """Profiling failed on some devices of a pool; what the other devices measured was kept."""


class ArtifactNotAccepted(EdgekitError):
    """The target cannot run this artifact (a float model for the Edge TPU, say)."""
