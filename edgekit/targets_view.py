"""How `edgekit targets` prints targets."""

from __future__ import annotations

from rich.table import Table

from edgekit import console
from edgekit.config.target import Target


def print_target_table(targets: list[Target]) -> None:
    """One row per target: name, adapter, arch, runtime, delegate, description."""
    table = Table(title="edgekit targets", title_justify="left")
    for column in ("name", "adapter", "arch", "runtime", "threads", "delegate", "accepts", "description"):
        table.add_column(column, overflow="fold")
    for target in targets:
        accepts = ", ".join(q.value for q in target.accepts.quantization)
        table.add_row(target.name, target.adapter, target.arch, target.runtime, str(target.threads),
                      target.delegate.value, accepts, target.description)
    console.out.print(table)


def print_target(target: Target) -> None:
    """Every field of one target, and the file it came from."""
    import yaml

    console.out.print(f"# {target.source}")
    console.out.print(yaml.safe_dump(target.model_dump(mode="json", exclude_none=True), sort_keys=False).rstrip())
