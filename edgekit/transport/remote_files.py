"""Writing files on a device without touching anybody else's: the POSIX sh scripts that run there, and what
their answers mean.

Every copy lands in a fresh folder made by `mktemp -d` beside its destination (created exclusively, mode 0700,
so nothing another user planted there is ever written through), is checked against the SHA-256 that was sent,
and is then renamed into place: rename(2) replaces a symlink at the destination instead of following it, and a
damaged or cut-off copy never replaces anything.

Sessions and `edgekit deploy` without --dest use a per-user folder, `<target workdir>-<uid>` (/tmp/edgekit-1000),
made with mode 0700 and checked before use: a real folder (not a symlink), owned by this user, writable by
nobody else, in a parent that nobody else can rename it in.

Paths reach the scripts as positional parameters ("$1"), never pasted into the script's text, so quotes, `$()`,
backslashes and newlines in a name are only ever data. The scripts need a POSIX shell and what Debian's
coreutils, busybox and Android's toybox all have: mkdir, mktemp, mv, rm, chmod, ls, id, sha256sum.
"""

from __future__ import annotations

import os
import posixpath
import stat
from dataclasses import dataclass

from edgekit.errors import UnsafeFolder
from edgekit.fsutil import sha256_file

#: the name of the private folder's temporary entries (`mktemp` fills in the Xs)
PARTIAL_TEMPLATE = ".edgekit-partial-XXXXXXXXXX"

# Functions shared by the upload scripts. `finish` is the one place where a copy becomes the destination.
_FUNCTIONS = r"""
file_mode() {
    # $1: the local file's permission bits (octal). Masked by the device's umask, as scp or adb push would:
    # an executable stays executable; mktemp's owner-only mode is never what is left.
    printf '%o' "$(( 0$1 & ~0$(umask) ))"
}
finish() {
    # $1: our temporary folder holding the upload as "file"; $2: the destination; $3: the sha256 that was sent;
    # $4: the local file's permission bits
    upload=$1/file destination=$2 sent=$3 mode=$4
    set -- $(sha256sum < "$upload")
    if [ "${1:-}" != "$sent" ]; then
        echo "the copy arrived damaged or incomplete (sha256 ${1:-unknown} on the device, $sent sent); nothing was replaced" >&2
        return 1
    fi
    chmod "$(file_mode "$mode")" "$upload" || return 1
    # mv -T renames onto the destination itself, never into a folder of that name; without -T (old busybox,
    # toybox), a folder in the way is refused first.
    mv -fT -- "$upload" "$destination" 2>/dev/null && return 0
    if [ -d "$destination" ]; then
        echo "a folder (or a link to one) is in the way" >&2
        return 1
    fi
    mv -f -- "$upload" "$destination"
}
"""

#: ssh: the file's bytes arrive on stdin. $1 folder, $2 destination, $3 sha256, $4 permission bits (octal).
WRITE_FROM_STDIN = _FUNCTIONS + r"""
mkdir -p -- "$1" || exit 1
tmp=$(mktemp -d "$1/""" + PARTIAL_TEMPLATE + r"""") || exit 1
trap 'rm -rf -- "$tmp"' EXIT
trap 'exit 1' HUP INT TERM PIPE
cat > "$tmp/file" || exit 1
finish "$tmp" "$2" "$3" "$4"
"""

#: adb, step 1: a fresh temporary folder beside the destination; prints its path. $1 folder.
MAKE_TEMPORARY_FOLDER = r"""
mkdir -p -- "$1" || exit 1
mktemp -d "$1/""" + PARTIAL_TEMPLATE + r""""
"""

#: adb, step 2 (after `adb push` wrote "$1/file"): check and rename into place. $1 temporary folder,
#: $2 destination, $3 sha256, $4 permission bits (octal).
FINISH_UPLOAD = _FUNCTIONS + r"""
tmp=$1
trap 'rm -rf -- "$tmp"' EXIT
finish "$@"
"""

#: Removes a temporary folder whose upload failed. $1 temporary folder.
REMOVE_TEMPORARY_FOLDER = 'rm -rf -- "$1"'

#: The SHA-256 of what is at $1 (read on stdin, so sha256sum never escapes the name); a symlink is refused.
SHA256 = r"""
if [ -h "$1" ]; then echo "it is a symbolic link, not a file edgekit wrote" >&2; exit 3; fi
if [ -d "$1" ]; then echo "it is a folder" >&2; exit 2; fi
if [ ! -e "$1" ]; then echo "No such file or directory" >&2; exit 2; fi
sha256sum < "$1"
"""

#: Makes `$1-<uid>` (mode 0700) when missing; prints "uid parent-mode parent-owner folder-mode folder-owner".
#: $1 the target's workdir, $2 its parent.
PRIVATE_FOLDER = r"""
uid=$(id -u) || exit 1
folder="$1-$uid"
mkdir -p -- "$2" || exit 1
if [ ! -e "$folder" ] && [ ! -h "$folder" ]; then mkdir -m 700 -- "$folder" 2>/dev/null; fi
parent_listing=$(ls -ldn -- "$2") && folder_listing=$(ls -ldn -- "$folder") || exit 1
set -f
set -- $parent_listing
parent_mode=$1 parent_owner=$3
set -- $folder_listing
echo "$uid $parent_mode $parent_owner $1 $3"
"""


def upload_facts(local: str | os.PathLike) -> tuple[str, str]:
    """The two facts an upload script checks and keeps: the local file's SHA-256 and permission bits (octal)."""
    return sha256_file(local), format(stat.S_IMODE(os.stat(local).st_mode) & 0o777, "o")


def shell_argv(script: str, *arguments: str) -> list[str]:
    """`sh -c SCRIPT sh ARG...`: a script run with its paths as "$1", "$2", ..."""
    return ["sh", "-c", script, "sh", *arguments]


def operand(path: str) -> str:
    """`path` as a safe operand for tools that take no `--` (mktemp): a relative `-x` becomes `./-x`."""
    return f"./{path}" if path.startswith("-") else path


def parent_of(path: str) -> str:
    """The folder holding `path` on the device ("." for a bare name)."""
    return posixpath.dirname(path.rstrip("/")) or "."


def private_folder_name(workdir: str, uid: int | str) -> str:
    """The per-user folder for a target's workdir: `/tmp/edgekit` -> `/tmp/edgekit-1000`."""
    return f"{workdir.rstrip('/') or '/'}-{uid}"


@dataclass(frozen=True)
class FolderFacts:
    """What decides whether a private folder is safe: who we are, and mode and owner of it and of its parent."""

    uid: str
    parent_mode: str  # as `ls -l` shows it: drwxrwxrwt
    parent_owner: str
    folder_mode: str
    folder_owner: str

    @classmethod
    def parse(cls, answer: str, *, address: str, folder: str) -> "FolderFacts":
        """The PRIVATE_FOLDER script's answer.

        Raises:
            UnsafeFolder: the answer is not five fields (the device's `ls` or `id` is not a POSIX one).
        """
        fields = answer.split()
        if len(fields) != 5:
            raise UnsafeFolder(f"{address}: cannot check the owner and mode of {folder}: the device answered "
                               f"{answer.strip()[:200]!r}")
        return cls(*fields)

    @classmethod
    def local(cls, parent: str, folder: str) -> "FolderFacts":
        """The same facts for a folder on this machine (lstat: a symlink is seen as one)."""
        parent_stat, folder_stat = os.lstat(parent), os.lstat(folder)
        return cls(str(os.getuid()), stat.filemode(parent_stat.st_mode), str(parent_stat.st_uid),
                   stat.filemode(folder_stat.st_mode), str(folder_stat.st_uid))


def check_private_folder(facts: FolderFacts, *, address: str, folder: str) -> None:
    """Refuse a per-user folder that someone else could change under us.

    Raises:
        UnsafeFolder: the folder is a symlink or not a folder, belongs to another user, is writable by others,
            or sits in a parent where others could rename it (writable by everybody without the sticky bit, or
            owned by another user than root or you).
    """
    where = f"{address}: {folder}"
    remedy = "; remove it (or set another `workdir:` in a copy of the target file) and try again"
    kind = facts.folder_mode[:1]
    if kind == "l":
        raise UnsafeFolder(f"{where} is a symbolic link, not a folder: edgekit never writes through a link "
                           f"someone left in its place{remedy}")
    if kind != "d":
        raise UnsafeFolder(f"{where} is not a folder (ls shows {facts.folder_mode}){remedy}")
    if facts.folder_owner != facts.uid:
        raise UnsafeFolder(f"{where} belongs to user {facts.folder_owner}, not to you (user {facts.uid}): someone "
                           f"made it before you, and could read or replace what edgekit puts there{remedy}")
    if _writable_by_others(facts.folder_mode):
        raise UnsafeFolder(f"{where} is writable by other users (mode {facts.folder_mode[:10]}): make it private "
                           f"with `chmod 700 {folder}`, or remove it, and try again")
    parent = parent_of(folder)
    if facts.parent_owner not in (facts.uid, "0"):
        raise UnsafeFolder(f"{address}: {parent}, the folder holding {folder}, belongs to user {facts.parent_owner}, "
                           f"who could swap {folder} for their own: set another `workdir:` in a copy of the target "
                           f"file")
    # The parent's group may write (Android's /data/local/tmp is drwxrwx--x shell shell): the group is the
    # administrator's choice of whom to trust. Everybody may write only where the sticky bit stops renames.
    if facts.parent_mode[8:9] == "w" and facts.parent_mode[9:10] not in ("t", "T"):
        raise UnsafeFolder(f"{address}: {parent}, the folder holding {folder}, is writable by everybody without "
                           f"the sticky bit (mode {facts.parent_mode[:10]}), so they could swap {folder} for their "
                           f"own: set another `workdir:` in a copy of the target file")


def _writable_by_others(mode: str) -> bool:
    # drwxrwxrwx: index 5 is the group's w, index 8 the others'.
    return mode[5:6] == "w" or mode[8:9] == "w"
