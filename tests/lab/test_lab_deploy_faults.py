"""Deploy under attack and fault through the real transports (issue 13): a symlink planted on the board at the
destination or at the old partial name, names with a backslash, a newline or bytes that are not UTF-8, a file
called `-q` for adb push, and a per-user folder someone else got to first.

The x86_64 board and the aarch64 (qemu) board are reached with the real OpenSSH client; the phone with the
real adb client and adbd. Symlinks are planted through the device's own shell, as another user there would.
"""

import json
import os
from pathlib import Path

import pytest

from edgekit import fsutil
from edgekit.adapters import ConnectionOptions, open_adapter
from edgekit.config.target import load_target
from tests.lab.conftest import MODELS, edgekit

MODEL = MODELS / "mlp-int8.tflite"
SECRET = "root's file: must never be overwritten"
# (board in lab.json, target): the x86_64 sshd, and Debian arm64 under qemu (coreutils, no busybox)
BOARDS = [("board", "lab-x86"), ("pi", "rpi4")]


def board_adapter(lab, board, target):
    return open_adapter(load_target(target), ConnectionOptions(address=lab[board]["alias"],
                                                               ssh_config=lab.ssh_config))


def sh(adapter, script, *arguments):
    """Run a script on the device with its arguments as "$1"...; returns stdout, failing on a non-zero exit."""
    code, stdout, stderr = adapter.run(["sh", "-c", script, "sh", *arguments])
    assert code == 0, stderr
    return stdout


@pytest.fixture(params=BOARDS, ids=[board for board, _ in BOARDS])
def board(request, lab):
    name, target = request.param
    with board_adapter(lab, name, target) as adapter:
        scratch = sh(adapter, 'mktemp -d /tmp/edgekit-lab-attack-XXXXXX').strip()
        yield name, target, adapter, scratch
        sh(adapter, 'rm -rf -- "$1"', scratch)


def deploy(lab, board_name, target, *arguments):
    return edgekit("deploy", *arguments, "--target", target, "--device", lab[board_name]["alias"],
                   "--ssh-config", lab.ssh_config)


def test_ssh_deploy_replaces_planted_symlinks_and_leaves_their_target_alone(lab, board):
    name, target, adapter, scratch = board
    dest = f"{scratch}/models"
    sh(adapter, 'mkdir -p "$1/models" && printf %s "$2" > "$1/shadow" && ln -s "$1/shadow" "$1/models/$3" && '
                'ln -s "$1/shadow" "$1/models/$3.edgekit-partial"', scratch, SECRET, MODEL.name)
    result = deploy(lab, name, target, MODEL, "--dest", dest)
    assert result.exit_code == 0, result.output
    assert "verified on the device" in result.output
    assert sh(adapter, 'cat "$1/shadow"', scratch) == SECRET
    kinds = sh(adapter, 'for f in "$1"/*; do if [ -h "$f" ]; then echo "link ${f##*/}"; '
                        'elif [ -f "$f" ]; then echo "file ${f##*/}"; fi; done', dest)
    assert sorted(kinds.splitlines()) == [f"file {MODEL.name}", f"link {MODEL.name}.edgekit-partial"]
    assert adapter.sha256(f"{dest}/{MODEL.name}") == fsutil.sha256_file(MODEL)


def test_ssh_verification_refuses_a_symlink_at_the_deployed_path(lab, board):
    _, _, adapter, scratch = board
    sh(adapter, 'printf x > "$1/real" && ln -s "$1/real" "$1/link"', scratch)
    with pytest.raises(Exception, match=r"cannot compute the sha256 of .*/link: it is a symbolic link"):
        adapter.sha256(f"{scratch}/link")


@pytest.mark.parametrize("name", ["back\\slash.tflite", "new\nline.tflite", "both \\n\n'$(id)'.tflite"],
                         ids=["backslash", "newline", "both"])
def test_ssh_deploy_of_names_sha256sum_escapes(lab, board, tmp_path, name):
    board_name, target, adapter, scratch = board
    local = tmp_path / name
    local.write_bytes(MODEL.read_bytes())
    result = deploy(lab, board_name, target, local, "--dest", scratch)
    assert result.exit_code == 0, result.output
    assert "verified on the device" in result.output
    listed = sh(adapter, 'for f in "$1"/*; do printf "%s\\0" "${f##*/}"; done', scratch)
    assert listed.split("\0")[:-1] == [name]


def test_ssh_deploy_of_a_non_utf8_name(lab, board, tmp_path):
    board_name, target, adapter, scratch = board
    local = tmp_path / os.fsdecode(b"mod\xe8le.tflite")
    local.write_bytes(MODEL.read_bytes())
    result = deploy(lab, board_name, target, local, "--dest", scratch)
    assert result.exit_code == 0, result.output
    assert "mod\\xe8le.tflite" in result.output and "verified on the device" in result.output
    assert adapter.sha256(f"{scratch}/{local.name}") == fsutil.sha256_file(MODEL)


@pytest.mark.parametrize("board_name, target", BOARDS)
def test_ssh_profile_run_with_a_non_utf8_file_name(lab, tmp_path, board_name, target):
    odd = tmp_path / os.fsdecode(b"caf\xe9 \\ int8.tflite")
    odd.write_bytes(MODEL.read_bytes())
    output = tmp_path / "profiles.json"
    result = edgekit("profile", odd, MODELS / "mlp-float32.tflite", "--target", target, "--device",
                     lab[board_name]["alias"], "--ssh-config", lab.ssh_config, "--runs", 3, "--warmup", 1,
                     "--min-seconds", 0, "--output", output)
    assert result.exit_code == 0, result.output
    profiles = json.loads(output.read_text())["profiles"]
    assert [profile["model"]["path"] for profile in profiles] == [str(odd), str(MODELS / "mlp-float32.tflite")]
    assert "caf\\xe9 \\ int8.tflite" in result.output


def test_ssh_default_destination_is_the_private_per_user_folder(lab, board):
    board_name, target, adapter, _ = board
    result = deploy(lab, board_name, target, MODEL)
    assert result.exit_code == 0, result.output
    workdir = load_target(target).workdir
    uid = sh(adapter, "id -u").strip()
    assert f":{workdir}-{uid}/{MODEL.name} (" in result.output
    listing = sh(adapter, 'ls -ldn -- "$1"', f"{workdir}-{uid}").split()
    assert listing[0].startswith("drwx------") and listing[2] == uid


@pytest.fixture
def private_target(lab, tmp_path):
    """lab-x86 with a workdir of this test's own, so its per-user folder can be squatted without disturbing others."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    name = f"lab-x86-{tmp_path.name}".replace("_", "-")
    text = (lab.targets / "lab-x86.yaml").read_text().replace("name: lab-x86", f"name: {name}")
    lines = [line for line in text.splitlines() if not line.startswith("workdir:")]
    (lab.targets / f"{name}.yaml").write_text("\n".join(lines + [f"workdir: {shared / 'edgekit'}"]) + "\n")
    yield name, shared / f"edgekit-{os.getuid()}"
    (lab.targets / f"{name}.yaml").unlink()


def test_ssh_deploy_into_a_squatted_private_folder_is_refused(lab, private_target, tmp_path):
    name, folder = private_target
    attacker = tmp_path / "attacker"
    attacker.mkdir()
    folder.symlink_to(attacker)
    result = deploy(lab, "board", name, MODEL)
    assert result.exit_code == 3, result.output
    assert f"{lab['board']['alias']}: {folder} is a symbolic link, not a folder" in result.output
    assert list(attacker.iterdir()) == []


def test_ssh_deploy_into_a_private_folder_of_another_user_is_refused(lab, private_target):
    name, folder = private_target
    folder.mkdir(mode=0o700)
    os.chown(folder, 65534, 65534)
    result = deploy(lab, "board", name, MODEL)
    assert result.exit_code == 3, result.output
    assert f"{lab['board']['alias']}: {folder} belongs to user 65534, not to you (user 0)" in result.output
    assert list(folder.iterdir()) == []


def test_ssh_device_address_with_shell_syntax_is_refused_before_ssh_runs(lab):
    logins = lab.sshd_logins()
    result = edgekit("deploy", MODEL, "--target", "lab-x86", "--device", "lab-board;touch${IFS}/tmp/pwned",
                     "--ssh-config", lab.ssh_config)
    assert result.exit_code == 2, result.output
    assert "the host 'lab-board;touch${IFS}/tmp/pwned' may not contain ';'" in result.output
    assert lab.sshd_logins() == logins


# ----------------------------------------------------------------------------------------------- adb
def phone(lab):
    return open_adapter(load_target("lab-phone"), ConnectionOptions(address=lab["phone"]["serial"]))


def test_adb_deploy_of_a_local_file_called_dash_q(lab, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("-q").write_bytes(MODEL.read_bytes())
    dest = f"/data/local/tmp/{tmp_path.name}"
    result = edgekit("deploy", "./-q", "--target", "lab-phone", "--device", lab["phone"]["serial"], "--dest", dest)
    assert result.exit_code == 0, result.output
    on_phone = Path(lab["phone"]["rootfs"]) / dest.lstrip("/") / "-q"
    assert fsutil.sha256_file(on_phone) == fsutil.sha256_file(MODEL)
    with phone(lab) as adapter:
        adapter.run(["rm", "-rf", dest])


def test_adb_deploy_replaces_a_planted_symlink(lab, tmp_path):
    dest = f"/data/local/tmp/{tmp_path.name}"
    with phone(lab) as adapter:
        sh(adapter, 'mkdir -p "$1" && printf %s "$2" > "$1.shadow" && ln -s "$1.shadow" "$1/$3" && '
                    'ln -s "$1.shadow" "$1/$3.edgekit-partial"', dest, SECRET, MODEL.name)
        try:
            result = edgekit("deploy", MODEL, "--target", "lab-phone", "--device", lab["phone"]["serial"],
                             "--dest", dest)
            assert result.exit_code == 0, result.output
            assert sh(adapter, 'cat "$1.shadow"', dest) == SECRET
            assert sh(adapter, '[ -h "$1" ] && echo link || echo file', f"{dest}/{MODEL.name}").strip() == "file"
            assert adapter.sha256(f"{dest}/{MODEL.name}") == fsutil.sha256_file(MODEL)
        finally:
            sh(adapter, 'rm -rf -- "$1" "$1.shadow"', dest)


def test_adb_names_with_backslash_and_newline(lab, tmp_path):
    name = "a\\b\nc $(id).tflite"
    local = tmp_path / name
    local.write_bytes(MODEL.read_bytes())
    dest = f"/data/local/tmp/{tmp_path.name}"
    result = edgekit("deploy", local, "--target", "lab-phone", "--device", lab["phone"]["serial"], "--dest", dest)
    try:
        assert result.exit_code == 0, result.output
        on_phone = Path(lab["phone"]["rootfs"]) / dest.lstrip("/")
        assert [entry.name for entry in on_phone.iterdir()] == [name]
    finally:
        with phone(lab) as adapter:
            adapter.run(["rm", "-rf", dest])


def test_adb_default_destination_is_the_private_per_user_folder(lab):
    result = edgekit("deploy", MODEL, "--target", "lab-phone", "--device", lab["phone"]["serial"])
    assert result.exit_code == 0, result.output
    with phone(lab) as adapter:
        uid = sh(adapter, "id -u").strip()
        folder = f"/data/local/tmp/edgekit-{uid}"
        assert f":{folder}/{MODEL.name} (" in result.output
        assert sh(adapter, 'ls -ldn -- "$1"', folder).split()[0].startswith("drwx------")
        adapter.run(["rm", "-f", f"{folder}/{MODEL.name}"])
