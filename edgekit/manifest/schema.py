"""docs/manifest.schema.json, generated from the models: `python -m edgekit.manifest.schema` writes it,
`--check` exits 1 when the file on disk differs (tests/unit/test_manifest_schema.py runs the check)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from edgekit import fsutil
from edgekit.manifest.models import SCHEMA_VERSION, Manifest

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "manifest.schema.json"


def manifest_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of manifest.json at SCHEMA_VERSION."""
    schema = Manifest.model_json_schema(mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            **schema, "title": f"edgekit build manifest (build/<target>/manifest.json), schema_version {SCHEMA_VERSION}"}


def schema_text() -> str:
    """The schema as the file holds it."""
    return json.dumps(manifest_schema(), indent=2, sort_keys=False) + "\n"


def main(argv: list[str]) -> int:
    if "--check" in argv:
        current = SCHEMA_PATH.read_text(encoding="utf-8") if SCHEMA_PATH.is_file() else ""
        if current != schema_text():
            print(f"{SCHEMA_PATH} is out of date: run python -m edgekit.manifest.schema", file=sys.stderr)
            return 1
        return 0
    fsutil.write_bytes(SCHEMA_PATH, schema_text().encode("utf-8"))
    print(f"wrote {SCHEMA_PATH}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
