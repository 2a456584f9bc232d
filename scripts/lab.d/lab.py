#!/usr/bin/env python3
"""The device lab: real transports to stand-in devices on this machine (DESIGN.md, "The device lab").

    scripts/lab up       install what is missing (apt), build or reuse the cached root filesystems, start:
                           board  an OpenSSH server (x86_64) in its own network namespace
                           board2 a second x86_64 board: another sshd in another namespace, with a /tmp of its own
                           pi     an aarch64 Debian bookworm under qemu-user with ai-edge-litert and onnxruntime,
                                  served by its own sshd
                           phone  Debian's adbd (from trixie) in a chroot in its own namespace, for the real adb client
    scripts/lab down     stop everything `up` started and remove the namespaces
    scripts/lab status   what is up (exit 0 when everything is)
    scripts/lab stop NAME / start NAME   kill one device's processes (a device dropping) / start it again

State (keys, ssh config, known_hosts, logs, lab.json for the tests) lives in .lab/ of the checkout; the root
filesystems are cached in $EDGEKIT_LAB_CACHE (default ~/.cache/edgekit-lab) and reused between runs.
Names and addresses are derived from the checkout's path, so two checkouts can each have a lab.
Needs root. Standard library only: it runs before any virtual environment exists.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
STATE = ROOT / ".lab"
CACHE = Path(os.environ.get("EDGEKIT_LAB_CACHE", Path.home() / ".cache" / "edgekit-lab"))
LITERT_VERSION = "2.3.0"  # the same ai-edge-litert as the host's (pyproject pins >=2.3,<2.4)
ONNXRUNTIME_VERSION = "1.32.0"  # the host's onnxruntime; PyPI has its manylinux aarch64 wheel for Python 3.11
# gcc builds the tests' stand-in libedgetpu (tests/standins/libedgetpu_standin.c).
HOST_PACKAGES = ["openssh-server", "openssh-client", "adb", "debootstrap", "qemu-user-static", "binfmt-support",
                 "iproute2", "util-linux", "gcc", "libc6-dev"]

LAB_ID = hashlib.sha256(str(ROOT).encode()).hexdigest()[:4]
_OCTET = 100 + int(LAB_ID, 16) % 100
DEVICES = {
    # name: subnet index, what listens there
    "board": {"index": 1, "port": 22, "kind": "ssh", "alias": "lab-board"},
    "pi": {"index": 2, "port": 22, "kind": "ssh", "alias": "lab-pi"},
    # A second x86_64 board, for a pool of devices: profiled beside `board`, it must not share its work folder
    # (and so its device lock), so its sshd runs in a mount namespace with a private /tmp.
    "board2": {"index": 4, "port": 22, "kind": "ssh", "alias": "lab-board2"},
    "phone": {"index": 3, "port": 5555, "kind": "adb"},
}

SSH_BOARDS = [name for name, device in DEVICES.items() if device["kind"] == "ssh"]


def device_address(name: str, host_side: bool = False) -> str:
    return f"10.{_OCTET}.{DEVICES[name]['index']}.{1 if host_side else 2}"


def netns(name: str) -> str:
    return f"ek{LAB_ID}-{name}"


def veth(name: str, side: str) -> str:
    # At most 15 characters, as Linux requires; the index tells board from board2.
    return f"ek{LAB_ID}{name[:2]}{DEVICES[name]['index']}-{side}"


def log(message: str) -> None:
    print(f"lab: {message}", file=sys.stderr, flush=True)


def sh(*argv: str, check: bool = True, capture: bool = False, **kwargs) -> subprocess.CompletedProcess:
    completed = subprocess.run(list(argv), text=True, capture_output=capture, check=False, **kwargs)
    if check and completed.returncode != 0:
        detail = (completed.stderr or "").strip() if capture else ""
        raise SystemExit(f"lab: `{' '.join(shlex.quote(a) for a in argv)}` failed (exit {completed.returncode}) {detail}")
    return completed


# ---------------------------------------------------------------------------------------------- host set-up
def install_host_packages() -> None:
    missing = [package for package in HOST_PACKAGES
               if "install ok installed" not in sh("dpkg-query", "-W", "-f=${Status}", package, check=False,
                                                   capture=True).stdout]
    if not missing:
        return
    log(f"installing {' '.join(missing)} (apt-get)")
    environment = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    policy = Path("/usr/sbin/policy-rc.d")
    made_policy = not policy.exists()
    if made_policy:  # keep the packages' own services (the host's sshd) from starting
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        sh("apt-get", "update", "-q", env=environment)
        sh("apt-get", "install", "-y", "-q", "--no-install-recommends", *missing, env=environment)
    finally:
        if made_policy:
            policy.unlink()


def enable_binfmt() -> None:
    binfmt = Path("/proc/sys/fs/binfmt_misc")
    if not (binfmt / "register").exists():
        sh("mount", "-t", "binfmt_misc", "binfmt_misc", str(binfmt))
    sh("update-binfmts", "--enable", "qemu-aarch64", check=False, capture=True)
    entry = binfmt / "qemu-aarch64"
    if not entry.exists() or not entry.read_text().startswith("enabled"):
        raise SystemExit("lab: qemu-aarch64 is not registered with binfmt_misc (update-binfmts --enable qemu-aarch64)")


def rootfs(name: str, builder: str, *arguments: str) -> Path:
    """A cached root filesystem, built when missing or when its builder changed."""
    path = CACHE / name
    script = HERE / builder
    stamp = hashlib.sha256(script.read_bytes() + " ".join(arguments).encode()).hexdigest()
    stamp_file = path / ".edgekit-lab-stamp"
    if stamp_file.exists() and stamp_file.read_text().strip() == stamp:
        log(f"{name}: cached in {path}")
        return path
    log(f"{name}: building in {path} (minutes; cached afterwards)")
    started = time.monotonic()
    CACHE.mkdir(parents=True, exist_ok=True)
    # The builder is copied first: bash reads a script while running it, so an edit would derail a running build.
    copy = CACHE / f".{builder}"
    shutil.copyfile(script, copy)
    sh("bash", str(copy), str(path), *arguments)
    stamp_file.write_text(stamp + "\n")
    log(f"{name}: built in {time.monotonic() - started:.0f} s")
    return path


def add_to_rootfs(root: Path, script_name: str, marker: str, *arguments: str) -> None:
    """Run an add-on script on a cached root filesystem once (again when the script or its arguments change)."""
    script = HERE / script_name
    stamp = hashlib.sha256(script.read_bytes() + "\0".join(arguments).encode()).hexdigest()
    stamp_file = root / marker
    if stamp_file.exists() and stamp_file.read_text().strip() == stamp:
        return
    log(f"{root.name}: {script_name}")
    copy = CACHE / f".{script_name}"
    shutil.copyfile(script, copy)
    sh("bash", str(copy), str(root), *arguments)
    stamp_file.write_text(stamp + "\n")


# ---------------------------------------------------------------------------------------------- network
def make_namespace(name: str) -> None:
    space, host_if, device_if = netns(name), veth(name, "h"), veth(name, "d")
    if sh("ip", "netns", "exec", space, "true", check=False, capture=True).returncode == 0:
        return
    sh("ip", "netns", "add", space)
    sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", device_if)
    sh("ip", "link", "set", device_if, "netns", space)
    sh("ip", "addr", "add", f"{device_address(name, host_side=True)}/24", "dev", host_if)
    sh("ip", "link", "set", host_if, "up")
    sh("ip", "netns", "exec", space, "ip", "addr", "add", f"{device_address(name)}/24", "dev", device_if)
    sh("ip", "netns", "exec", space, "ip", "link", "set", device_if, "up")
    sh("ip", "netns", "exec", space, "ip", "link", "set", "lo", "up")


def namespace_pids(name: str) -> list[int]:
    completed = sh("ip", "netns", "pids", netns(name), check=False, capture=True)
    return [int(pid) for pid in completed.stdout.split()] if completed.returncode == 0 else []


def stop_device(name: str) -> None:
    """Kill every process in the device's namespace: what a crash or a pulled cable looks like to a client."""
    for pid in namespace_pids(name):
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    while namespace_pids(name) and time.monotonic() < deadline:
        time.sleep(0.1)


def wait_for_port(name: str, timeout: float = 60.0) -> None:
    address, port = device_address(name), DEVICES[name]["port"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not namespace_exists(name):
            raise SystemExit(f"lab: the namespace of {name} is gone")
        try:
            with socket.create_connection((address, port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"lab: {name} did not start listening on {address}:{port} within {timeout:.0f} s "
                     f"(see {STATE / name})")


def namespace_exists(name: str) -> bool:
    return Path(f"/run/netns/{netns(name)}").exists() and Path(f"/sys/class/net/{veth(name, 'h')}").exists()


def port_open(name: str) -> bool:
    # Only through our own veth: without it the address would be routed off this machine.
    if not namespace_exists(name):
        return False
    try:
        with socket.create_connection((device_address(name), DEVICES[name]["port"]), timeout=1):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------- keys and config
def keygen(path: Path, comment: str) -> None:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path))


def sshd_config(listen: str, host_key: str, authorized_keys: str, pid_file: str, sftp: str) -> str:
    return "\n".join([
        f'ListenAddress {listen}', "Port 22", f'HostKey "{host_key}"', f'PidFile "{pid_file}"',
        f'AuthorizedKeysFile "{authorized_keys}"', "PermitRootLogin prohibit-password", "PubkeyAuthentication yes",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no",
        # The lab's files live in a checkout whose folders may be group-writable.
        "StrictModes no",
        # OpenSSH 9's scp speaks sftp; edgekit itself copies with `cat` over ssh.
        f"Subsystem sftp {sftp}", "AcceptEnv LANG LC_*", "",
    ])


def board_namespace_setup() -> str:
    """Shell commands, run in an x86 board's private mount namespace before its sshd starts.

    The x86 boards share this machine's root home, and bash sources ~/.bashrc for every ssh command. Root's on
    the project's machines runs `pyenv rehash`, which printed a lock warning on stderr when another session held
    the lock (and waited 60 s on a lock a killed session left behind): commands' stderr was not their own, and
    CI failed on it. A real board's root has its own home; here /dev/null is bound over ~/.bashrc, in the
    board's namespace only.
    """
    bashrc = shlex.quote(str(Path.home() / ".bashrc"))
    return f"if [ -f {bashrc} ]; then mount --bind /dev/null {bashrc}; fi"


def write_client_files() -> None:
    keys = STATE / "keys"
    known = [f"{device_address(name)} {(STATE / name / 'host_key.pub').read_text().split(' ')[0]} "
             f"{(STATE / name / 'host_key.pub').read_text().split(' ')[1]}" for name in SSH_BOARDS]
    (STATE / "known_hosts").write_text("\n".join(known) + "\n")
    (STATE / "empty_known_hosts").write_text("")
    # The board's address with another key than its own: what ssh sees after a board is reinstalled (or when
    # someone sits in between), "REMOTE HOST IDENTIFICATION HAS CHANGED".
    impostor = (STATE / "keys" / "impostor_host_key.pub").read_text().split(" ")
    (STATE / "changed_known_hosts").write_text(f"{device_address('board')} {impostor[0]} {impostor[1]}\n")

    def host(alias: str, address: str, key: Path, known_hosts: Path, extra: tuple[str, ...] = ()) -> str:
        lines = [f"Host {alias}", f"  HostName {address}", "  User root", f'  IdentityFile "{key}"',
                 "  IdentitiesOnly yes", "  IdentityAgent none", f'  UserKnownHostsFile "{known_hosts}"',
                 "  StrictHostKeyChecking yes", "  PreferredAuthentications publickey", *extra]
        return "\n".join(lines)

    blocks = [
        host("lab-board", device_address("board"), keys / "id_ed25519", STATE / "known_hosts"),
        host("lab-pi", device_address("pi"), keys / "id_ed25519", STATE / "known_hosts"),
        host("lab-board2", device_address("board2"), keys / "id_ed25519", STATE / "known_hosts"),
        # faults: a key the board does not accept, a board whose host key we have never seen, nobody at all
        host("lab-board-wrong-key", device_address("board"), keys / "wrong_ed25519", STATE / "known_hosts"),
        host("lab-board-unknown-host-key", device_address("board"), keys / "id_ed25519", STATE / "empty_known_hosts"),
        host("lab-board-changed-host-key", device_address("board"), keys / "id_ed25519", STATE / "changed_known_hosts"),
        host("lab-nobody", f"10.{_OCTET}.1.99", keys / "id_ed25519", STATE / "known_hosts"),
    ]
    (STATE / "ssh_config").write_text("\n\n".join(blocks) + "\n")


# ---------------------------------------------------------------------------------------------- devices
def start_board() -> None:
    folder = STATE / "board"
    config = folder / "sshd_config"
    config.write_text(sshd_config(device_address("board"), str(folder / "host_key"),
                                  str(STATE / "keys" / "authorized_keys"), str(folder / "sshd.pid"), "internal-sftp"))
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege-separation folder
    inner = (f"{board_namespace_setup()} && "
             f"exec /usr/sbin/sshd -f {shlex.quote(str(config))} -E {shlex.quote(str(folder / 'sshd.log'))}")
    sh("ip", "netns", "exec", netns("board"), "unshare", "--mount", "--propagation", "private", "--fork",
       "sh", "-c", inner)
    wait_for_port("board")


def start_board2() -> None:
    folder = STATE / "board2"
    config = folder / "sshd_config"
    config.write_text(sshd_config(device_address("board2"), str(folder / "host_key"),
                                  str(STATE / "keys" / "authorized_keys"), str(folder / "sshd.pid"), "internal-sftp"))
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    # A private mount namespace with its own /tmp (a tmpfs that vanishes with the board's last process): the
    # same programs as the host's, but another board's files, as two real boards would have.
    private_tmp = "mount -t tmpfs -o mode=1777 tmpfs /tmp"
    if Path("/tmp") in ROOT.parents:
        # The checkout itself (the lab's state, the .venv board2's python comes from) lives under /tmp, as
        # in a CI clone: carry it over into the private /tmp with a bind mount, or sshd finds no config.
        root, hold = shlex.quote(str(ROOT)), f"/run/edgekit-lab-{LAB_ID}-hold"
        private_tmp = (f"mkdir -p {hold} && mount --bind {root} {hold} && {private_tmp} && mkdir -p {root} && "
                       f"mount --bind {hold} {root} && umount {hold} && rmdir {hold}")
    inner = (f"{private_tmp} && {board_namespace_setup()} && "
             f"exec /usr/sbin/sshd -f {shlex.quote(str(config))} -E {shlex.quote(str(folder / 'sshd.log'))}")
    sh("ip", "netns", "exec", netns("board2"), "unshare", "--mount", "--propagation", "private", "--fork",
       "sh", "-c", inner)
    wait_for_port("board2")


def start_pi(root: Path) -> None:
    folder = STATE / "pi"
    suffix = f"edgekit-{LAB_ID}"
    shutil.copyfile(folder / "host_key", root / f"etc/ssh/ssh_host_ed25519_key_{suffix}")
    os.chmod(root / f"etc/ssh/ssh_host_ed25519_key_{suffix}", 0o600)
    (root / "root/.ssh").mkdir(mode=0o700, exist_ok=True)
    shutil.copyfile(STATE / "keys" / "authorized_keys", root / f"root/.ssh/authorized_keys_{suffix}")
    (root / f"etc/ssh/sshd_config_{suffix}").write_text(sshd_config(
        device_address("pi"), f"/etc/ssh/ssh_host_ed25519_key_{suffix}", f"/root/.ssh/authorized_keys_{suffix}",
        f"/run/sshd-{suffix}.pid", "/usr/lib/openssh/sftp-server"))
    # A private mount namespace holds the chroot's /proc and /dev: they vanish with the last process in it.
    inner = (f"mount -t proc proc {shlex.quote(str(root / 'proc'))} && "
             f"mount --rbind /dev {shlex.quote(str(root / 'dev'))} && "
             f"mkdir -p {shlex.quote(str(root / 'run/sshd'))} && "
             f"exec chroot {shlex.quote(str(root))} /usr/sbin/sshd -f /etc/ssh/sshd_config_{suffix} "
             f"-E /var/log/sshd-{suffix}.log")
    sh("ip", "netns", "exec", netns("pi"), "unshare", "--mount", "--propagation", "private", "--fork",
       "sh", "-c", inner)
    wait_for_port("pi", timeout=120)  # sshd under qemu takes a few seconds to start


def start_phone(root: Path) -> None:
    folder = STATE / "phone"
    inner = (f"mount -t proc proc {shlex.quote(str(root / 'proc'))} && "
             f"mount --rbind /dev {shlex.quote(str(root / 'dev'))} && "
             f"exec chroot {shlex.quote(str(root))} /usr/lib/android-sdk/platform-tools/adbd")
    with open(folder / "adbd.log", "ab") as log_file:
        subprocess.Popen(["ip", "netns", "exec", netns("phone"), "unshare", "--mount", "--propagation", "private",
                          "--fork", "sh", "-c", inner], stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file,
                         start_new_session=True)
    wait_for_port("phone")
    serial = f"{device_address('phone')}:5555"
    deadline = time.monotonic() + 30
    while True:
        said = sh("adb", "connect", serial, check=False, capture=True, timeout=20).stdout
        state = sh("adb", "-s", serial, "get-state", check=False, capture=True, timeout=20).stdout.strip()
        if state == "device":
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"lab: adb cannot reach the phone at {serial}: {said.strip()} / state {state!r}")
        time.sleep(0.5)


def adb_server_running() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5037), timeout=1):
            return True
    except OSError:
        return False


def start(name: str) -> None:
    make_namespace(name)
    if name == "board":
        start_board()
    elif name == "board2":
        start_board2()
    elif name == "pi":
        start_pi(CACHE / "rootfs-arm64")
    else:
        start_phone(CACHE / "rootfs-adbd")


# ---------------------------------------------------------------------------------------------- commands
def up() -> int:
    if os.geteuid() != 0:
        raise SystemExit("lab: needs root (network namespaces, chroots, apt-get)")
    started = time.monotonic()
    timings = {}
    step = time.monotonic()
    install_host_packages()
    enable_binfmt()
    timings["host_packages_s"] = round(time.monotonic() - step, 1)
    step = time.monotonic()
    arm64 = rootfs("rootfs-arm64", "build-arm64-rootfs.sh", LITERT_VERSION)
    add_to_rootfs(arm64, "add-tflite-runtime.sh", ".edgekit-lab-tflite-runtime")
    add_to_rootfs(arm64, "add-onnxruntime.sh", ".edgekit-lab-onnxruntime", ONNXRUNTIME_VERSION)
    rootfs("rootfs-adbd", "build-adbd-rootfs.sh")
    timings["root_filesystems_s"] = round(time.monotonic() - step, 1)
    step = time.monotonic()
    for name in DEVICES:
        (STATE / name).mkdir(parents=True, exist_ok=True)
    keygen(STATE / "keys" / "id_ed25519", "edgekit-lab")
    keygen(STATE / "keys" / "wrong_ed25519", "edgekit-lab-not-authorized")
    keygen(STATE / "keys" / "impostor_host_key", "edgekit-lab-not-the-boards-host-key")
    (STATE / "keys" / "authorized_keys").write_text((STATE / "keys" / "id_ed25519.pub").read_text())
    for name in SSH_BOARDS:
        keygen(STATE / name / "host_key", f"edgekit-lab-{name}")
    write_client_files()
    # A Python with nothing installed: the "no runtime on the device" fault.
    if not (STATE / "bare-python" / "bin" / "python").exists():
        sh(sys.executable, "-m", "venv", "--without-pip", str(STATE / "bare-python"))
    adb_was_running = adb_server_running()
    for name in DEVICES:
        if not port_open(name):
            log(f"starting {name} at {device_address(name)}")
            start(name)
    timings["devices_s"] = round(time.monotonic() - step, 1)
    timings["total_s"] = round(time.monotonic() - started, 1)
    state = {
        "lab_id": LAB_ID,
        "ssh_config": str(STATE / "ssh_config"),
        "board": {"alias": "lab-board", "address": device_address("board"), "netns": netns("board"),
                  "python": str(ROOT / ".venv" / "bin" / "python")},
        "board2": {"alias": "lab-board2", "address": device_address("board2"), "netns": netns("board2"),
                   "python": str(ROOT / ".venv" / "bin" / "python")},
        "pi": {"alias": "lab-pi", "address": device_address("pi"), "netns": netns("pi"), "python": "python3",
               "tflite_runtime_python": "/opt/tflite-runtime/bin/python"},
        "phone": {"serial": f"{device_address('phone')}:5555", "netns": netns("phone"),
                  "rootfs": str(CACHE / "rootfs-adbd")},
        "faults": {"wrong_key": "lab-board-wrong-key", "unknown_host_key": "lab-board-unknown-host-key",
                   "changed_host_key": "lab-board-changed-host-key",
                   "nobody": "lab-nobody", "bare_python": str(STATE / "bare-python" / "bin" / "python")},
        "adb_server_started_by_lab": not adb_was_running or _previous_state().get("adb_server_started_by_lab", False),
        "timings": timings,
    }
    (STATE / "lab.json").write_text(json.dumps(state, indent=2) + "\n")
    log(f"up in {timings['total_s']} s ({json.dumps(timings)}); state in {STATE}")
    return 0


def _previous_state() -> dict:
    try:
        return json.loads((STATE / "lab.json").read_text())
    except (OSError, ValueError):
        return {}


def down() -> int:
    previous = _previous_state()
    serial = f"{device_address('phone')}:5555"
    if shutil.which("adb"):
        sh("adb", "disconnect", serial, check=False, capture=True, timeout=20)
        if previous.get("adb_server_started_by_lab"):
            sh("adb", "kill-server", check=False, capture=True, timeout=20)
    for name in DEVICES:
        stop_device(name)
        sh("ip", "netns", "del", netns(name), check=False, capture=True)
        sh("ip", "link", "del", veth(name, "h"), check=False, capture=True)
    (STATE / "lab.json").unlink(missing_ok=True)
    log("down")
    return 0


def status(quiet: bool = False) -> int:
    everything_up = True
    for name, device in DEVICES.items():
        alive = port_open(name)
        everything_up &= alive
        if not quiet:
            print(f"{name:6} {'up  ' if alive else 'down'} {device['kind']:4} {device_address(name)}:{device['port']}"
                  f"  netns {netns(name)}  processes {len(namespace_pids(name))}")
    if not quiet:
        print(f"state  {STATE if (STATE / 'lab.json').exists() else 'none (run scripts/lab up)'}")
        print(f"cache  {CACHE}: " + ", ".join(p.name for p in sorted(CACHE.glob('rootfs-*')) if not p.name.endswith(
            ".partial")))
    return 0 if everything_up and (STATE / "lab.json").exists() else 1


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "status"
    if command == "up":
        return up()
    if command == "down":
        return down()
    if command == "status":
        return status(quiet="--quiet" in argv[1:])
    if command in ("stop", "start") and len(argv) == 2 and argv[1] in DEVICES:
        if command == "stop":
            stop_device(argv[1])
        else:
            start(argv[1])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
