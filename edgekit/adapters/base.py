"""The one interface every device adapter implements: connect, push, run the profiler, fetch, close."""

from __future__ import annotations

import abc
import dataclasses
import json
import posixpath
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from edgekit.adapters import remote_files
from edgekit.adapters.acceptance import check_accepted
from edgekit.config.target import Target
from edgekit.errors import DeviceError, RuntimeMissing
from edgekit.fsutil import sha256_file
from edgekit.profiling.benchmark_model import op_profile_arguments, op_profile_fields, parse_benchmark_output
from edgekit.profiling.profile import ProfileSettings, device_record, make_profile

PROFILER_SCRIPT = Path(__file__).resolve().parent.parent / "profiling" / "device_profiler.py"

# device_profiler.py's exit codes, and what each means on our side.
_PROFILER_EXIT_NO_RUNTIME = 4
# The shell's code for "command not found": a `benchmark_model:` path that is not on the board.
_COMMAND_NOT_FOUND = 127
_OP_PROFILE_TIMEOUT_S = 900.0


@dataclass
class ConnectionOptions:
    """What the CLI or the build passes to an adapter besides the target."""

    address: Optional[str] = None
    ssh_config: Optional[Path] = None
    remote_python: Optional[str] = None
    benchmark_binary: Optional[Path] = None
    connect_timeout_s: Optional[float] = None
    extra: dict[str, Any] = field(default_factory=dict)


class Adapter(abc.ABC):
    """A way to reach a device. Use as a context manager: `with adapter: adapter.profile(...)`."""

    #: the name target files use in their `adapter:` key
    name: str = ""

    def __init__(self, target: Target, options: ConnectionOptions):
        self.target = target
        self.options = options
        self._private_folder: Optional[str] = None

    @property
    def address(self) -> str:
        """How the device is named in messages and in the profile JSON."""
        return self.options.address or "localhost"

    @property
    def python(self) -> str:
        """The Python interpreter that runs the profiler on the device."""
        return self.options.remote_python or self.target.python

    @abc.abstractmethod
    def connect(self) -> None:
        """Open the connection (or check the device answers).

        Raises:
            DeviceError: unreachable, authentication refused, unknown host key, ...
        """

    @abc.abstractmethod
    def put(self, local: Path, remote: str) -> str:
        """Copy a local file to exactly `remote` on the device (parent folders are made); returns `remote`.

        The copy goes to a fresh private temporary name beside `remote`, is checked, and is renamed into place:
        whatever was at `remote` (a symlink someone planted, say) is replaced, never written through.
        """

    @abc.abstractmethod
    def workdir(self) -> str:
        """This session's scratch folder on the device (made on first use, removed by close())."""

    def push(self, local: Path, remote_name: str) -> str:
        """Copy a local file into the device's work folder under `remote_name`; returns its path there."""
        return self.put(local, posixpath.join(self.workdir(), remote_name))

    def sha256(self, remote: str) -> str:
        """The SHA-256 of the file at `remote`, computed on the device (`sha256sum < file`, so no name is escaped).

        Raises:
            DeviceError: the file is missing, a folder or a symbolic link, or the device has no sha256sum.
        """
        code, stdout, stderr = self.run(remote_files.shell_argv(remote_files.SHA256, remote))
        digest = stdout.split()[0] if stdout.split() else ""
        if code != 0 or len(digest) != 64:
            detail = (stderr.strip() or stdout.strip() or f"exit code {code}").splitlines()[-1]
            raise DeviceError(f"{self.address}: cannot compute the sha256 of {remote}: {detail}")
        return digest

    def private_folder(self) -> str:
        """This user's own folder on the device, `<target workdir>-<uid>` (made with mode 0700 on first use).

        Raises:
            UnsafeFolder: it is a symlink, belongs to another user, or others could change it (see remote_files).
        """
        if self._private_folder is None:
            workdir = self.device_path(self.target.workdir)
            code, stdout, stderr = self.run(remote_files.shell_argv(remote_files.PRIVATE_FOLDER, workdir,
                                                                    remote_files.parent_of(workdir)))
            if code != 0:
                detail = (stderr.strip() or stdout.strip() or f"exit code {code}").splitlines()[-1]
                raise DeviceError(f"{self.address}: cannot make the folder {workdir}-<uid>: {detail}")
            facts = remote_files.FolderFacts.parse(stdout, address=self.address, folder=f"{workdir}-<uid>")
            folder = remote_files.private_folder_name(workdir, facts.uid)
            remote_files.check_private_folder(facts, address=self.address, folder=folder)
            self._private_folder = folder
        return self._private_folder

    def device_path(self, path: str) -> str:
        """`path` as the device's commands take it (ssh: `~/x` becomes `x`, relative to the home folder)."""
        return path

    def deploy(self, local: Path, remote: str) -> str:
        """Copy `local` to `remote` and check the copy's SHA-256 on the device; returns the digest.

        Raises:
            DeviceError: the copy on the device differs from the local file.
        """
        expected = sha256_file(local)
        self.put(local, remote)
        found = self.sha256(remote)
        if found != expected:
            raise DeviceError(f"{self.address}: {remote} has sha256 {found} on the device, "
                              f"but {local} has {expected}: the copy is damaged")
        return found

    @abc.abstractmethod
    def run(self, argv: list[str], *, timeout: Optional[float] = None) -> tuple[int, str, str]:
        """Run a command (a list of arguments, never a shell string) on the device; returns (code, stdout, stderr)."""

    @abc.abstractmethod
    def fetch(self, remote: str, local: Path) -> Path:
        """Copy a file from the device to `local`."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection. Safe to call twice."""

    def __enter__(self) -> "Adapter":
        self.connect()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # The parts below are shared by every adapter that runs edgekit's Python profiler on the device.

    def run_profiler(self, remote_models: list[str], settings: ProfileSettings) -> dict[str, Any]:
        """Run device_profiler.py on the device over already pushed models; returns its parsed JSON.

        Raises:
            RuntimeMissing: no TFLite runtime on the device (the message says what to install).
            DeviceError: the profiler failed or printed something that is not its JSON.
        """
        script = self.push(PROFILER_SCRIPT, "edgekit_device_profiler.py")
        argv = [self.python, script, *remote_models, *settings.profiler_arguments()]
        if self.target.delegate_library:
            argv += ["--delegate", self.target.delegate_library]
            for key, value in self.target.delegate_options.items():
                argv += ["--delegate-option", f"{key}={value}"]
        code, stdout, stderr = self.run(argv)
        result = _last_json_line(stdout)
        if result is None:
            detail = (stderr.strip() or stdout.strip() or f"exit code {code}").splitlines()[-5:]
            raise DeviceError(f"{self.address}: the profiler failed: {' / '.join(detail)}")
        if "error" in result:
            if code == _PROFILER_EXIT_NO_RUNTIME:
                setup = f" (target {self.target.name}: {self.target.setup})" if self.target.setup else ""
                raise RuntimeMissing(f"{self.address}: {result['message']}{setup}")
            raise DeviceError(f"{self.address}: {result['message']}")
        return result

    def profile(self, models: list[Path], settings: ProfileSettings) -> list[dict[str, Any]]:
        """Push and profile local .tflite/.onnx files (interleaved when several); returns one profile JSON each.

        With `settings.op_profile` and a target file naming the board's `benchmark_model`, each .tflite profile
        gains per-op times from a separate benchmark_model run (see benchmark_op_profile).

        Raises:
            ArtifactNotAccepted: the target cannot run one of the models (checked before anything is pushed).
            RuntimeMissing: no runtime for one of the models on the device (LiteRT, or onnxruntime for .onnx).
        """
        for model in models:
            check_accepted(self.target, model)
        if settings.threads is None:
            settings = dataclasses.replace(settings, threads=self.target.threads)
        remote = [self.push(model, f"{index}_{portable_name(model.name)}") for index, model in enumerate(models)]
        result = self.run_profiler(remote, settings)
        device = device_record(result["device"], self.address)
        threads = result.get("threads")
        profiles = [
            make_profile(model, entry, target=self.target.name, device=device, threads=threads,
                         delegate=None if model.suffix.lower() == ".onnx" else self._delegate_name())
            for model, entry in zip(models, result["profiles"])
        ]
        if settings.op_profile and self.target.benchmark_model:
            for model, remote_model, profile in zip(models, remote, profiles):
                if model.suffix.lower() == ".tflite":  # benchmark_model runs TFLite models only
                    profile.update(self.benchmark_op_profile([self.target.benchmark_model], remote_model,
                                                             dataclasses.replace(settings, threads=threads),
                                                             model.name))
        return profiles

    def benchmark_op_profile(self, command: list[str], remote_model: str, settings: ProfileSettings,
                             what: str) -> dict[str, Any]:
        """Per-op times of one pushed .tflite from the device's benchmark_model (`command` runs it), in a run of its
        own: "op_profile" per node, "op_types" summed per op type, and where they came from.

        Raises:
            ToolError: the benchmark_model named by the target file is not on the device.
            DeviceError: it ran but reported no per-op times.
        """
        from edgekit.errors import ToolError

        argv = command + op_profile_arguments(remote_model, runs=settings.runs, threads=settings.threads,
                                              delegate=self.target.delegate,
                                              delegate_library=self.target.delegate_library)
        code, stdout, stderr = self.run(argv, timeout=_OP_PROFILE_TIMEOUT_S)
        if code == _COMMAND_NOT_FOUND:
            raise ToolError(f"{self.address}: benchmark_model is not at {command[-1]} on the device (target "
                            f"{self.target.name}: `benchmark_model:` names its path on the board)")
        output = parse_benchmark_output(stdout + "\n" + stderr)
        runs = output.regular_runs.count if output.regular_runs else 0
        return op_profile_fields(output, runs=runs, what=f"{self.address}: {what} (exit code {code})")

    def _delegate_name(self) -> Optional[str]:
        return None if self.target.delegate.value == "none" else self.target.delegate.value


def quote_command(argv: list[str]) -> str:
    """One remote command line with every argument quoted (for transports that take a string)."""
    return " ".join(shlex.quote(str(argument)) for argument in argv)


def portable_name(name: str) -> str:
    """`name` with every character but ASCII letters, digits, `.`, `_` and `-` replaced by `_`.

    A profiled model's copy on the device needs no particular name, and one a device's runtime can open whatever
    its locale: a file name that is not UTF-8 (`\\udcff` here) cannot be passed to the interpreter's C++ loader.
    """
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def _last_json_line(text: str) -> Optional[dict[str, Any]]:
    # Runtimes print banners ("INFO: Created TensorFlow Lite XNNPACK delegate") on stdout on some
    # builds; the profiler's JSON is always its last line.
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None
