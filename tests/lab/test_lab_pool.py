"""A pool of devices through the real ssh client: two x86_64 boards (each an sshd in its own network namespace,
with its own /tmp) profiled at once, edgekit processes queueing for one board, a board dying mid-run, and the
lock timeout. Which run held a board when comes from each profile's `measured_at` (this machine's clock)."""

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from edgekit.adapters import ConnectionOptions
from edgekit.config.target import load_target
from edgekit.fleet.device_lock import DEVICE_LOCK_NAME
from edgekit.fleet.locks import locked_device
from tests.integration.helpers import write_config
from tests.lab.conftest import LAB_X86_WORKDIR, MODELS, edgekit
from tests.lab.test_lab_build import TINY

DEVICE_LOCK = f"{LAB_X86_WORKDIR}/{DEVICE_LOCK_NAME}"


@pytest.fixture
def boards(lab, tmp_path, monkeypatch):
    if "board2" not in lab.state:
        pytest.fail("the lab was started before it had a second board: `scripts/lab down && scripts/lab up`")
    # This test's own lock folder: a person's edgekit runs on this machine are not in the way.
    monkeypatch.setenv("EDGEKIT_LOCK_DIR", str(tmp_path / "locks"))
    return lab["board"]["alias"], lab["board2"]["alias"]


def profile_args(lab, *devices, seconds=3.0):
    args = ["profile", MODELS / "mlp-int8.tflite", "--target", "lab-x86", "--ssh-config", lab.ssh_config,
            "--runs", 20, "--warmup", 2, "--min-seconds", seconds]
    for device in devices:
        args += ["--device", device]
    return args


def start_edgekit(*args, lock_dir):
    """edgekit in a process of its own (as another CI job would run it), with its own lock folder."""
    return subprocess.Popen([sys.executable, "-m", "edgekit.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=dict(os.environ, EDGEKIT_LOCK_DIR=str(lock_dir)),
                            start_new_session=True)


def window(path):
    measured = json.loads(path.read_text())["profiles"][0]["measured_at"]
    return measured["start"], measured["end"]


def test_two_boards_in_two_namespaces_are_profiled_concurrently(lab, boards, tmp_path):
    board, board2 = boards
    output = tmp_path / "fleet.json"
    started = time.monotonic()
    result = edgekit(*profile_args(lab, board, board2), "--output", output)
    concurrent_s = time.monotonic() - started
    assert result.exit_code == 0, result.output
    document = json.loads(output.read_text())
    assert [device["address"] for device in document["devices"]] == [board, board2]
    assert {device["machine"] for device in document["devices"]} == {"x86_64"}
    assert document["devices_failed"] == []
    assert document["profiles"] == document["profiles_by_device"][board]  # what `edgekit regress` reads
    windows = [profiles[0]["measured_at"] for profiles in document["profiles_by_device"].values()]
    assert max(w["start"] for w in windows) < min(w["end"] for w in windows), windows  # at the same time
    (fleet,) = document["fleet"]
    medians = [profiles[0]["median_ms"] for profiles in document["profiles_by_device"].values()]
    assert fleet["model"] == "mlp-int8.tflite" and fleet["devices"] == 2
    assert (fleet["min_median_ms"], fleet["max_median_ms"]) == (min(medians), max(medians))
    assert fleet["median_of_medians_ms"] == pytest.approx(sum(medians) / 2)
    assert "fleet · lab-x86 · 2 of 2 devices" in result.output and "median of medians" in result.output

    started = time.monotonic()
    for device in (board, board2):  # the same work, one board after the other
        alone = edgekit(*profile_args(lab, device))
        assert alone.exit_code == 0, alone.output
    serial_s = time.monotonic() - started
    print(f"\ntwo boards, 3 s of timing each: at once {concurrent_s:.1f} s, one after the other {serial_s:.1f} s")
    assert concurrent_s < serial_s


def test_two_processes_of_this_machine_contending_for_one_board_run_one_after_the_other(lab, boards, tmp_path):
    board, _ = boards
    runs = [start_edgekit(*profile_args(lab, board), "--output", tmp_path / f"run{index}.json",
                          lock_dir=tmp_path / "locks") for index in range(2)]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    first, second = sorted([window(tmp_path / "run0.json"), window(tmp_path / "run1.json")])
    assert first[1] <= second[0], (first, second)  # never at the same time
    waiting = [(index, text) for index, text in enumerate(outputs) if "waiting for lab-board:" in text]
    assert len(waiting) == 1, outputs
    index, text = waiting[0]
    holder = runs[1 - index].pid
    assert re.search(rf"waiting for lab-board: held by pid {holder} on \S+ as \S+ \(edgekit profile .*\), "
                     rf"since \d\d:\d\d:\d\d \(lock .*/locks/ssh-lab-board-\w+\.lock on this machine\); "
                     rf"waiting without a time limit", " ".join(text.split())), text
    assert "lab-board: free after" in text
    print(f"\none board, two processes: windows {first[0]:.1f}-{first[1]:.1f} and {second[0]:.1f}-{second[1]:.1f}")


def test_two_runners_sharing_a_board_queue_on_the_lock_on_the_board(lab, boards, tmp_path):
    _, board2 = boards
    # Two lock folders: as two CI machines, which share nothing but the board.
    runs = []
    for index in range(2):
        runs.append(start_edgekit(*profile_args(lab, board2), "--output", tmp_path / f"run{index}.json",
                                  lock_dir=tmp_path / f"runner{index}"))
        time.sleep(0.5)  # let the first one take the board
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    first, second = window(tmp_path / "run0.json"), window(tmp_path / "run1.json")
    assert first[1] <= second[0], (first, second)
    text = " ".join(outputs[1].split())
    assert re.search(rf"waiting for lab-board2: held by pid {runs[0].pid} on \S+ .* last heartbeat \d+ s ago "
                     rf"\(lock {DEVICE_LOCK} on the device\)", text), text
    listing = subprocess.run(["ssh", "-F", str(lab.ssh_config), board2, "ls", "-A", LAB_X86_WORKDIR],
                             capture_output=True, text=True, timeout=30)
    assert DEVICE_LOCK_NAME not in listing.stdout  # released


def test_a_board_dying_mid_run_is_reported_and_the_other_finishes(lab, boards, tmp_path):
    board, board2 = boards
    output = tmp_path / "fleet.json"
    with lab.dropping("board2", after_s=1.0, once_running="edgekit_device_profiler"):
        result = edgekit(*profile_args(lab, board, board2, seconds=8), "--output", output)
    assert result.exit_code == 3, result.output
    text = " ".join(result.output.split())
    assert ("error: profiling failed on 1 of 2 devices of target lab-x86: lab-board2: the device dropped the "
            "connection while running") in text
    assert "the results of lab-board were kept" in text
    assert "fleet · lab-x86 · 1 of 2 devices (1 failed)" in text
    document = json.loads(output.read_text())
    assert list(document["profiles_by_device"]) == [board]  # nothing partial of the board that died
    assert [failure["address"] for failure in document["devices_failed"]] == [board2]
    assert document["devices_failed"][0]["error"].startswith("the device dropped the connection while running")
    assert document["profiles"][0]["device"]["address"] == board and document["profiles"][0]["runs"] >= 20


def test_lock_timeout_gives_up_on_a_busy_board_with_who_holds_it(lab, boards):
    board, _ = boards
    with locked_device(load_target("lab-x86"), ConnectionOptions(address=board, ssh_config=lab.ssh_config)):
        started = time.monotonic()
        result = edgekit(*profile_args(lab, board), "--lock-timeout", 1)
        elapsed = time.monotonic() - started
    assert result.exit_code == 3, result.output
    assert re.search(rf"error: lab-board: busy: the device is held by pid {os.getpid()} on \S+ as \S+ \(.*\), "
                     rf"since \d\d:\d\d:\d\d \(lock \S+ on this machine\); gave up after 1 s \(--lock-timeout 1\)",
                     " ".join(result.output.split())), result.output
    assert 1 <= elapsed < 10


def test_a_busy_board_of_a_pool_times_out_while_the_other_finishes(lab, boards, tmp_path, monkeypatch):
    board, board2 = boards
    # Held through another lock folder: this machine's lock is free, the board's own lock is not.
    monkeypatch.setenv("EDGEKIT_LOCK_DIR", str(tmp_path / "other-runner"))
    with locked_device(load_target("lab-x86"), ConnectionOptions(address=board2, ssh_config=lab.ssh_config)):
        monkeypatch.setenv("EDGEKIT_LOCK_DIR", str(tmp_path / "locks"))
        result = edgekit(*profile_args(lab, board, board2, seconds=1), "--lock-timeout", 2)
    assert result.exit_code == 3, result.output
    text = " ".join(result.output.split())
    assert re.search(rf"lab-board2: busy: the device is held by pid {os.getpid()} .* \(lock {DEVICE_LOCK} on the "
                     rf"device\); gave up after 2 s \(--lock-timeout 2\)", text), text
    assert "profiling failed on 1 of 2 devices of target lab-x86" in text and "fleet · lab-x86 · 1 of 2" in text


def test_the_board_lock_of_a_killed_holder_is_removed_by_the_next_run(lab, boards, tmp_path):
    _, board2 = boards
    victim = start_edgekit(*profile_args(lab, board2, seconds=6), lock_dir=tmp_path / "killed-runner")
    deadline = time.monotonic() + 60
    while not lab._running("board2", "edgekit_device_profiler") and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(victim.pid, signal.SIGKILL)  # the whole job, as a CI runner that is torn down
    victim.wait()
    result = edgekit(*profile_args(lab, board2, seconds=0), "--lock-timeout", 30)
    assert result.exit_code == 0, result.output
    assert (f"lab-board2: removing a stale device lock (its process {victim.pid} on"
            in " ".join(result.output.split())), result.output


def test_build_on_a_pool_keeps_what_succeeded_names_what_failed_and_never_caches_it(lab, boards, tmp_path):
    board, board2 = boards
    config = write_config(tmp_path, TINY)
    out = tmp_path / "build"
    args = ["build", "--config", config, "--target", "lab-x86", "--device", board, "--device", board2,
            "--device", lab["faults"]["nobody"], "--ssh-config", lab.ssh_config, "--out", out]
    result = edgekit(*args)
    assert result.exit_code == 3, result.output
    assert re.search(r"error: profiling failed on 1 of 3 devices of target lab-x86: lab-nobody: unreachable "
                     r"\(.*\)\. Is the device on.*; the results of lab-board, lab-board2 were kept",
                     " ".join(result.output.split())), result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["device"]["address"] == board
    assert [device["address"] for device in manifest["devices"]] == [board, board2]
    assert [failure["address"] for failure in manifest["devices_failed"]] == ["lab-nobody"]
    profiled = [artifact for artifact in manifest["artifacts"] if artifact["latency"] is not None]
    assert {artifact["name"] for artifact in profiled} == {"tflite-float32", "tflite-int8"}
    for artifact in profiled:
        assert list(artifact["latency_by_device"]) == [board, board2]
        assert artifact["latency"] == artifact["latency_by_device"][board]
        assert artifact["fleet"]["devices"] == 2
        assert set(artifact["fleet"]["median_ms_by_device"]) == {board, board2}
    assert "fleet · lab-x86 · 2 of 3 devices (1 failed)" in result.output
    # A pool that failed in part is not cached: the rebuild profiles again (and fails again, the same way).
    again = edgekit(*args)
    assert again.exit_code == 3 and "profile: cached" not in again.output
    assert "data: cached" in again.output or "train: cached" in again.output


def test_deploy_to_several_boards_checks_each_copy_on_its_board(lab, boards, tmp_path):
    board, board2 = boards
    dest = "/tmp/edgekit-lab-deploy-test"
    result = edgekit("deploy", MODELS / "mlp-int8.tflite", "--target", "lab-x86", "--device", board, "--device",
                     board2, "--ssh-config", lab.ssh_config, "--dest", dest)
    assert result.exit_code == 0, result.output
    for device in (board, board2):
        assert f"-> {device}:{dest}/mlp-int8.tflite (4544 bytes" in result.output
    on_board2 = subprocess.run(["ssh", "-F", str(lab.ssh_config), board2, "sha256sum", f"{dest}/mlp-int8.tflite"],
                               capture_output=True, text=True, timeout=30)
    assert on_board2.stdout.split()[0] == hashlib.sha256((MODELS / "mlp-int8.tflite").read_bytes()).hexdigest()
    subprocess.run(["rm", "-rf", dest], check=True)  # board's copy: board is this machine's /tmp
