"""A small XML element tree that knows each element's line and which parts a converter used.

Parsed with `defusedxml.sax` (no entity expansion, no external entities). A converter reads
attributes with `take`/`take_int`/... and children with `child`/`children`; whatever it never
touched is reported by `unused()` with its line, so nothing is dropped silently.
"""

from __future__ import annotations

import xml.sax
from collections.abc import Iterator
from dataclasses import dataclass, field
from xml.sax.xmlreader import AttributesImpl, Locator

import defusedxml.sax

from glidein.common.errors import ConfigError


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    line: int
    source: str = ""
    children: list[Node] = field(default_factory=list)
    used: bool = False
    used_attrs: set[str] = field(default_factory=set)
    bad_attrs: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    def where(self) -> str:
        return f"{self.source}:{self.line}"

    def label(self) -> str:
        name = self.attrs.get("name")
        return f"<{self.tag} name={name!r}>" if name is not None else f"<{self.tag}>"

    # ------------------------------------------------------------ attributes

    def has(self, name: str) -> bool:
        return name in self.attrs

    def take(self, name: str, default: str | None = None) -> str | None:
        """The attribute's text (marked as mapped), or `default`."""
        if name not in self.attrs:
            return default
        self.used_attrs.add(name)
        return self.attrs[name]

    def take_int(self, name: str) -> int | None:
        text = self.take(name)
        if text is None:
            return None
        try:
            return int(text.strip())
        except ValueError:
            self._bad(name, "an integer")
            return None

    def take_float(self, name: str) -> float | None:
        text = self.take(name)
        if text is None:
            return None
        try:
            return float(text.strip())
        except ValueError:
            self._bad(name, "a number")
            return None

    def take_bool(self, name: str) -> bool | None:
        text = self.take(name)
        if text is None:
            return None
        lowered = text.strip().lower()
        if lowered in ("true", "false", "1", "0", "yes", "no"):
            return lowered in ("true", "1", "yes")
        self._bad(name, "True or False")
        return None

    def _bad(self, name: str, what: str) -> None:
        self.used_attrs.discard(name)
        self.bad_attrs.add(name)  # reported once, with the reason
        self.problems.append(
            f"{self.where()}: {self.label()} attribute {name}={self.attrs[name]!r}: not {what}"
        )

    # ------------------------------------------------------------ children

    def child(self, tag: str) -> Node | None:
        """The first child element `tag`, marked as used (None when absent)."""
        for node in self.children:
            if node.tag == tag:
                node.used = True
                return node
        return None

    def children_named(self, tag: str) -> list[Node]:
        found = [node for node in self.children if node.tag == tag]
        for node in found:
            node.used = True
        return found

    def path(self, *tags: str) -> Node | None:
        """Follow child tags, e.g. `node.path("config", "max_jobs", "per_entry")`."""
        node: Node | None = self
        for tag in tags:
            node = node.child(tag) if node is not None else None
        return node

    def walk(self) -> Iterator[Node]:
        yield self
        for node in self.children:
            yield from node.walk()


def unused(root: Node) -> list[str]:
    """One line per non-empty element, or attribute of a used element, the converter did not map."""
    return [line for _, line in unused_by_kind(root)]


def unused_by_kind(root: Node) -> list[tuple[str, str]]:
    """`unused` lines with their kind (`<entry> attribute vm_id not mapped`), to count them."""
    lines: list[tuple[str, str]] = []
    _collect(root, lines)
    return lines


def _collect(node: Node, lines: list[tuple[str, str]]) -> None:
    lines.extend((problem.split(": ", 1)[-1], problem) for problem in node.problems)
    if not node.used and not node.attrs and not node.children:
        return  # an empty element (`<files/>`) holds nothing that could be lost
    if not node.used:
        inner = sum(1 for _ in node.walk()) - 1
        extra = f" (and {inner} element(s) inside)" if inner else ""
        kind = f"<{node.tag}> element not mapped"
        lines.append((kind, f"{node.where()}: {node.label()} element not mapped{extra}"))
        return
    for name, value in node.attrs.items():
        if name not in node.used_attrs and name not in node.bad_attrs:
            kind = f"<{node.tag}> attribute {name} not mapped"
            lines.append((kind, f"{node.where()}: {node.label()} attribute {name}={value!r} not mapped"))
    for child in node.children:
        _collect(child, lines)


class _Builder(xml.sax.ContentHandler):
    def __init__(self, source: str) -> None:
        super().__init__()
        self.source = source
        self.stack: list[Node] = []
        self.root: Node | None = None
        self.locator: Locator | None = None

    def setDocumentLocator(self, locator: Locator) -> None:
        self.locator = locator

    def startElement(self, name: str, attrs: AttributesImpl) -> None:
        line = self.locator.getLineNumber() if self.locator is not None else 0
        node = Node(name, {key: attrs[key] for key in attrs.getNames()}, line or 0, self.source)
        if self.stack:
            self.stack[-1].children.append(node)
        else:
            self.root = node
        self.stack.append(node)

    def endElement(self, name: str) -> None:
        self.stack.pop()


def parse_xml(data: bytes, source: str) -> Node:
    """Parse `data` into a Node tree; ConfigError naming the file and line on bad XML."""
    builder = _Builder(source)
    try:
        defusedxml.sax.parseString(data, builder)
    except xml.sax.SAXParseException as exc:
        raise ConfigError(f"{source}:{exc.getLineNumber()}: invalid XML: {exc.getMessage()}") from None
    except defusedxml.DefusedXmlException as exc:
        raise ConfigError(f"{source}: refused XML: {exc}") from None
    if builder.root is None:
        raise ConfigError(f"{source}: empty XML document")
    builder.root.used = True
    return builder.root
