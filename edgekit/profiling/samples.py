"""Latency samples beside the manifest, not inside it.

A profile's per-run samples are most of its bytes (242,694 samples made a 23 MB manifest for a 2 µs model), so
a build writes each artifact's samples to `profiles/<artifact>-<sha256 prefix>.json` in the build folder and the
manifest keeps the statistics and a reference: `"samples": {"path": "profiles/tflite-int8-….json", "sha256": ...,
"count": N}`.
Readers that need the samples (regress, the report) load them back with `with_samples`; manifests written
before (samples inline in `samples_ms`) read as they are.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from edgekit import fsutil
from edgekit.errors import InputFileError
from edgekit.finite import is_latency

PROFILES_FOLDER = "profiles"


def externalize_samples(build_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """A copy of `manifest` whose artifacts' profiles reference sample files instead of holding the samples.

    Writes `profiles/<artifact>-<sha256 prefix>.json` (`<artifact>@<n>-…` per further device of a pool). Named
    by content, so the manifest already in the folder keeps its own files until the new one replaces it;
    `remove_stale_samples` then deletes what neither refers to.
    """
    folder = build_dir / PROFILES_FOLDER
    written: set[str] = set()
    artifacts = []
    for artifact in manifest["artifacts"]:
        artifact = dict(artifact)
        by_device = artifact.get("latency_by_device") or {}
        if by_device:
            artifact["latency_by_device"] = {
                address: _externalized(folder, f"{artifact['name']}@{index}", profile, written)
                for index, (address, profile) in enumerate(by_device.items())}
        if artifact.get("latency"):
            # With a pool, "latency" is the first device's profile: it keeps being the same object, samples file too.
            same = next((address for address, profile in by_device.items() if profile == artifact["latency"]), None)
            artifact["latency"] = (artifact["latency_by_device"][same] if same is not None
                                   else _externalized(folder, artifact["name"], artifact["latency"], written))
        artifacts.append(artifact)
    return {**manifest, "artifacts": artifacts}


def remove_stale_samples(build_dir: Path, manifest: dict[str, Any]) -> None:
    """Delete the sample files in profiles/ that `manifest` (the one just written) does not refer to."""
    folder = build_dir / PROFILES_FOLDER
    if not folder.is_dir():
        return
    kept = {Path(reference["path"]).name for reference in _references(manifest)}
    for stale in folder.glob("*.json"):
        if stale.name not in kept:
            stale.unlink(missing_ok=True)


def _references(manifest: dict[str, Any]):
    for artifact in manifest["artifacts"]:
        profiles = [artifact.get("latency")] + list((artifact.get("latency_by_device") or {}).values())
        for profile in profiles:
            if isinstance(profile, dict) and isinstance(profile.get("samples"), dict):
                yield profile["samples"]


def _externalized(folder: Path, stem: str, profile: dict[str, Any], written: set[str]) -> dict[str, Any]:
    samples = profile.get("samples_ms")
    if not samples:  # Android's aggregates: nothing to move
        return profile
    data = json.dumps({"artifact": stem, "samples_ms": samples}, separators=(",", ":")).encode()
    name = f"{_safe(stem)}-{fsutil.sha256_bytes(data)[:12]}.json"
    fsutil.write_bytes(folder / name, data)
    written.add(name)
    reduced = {key: value for key, value in profile.items() if key != "samples_ms"}
    reduced["samples"] = {"path": f"{PROFILES_FOLDER}/{name}", "sha256": fsutil.sha256_bytes(data),
                          "count": len(samples)}
    return reduced


def _safe(stem: str) -> str:
    """Artifact names are edgekit's own (`tflite-int8`); anything else is made a plain file name."""
    return "".join(ch if ch.isalnum() or ch in "-_.@" else "_" for ch in stem).lstrip(".") or "profile"


def with_samples(profile: Any, base_dir: Path, source: Optional[Path] = None) -> Any:
    """`profile` with `samples_ms` read back from its sample file (checked against the recorded sha256); a
    profile that holds its samples, or is not a profile object, comes back unchanged.

    Raises:
        InputFileError: the sample file is missing, outside `base_dir`, altered since the build, or not
            the samples JSON.
    """
    if not isinstance(profile, dict) or "samples_ms" in profile or not isinstance(profile.get("samples"), dict):
        return profile
    reference = profile["samples"]
    where = source or base_dir
    relative = reference.get("path")
    if not isinstance(relative, str) or Path(relative).is_absolute() or ".." in Path(relative).parts:
        raise InputFileError(f"{where}: a latency sample reference {relative!r} that is not a path inside the "
                             f"build folder")
    path = base_dir / relative
    try:
        data = path.read_bytes()
    except OSError:
        raise InputFileError(f"{where}: its latency samples {relative} are missing (copy the build folder with "
                             f"its {PROFILES_FOLDER}/ folder)") from None
    if fsutil.sha256_bytes(data) != reference.get("sha256"):
        raise InputFileError(f"{path}: changed since the build wrote it (its sha256 is not the manifest's)")
    try:
        samples = json.loads(data)["samples_ms"]
    except (ValueError, KeyError, TypeError):
        raise InputFileError(f"{path}: not an edgekit samples file") from None
    if not isinstance(samples, list) or not all(is_latency(value) for value in samples):
        raise InputFileError(f"{path}: \"samples_ms\" holds something that is not a latency in milliseconds")
    return {**profile, "samples_ms": samples}
