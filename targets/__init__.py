"""Bundled target files; this package holds only the YAML files beside it (installed as edgekit._targets)."""
