"""Checking the files of an image folder before a build uses them: none is left out or changed without a word.

Every file under a class folder ends in one of three ways, and each but the first is recorded (counted in the
build's summary, listed in the manifest under data.file_issues):

- used as it is: an RGB image of at least 8×8 pixels;
- used, with a note: `converted` (greyscale, greyscale+alpha, RGBA, CMYK, palette... are read as RGB, the
  alpha channel dropped) or `suspicious` (smaller than 8×8: a thumbnail or a placeholder, rarely a sample);
- left out: `skipped` (a hidden file such as .DS_Store or ._photo.jpg, a file that is not an image by its
  name, or an image that cannot be decoded).

Images that cannot be decoded are "bad": with data.bad_files: skip they are left out, and the build fails only
when more than data.max_bad_fraction of the images are bad; with data.bad_files: fail, the first one fails it.
Every image is decoded in full here (not only its header), so a truncated JPEG is found now, not mid-epoch.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Optional

from edgekit.config.schema import BadFiles, DataConfig
from edgekit.data.sources import IMAGE_SUFFIXES
from edgekit.errors import DataError

# The formats tf.io.decode_image reads, which the tf.data pipeline uses: a file PIL reads in another format
# (a TIFF named .png) would fail mid-epoch.
DECODABLE_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "MPO")
# Smaller than this on a side, an image is more likely a thumbnail, an icon or a placeholder than a sample.
MIN_SIDE = 8
# Modes read as RGB without a change of content (MPO/JPEG as YCbCr come out as RGB from PIL already).
RGB_MODES = ("RGB",)
# How many issues the manifest lists; the counts are always complete.
MAX_LISTED = 1000


class FileIssue(str, Enum):
    SKIPPED = "skipped"
    CONVERTED = "converted"
    SUSPICIOUS = "suspicious"


@dataclass(frozen=True)
class FileNote:
    """What happened to one file (its path relative to the image folder)."""

    path: str
    issue: FileIssue
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "issue": self.issue.value, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> "FileNote":
        return cls(path=data["path"], issue=FileIssue(data["issue"]), reason=data["reason"])


@dataclass
class CheckedFolder:
    """The images to use, with their class ids, and the notes on every other file."""

    files: list[tuple[Path, int]]
    class_names: list[str]
    notes: list[FileNote]


def check_image_folder(folder: Path, config: DataConfig) -> CheckedFolder:
    """Walk `folder`/<class>/, decode every image once and sort out what to use (see the module docstring).

    Raises:
        DataError: no such folder, fewer than two classes, a class without usable images, a bad image when
            data.bad_files is 'fail', or more bad images than data.max_bad_fraction allows.
    """
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder of images (expected one sub-folder per class)")
    class_folders = sorted(child for child in folder.iterdir() if child.is_dir() and not child.name.startswith("."))
    if len(class_folders) < 2:
        raise DataError(f"{folder}: found {len(class_folders)} class folder(s); a classifier needs at least 2")
    notes: list[FileNote] = []
    candidates: list[tuple[Path, int]] = []
    for class_id, class_folder in enumerate(class_folders):
        images = []
        for path in sorted(p for p in class_folder.rglob("*") if p.is_file()):
            relative = str(path.relative_to(folder))
            if any(part.startswith(".") for part in path.relative_to(class_folder).parts):
                notes.append(FileNote(relative, FileIssue.SKIPPED, "hidden file"))
            elif path.suffix.lower() not in IMAGE_SUFFIXES:
                notes.append(FileNote(relative, FileIssue.SKIPPED,
                                      f"not an image by its name (images end in {', '.join(IMAGE_SUFFIXES)})"))
            else:
                images.append(path)
        if not images:
            raise DataError(f"{class_folder}: no images ({', '.join(IMAGE_SUFFIXES)}) in this class folder")
        candidates.extend((image, class_id) for image in images)
    verdicts = _inspect_all([path for path, _ in candidates])
    bad = [(path, verdict.error) for (path, _), verdict in zip(candidates, verdicts) if verdict.error is not None]
    _judge_bad_files(folder, bad, len(candidates), config)
    files = []
    for (path, class_id), verdict in zip(candidates, verdicts):
        relative = str(path.relative_to(folder))
        if verdict.error is not None:
            notes.append(FileNote(relative, FileIssue.SKIPPED, f"cannot decode this image ({verdict.error})"))
            continue
        files.append((path, class_id))
        notes.extend(FileNote(relative, issue, reason) for issue, reason in verdict.notes)
    for class_id, class_folder in enumerate(class_folders):
        if not any(label == class_id for _, label in files):
            raise DataError(f"{class_folder}: none of its images can be decoded")
    return CheckedFolder(files=files, class_names=[class_folder.name for class_folder in class_folders],
                         notes=sorted(notes, key=lambda note: note.path))


def _judge_bad_files(folder: Path, bad: list[tuple[Path, str]], total: int, config: DataConfig) -> None:
    if not bad:
        return
    first = f"{bad[0][0]}: cannot decode this image ({bad[0][1]})"
    if config.bad_files is BadFiles.FAIL:
        raise DataError(f"{first}; data.bad_files is 'fail' (with 'skip', such files are left out and listed in "
                        f"the manifest)")
    fraction = len(bad) / total
    if fraction > config.max_bad_fraction:
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise DataError(f"{folder}: {len(bad)} of {total} images cannot be decoded ({fraction:.1%}, more than "
                        f"data.max_bad_fraction {config.max_bad_fraction:.1%}): {first}{more}; remove or repair "
                        f"them, or raise data.max_bad_fraction to leave them out")


@dataclass
class _Verdict:
    error: Optional[str]
    notes: list[tuple[FileIssue, str]]


def _inspect_all(paths: list[Path]) -> list[_Verdict]:
    # PIL releases the GIL while it decodes: threads use every core on a folder of JPEGs.
    workers = max(1, min(8, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_inspect, paths, chunksize=32))


def _inspect(path: Path) -> _Verdict:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image_format, mode, (width, height) = image.format, image.mode, image.size
            # A decode at 1/8 scale still reads every byte of a JPEG: a truncated one fails here too.
            image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
            image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        return _Verdict(error=str(error) or type(error).__name__, notes=[])
    if image_format not in DECODABLE_FORMATS:
        return _Verdict(error=f"a {image_format} image, which TensorFlow's decoder does not read", notes=[])
    notes = []
    if mode not in RGB_MODES:
        notes.append((FileIssue.CONVERTED, _conversion(mode)))
    if width < MIN_SIDE or height < MIN_SIDE:
        notes.append((FileIssue.SUSPICIOUS, f"{width}×{height} pixels, smaller than {MIN_SIDE}×{MIN_SIDE}"))
    return _Verdict(error=None, notes=notes)


def _conversion(mode: str) -> str:
    described = {"L": "greyscale", "LA": "greyscale with alpha (alpha dropped)", "1": "black and white",
                 "RGBA": "RGBA (alpha dropped)", "P": "palette", "PA": "palette with alpha (alpha dropped)",
                 "CMYK": "CMYK", "I;16": "16-bit greyscale", "I": "32-bit greyscale", "F": "float greyscale"}
    return f"{described.get(mode, mode)} read as RGB"


def summarize(notes: list[FileNote], used: int) -> dict:
    """The manifest's record: counts of every kind, and the notes (the first MAX_LISTED)."""
    counts = {issue.value: sum(1 for note in notes if note.issue is issue) for issue in FileIssue}
    record = {"file_counts": {"used": used, **counts}, "file_issues": [note.to_dict() for note in notes[:MAX_LISTED]]}
    if len(notes) > MAX_LISTED:
        record["file_issues_not_listed"] = len(notes) - MAX_LISTED
    return record


def describe_counts(summary: dict) -> Optional[str]:
    """'3 files skipped, 1 converted to RGB, 2 smaller than 8×8 (...)' for a data summary, or None."""
    counts = summary.get("file_counts")
    if not counts or not any(counts.get(issue.value) for issue in FileIssue):
        return None
    return (f"image files: {counts['used']} used; {counts['skipped']} skipped, {counts['converted']} converted to "
            f"RGB, {counts['suspicious']} smaller than {MIN_SIDE}×{MIN_SIDE} (each listed in manifest.json under "
            f"data.file_issues)")
