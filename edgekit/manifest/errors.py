"""Errors of reading a manifest: each is exit 2 (bad input) and names what it found."""

from __future__ import annotations

from edgekit.errors import InputFileError


class ManifestError(InputFileError):
    """A manifest.json that is not one this edgekit can trust: missing, not JSON, or of the wrong shape."""


class UnknownManifestKey(ManifestError):
    """A manifest holds a key the schema does not know (a hand edit, a misspelling): named, with a suggestion."""


class NewerManifestSchema(ManifestError):
    """A manifest written by a newer edgekit (its schema_version is above the one this edgekit reads)."""
