"""One walk over a composed YAML node tree: the data `yaml.safe_load` would build, the line of
every key path, duplicate keys, and the refusal of an alias bomb, recursive alias or deep nesting.

The loader used to walk the tree three times (check, construct, index); a 1,000-entry factory
(150,000 nodes) paid about 1 s for that. An alias is built once and shared, as safe_load does; its
expanded size is counted against `max_copies` without walking it again. Anything unusual (a `<<`
merge key, a `!!set`) raises `Unusual`: the caller then takes PyYAML's own constructor.
"""

from __future__ import annotations

from collections.abc import Callable

import yaml

from glidein.common.config.base import Loc
from glidein.common.config.messages import format_path

_STR, _SEQ, _MAP = "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"


class Unusual(Exception):
    """A document this walk does not build itself."""


class TreeRefused(Exception):
    """A bomb, recursive alias or deep nesting; the message names the line."""


class Tree:
    def __init__(self, construct: Callable[[yaml.Node], object], max_copies: int, max_depth: int) -> None:
        self.construct = construct  # PyYAML's constructor, for int/bool/null/float/timestamp scalars
        self.max_copies, self.max_depth = max_copies, max_depth
        self.built: dict[int, object] = {}
        self.sizes: dict[int, int] = {}  # expanded size of each built node
        self.path: set[int] = set()
        self.copies = 0
        self.lines: dict[Loc, int] = {}
        self.duplicates: list[str] = []

    def build(self, node: yaml.Node, loc: Loc) -> object:
        key = id(node)
        line = node.start_mark.line + 1
        if key in self.path:
            raise TreeRefused(f"recursive alias: the anchor at line {line} contains itself")
        if key in self.built:  # an alias: shared, counted as the values it adds
            self.copies += self.sizes[key]
            if self.copies > self.max_copies:
                raise TreeRefused(
                    f"more than {self.max_copies} values once aliases are expanded (line {line})"
                )
            self._index(node, loc)
            return self.built[key]
        if len(self.path) >= self.max_depth:
            raise TreeRefused(f"nested deeper than {self.max_depth} levels (line {line})")
        self.lines[loc] = line
        if isinstance(node, yaml.ScalarNode):
            value, size = _scalar(node, self.construct), 1
        else:
            self.path.add(key)
            value, size = self._collection(node, loc)
            self.path.discard(key)
        self.built[key], self.sizes[key] = value, size
        return value

    def _collection(self, node: yaml.Node, loc: Loc) -> tuple[object, int]:
        size = 1
        if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ:
            items = []
            for index, item in enumerate(node.value):
                items.append(self.build(item, (*loc, index)))
                size += self.sizes[id(item)]
            return items, size
        if not isinstance(node, yaml.MappingNode) or node.tag != _MAP:
            raise Unusual(node.tag)
        mapping: dict[object, object] = {}
        seen: set[object] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in (_STR, *_SCALAR_KEYS):
                raise Unusual(key_node.tag)  # merge keys, complex keys
            text = key_node.value
            key = text if key_node.tag == _STR else self.construct(key_node)
            here = (*loc, text)
            if text in seen:
                where = format_path(here)
                self.duplicates.append(f"{where}: duplicate key (line {key_node.start_mark.line + 1})")
            seen.add(text)
            mapping[key] = self.build(value_node, here)
            self.lines[here] = key_node.start_mark.line + 1
            size += 1 + self.sizes[id(value_node)]
        return mapping, size

    def _index(self, node: yaml.Node, loc: Loc) -> None:
        """Lines of the paths inside an alias's copy (their anchor's lines)."""
        self.lines[loc] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                self._index(value_node, (*loc, key_node.value))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._index(item, (*loc, index))


def _scalar(node: yaml.ScalarNode, construct: Callable[[yaml.Node], object]) -> object:
    """The common scalars here, the rest by PyYAML's constructor (same results)."""
    tag, text = node.tag, node.value
    if tag == _STR:
        return text
    if tag == _INT and text.isdigit() and (text == "0" or text[0] != "0") and len(text) <= _MAX_DIGITS:
        return int(text)
    if tag == _BOOL:
        return text.lower() in ("yes", "true", "on")
    return construct(node)


_INT, _BOOL = "tag:yaml.org,2002:int", "tag:yaml.org,2002:bool"
_MAX_DIGITS = 4000  # Python's int() refuses 4300 digits and more with a ValueError


def _bounded_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> object:
    """PyYAML's int, or a YAML error (with its line) for one too long for Python to convert."""
    try:
        return yaml.SafeLoader.construct_yaml_int(loader, node)
    except ValueError:
        where = node.start_mark
        raise yaml.constructor.ConstructorError(None, None, "integer with too many digits", where) from None


_SCALAR_KEYS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:float")


def fast_loader(base: type[yaml.SafeLoader]) -> type[yaml.SafeLoader]:
    """`base` with a quicker tag resolver: the same implicit resolvers (bool, int, float, null,
    timestamp...), without the per-node list building and path-resolver bookkeeping PyYAML's
    resolver does for every node (a third of a big config's load). Safe loaders have no path
    resolvers; a class that has some keeps PyYAML's."""
    if base.yaml_path_resolvers:
        return base
    wildcard = list(base.yaml_implicit_resolvers.get(None, []))
    table = {
        first: tuple(found + wildcard)
        for first, found in base.yaml_implicit_resolvers.items()
        if first is not None
    }
    plain_default = tuple(wildcard)

    class FastLoader(base):  # type: ignore[valid-type,misc]
        def resolve(self, kind: type, value: str, implicit: tuple[bool, bool]) -> str:
            if kind is yaml.ScalarNode:
                if implicit[0]:
                    for tag, regexp in table.get(value[:1], plain_default):
                        if regexp.match(value):
                            return str(tag)
                return _STR
            return _SEQ if kind is yaml.SequenceNode else _MAP

        def descend_resolver(self, current_node: object, current_index: object) -> None:
            return None

        def ascend_resolver(self) -> None:
            return None

    FastLoader.add_constructor(_INT, _bounded_int)
    return FastLoader
