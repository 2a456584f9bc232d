"""`edgekit report BUILD_DIR`: one self-contained HTML page of a build (tables and plots, no network to view it).

    from edgekit.report import write_report
    write_report(Path("build/host"))   # -> build/host/report.html
"""

from __future__ import annotations

from pathlib import Path

from edgekit import fsutil

__all__ = ["REPORT_NAME", "write_report"]

REPORT_NAME = "report.html"


def with_sample_files(build_dir: Path, manifest: dict) -> dict:  # a Manifest's document()
    """The manifest with each artifact's latency samples read back from profiles/ (for the box plots); an
    artifact whose sample file is missing or altered is drawn without samples rather than failing the page."""
    from edgekit.errors import InputFileError
    from edgekit.profiling.samples import with_samples

    artifacts = []
    for artifact in manifest["artifacts"]:
        if artifact.get("latency"):
            try:
                artifact = {**artifact, "latency": with_samples(artifact["latency"], build_dir)}
            except InputFileError:
                pass
        artifacts.append(artifact)
    return {**manifest, "artifacts": artifacts}


def write_report(build_dir: Path) -> Path:
    """Write BUILD_DIR/report.html (atomically) from BUILD_DIR/manifest.json and, when present, regress.json.

    Sections without data (no latency, no pruning, no history, no verdicts) say so instead of failing.

    Raises:
        ManifestError: (an InputFileError) the folder has no readable, valid manifest.json.
    """
    from edgekit.manifest import load_manifest
    from edgekit.report.data import artifact_rows, load_verdicts
    from edgekit.report.page import render_page

    build_dir = Path(build_dir)
    manifest = with_sample_files(build_dir, load_manifest(build_dir).document())
    page = render_page(manifest, artifact_rows(manifest), load_verdicts(build_dir))
    path = build_dir / REPORT_NAME
    fsutil.write_text(path, page)
    return path
