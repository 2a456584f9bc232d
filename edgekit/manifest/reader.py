"""The one reader of manifest.json: `load_manifest(path) -> Manifest`.

Every command that reads a build (report, regress, baseline save, the summary) comes through here, so a manifest is
checked once, in one order, with one kind of message (exit 2, naming the place in the file):
1. JSON with an "artifacts" list; 2. a schema_version this edgekit reads (a newer one is refused, an older one
migrated); 3. the values readers compute with (finite numbers in range, text that is text); 4. no unknown keys in
the closed records (a misspelt `acuracy` is named, with a "did you mean"); 5. the types of every field.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any, Union

from pydantic import BaseModel, ValidationError

from edgekit.manifest.checks import check_manifest, shown
from edgekit.manifest.errors import ManifestError, NewerManifestSchema, UnknownManifestKey
from edgekit.manifest.migrate import migrate
from edgekit.manifest.models import SCHEMA_VERSION, Artifact, Manifest, SamplesRef, StageRecord

MANIFEST_NAME = "manifest.json"


def load_manifest(path: Union[str, Path]) -> Manifest:
    """Read and check a manifest: a manifest.json, or the build folder holding one.

    Raises:
        ManifestError: (exit 2) no such folder or file, not JSON, not a manifest, a schema_version newer than this
            edgekit reads, an unknown key, or a field of the wrong type or value: the message names it.
    """
    path = Path(path)
    if path.is_dir():
        build_dir, path = path, path / MANIFEST_NAME
        if not path.is_file():
            raise ManifestError(f"{build_dir} has no {MANIFEST_NAME}: run `edgekit build` first, or give the build "
                                f"folder it wrote (e.g. build/host)")
    elif not path.exists():
        if path.suffix.lower() == ".json":
            raise ManifestError(f"{path}: no such file")
        raise ManifestError(f"{path} is not a build folder (no such folder); give the folder `edgekit build` "
                            f"wrote, e.g. build/host")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ManifestError(f"{path} cannot be read as JSON: {error}") from None
    except RecursionError:
        raise ManifestError(f"{path} cannot be read as JSON: nested too deeply") from None
    return parse_manifest(document, path)


def parse_manifest(document: Any, source: Union[str, Path] = "manifest") -> Manifest:
    """A manifest from JSON data already read (`source` names it in messages); see `load_manifest`.

    Raises:
        ManifestError: as load_manifest.
    """
    if not isinstance(document, dict) or not isinstance(document.get("artifacts"), list):
        raise ManifestError(f"{source} is not an edgekit manifest: it has no \"artifacts\" list")
    _check_version(document, source)
    check_manifest(Path(str(source)), document, error=ManifestError)
    _check_keys(document, source)
    try:
        return Manifest.model_validate(migrate(document))
    except ValidationError as error:
        raise ManifestError(f"{source}: {describe_validation(error)}; this is not a manifest edgekit wrote "
                            f"(rebuild, or fix the field)") from None


def as_manifest(value: Union[Manifest, dict[str, Any]], source: Union[str, Path] = "manifest") -> Manifest:
    """`value` itself when it is a Manifest, else the Manifest of JSON data (checked as parse_manifest checks)."""
    return value if isinstance(value, Manifest) else parse_manifest(value, source)


def describe_validation(error: ValidationError) -> str:
    """The first problem of a pydantic ValidationError, as `artifacts[2].format is "tflight", expected ...`."""
    first = error.errors(include_url=False)[0]
    where = place(first["loc"]) or "the manifest"
    return f"{where} is {shown(first.get('input'))}, expected {_expected(first)}"


def place(loc: tuple) -> str:
    """("artifacts", 2, "latency") -> "artifacts[2].latency"."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _expected(error: dict[str, Any]) -> str:
    context = error.get("ctx") or {}
    if "expected" in context:  # an enum: "'keras', 'tflite', 'onnx' or 'edgetpu'"
        return f"one of {context['expected']}"
    message = str(error.get("msg", "another value"))
    return message[0].lower() + message[1:]


def _check_version(document: dict[str, Any], source: Union[str, Path]) -> None:
    version = document.get("schema_version", 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ManifestError(f"{source}: schema_version is {shown(version)}, expected a whole number, 0 or more")
    if version > SCHEMA_VERSION:
        from edgekit.base.version import __version__

        raise NewerManifestSchema(
            f"{source}: schema_version is {version}, newer than this edgekit ({__version__}) reads (up to "
            f"{SCHEMA_VERSION}): it was written by a newer edgekit; upgrade edgekit to read it")


def _check_keys(document: dict[str, Any], source: Union[str, Path]) -> None:
    """Refuse the first key a closed record does not know, naming its place and the nearest known key."""
    _unknown(document, Manifest, "", source)
    for index, stage in enumerate(document.get("stages") or []):
        if isinstance(stage, dict):
            _unknown(stage, StageRecord, f"stages[{index}].", source)
    for index, artifact in enumerate(document["artifacts"]):
        if not isinstance(artifact, dict):
            continue
        _unknown(artifact, Artifact, f"artifacts[{index}].", source)
        latency = artifact.get("latency")
        if isinstance(latency, dict) and isinstance(latency.get("samples"), dict):
            _unknown(latency["samples"], SamplesRef, f"artifacts[{index}].latency.samples.", source)


def _unknown(record: dict[str, Any], model: type[BaseModel], prefix: str, source: Union[str, Path]) -> None:
    known = list(model.model_fields)
    for key in record:
        if key not in model.model_fields:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UnknownManifestKey(
                f"{source}: unknown key {prefix}{key}{hint}; a manifest of schema_version {SCHEMA_VERSION} has no "
                f"such key (a hand edit? rebuild, or remove it)")
