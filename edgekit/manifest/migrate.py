"""Manifests of older edgekits, brought to the current schema before they are typed.

schema_version 0 (edgekit 0.1, which wrote no schema_version): each profile held its per-run samples inline as
`samples_ms`. Version 1 keeps the samples in profiles/ and references them (`samples: {path, sha256, count}`); an
inline `samples_ms` list is still a valid profile (it is what `edgekit profile --output` writes), so a 0.1
manifest migrates by being stamped with the version it now reads as. Readers load samples either way
(edgekit.profiling.samples.with_samples).
"""

from __future__ import annotations

from typing import Any

from edgekit.manifest.models import SCHEMA_VERSION

UNVERSIONED = 0  # what a manifest without schema_version is: edgekit 0.1's


def schema_version_of(document: dict[str, Any]) -> int:
    """The schema_version a manifest was written with (0: edgekit 0.1, which wrote none)."""
    return document.get("schema_version", UNVERSIONED)


def migrate(document: dict[str, Any]) -> dict[str, Any]:
    """`document` in the shape of SCHEMA_VERSION (a new dict; the input is not changed)."""
    version = schema_version_of(document)
    migrated = dict(document)
    if version == UNVERSIONED:
        migrated = _from_0_1(migrated)
    migrated["schema_version"] = SCHEMA_VERSION
    return migrated


def _from_0_1(document: dict[str, Any]) -> dict[str, Any]:
    """edgekit 0.1 to schema 1: inline samples_ms lists stay (a profile may hold them); a `samples` key holding
    the list itself instead of a reference to a file is read as samples_ms."""
    artifacts = []
    for artifact in document["artifacts"]:
        latency = artifact.get("latency") if isinstance(artifact, dict) else None
        if isinstance(latency, dict) and isinstance(latency.get("samples"), list):
            latency = {key: value for key, value in latency.items() if key != "samples"}
            latency.setdefault("samples_ms", artifact["latency"]["samples"])
            artifact = {**artifact, "latency": latency}
        artifacts.append(artifact)
    return {**document, "artifacts": artifacts}
