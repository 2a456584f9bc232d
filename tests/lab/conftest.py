"""The device lab for tests: real sshd, a qemu aarch64 board and a real adbd, started by `scripts/lab up`.

Every test here is marked `lab`. When the lab is not up they are reported as skipped with the reason,
except under CI=true, where a lab that is not up fails them: they are never silently passed.
"""

import json
import os
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgekit.cli import main

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / ".lab" / "lab.json"
STANDINS = ROOT / "tests" / "standins"
MODELS = ROOT / "tests" / "data" / "models"
LAB_X86_WORKDIR = "/tmp/edgekit-lab-x86"


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.lab)


@dataclass
class Lab:
    """What `scripts/lab up` wrote to .lab/lab.json, and ways to break and mend its devices."""

    state: dict
    targets: Path

    @property
    def ssh_config(self) -> Path:
        return Path(self.state["ssh_config"])

    def __getitem__(self, key):
        return self.state[key]

    def stop(self, device: str) -> None:
        subprocess.run([str(ROOT / "scripts" / "lab"), "stop", device], check=True, timeout=60)

    def start(self, device: str) -> None:
        subprocess.run([str(ROOT / "scripts" / "lab"), "start", device], check=True, timeout=180)

    @contextmanager
    def dropping(self, device: str, after_s: float, once_running: str = ""):
        """Kill the device's processes (the device drops mid-run) `after_s` seconds after a process whose command
        line contains `once_running` appears on it (at once when empty); restart the device after the block."""

        def drop():
            deadline = time.monotonic() + 600
            while once_running and not self._running(device, once_running) and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(after_s)
            self.stop(device)

        thread = threading.Thread(target=drop, daemon=True)
        thread.start()
        try:
            yield
        finally:
            thread.join()
            self.start(device)

    def _running(self, device: str, text: str) -> bool:
        pids = subprocess.run(["ip", "netns", "pids", self.state[device]["netns"]], capture_output=True, text=True)
        for pid in pids.stdout.split():
            try:
                if text.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return True
            except OSError:
                continue
        return False

    def sshd_logins(self) -> int:
        """How many logins the x86_64 board's sshd has accepted so far."""
        log = ROOT / ".lab" / "board" / "sshd.log"
        return log.read_text(errors="replace").count("Accepted publickey") if log.exists() else 0


def _lab_state():
    if os.geteuid() != 0:
        return None, "the device lab needs root (network namespaces, chroots): run `sudo scripts/test`"
    if not STATE.exists():
        return None, "the device lab is not up: run `scripts/lab up` as root (scripts/test does it when run as root)"
    status = subprocess.run([str(ROOT / "scripts" / "lab"), "status", "--quiet"], capture_output=True, timeout=60)
    if status.returncode != 0:
        return None, "the device lab is not fully up (`scripts/lab status` shows what is down)"
    return json.loads(STATE.read_text()), None


def _write_lab_targets(folder: Path, state: dict, standin_delegate: Path) -> None:
    python = state["board"]["python"]
    (folder / "lab-x86.yaml").write_text(f"""
name: lab-x86
description: The lab's x86_64 board (an sshd in its own network namespace)
adapter: ssh
arch: x86_64
threads: 1
python: {python}
connect_timeout_s: 3
# Not the host target's /tmp/edgekit: the x86_64 board is this machine, and its device lock would otherwise
# queue lab tests behind anyone profiling on `host` here (and them behind the tests).
workdir: {LAB_X86_WORKDIR}
""")
    (folder / "lab-x86-bm.yaml").write_text(f"""
name: lab-x86-bm
description: The lab's x86_64 board timing with a STAND-IN benchmark_model pushed over ssh (any timer, any transport)
adapter: ssh
arch: x86_64
runtime: benchmark_model
threads: 1
cpu_mask: "1"
connect_timeout_s: 3
workdir: {LAB_X86_WORKDIR}-bm
benchmark_binary: {{path: {STANDINS / 'benchmark_model'}, remote_path: {LAB_X86_WORKDIR}-bm-tools/benchmark_model}}
""")
    (folder / "lab-coral.yaml").write_text(f"""
name: lab-coral
description: The lab's x86_64 board with a STAND-IN libedgetpu (tests/standins/libedgetpu_standin.c)
adapter: coral
arch: x86_64
threads: 1
delegate: edgetpu
delegate_library: {standin_delegate}
delegate_options: {{device: usb, log: {folder / 'standin-delegate.log'}}}
accepts: {{formats: [edgetpu], quantization: [int8], io_dtypes: [int8, uint8], reason: the Edge TPU executes only 8-bit integer tensors}}
python: {python}
""")
    (folder / "lab-phone.yaml").write_text(f"""
name: lab-phone
description: The lab's adbd (Debian's adbd in a chroot), timing with a STAND-IN benchmark_model
adapter: adb
arch: x86_64
runtime: benchmark_model
threads: 1
cpu_mask: "1"
workdir: /data/local/tmp/edgekit
benchmark_binary: {{path: {STANDINS / 'benchmark_model'}, remote_path: /data/local/tmp/benchmark_model}}
""")


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    state, reason = _lab_state()
    if state is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"lab test not run under CI: {reason}")
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("lab-targets")
    delegate = folder / "libedgetpu_standin.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(delegate), str(STANDINS / "libedgetpu_standin.c")], check=True)
    _write_lab_targets(folder, state, delegate)
    previous = os.environ.get("EDGEKIT_TARGETS_PATH")
    os.environ["EDGEKIT_TARGETS_PATH"] = str(folder)
    yield Lab(state, folder)
    if previous is None:
        os.environ.pop("EDGEKIT_TARGETS_PATH", None)
    else:
        os.environ["EDGEKIT_TARGETS_PATH"] = previous


def edgekit(*args):
    """Run the CLI in-process; returns click's Result (exit_code, output with stderr)."""
    return CliRunner().invoke(main, [str(arg) for arg in args], catch_exceptions=False)
