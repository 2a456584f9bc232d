"""Transports apart from timers: the typed run result, which way imports point, adapters composing a transport and
a timer, and the device-side profiler pushed file by file (each one's SHA-256 checked) and small enough to read.
The transports themselves pass tests/adapter_contract.py (here on this machine, in tests/lab/ over ssh and adb)."""

import ast
import sys
from pathlib import Path

import pytest

from edgekit.adapters import ConnectionOptions, open_adapter
from edgekit.config.target import load_target
from edgekit.errors import DeviceError
from edgekit.profiling.benchmark_timer import BenchmarkModelTimer
from edgekit.profiling.python_timer import REMOTE_FOLDER, PythonProfilerTimer, profiler_files
from edgekit.transport import RunResult, known_transports, transport_class
from edgekit.transport.adb import AdbTransport
from edgekit.transport.local import LocalTransport
from edgekit.transport.ssh import SshTransport

EDGEKIT = Path(__file__).resolve().parents[2] / "edgekit"
DEVICE_PACKAGE = EDGEKIT / "profiling" / "device"
# What edgekit/transport may import from edgekit: the base layer (and itself).
TRANSPORT_MAY_IMPORT = ("edgekit.errors", "edgekit.fsutil", "edgekit.transport")
# What edgekit/profiling must never import: the layers above it (adapters compose profiling's timers).
ABOVE_PROFILING = ("edgekit.adapters", "edgekit.fleet", "edgekit.pipeline", "edgekit.regress", "edgekit.report",
                   "edgekit.cli", "edgekit.api")
MAX_MODULE_LINES = 350


def test_a_failure_detail_is_stderr_else_stdout_else_the_exit_code():
    assert RunResult(("x",), 1, "out\nlast out\n", "err\nlast err\n", 0.1).detail() == "last err"
    assert RunResult(("x",), 1, "out\nlast out\n", "  \n", 0.1).detail(lines=2) == "out / last out"
    assert RunResult(("x",), 9, "", "", 0.1).detail() == "exit code 9"


def test_a_run_result_unpacks_as_the_tuple_run_returned_before():
    code, stdout, stderr = RunResult(("x",), 3, "o", "e", 0.5)
    assert (code, stdout, stderr) == (3, "o", "e")


def _edgekit_imports(path: Path) -> set[str]:
    """Every edgekit module `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "edgekit":
            found.update(f"edgekit.{alias.name}" for alias in node.names)  # from edgekit import fsutil
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("edgekit."):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("edgekit"))
    return found


@pytest.mark.parametrize("path", sorted((EDGEKIT / "transport").glob("*.py")), ids=lambda path: path.name)
def test_transports_import_only_the_base_layer(path):
    upward = {name for name in _edgekit_imports(path) if not name.startswith(TRANSPORT_MAY_IMPORT)}
    assert upward == set(), f"{path.name} imports {sorted(upward)}"


@pytest.mark.parametrize("path", sorted((EDGEKIT / "profiling").rglob("*.py")), ids=lambda path: path.name)
def test_profiling_does_not_import_adapters_or_anything_above(path):
    upward = {name for name in _edgekit_imports(path) if name.startswith(ABOVE_PROFILING)}
    assert upward == set(), f"{path.relative_to(EDGEKIT)} imports {sorted(upward)}"


@pytest.mark.parametrize("path", sorted(DEVICE_PACKAGE.glob("*.py")), ids=lambda path: path.name)
def test_the_device_profiler_is_small_standalone_python_37(path):
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_MODULE_LINES
    ast.parse(text, str(path), feature_version=(3, 7))  # boards with an old Python run it
    assert _edgekit_imports(path) == set()  # only its own modules (relative imports), the stdlib and runtimes


def test_every_profiler_file_is_pushed_into_one_folder_once_per_session(tmp_path):
    timer = PythonProfilerTimer(load_target("host"), sys.executable)
    with LocalTransport(workdir=str(tmp_path / "edgekit")) as transport:
        folder = timer.install(transport)
        assert folder == f"{transport.workdir()}/{REMOTE_FOLDER}"
        pushed = sorted(path.name for path in Path(folder).iterdir())
        assert pushed == [path.name for path in profiler_files()] and "__main__.py" in pushed
        (Path(folder) / "stats.py").unlink()
        assert timer.install(transport) == folder and not (Path(folder) / "stats.py").exists()  # not pushed again


class DamagingTransport(LocalTransport):
    """The local transport with a fault: every copy gains a byte on its way (a broken link or disk)."""

    def put(self, local, remote):
        written = super().put(local, remote)
        with open(written, "ab") as handle:
            handle.write(b"#")
        return written


def test_a_profiler_file_damaged_on_its_way_is_refused(tmp_path):
    timer = PythonProfilerTimer(load_target("host"), sys.executable)
    with DamagingTransport(workdir=str(tmp_path / "edgekit")) as transport:
        with pytest.raises(DeviceError, match=rf"localhost: .*/{REMOTE_FOLDER}/__init__.py has sha256 [0-9a-f]{{64}} "
                                              r"on the device, but .*__init__.py has [0-9a-f]{64}: "
                                              r"the copy is damaged"):
            timer.install(transport)


def test_adapters_compose_the_transport_of_their_kind_and_the_timer_of_the_target(tmp_path, monkeypatch):
    text = (EDGEKIT.parent / "targets" / "rpi4.yaml").read_text()
    (tmp_path / "pi-bm.yaml").write_text(text.replace("name: rpi4", "name: pi-bm")
                                         .replace("runtime: ai_edge_litert", "runtime: benchmark_model")
                                         .replace("workdir: /tmp/edgekit", "workdir: /var/tmp/ek")
                                         + "connect_timeout_s: 7\n")
    monkeypatch.setenv("EDGEKIT_TARGETS_PATH", str(tmp_path))
    board = open_adapter(load_target("pi-bm"), ConnectionOptions(address="pi@board"))
    assert isinstance(board.transport, SshTransport) and isinstance(board.timer, BenchmarkModelTimer)
    assert (board.transport.workdir_root, board.transport.connect_timeout_s) == ("/var/tmp/ek", 7)
    phone = open_adapter(load_target("android-arm64"), ConnectionOptions(address="p", connect_timeout_s=2.5))
    assert isinstance(phone.transport, AdbTransport) and phone.transport.connect_timeout_s == 2.5
    pi = open_adapter(load_target("rpi4"), ConnectionOptions(address="pi@board", remote_python="~/litert/bin/python"))
    assert isinstance(pi.timer, PythonProfilerTimer) and pi.timer.python == "~/litert/bin/python"


def test_every_known_transport_imports():
    assert {name: transport_class(name).name for name in known_transports} == {
        "local": "local", "ssh": "ssh", "adb": "adb"}
