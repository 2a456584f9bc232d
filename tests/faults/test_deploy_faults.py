"""Deploy and transport under attack and fault (issue 13), without the device lab: the host adapter; the real
SshAdapter and AdbAdapter with their POSIX sh scripts run by this machine's /bin/sh and coreutils, reached through
STAND-IN ssh and adb clients (named as such: they run the remote command line here); the --device address check.

The same attacks through the real transports (sshd, qemu board, adbd) are in tests/lab/test_lab_deploy_faults.py.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgekit import fsutil
from edgekit.adapters import ConnectionOptions, open_adapter
from edgekit.adapters.adb import AdbAdapter
from edgekit.adapters.deploy import deploy_artifacts
from edgekit.adapters.ssh import SshAdapter
from edgekit.transport import remote_files
from edgekit.transport.base import portable_name
from edgekit.transport.ssh_address import SshDestination
from edgekit.config.target import load_target
from edgekit.errors import ConfigError, DeviceError, UnsafeFolder
from tests.lab.conftest import edgekit

MODELS = Path(__file__).resolve().parents[1] / "data" / "models"
MODEL = MODELS / "mlp-int8.tflite"
SECRET = b"root's file: must never be overwritten\n"
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="making a folder owned by another user needs root")


# ----------------------------------------------------------------------------------------------- fixtures
@pytest.fixture
def targets(tmp_path, monkeypatch):
    """A host-like target whose workdir is under tmp_path, so the per-user folder is tmp_path/edgekit-<uid>."""
    folder = tmp_path / "targets"
    folder.mkdir()
    (folder / "box.yaml").write_text(f"name: box\ndescription: this machine\nadapter: local\narch: native\n"
                                     f"workdir: {tmp_path / 'shared' / 'edgekit'}\n")
    (folder / "phonebox.yaml").write_text(f"name: phonebox\ndescription: this machine through the adb stand-in\n"
                                          f"adapter: adb\narch: native\nworkdir: {tmp_path / 'shared' / 'edgekit'}\n")
    monkeypatch.setenv("EDGEKIT_TARGETS_PATH", str(folder))
    return tmp_path / "shared"


@pytest.fixture
def victim(tmp_path):
    """A file of "root's" that an attacker would like overwritten."""
    path = tmp_path / "etc" / "shadow"
    path.parent.mkdir()
    path.write_bytes(SECRET)
    return path


def private_folder(shared: Path) -> Path:
    return shared / f"edgekit-{os.getuid()}"


# A STAND-IN for the OpenSSH client: it reads ssh's options as ssh does and runs the remote command line with
# this machine's sh, as sshd would run it with the user's shell. So the real SshAdapter (its quoting, its scripts)
# runs in CI without the lab; the real ssh and sshd are in tests/lab/test_lab_deploy_faults.py.
SSH_STANDIN = r'''#!/bin/sh
control=
while [ $# -gt 0 ]; do
    case $1 in
        -O) control=$2; shift 2 ;;
        -F|-o|-p|-i|-l) shift 2 ;;
        -*) shift ;;
        *) break ;;
    esac
done
shift  # the destination
if [ "$1" = "--" ]; then shift; fi
if [ -n "$control" ] || [ $# -eq 0 ]; then exit 0; fi
exec sh -c "$*"
'''


def install_standin(folder: Path, name: str, text: str) -> None:
    folder.mkdir(exist_ok=True)
    program = folder / name
    program.write_text(text.replace("/usr/bin/env python3", sys.executable, 1))
    program.chmod(0o755)


@pytest.fixture
def standin_bin(tmp_path, monkeypatch):
    """A folder of stand-in clients (ssh, adb) put first on PATH."""
    folder = tmp_path / "standin-bin"
    install_standin(folder, "ssh", SSH_STANDIN)
    install_standin(folder, "adb", ADB_STANDIN)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return folder


@pytest.fixture
def device(targets, standin_bin):
    """device("host"): the local adapter; device("ssh"): the real SshAdapter through the ssh stand-in."""

    def make(kind: str):
        if kind == "host":
            return open_adapter(load_target("box"), ConnectionOptions())
        target = load_target("box").model_copy(update={"adapter": "ssh"})
        return SshAdapter(target, ConnectionOptions(address="standin@localhost"))

    return make


# ----------------------------------------------------------------------------------------------- planted symlinks
def test_host_deploy_replaces_a_planted_symlink_instead_of_writing_through_it(targets, victim, tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / MODEL.name).symlink_to(victim)
    result = edgekit("deploy", MODEL, "--target", "box", "--dest", dest)
    assert result.exit_code == 0, result.output
    assert victim.read_bytes() == SECRET
    assert not (dest / MODEL.name).is_symlink()
    assert (dest / MODEL.name).read_bytes() == MODEL.read_bytes()
    assert "verified on the device" in result.output


@pytest.mark.parametrize("kind", ["host", "ssh"])
def test_put_leaves_a_link_at_the_old_partial_name_and_its_target_alone(kind, targets, victim, tmp_path, device):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / f"{MODEL.name}.edgekit-partial").symlink_to(victim)
    (dest / MODEL.name).symlink_to(victim)
    adapter = device(kind)
    with adapter:
        digest = adapter.deploy(MODEL, str(dest / MODEL.name))
    assert digest == fsutil.sha256_file(MODEL)
    assert victim.read_bytes() == SECRET
    assert (dest / f"{MODEL.name}.edgekit-partial").is_symlink()  # someone else's entry: not ours to remove
    assert stat.S_ISREG(os.lstat(dest / MODEL.name).st_mode)
    assert sorted(entry.name for entry in dest.iterdir()) == [MODEL.name, f"{MODEL.name}.edgekit-partial"]


@pytest.mark.parametrize("kind", ["host", "ssh"])
def test_a_symlink_to_a_folder_at_the_destination_is_replaced_not_entered(kind, targets, tmp_path, device):
    dest, elsewhere = tmp_path / "dest", tmp_path / "etc-cron.d"
    dest.mkdir()
    elsewhere.mkdir()
    (dest / MODEL.name).symlink_to(elsewhere)
    adapter = device(kind)
    with adapter:
        adapter.deploy(MODEL, str(dest / MODEL.name))
    assert list(elsewhere.iterdir()) == []  # `mv tmp link-to-folder` would have moved the copy in there
    assert stat.S_ISREG(os.lstat(dest / MODEL.name).st_mode)


@pytest.mark.parametrize("kind", ["host", "ssh"])
def test_a_folder_at_the_destination_is_refused(kind, targets, tmp_path, device):
    dest = tmp_path / "dest"
    (dest / MODEL.name).mkdir(parents=True)
    adapter = device(kind)
    with adapter, pytest.raises(DeviceError, match=f"cannot write {dest / MODEL.name}: "):
        adapter.put(MODEL, str(dest / MODEL.name))
    assert [entry.name for entry in dest.iterdir()] == [MODEL.name]  # no temporary left behind
    assert list((dest / MODEL.name).iterdir()) == []


@pytest.mark.parametrize("kind", ["host", "ssh"])
def test_the_sha256_check_refuses_a_symlink_at_the_deployed_path(kind, targets, tmp_path, device):
    link = tmp_path / "model.tflite"
    link.symlink_to(MODEL)
    adapter = device(kind)
    with adapter, pytest.raises(DeviceError, match=r"cannot compute the sha256 of .*model.tflite: it is a symbolic "
                                                   r"link, not a file edgekit wrote"):
        adapter.sha256(str(link))


def test_a_damaged_upload_never_replaces_the_destination(tmp_path):
    dest = tmp_path / "model.tflite"
    dest.write_bytes(b"the good copy")
    argv = remote_files.shell_argv(remote_files.WRITE_FROM_STDIN, str(tmp_path), str(dest), "0" * 64, "644")
    completed = subprocess.run(argv, input=MODEL.read_bytes()[:100], capture_output=True, check=False)
    assert completed.returncode == 1
    assert b"the copy arrived damaged or incomplete" in completed.stderr and b"nothing was replaced" in completed.stderr
    assert dest.read_bytes() == b"the good copy"
    assert [entry.name for entry in tmp_path.iterdir()] == ["model.tflite"]  # no temporary left


@pytest.mark.parametrize("kind", ["host", "ssh"])
def test_the_copy_gets_the_umask_mode_not_mktemps_0600(kind, device, tmp_path):
    local = tmp_path / "m.tflite"
    local.write_bytes(MODEL.read_bytes())
    local.chmod(0o644)
    with device(kind) as adapter:
        remote = adapter.put(local, str(tmp_path / "out" / "m.tflite"))
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(remote).st_mode) == 0o644 & ~umask


@pytest.mark.parametrize("kind", ["ssh", "adb"])
def test_an_executable_stays_executable_as_with_scp_and_adb_push(kind, device, standin_bin, tmp_path):
    tool = tmp_path / "benchmark_model"
    tool.write_text("#!/bin/sh\necho ran\n")
    tool.chmod(0o755)
    adapter = device(kind) if kind == "ssh" else AdbAdapter(
        load_target("box").model_copy(update={"adapter": "adb"}), ConnectionOptions(address="standin-serial"))
    with adapter:
        remote = adapter.put(tool, str(tmp_path / "phone" / "benchmark_model"))
        ran = adapter.run([remote])
        assert (ran.exit_code, ran.stdout, ran.stderr) == (0, "ran\n", "")


# ----------------------------------------------------------------------------------------------- the default folder
def test_default_destination_is_a_private_per_user_folder(targets):
    result = edgekit("deploy", MODEL, "--target", "box")
    assert result.exit_code == 0, result.output
    folder = private_folder(targets)
    assert (folder / MODEL.name).read_bytes() == MODEL.read_bytes()
    info = os.lstat(folder)
    assert stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) == 0o700
    assert f"{folder / MODEL.name}" in result.output


@pytest.mark.parametrize("kind", ["host", "ssh"])
def test_a_symlink_squatting_the_private_folder_is_refused(kind, targets, tmp_path, device):
    elsewhere = tmp_path / "attacker"
    elsewhere.mkdir()
    targets.mkdir()
    private_folder(targets).symlink_to(elsewhere)
    adapter = device(kind)
    with adapter, pytest.raises(UnsafeFolder, match=f"{private_folder(targets)} is a symbolic link, not a folder"):
        adapter.private_folder()
    assert list(elsewhere.iterdir()) == []


def test_deploy_into_a_squatted_folder_is_exit_3_and_writes_nothing(targets, tmp_path):
    elsewhere = tmp_path / "attacker"
    elsewhere.mkdir()
    targets.mkdir()
    private_folder(targets).symlink_to(elsewhere)
    result = edgekit("deploy", MODEL, "--target", "box")
    assert result.exit_code == 3, result.output
    assert "is a symbolic link, not a folder: edgekit never writes through a link" in result.output
    assert "Traceback" not in result.output and list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("kind", ["host", "ssh"])
def test_a_private_folder_writable_by_others_is_refused(kind, targets, device):
    folder = private_folder(targets)
    folder.mkdir(parents=True)
    folder.chmod(0o777)
    adapter = device(kind)
    with adapter, pytest.raises(UnsafeFolder, match=r"is writable by other users \(mode drwxrwxrwx\): make it "
                                                    r"private with `chmod 700"):
        adapter.private_folder()


@pytest.mark.parametrize("kind", ["host", "ssh"])
def test_a_parent_anybody_can_rename_in_is_refused(kind, targets, device):
    targets.mkdir()
    targets.chmod(0o777)  # no sticky bit: anybody could rename our folder away and put theirs in its place
    adapter = device(kind)
    with adapter, pytest.raises(UnsafeFolder, match=r"is writable by everybody without the sticky bit \(mode "
                                                    r"drwxrwxrwx\)"):
        adapter.private_folder()
    targets.chmod(0o1777)  # as /tmp is: fine
    with device(kind) as adapter:
        assert adapter.private_folder() == str(private_folder(targets))


@needs_root
@pytest.mark.parametrize("kind", ["host", "ssh"])
def test_a_private_folder_made_by_another_user_is_refused(kind, targets, device):
    folder = private_folder(targets)
    folder.mkdir(parents=True, mode=0o700)
    os.chown(folder, 65534, 65534)
    adapter = device(kind)
    with adapter, pytest.raises(UnsafeFolder, match=f"{folder} belongs to user 65534, not to you \\(user 0\\): "
                                                    f"someone made it before you"):
        adapter.private_folder()


def test_the_check_reads_ls_output_of_other_systems():
    # toybox and SELinux systems add a `.` or `+` after the mode; busybox pads differently: only fields count.
    facts = remote_files.FolderFacts.parse("2000 drwxrwx--x 2000 drwx------. 2000\n", address="phone",
                                           folder="/data/local/tmp/edgekit-2000")
    remote_files.check_private_folder(facts, address="phone", folder="/data/local/tmp/edgekit-2000")
    with pytest.raises(UnsafeFolder, match="cannot check the owner and mode of x: the device answered 'ls: oops'"):
        remote_files.FolderFacts.parse("ls: oops", address="phone", folder="x")


# ----------------------------------------------------------------------------------------------- odd inputs
def test_deploying_a_file_onto_itself_is_one_clean_success(targets, tmp_path):
    model = tmp_path / "build" / MODEL.name
    model.parent.mkdir()
    model.write_bytes(MODEL.read_bytes())
    result = edgekit("deploy", model, "--target", "box", "--dest", model.parent)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "verified on the device" in result.output
    assert model.read_bytes() == MODEL.read_bytes()
    assert [entry.name for entry in model.parent.iterdir()] == [MODEL.name]


def test_a_folder_in_the_way_is_exit_3_with_one_message(targets, tmp_path):
    dest = tmp_path / "dest"
    (dest / MODEL.name).mkdir(parents=True)
    result = edgekit("deploy", MODEL, "--target", "box", "--dest", dest)
    assert result.exit_code == 3
    assert f"localhost: cannot write {dest / MODEL.name}: a folder is in the way" in result.output


# Names a shell or sha256sum could trip on: backslashes (sha256sum escapes them), newlines, quotes, `$()`,
# globs, a leading dash, and bytes that are not UTF-8 (as os.fsdecode gives them: lone surrogates).
AWKWARD_NAMES = st.text(
    alphabet=st.sampled_from(list("ab.-_ \\\n'\"$();|&*?[]~#%") + [os.fsdecode(b"\xff"), os.fsdecode(b"\xe9"), "é"]),
    min_size=1, max_size=24,
).filter(lambda name: name not in (".", "..") and "/" not in name)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=AWKWARD_NAMES)
def test_any_name_arrives_intact_and_verifies(device, tmp_path, name):
    local = tmp_path / "local.bin"
    local.write_bytes(b"edgekit\x00" + os.fsencode(name))
    folder = tmp_path / "device"
    folder.mkdir(exist_ok=True)
    remote = str(folder / name)
    with device("ssh") as adapter:
        assert adapter.deploy(local, remote) == fsutil.sha256_file(local)
    assert Path(remote).read_bytes() == local.read_bytes()
    assert sorted(os.listdir(folder)) == [name]  # no temporary left, nothing run from the name
    os.unlink(remote)


def test_a_backslash_and_newline_name_verifies_through_sha256sum(device, tmp_path):
    # sha256sum prints `\<digest>  a\\b\nc` for such a name: the old parser read `\<digest>` as the digest.
    with device("ssh") as adapter:
        remote = adapter.put(MODEL, str(tmp_path / "a\\b\nc.tflite"))
        assert adapter.sha256(remote) == fsutil.sha256_file(MODEL)


def test_profiled_models_get_a_portable_name_on_the_device():
    assert portable_name(os.fsdecode(b"caf\xe9 model's.tflite")) == "caf__model_s.tflite"
    assert portable_name("mlp-int8_v2.tflite") == "mlp-int8_v2.tflite"


def test_profile_of_a_non_utf8_file_name_on_the_host(tmp_path):
    model = tmp_path / os.fsdecode(b"mod\xe8le \\ int8.tflite")
    model.write_bytes(MODEL.read_bytes())
    output = tmp_path / "profile.json"
    result = edgekit("profile", model, "--target", "host", "--runs", 3, "--warmup", 1, "--min-seconds", 0,
                     "--output", output)
    assert result.exit_code == 0, result.output
    assert output.exists()


# ----------------------------------------------------------------------------------------------- --device
SHELL_AND_SSH_SPECIALS = "$`;|&<>(){}'\"\\%*?!#~ \n\t"


@settings(max_examples=300, deadline=None)
@given(address=st.text(alphabet=st.sampled_from(list("pi@host.-_:[]19/") + list(SHELL_AND_SSH_SPECIALS)),
                       max_size=20))
def test_an_accepted_address_never_holds_a_shell_or_ssh_special(address):
    try:
        destination = SshDestination.parse(address)
    except ConfigError as error:
        assert str(error).startswith(f"--device {address!r}")
        return
    assert not set(destination.login) & set(SHELL_AND_SSH_SPECIALS), destination
    assert not destination.login.startswith("-") and not destination.host.startswith("-")


@pytest.mark.parametrize("address, said", [
    ("pi@$(reboot)", "the host '$(reboot)' may not contain '$'"),
    ("pi@board;reboot", "the host 'board;reboot' may not contain ';'"),
    ("pi@board%h", "the host 'board%h' may not contain '%'"),
    ("`id`@board", "the user name '`id`' may not contain '`'"),
    ("pi@-board", "the host '-board' may not start with '-'"),
    ("pi@[$(id)]:22", "'$(id)' in brackets is not an IPv6 address"),
])
def test_injection_in_an_address_is_refused_by_edgekit_itself(address, said):
    with pytest.raises(ConfigError) as raised:
        SshDestination.parse(address)
    assert str(raised.value).startswith(f"--device {address!r}: {said}")


def test_a_refused_address_is_exit_2_from_the_cli(tmp_path):
    result = edgekit("deploy", MODEL, "--target", "rpi4", "--device", "pi@board;touch${IFS}pwned")
    assert result.exit_code == 2, result.output
    assert "--device 'pi@board;touch${IFS}pwned': the host 'board;touch${IFS}pwned' may not contain ';'" in \
        result.output and "Traceback" not in result.output
    assert not (Path.cwd() / "pwned").exists()


# ----------------------------------------------------------------------------------------------- adb push
# A STAND-IN for the adb client: it reads push/pull arguments as adb's parse_push_pull_args does (an unknown
# option is an error, `--` ends options), runs `shell` commands with this machine's sh, and copies files as
# adbd's sync service would. The real adb and adbd run in the lab (tests/lab/test_lab_deploy_faults.py).
ADB_STANDIN = r'''#!/usr/bin/env python3
import shutil, subprocess, sys
args = sys.argv[1:]
if args[:1] == ["-s"]:
    args = args[2:]
command, rest = args[0], args[1:]
if command == "get-state":
    print("device")
elif command == "shell":
    sys.exit(subprocess.run(["sh", "-c", " ".join(rest)]).returncode)
elif command in ("push", "pull"):
    paths, options_done = [], False
    for arg in rest:
        if options_done or not arg.startswith("-"):
            paths.append(arg)
        elif arg == "--":
            options_done = True
        elif arg not in ("-p", "-a", "--sync"):
            print(f"adb: error: unrecognized option '{arg}'", file=sys.stderr)
            sys.exit(1)
    source, destination = paths
    shutil.copyfile(source, destination)
    print(f"{source}: 1 file {command}ed.")
else:
    sys.exit(f"adb stand-in: {command} is not emulated")
'''


def test_adb_push_of_a_file_called_dash_q_is_not_read_as_an_option(standin_bin, targets, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("-q").write_bytes(MODEL.read_bytes())
    target = load_target("box").model_copy(update={"adapter": "adb"})
    adapter = AdbAdapter(target, ConnectionOptions(address="standin-serial"))
    with adapter:
        remote = adapter.put(Path("-q"), str(tmp_path / "phone" / "-q"))
        assert adapter.sha256(remote) == fsutil.sha256_file(MODEL)
    assert (tmp_path / "phone" / "-q").read_bytes() == MODEL.read_bytes()


def test_adb_deploy_replaces_a_planted_symlink(standin_bin, targets, victim, tmp_path):
    dest = tmp_path / "phone"
    dest.mkdir()
    (dest / MODEL.name).symlink_to(victim)
    target = load_target("box").model_copy(update={"adapter": "adb"})
    deployed = deploy_artifacts([MODEL], target, ConnectionOptions(address="standin-serial"), str(dest))
    assert deployed[0].sha256 == fsutil.sha256_file(MODEL)
    assert victim.read_bytes() == SECRET and not (dest / MODEL.name).is_symlink()


def test_adb_deploy_of_dot_slash_dash_q_from_the_cli(standin_bin, targets, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("-q").write_bytes(MODEL.read_bytes())
    result = edgekit("deploy", "./-q", "--target", "phonebox", "--device", "standin-serial")
    assert result.exit_code == 0, result.output
    assert (private_folder(targets) / "-q").read_bytes() == MODEL.read_bytes()
    assert stat.S_IMODE(os.lstat(private_folder(targets)).st_mode) == 0o700
