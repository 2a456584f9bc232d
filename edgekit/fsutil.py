"""File helpers: every file a build writes goes to a temporary name first and is renamed into place."""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_path(destination: Path | str, *, directory: bool = False,
                previous: list[Path] | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `destination`; rename it into place when the block succeeds.

    A crash or kill inside the block leaves `destination` as it was (a stale temporary may remain;
    it carries the `.tmp-` marker so it can be cleaned up). With `previous` (directories only), the
    directory replaced is kept aside and its path appended there, for the caller to restore or remove.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{destination.name}.tmp-{os.getpid()}-"
    if directory:
        temporary = Path(tempfile.mkdtemp(prefix=prefix, dir=destination.parent))
    else:
        handle, name = tempfile.mkstemp(prefix=prefix, dir=destination.parent)
        os.close(handle)
        temporary = Path(name)
    try:
        yield temporary
        # mkstemp and mkdtemp make owner-only entries; what a build writes is meant to be shared
        # (a report published from CI, artifacts copied by another user), so use the umask's modes.
        os.chmod(temporary, (0o777 if directory else 0o666) & ~_UMASK)
        if directory:
            aside = replace_directory(temporary, destination, keep_previous=previous is not None)
            if aside is not None and previous is not None:
                previous.append(aside)
        else:
            os.replace(temporary, destination)
    except BaseException:
        if temporary.is_dir():
            shutil.rmtree(temporary, ignore_errors=True)
        else:
            temporary.unlink(missing_ok=True)
        raise


def _read_umask() -> int:
    # os.umask can only be read by setting it; done once, at import, before any threads write files.
    current = os.umask(0o022)
    os.umask(current)
    return current


_UMASK = _read_umask()


def replace_directory(source: Path, destination: Path, *, keep_previous: bool = False) -> Path | None:
    """Move directory `source` to `destination`, replacing what was there.

    Directories cannot be swapped atomically with rename(2), so the old one is first renamed
    aside: at every moment `destination` is either the old tree or the new one, never a mix.

    Returns:
        With `keep_previous`, the old tree's path aside (`.<name>.old-<pid>`), else None.
    """
    if destination.exists():
        aside = destination.with_name(f".{destination.name}.old-{os.getpid()}")
        shutil.rmtree(aside, ignore_errors=True)
        os.replace(destination, aside)
        os.replace(source, destination)
        if keep_previous:
            return aside
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.replace(source, destination)
    return None


def write_bytes(path: Path | str, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def write_text(path: Path | str, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically.

    A lone surrogate (a name from a file that was not UTF-8, decoded with surrogateescape) has no UTF-8 form: it
    is written as its escape (`\\udce8`) instead of failing the whole file.
    """
    write_bytes(path, text.encode("utf-8", errors="backslashreplace"))


def write_json(path: Path | str, data: Any) -> None:
    """Write `data` as indented JSON to `path` atomically."""
    write_text(path, json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    # numpy scalars and paths end up in manifests; everything else is a bug worth a TypeError.
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def sha256_file(path: Path | str) -> str:
    """Hex sha256 of a file, or of every file under a directory (names and contents, in sorted order)."""
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_dir():
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(str(child.relative_to(path)).encode())
            digest.update(sha256_file(child).encode())
        return digest.hexdigest()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def tree_bytes(path: Path | str) -> int:
    """Size of a file, or the total size of the files under a directory."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def gzip_bytes(path: Path | str) -> int:
    """Size after gzip -9 (of a file, or of a directory's files concatenated in sorted order).

    This is the number that matters for download size, and it shows the gain of pruning:
    zeros compress, and TFLite stores sparse weights densely.
    """
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    compressor_input = b"".join(p.read_bytes() for p in files)
    return len(gzip.compress(compressor_input, compresslevel=9, mtime=0))


# errno values of a write that failed for lack of space, and of one that was not allowed
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}
_NOT_ALLOWED = {errno.EROFS, errno.EACCES, errno.EPERM}


@contextlib.contextmanager
def output_errors(folder: Path | str, what: str = "output") -> Iterator[None]:
    """Turn a failed write under `folder` into DiskFull or OutputNotWritable, with one message.

    Other errors pass through. An EdgekitError raised because of such a write (a converter that failed for
    lack of space, say) is turned too: the disk, not the converter, is what the user must fix.

    Raises:
        DiskFull: no space left (exit 3).
        OutputNotWritable: a read-only or foreign folder (exit 2).
    """
    from edgekit.errors import DiskFull, EdgekitError, OutputNotWritable

    folder = Path(folder)
    try:
        yield
    except (OSError, EdgekitError) as error:
        cause = _write_failure(error)
        if cause is None:
            raise
        target = getattr(cause, "filename", None) or folder
        if isinstance(cause, OSError) and cause.errno in _NOT_ALLOWED:
            if not (_is_within(Path(target), folder) or _is_within(folder, Path(target))):
                raise  # reading an input that is not ours to read: its own error says so
            raise OutputNotWritable(f"cannot write the {what} into {folder}: {target} is not writable "
                                    f"({os.strerror(cause.errno)}); choose a writable folder") from None
        raise DiskFull(f"no space left on the file system of {folder} (writing {target}); nothing already written "
                       f"was changed: free some space and run again (finished steps are reused)") from None
    except Exception as error:
        # TensorFlow reports a full disk as its own error type (tf.errors.ResourceExhaustedError, ...)
        if type(error).__module__.startswith("tensorflow") and "No space left on device" in str(error):
            raise DiskFull(f"no space left on the file system of {folder}; nothing already written was changed: "
                           f"free some space and run again (finished steps are reused)") from None
        raise


def is_write_failure(error: BaseException) -> bool:
    """Whether `error` comes from a full disk or a forbidden write (see `output_errors`)."""
    from edgekit.errors import OutputError

    if isinstance(error, OutputError) or _write_failure(error) is not None:
        return True
    return type(error).__module__.startswith("tensorflow") and "No space left on device" in str(error)


def _write_failure(error: BaseException) -> OSError | None:
    """The OSError of a full disk or a forbidden write in `error` or in the errors it was raised from."""
    seen = 0
    current: BaseException | None = error
    while current is not None and seen < 16:
        if isinstance(current, OSError) and current.errno in (_NO_SPACE | _NOT_ALLOWED):
            return current
        current = current.__cause__ or current.__context__
        seen += 1
    return None


def _is_within(path: Path, folder: Path) -> bool:
    """`path` is `folder` or below it."""
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except (ValueError, OSError):
        return False


def check_writable(path: Path | str, what: str = "output") -> None:
    """Fail now, before any long work, when a file cannot be written at `path` (its folder is created).

    Raises:
        OutputNotWritable, DiskFull: see `output_errors`.
    """
    path = Path(path)
    with output_errors(path.parent, what):
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent)
        os.close(handle)
        os.unlink(name)
