"""The bottom layer's generic helpers that two or more packages need: file locks with an owner record, process
checks, human-readable sizes, per-user folders and the version. Nothing here imports any other edgekit module
(docs/architecture.md lists the layers)."""
