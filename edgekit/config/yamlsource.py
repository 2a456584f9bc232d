"""YAML loading that remembers where each key was written, so errors can name the line."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml

from edgekit.config.yamlbounds import BoundedLoader, YamlLimitExceeded
from edgekit.errors import ConfigError

KeyPath = tuple[Any, ...]


class LocatedYaml:
    """A parsed YAML document and the line (1-based) of every key and list item in it."""

    def __init__(self, data: Any, lines: dict[KeyPath, int], source: str):
        self.data = data
        self.lines = lines
        self.source = source

    def line_of(self, path: KeyPath) -> int | None:
        """The line of `path`, or of its nearest ancestor that was written in the file."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


def load_yaml(path: Path | str, *, what: str = "configuration") -> LocatedYaml:
    """Read a YAML file into plain data, keeping the line of each key.

    Raises:
        ConfigError: the file is missing, is not valid YAML, repeats a key, or is not a mapping.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {what} file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the {what} file: {error}") from None
    return parse_yaml(text, source=str(path), what=what)


def parse_yaml(text: str, *, source: str, what: str = "configuration") -> LocatedYaml:
    """Parse YAML text (see `load_yaml`)."""
    loader = BoundedLoader(text)
    try:
        root = loader.get_single_node()
    except YamlLimitExceeded as error:
        raise ConfigError(f"{source}, line {error.problem_mark.line + 1}: {error.problem}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        context, context_mark = getattr(error, "context", None), getattr(error, "context_mark", None)
        if context and context_mark is not None:
            problem += f" ({context} started on line {context_mark.line + 1})"
        raise ConfigError(f"{source}{where}: not valid YAML: {problem}") from None
    finally:
        loader.dispose()
    if root is None:
        return LocatedYaml({}, {}, source)
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{source}: the {what} must be a mapping of keys to values, got a {_node_kind(root)}")
    lines: dict[KeyPath, int] = {}
    _collect_lines(root, (), lines, source)
    try:
        # Constructed from the node just checked: its size and depth are bounded, and it holds no cycle.
        data = loader.construct_document(root)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}{where}: not valid YAML: {getattr(error, 'problem', None) or error}") from None
    return LocatedYaml(data, lines, source)


def _node_kind(node: yaml.Node) -> str:
    return {yaml.SequenceNode: "list", yaml.ScalarNode: "single value"}.get(type(node), "mapping")


def _collect_lines(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], source: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                # PyYAML keeps the last of two equal keys; a silently ignored setting is worse than an error.
                raise ConfigError(f"{source}, line {line}: key '{key}' is given twice (first on line {seen[key]})")
            seen[key] = line
            lines[path + (key,)] = line
            _collect_lines(value_node, path + (key,), lines, source)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[path + (index,)] = item.start_mark.line + 1
            _collect_lines(item, path + (index,), lines, source)


def did_you_mean(word: str, choices) -> str:
    """' (did you mean 'x'?)' when one of `choices` is close to `word`, else ''."""
    close = difflib.get_close_matches(str(word), [str(choice) for choice in choices], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
