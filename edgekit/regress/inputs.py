"""Reading what the gate compares: a profile JSON, a file of several profiles, or a build manifest.

Every form becomes a `LatencySet`: named latency profiles measured on one target and device. A manifest
names its artifacts; a profile is named by its model's file name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Optional

from edgekit import fsutil
from edgekit.errors import InputFileError
from edgekit.finite import MAX_SAMPLE_MS, MIN_SAMPLE_MS, is_latency
from edgekit.manifest import Artifact, parse_manifest
from edgekit.profiling.samples import with_samples

MANIFEST_FILE = "manifest.json"
TFLITE_SUFFIX = ".tflite"
# The model files the gate can re-time: LiteRT's and ONNX Runtime's.
MODEL_SUFFIXES = (TFLITE_SUFFIX, ".onnx")

# The fields that say which physical device a profile came from. The runtime version is left out on
# purpose: a runtime upgrade on the same board is a change the gate should measure, not refuse.
DEVICE_IDENTITY_KEYS = ("address", "machine", "cpu")


class SetKind(str, Enum):
    """The kind of edgekit JSON a latency set was read from."""

    PROFILE = "profile"
    PROFILES = "profiles"
    MANIFEST = "manifest"
    STORE = "baseline store"


@dataclass
class LatencySet:
    """Latency profiles by name (artifact or model file name), as read from `source`.

    `unprofiled` names the artifacts of a manifest that have no latency (Keras artifacts, ONNX artifacts
    where no onnxruntime was at hand, or artifacts the target refused): they are not compared.
    """

    source: str
    kind: SetKind
    profiles: dict[str, dict[str, Any]]
    unprofiled: list[str] = field(default_factory=list)
    # The .tflite file of each profile, where it was found with the sha256 its profile records: what
    # interleaved re-timing runs.
    model_paths: dict[str, Path] = field(default_factory=dict)

    @property
    def target(self) -> Optional[str]:
        return next((profile.get("target") for profile in self.profiles.values()), None)

    @property
    def device(self) -> Optional[dict[str, Any]]:
        return next((profile.get("device") for profile in self.profiles.values()), None)


def device_identity(device: Optional[dict[str, Any]]) -> tuple[str, ...]:
    """The fields that identify a physical device (address, machine, CPU)."""
    device = device or {}
    return tuple(str(device.get(key) or "?") for key in DEVICE_IDENTITY_KEYS)


def describe_device(device: Optional[dict[str, Any]]) -> str:
    """A device in one line, for messages and tables: `localhost (x86_64, AMD EPYC)`."""
    address, machine, cpu = device_identity(device)
    return f"{address} ({machine}, {cpu})"


def load_latency_set(path: Path) -> LatencySet:
    """Read a profile JSON, a {"profiles": [...]} file, or a build manifest.

    Raises:
        InputFileError: the file is missing, not JSON, not edgekit's JSON, or has no latency samples.
    """
    document = read_json(path)
    if isinstance(document, dict) and isinstance(document.get("artifacts"), list):
        return _from_manifest(path, document)
    if isinstance(document, dict) and isinstance(document.get("profiles"), list):
        return _from_profiles(path, document["profiles"])
    if isinstance(document, dict) and ("samples_ms" in document or "samples" in document) and "model" in document:
        document = with_samples(document, path.parent, path)  # a profile copied out of a manifest
        name = profile_name(path, document)
        return LatencySet(str(path), SetKind.PROFILE, {name: checked_profile(path, document, name)},
                          model_paths=_profiled_model(path, name, document))
    raise InputFileError(f"{path}: not an edgekit profile or manifest (expected a profile with \"model\" and "
                         f"\"samples_ms\", a file with \"profiles\", or a manifest with \"artifacts\")")


def read_json(path: Path) -> Any:
    """The parsed JSON of `path`.

    Raises:
        InputFileError: missing, a folder (with a pointer to its manifest.json when it has one), or not JSON.
    """
    if path.is_dir():
        hint = f"; did you mean {path / MANIFEST_FILE}?" if (path / MANIFEST_FILE).is_file() else ""
        raise InputFileError(f"{path}: is a folder, not a profile or manifest JSON file{hint}")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise InputFileError(f"{path}: not JSON (not even UTF-8 text)") from None
    except OSError as error:
        raise InputFileError(f"{path}: cannot be read: {error.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InputFileError(f"{path}: not JSON (line {error.lineno}, column {error.colno}: {error.msg})") from None
    except RecursionError:
        raise InputFileError(f"{path}: not an edgekit file (JSON nested too deeply to read)") from None


def profile_name(path: Path, profile: dict[str, Any]) -> str:
    """A profile is named by its model's file name (`digits-int8.tflite`)."""
    model = profile.get("model")
    model_path = model.get("path") if isinstance(model, dict) else None
    if not isinstance(model_path, str) or not model_path:
        raise InputFileError(f"{path}: a profile without \"model\": {{\"path\": ...}}: not an edgekit profile")
    return Path(model_path).name


def checked_profile(path: Path, profile: Any, name: str) -> dict[str, Any]:
    """`profile` itself, once it is known to hold latency samples and the fields the gate reads have their types.

    Raises:
        InputFileError: not an object, without samples (Android's benchmark_model reports aggregates only), a
            sample that is not a finite number from MIN_SAMPLE_MS to MAX_SAMPLE_MS, or a "target", "device" or
            "model" of the wrong type.
    """
    if not isinstance(profile, dict):
        raise InputFileError(f"{path}: the latency of {name!r} is not a profile object")
    samples = profile.get("samples_ms")
    if not isinstance(samples, list) or not samples:
        source = profile.get("samples_source")
        why = f" ({source})" if source else ""
        raise InputFileError(f"{path}: {name!r} has no latency samples (\"samples_ms\" is empty{why}); the gate "
                             f"tests per-run samples, so profile with edgekit's own profiler")
    for index, value in enumerate(samples):
        if not is_latency(value):
            raise InputFileError(f"{path}: {name!r} has a latency sample that is not a positive number of "
                                 f"milliseconds from {MIN_SAMPLE_MS:g} to {MAX_SAMPLE_MS:g}: samples_ms[{index}] is "
                                 f"{_shown(value)}")
    for key, expected, kinds in (("target", "a string", (str,)), ("device", "an object", (dict,)),
                                 ("model", "an object", (dict,))):
        if profile.get(key) is not None and not isinstance(profile[key], kinds):
            raise InputFileError(f"{path}: the profile of {name!r} has a \"{key}\" that is not {expected}: "
                                 f"{_shown(profile[key])}")
    sha256 = (profile.get("model") or {}).get("sha256")
    if sha256 is not None and not isinstance(sha256, str):
        raise InputFileError(f"{path}: the profile of {name!r} has a model sha256 that is not a string: "
                             f"{_shown(sha256)}")
    return profile


def _shown(value: Any) -> str:
    """A value from a file in a message: its JSON form, cut short."""
    text = json.dumps(value)  # as the file spells it: Infinity, NaN, "0.5", true
    return text if len(text) <= 60 else text[:57] + "..."


def _from_profiles(path: Path, entries: list[Any]) -> LatencySet:
    profiles: dict[str, dict[str, Any]] = {}
    model_paths: dict[str, Path] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise InputFileError(f"{path}: \"profiles\" holds something that is not a profile object")
        name = profile_name(path, entry)
        if name in profiles:
            raise InputFileError(f"{path}: two profiles of models named {name!r}; profiles are matched by file name")
        profiles[name] = checked_profile(path, entry, name)
        model_paths.update(_profiled_model(path, name, entry))
    if not profiles:
        raise InputFileError(f"{path}: \"profiles\" is empty")
    return LatencySet(str(path), SetKind.PROFILES, profiles, model_paths=model_paths)


def _from_manifest(path: Path, document: dict[str, Any]) -> LatencySet:
    manifest = parse_manifest(document, path)  # the one reader's checks: types, values, unknown keys, version
    profiles: dict[str, dict[str, Any]] = {}
    model_paths: dict[str, Path] = {}
    unprofiled: list[str] = []
    for artifact in manifest.artifacts:
        name = artifact.name
        if name in profiles or name in unprofiled:
            raise InputFileError(f"{path}: two artifacts named {name!r}")
        if artifact.latency is None:
            unprofiled.append(name)
            continue
        latency = with_samples(artifact.latency.model_dump(exclude_unset=True), path.parent, path)
        profiles[name] = checked_profile(path, latency, name)
        relative = artifact_path(path, artifact)
        if relative is not None:
            found = locate_model([path.parent / relative], artifact.sha256)
            model_paths.update({name: found} if found else {})
    if not profiles:
        raise InputFileError(f"{path}: no artifact has a latency profile (was the build profiled? artifacts: "
                             f"{', '.join(unprofiled) or 'none'})")
    device = manifest.device.model_dump(exclude_unset=True) if manifest.device is not None else None
    for profile in profiles.values():  # manifests record the target and device once, at the top
        profile.setdefault("target", manifest.target)
        profile.setdefault("device", device)
    return LatencySet(str(path), SetKind.MANIFEST, profiles, unprofiled=unprofiled, model_paths=model_paths)


def artifact_path(manifest_path: Path, artifact: Artifact) -> Optional[Path]:
    """An artifact's recorded "path": relative to the build folder (where the manifest is), and inside it.

    Raises:
        InputFileError: the path is empty, is absolute, or climbs out of the build folder with `..`: a
            manifest edgekit wrote never does, and following it would read (and re-time) files elsewhere.
    """
    recorded = artifact.path
    if recorded is None:
        return None
    name = artifact.name
    if not recorded or "\0" in recorded:
        raise InputFileError(f"{manifest_path}: artifact {name!r} has a \"path\" that is not a file name: "
                             f"{_shown(recorded)}")
    relative = Path(recorded)
    if relative.is_absolute() or ".." in relative.parts:
        raise InputFileError(f"{manifest_path}: artifact {name!r} has the path {recorded!r}, outside its build "
                             f"folder; artifact paths are relative to the folder of the manifest and stay inside it")
    return relative


def locate_model(candidates: list[Path], sha256: Optional[str]) -> Optional[Path]:
    """The first candidate that is a model file (.tflite or .onnx) with the recorded sha256, or None.

    The digest is what makes a file found by name safe to re-time: a model rebuilt since it was profiled
    is a different model.
    """
    if not sha256:
        return None
    for candidate in candidates:
        if (candidate.suffix.lower() in MODEL_SUFFIXES and candidate.is_file()
                and fsutil.sha256_file(candidate) == sha256):
            return candidate
    return None


def _profiled_model(path: Path, name: str, profile: dict[str, Any]) -> dict[str, Path]:
    # A profile records the model path it was given: relative to wherever `edgekit profile` ran, so it is
    # looked for from here and beside the profile.
    recorded = Path(profile["model"]["path"])
    candidates = [recorded] if recorded.is_absolute() else [recorded, path.parent / recorded, path.parent / recorded.name]
    found = locate_model(candidates, profile["model"].get("sha256"))
    return {name: found} if found else {}
