"""The bottom layer's generic helpers that two or more packages need: file locks with an owner record, process
checks, human-readable sizes, per-user folders and the version. Nothing here imports another edgekit package
except edgekit.errors (see docs/architecture.md for the layers)."""
