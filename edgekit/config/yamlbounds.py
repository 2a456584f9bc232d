"""A YAML loader with limits: what a hostile file could do to memory and the stack, refused at composition.

PyYAML's SafeLoader builds no objects of arbitrary classes, but it still lets a short file ask for a lot:

- aliases: `a: &a [1,1,1,1,1,1,1,1,1]`, `b: &b [*a,*a,...]`, ... six levels of nine is half a million nodes
  from 400 bytes. PyYAML shares the aliased node, but everything that walks the document (our line index,
  pydantic, model_dump) walks each alias again: 9 s and 1.1 GB measured for six levels, MemoryError for seven;
- recursive aliases (`a: &a [*a]`), which make a node contain itself: every walk ends in RecursionError;
- deep nesting (`[[[[...]]]]` ten thousand deep), which PyYAML's recursive composer turns into RecursionError.

`BoundedLoader` counts, while it composes, the size and the depth each node would have with every alias
expanded, and stops at the first node past a limit, with that node's line. A real edgekit.yaml, target file or
devices.yaml has a few hundred nodes and a depth under ten.
"""

from __future__ import annotations

import yaml
from yaml.composer import ComposerError
from yaml.events import AliasEvent

# Nodes of a document with every alias expanded. An inventory of a thousand devices, each a mapping of
# address and remote_python, is about 5,000; walking 100,000 nodes takes a fraction of a second.
MAX_EXPANDED_NODES = 100_000
# Nesting of mappings and lists, aliases expanded. edgekit's deepest key (export.quantization.tflite[0])
# is 4 levels down; 64 leaves room and stays far below Python's recursion limit.
MAX_DEPTH = 64


class YamlLimitExceeded(ComposerError):
    """The document is too large once its aliases are expanded, too deep, or contains itself."""


class BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses documents past MAX_EXPANDED_NODES or MAX_DEPTH, and recursive aliases.

    Sizes and depths are computed bottom-up as nodes are composed (each node once, so the check itself
    costs time linear in the file, whatever its aliases would expand to).
    """

    def __init__(self, stream):
        super().__init__(stream)
        self._open_depth = 0
        # id(node) -> (expanded size, expanded height) of every node whose composition has finished
        self._measure: dict[int, tuple[int, int]] = {}

    def compose_node(self, parent, index):
        if self.check_event(AliasEvent):
            event = self.peek_event()
            node = super().compose_node(parent, index)
            # PyYAML registers a collection under its anchor before composing its children: an alias that
            # reaches a node not finished yet is inside that node.
            if id(node) not in self._measure:
                raise YamlLimitExceeded(None, None, f"the alias *{event.anchor} refers to a node that contains it "
                                        f"(a recursive alias); edgekit files cannot contain themselves",
                                        event.start_mark)
            return node
        self._open_depth += 1
        if self._open_depth > MAX_DEPTH:
            raise YamlLimitExceeded(None, None, f"nested more than {MAX_DEPTH} levels deep",
                                    self.peek_event().start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self._open_depth -= 1

    def compose_scalar_node(self, anchor):
        node = super().compose_scalar_node(anchor)
        self._record(node, 1, 1)
        return node

    def compose_sequence_node(self, anchor):
        node = super().compose_sequence_node(anchor)
        self._record_collection(node, node.value)
        return node

    def compose_mapping_node(self, anchor):
        node = super().compose_mapping_node(anchor)
        self._record_collection(node, [child for pair in node.value for child in pair])
        return node

    def _record_collection(self, node, children) -> None:
        size, height = 1, 1
        for child in children:
            child_size, child_height = self._measure[id(child)]
            size += child_size
            height = max(height, child_height + 1)
        self._record(node, size, height)

    def _record(self, node, size: int, height: int) -> None:
        if size > MAX_EXPANDED_NODES:
            raise YamlLimitExceeded(None, None, f"this value expands to more than {MAX_EXPANDED_NODES:,} entries once "
                                    f"its aliases are expanded (an alias bomb?); edgekit files are small",
                                    node.start_mark)
        if height > MAX_DEPTH:
            raise YamlLimitExceeded(None, None, f"nested more than {MAX_DEPTH} levels deep once its aliases are "
                                    f"expanded", node.start_mark)
        self._measure[id(node)] = (size, height)

