"""Imports point down: a walk over every import in edgekit/ (module level, inside functions, under TYPE_CHECKING)
against the layers of docs/architecture.md.

A unit is a subpackage of edgekit (edgekit/fleet/) or a top-level module (edgekit/cli.py); edgekit/__init__.py is
the unit `__init__` (the public API). It fails on an import from a lower layer into a higher one (pipeline/ and
cli above all), on a cycle between units (also within one layer), and on a unit LAYERS does not place.

A registry's `"edgekit.pkg.module:function"` string (fsspec's known_implementations, STYLE.md) is not an import:
the module is imported on first use by whoever looks the entry up, and that import is what the walk checks.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "edgekit"

# Lowest first. A unit may import units of its own layer (without a cycle) and of the layers below it, never
# above. Written once here; docs/architecture.md shows the same list (test_architecture_doc_lists_these_layers).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("base", "errors", "safetext", "finite", "fsutil", "console", "_tf", "_native")),
    ("config", ("config",)),
    ("manifest", ("manifest",)),
    ("readers", ("data", "models", "inspect", "transport")),
    ("producers", ("export", "profiling")),
    ("adapters", ("adapters",)),
    ("devices and views", ("fleet", "report")),
    ("pipeline", ("pipeline",)),
    ("regress", ("regress",)),
    ("tune", ("tune",)),
    ("api", ("__init__", "api")),
    ("cli", ("cli", "cli_options", "cli_regress", "targets_view")),
]
LAYER_OF = {unit: (index, name) for index, (name, units) in enumerate(LAYERS) for unit in units}
# The layers nothing below may reach even lazily: the build orchestration and the command line.
TOP_UNITS = {"pipeline", "cli"}


@dataclass(frozen=True)
class Edge:
    """One import of unit `target` by unit `source`, at `where` (file:line)."""

    source: str
    target: str
    module: str
    where: str


def unit_of(path: Path, root: Path) -> str:
    """The unit a file of the package belongs to: its subpackage, or the module itself at the top level."""
    parts = path.relative_to(root).parts
    return parts[0] if len(parts) > 1 else Path(parts[0]).stem


def units_on_disk(root: Path) -> set[str]:
    """Every subpackage (a folder with Python files) and top-level module of the package."""
    return {path.stem for path in root.glob("*.py")} | {path.name for path in root.iterdir() if _exists(root, path.name)}


def _exists(root: Path, unit: str) -> bool:
    """Whether the package has this unit (a data folder such as edgekit/_targets is none)."""
    folder = root / unit
    return (root / f"{unit}.py").is_file() or (folder.is_dir() and any(folder.rglob("*.py")))


def imported_units(tree: ast.AST, module: str, is_package: bool, root: Path):
    """(unit, dotted name, line) of every edgekit import in one module's syntax tree."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against this module's package
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            if base == root.name:  # `from edgekit import fleet, __version__`: a submodule, or the API itself
                names = [f"{base}.{alias.name}" if _exists(root, alias.name) else f"{base}.__init__"
                         for alias in node.names]
            else:
                names = [base]
        for name in names:
            parts = name.split(".")
            if parts[0] == root.name and len(parts) > 1:
                yield parts[1], name, node.lineno


def import_edges(root: Path) -> list[Edge]:
    """Every import between two different units of the package at `root`."""
    edges = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root.parent).with_suffix("")
        is_package = path.name == "__init__.py"
        module = ".".join(relative.parts[:-1] if is_package else relative.parts)
        source = unit_of(path, root)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for target, name, line in imported_units(tree, module, is_package, root):
            if target != source:
                edges.append(Edge(source, target, name, f"{path.relative_to(root.parent)}:{line}"))
    return edges


def _layer(unit: str) -> str:
    index, name = LAYER_OF[unit]
    return f"layer {index} '{name}'"


def layer_violations(root: Path) -> list[str]:
    """One message per broken rule, each naming the importing file:line and the rule."""
    problems = [f"{root.name}/{unit}: a unit no layer holds; add it to LAYERS in tests/unit/test_layers.py "
                f"and docs/architecture.md"
                for unit in sorted(units_on_disk(root) - set(LAYER_OF))]
    edges = import_edges(root)
    for edge in edges:
        if edge.source not in LAYER_OF or edge.target not in LAYER_OF:
            unknown = edge.source if edge.source not in LAYER_OF else edge.target
            problems.append(f"{edge.where}: imports {edge.module}, but '{unknown}' is in no layer; add it to LAYERS")
            continue
        if LAYER_OF[edge.target][0] <= LAYER_OF[edge.source][0]:
            continue
        rule = ("nothing below pipeline/ and cli imports them, not even inside a function"
                if edge.target in TOP_UNITS and edge.source not in TOP_UNITS
                else "a lower layer never imports a higher one; move what both need down")
        problems.append(f"{edge.where}: {edge.source} ({_layer(edge.source)}) imports {edge.module} "
                        f"({_layer(edge.target)}): {rule}")
    problems += cycle_violations(edges)
    return problems


def cycle_violations(edges: list[Edge]) -> list[str]:
    """A message per cycle between units, naming one import (file:line) of each step around it."""
    graph: dict[str, dict[str, Edge]] = {}
    for edge in edges:
        graph.setdefault(edge.source, {}).setdefault(edge.target, edge)
    problems, seen = [], set()
    for start in sorted(graph):
        path = _cycle_from(start, graph)
        if path is None or frozenset(path) in seen:
            continue
        seen.add(frozenset(path))
        steps = [graph[a][b] for a, b in zip(path, path[1:] + path[:1])]
        problems.append("import cycle " + " -> ".join(path + path[:1]) + " (units import each other; move what "
                        "both need into a lower unit): " + "; ".join(f"{s.where} imports {s.module}" for s in steps))
    return problems


def _cycle_from(start: str, graph: dict[str, dict[str, Edge]]) -> list[str] | None:
    """The shortest cycle through `start` (breadth first), or None."""
    queue, parents = [start], {start: None}
    while queue:
        node = queue.pop(0)
        for target in sorted(graph.get(node, {})):
            if target == start:
                path = [node]
                while parents[path[-1]] is not None:
                    path.append(parents[path[-1]])
                return path[::-1]
            if target not in parents:
                parents[target] = node
                queue.append(target)
    return None


# ---------------------------------------------------------------------------------------------- edgekit itself
def test_edgekit_imports_point_down():
    problems = layer_violations(PACKAGE)
    assert not problems, "\n".join(problems)


def test_the_walk_sees_the_imports_it_checks():
    """A guard against a walk that finds nothing (and so can never fail): known imports of each kind are seen."""
    edges = {(edge.source, edge.target) for edge in import_edges(PACKAGE)}
    assert ("pipeline", "report") in edges       # function-level `from edgekit.report import write_report`
    assert ("fleet", "base") in edges            # module-level
    assert ("report", "base") in edges
    assert len(edges) > 60


def test_architecture_doc_lists_these_layers():
    """docs/architecture.md shows the layers top first, one line `name: unit, unit` each, in its ```layers block."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = re.search(r"```text\n# layers, highest first\n(.*?)```", text, re.S)
    assert block, "docs/architecture.md has no ```text block starting '# layers, highest first'"
    documented = []
    for line in block.group(1).strip().splitlines():
        name, _, units = line.partition(":")
        documented.append((name.strip(), tuple(unit.strip() for unit in units.split(","))))
    assert documented[::-1] == LAYERS


# ---------------------------------------------------------------------------------------------- the checker
def make_package(tmp_path: Path, files: dict[str, str]) -> Path:
    """A throwaway package named edgekit with these files (every unit it needs present)."""
    root = tmp_path / "edgekit"
    for name, text in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_an_upward_import_inside_a_function_is_named_with_file_line_and_rule(tmp_path):
    root = make_package(tmp_path, {
        "report/__init__.py": "",
        "inspect/__init__.py": "",
        "inspect/render.py": "import json\n\n\ndef show():\n    from edgekit.report.page import human_bytes\n",
    })
    assert layer_violations(root) == [
        "edgekit/inspect/render.py:5: inspect (layer 3 'readers') imports edgekit.report.page "
        "(layer 6 'devices and views'): a lower layer never imports a higher one; move what both need down"]


@pytest.mark.parametrize("statement", ["import edgekit.pipeline.lock", "from edgekit.pipeline import lock",
                                       "from edgekit import pipeline", "from ..pipeline.lock import BuildLock"])
def test_pipeline_is_out_of_reach_from_below_in_every_spelling(tmp_path, statement):
    root = make_package(tmp_path, {"pipeline/__init__.py": "", "pipeline/lock.py": "", "fleet/__init__.py": "",
                                   "fleet/locks.py": f"{statement}\n"})
    problems = layer_violations(root)
    assert len(problems) == 1
    assert problems[0].startswith("edgekit/fleet/locks.py:1: fleet (layer 6 'devices and views') imports "
                                  "edgekit.pipeline")
    assert problems[0].endswith("nothing below pipeline/ and cli imports them, not even inside a function")


def test_importing_the_api_from_below_is_upward(tmp_path):
    root = make_package(tmp_path, {"report/__init__.py": "from edgekit import __version__\n"})
    assert layer_violations(root) == [
        "edgekit/report/__init__.py:1: report (layer 6 'devices and views') imports edgekit.__init__ "
        "(layer 10 'api'): a lower layer never imports a higher one; move what both need down"]


def test_a_cycle_within_one_layer_names_each_import(tmp_path):
    root = make_package(tmp_path, {"fleet/__init__.py": "from edgekit.report import page\n",
                                   "report/__init__.py": "", "report/page.py": "import edgekit.fleet\n"})
    assert layer_violations(root) == [
        "import cycle fleet -> report -> fleet (units import each other; move what both need into a lower unit): "
        "edgekit/fleet/__init__.py:1 imports edgekit.report; edgekit/report/page.py:1 imports edgekit.fleet"]


def test_a_package_without_a_layer_must_be_placed(tmp_path):
    root = make_package(tmp_path, {"plugins/__init__.py": "", "cli.py": "from edgekit.plugins import load\n"})
    assert layer_violations(root) == [
        "edgekit/plugins: a unit no layer holds; add it to LAYERS in tests/unit/test_layers.py and "
        "docs/architecture.md",
        "edgekit/cli.py:1: imports edgekit.plugins, but 'plugins' is in no layer; add it to LAYERS"]
