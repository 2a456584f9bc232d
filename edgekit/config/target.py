"""Target files (targets/*.yaml): what a device is, how to reach it, and what it can run."""

from __future__ import annotations

import os
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Optional

from pydantic import Field

from edgekit.config.formats import FORMATS, Format, Quantization
from edgekit.config.schema import MAX_SECONDS, MAX_THREADS
from edgekit.config.validation import StrictModel, validate
from edgekit.config.yamlsource import did_you_mean, load_yaml
from edgekit.errors import ConfigError

TARGETS_PATH_VARIABLE = "EDGEKIT_TARGETS_PATH"


class Delegate(str, Enum):
    NONE = "none"
    XNNPACK = "xnnpack"
    GPU = "gpu"
    NNAPI = "nnapi"
    EDGETPU = "edgetpu"


class Accepts(StrictModel):
    """The artifacts a target can run."""

    formats: list[Format] = [Format.TFLITE]
    quantization: list[Quantization] = list(Quantization)
    # dtypes the model's inputs and outputs may have (the Edge TPU takes int8 or uint8 only)
    io_dtypes: list[str] = ["float32", "int8", "uint8"]
    # why the target is limited, told with every refusal
    reason: Optional[str] = None


class BenchmarkBinary(StrictModel):
    """Where TFLite's benchmark_model comes from (Android targets)."""

    # local path of the binary (`~` is expanded); `--benchmark-binary` overrides it
    path: Optional[str] = None
    # where to download it, named in the message when it is missing
    url: Optional[str] = None
    remote_path: str = "/data/local/tmp/benchmark_model"


class Target(StrictModel):
    """One target file."""

    name: str
    description: str
    adapter: str
    arch: str
    runtime: str = "ai_edge_litert"
    threads: int = Field(1, gt=0, le=MAX_THREADS)
    delegate: Delegate = Delegate.XNNPACK
    delegate_library: Optional[str] = None
    # key=value options for the delegate library (libedgetpu: {device: usb} picks the USB accelerator)
    delegate_options: dict[str, str] = {}
    accepts: Accepts = Accepts()
    python: str = "python3"
    workdir: str = "/tmp/edgekit"
    connect_timeout_s: float = Field(15.0, gt=0.0, le=MAX_SECONDS)
    cpu_mask: Optional[str] = None
    benchmark_binary: Optional[BenchmarkBinary] = None
    # ssh boards: path of TFLite's benchmark_model ON the board (built for it); when set, per-op times of each
    # .tflite come from a separate op-profiling run of it (the latency samples stay edgekit's profiler's)
    benchmark_model: Optional[str] = None
    # what the device needs installed, in one line; shown by `targets show` and when the runtime is missing
    setup: Optional[str] = None
    source: Optional[str] = Field(None, exclude=True)

    def refuses(self, fmt: Format, quantization: Quantization) -> Optional[str]:
        """Why this target cannot run an artifact of `fmt`/`quantization`, or None when it can.

        The quantization is judged first (its reason is the one a user can act on: export int8), then the format,
        then what the format's row in FORMATS requires of the target (the edgetpu delegate for an edgetpu model).

        Raises:
            TypeError: `fmt` or `quantization` is a string, not the enum (a bug in the caller).
        """
        if not isinstance(fmt, Format) or not isinstance(quantization, Quantization):
            raise TypeError(f"Target.refuses takes Format and Quantization, got {fmt!r}, {quantization!r}")
        if quantization not in self.accepts.quantization:
            accepted = ", ".join(q.value for q in self.accepts.quantization)
            return f"target {self.name} runs only {accepted} models, not {quantization.value}"
        if fmt not in self.accepts.formats:
            accepted = ", ".join(f.value for f in self.accepts.formats)
            made = [spec for spec in FORMATS.values()
                    if spec.parent == (fmt, quantization) and spec.name in self.accepts.formats]
            how = (f"; `edgekit build --target {self.name}` makes the {made[0].name.value} model from it at export"
                   + (f" with {made[0].tool}" if made[0].tool else "")) if made else ""
            return f"target {self.name} runs {accepted} models, not {fmt.value}{how}"
        required = FORMATS[fmt].requires_delegate
        if required is not None and self.delegate.value != required:
            return (f"target {self.name} uses the {self.delegate.value} delegate; {fmt.value} models run only with "
                    f"the {required} delegate")
        return None


def target_folders() -> list[Path]:
    """Folders searched for target files: $EDGEKIT_TARGETS_PATH first, then the bundled ones."""
    folders = [Path(part) for part in os.environ.get(TARGETS_PATH_VARIABLE, "").split(os.pathsep) if part]
    folders.append(bundled_targets_folder())
    return folders


def bundled_targets_folder() -> Path:
    """The targets/ folder shipped with edgekit (package data in a wheel, the repository's in a checkout)."""
    return Path(str(resources.files("edgekit._targets")))


def list_targets() -> list[Target]:
    """Every target, the first file of each name winning (user folders before the bundled one)."""
    found: dict[str, Target] = {}
    for folder in target_folders():
        for path in sorted(folder.glob("*.yaml")):
            if path.stem not in found:
                found[path.stem] = _load_target_file(path)
    return sorted(found.values(), key=lambda target: target.name)


def load_target(name: str) -> Target:
    """The target called `name`.

    Raises:
        ConfigError: no target of that name, or its file is invalid.
    """
    for folder in target_folders():
        path = folder / f"{name}.yaml"
        if path.is_file():
            return _load_target_file(path)
    known = sorted({path.stem for folder in target_folders() for path in folder.glob("*.yaml")})
    raise ConfigError(f"unknown target '{name}'{did_you_mean(name, known)}; known targets: {', '.join(known)}")


def _load_target_file(path: Path) -> Target:
    located = load_yaml(path, what="target")
    target = validate(Target, located, what="target file")
    if target.name != path.stem:
        raise ConfigError(f"{path}: target name '{target.name}' differs from the file name '{path.stem}'")
    target.source = str(path)
    return target
