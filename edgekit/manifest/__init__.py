"""The manifest, typed: the models of build/<target>/manifest.json and its one reader.

    from edgekit.manifest import load_manifest
    manifest = load_manifest("build/host")            # or build/host/manifest.json
    manifest.artifact("tflite-int8").latency.median_ms

Imports only the base layer and edgekit.config (no TensorFlow).
"""

from edgekit.manifest.errors import ManifestError, NewerManifestSchema, UnknownManifestKey
from edgekit.manifest.models import (SCHEMA_VERSION, Artifact, ArtifactFormat, CompilerSummary, Device, GateResult,
                                     Manifest, ManifestTask, Profile, SamplesRef, StageName, StageRecord)
from edgekit.manifest.reader import MANIFEST_NAME, as_manifest, load_manifest, parse_manifest

__all__ = ["SCHEMA_VERSION", "MANIFEST_NAME", "Artifact", "ArtifactFormat", "CompilerSummary", "Device", "GateResult",
           "Manifest", "ManifestError", "ManifestTask", "NewerManifestSchema", "Profile", "SamplesRef", "StageName",
           "StageRecord", "UnknownManifestKey", "as_manifest", "load_manifest", "parse_manifest"]
