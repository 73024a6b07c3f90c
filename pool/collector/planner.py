"""Query planning: which attribute values (MyType, Name, ...) a constraint pins down, from its text.

A constraint such as `MyType == "glidefactory" && GLIDEIN_Site == "X"` can only match ads in the
MyType index bucket "glidefactory", so the store scans that bucket instead of every ad. The full
constraint is still evaluated on each candidate, so the planner only has to return a superset:
it recognises top-level `&&` conjuncts of the form `Attr == "literal"` (or `=?=`, either side,
optionally `MY.`-scoped, or an `||` of such terms on one attribute) and gives up on anything else.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|=\?=|=!=|&&|\|\||[()\[\]{}?]', re.S)
_TERM = re.compile(
    r'\A\s*(?:(?:MY\.)?(?P<a1>[A-Za-z_]\w*)\s*(?:==|=\?=)\s*"(?P<v1>[^"\\]*)"'
    r'|"(?P<v2>[^"\\]*)"\s*(?:==|=\?=)\s*(?:MY\.)?(?P<a2>[A-Za-z_]\w*))\s*\Z',
    re.I,
)
_NAME = re.compile(r"[A-Za-z_]\w*\Z")
_OPEN = "([{"
_CLOSE = ")]}"


def _split_top(text: str, operator: str) -> list[str] | None:
    """Split `text` at top-level `operator` (`&&` or `||`); None if it has a top-level `?`."""
    parts: list[str] = []
    depth = 0
    start = 0
    for match in _TOKEN.finditer(text):
        tok = match.group()
        if tok[0] in _OPEN:
            depth += 1
        elif tok[0] in _CLOSE:
            depth -= 1
        elif depth == 0 and tok == "?":
            return None
        elif depth == 0 and tok == operator:
            parts.append(text[start : match.start()])
            start = match.end()
    parts.append(text[start:])
    return parts


def _closing(text: str) -> dict[int, int]:
    """Index of each opening bracket -> index of the bracket that closes it, in one pass."""
    closes: dict[int, int] = {}
    stack: list[int] = []
    for match in _TOKEN.finditer(text):
        tok = match.group()
        if tok[0] in _OPEN:
            stack.append(match.start())
        elif tok[0] in _CLOSE and stack:
            closes[stack.pop()] = match.start()
    return closes


def _strip_parens(text: str) -> str:
    """Remove parentheses that enclose the whole expression (linear in the text, at any depth)."""
    text = text.strip()
    if not (text.startswith("(") and text.endswith(")")):
        return text
    closes = _closing(text)
    start, end = 0, len(text)  # text[start:end] is what is left, stripped of blanks
    while text.startswith("(", start) and end - start >= 2 and closes.get(start) == end - 1:
        start, end = start + 1, end - 1  # `(a) && (b)`: the first group closes before the end
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
    return text[start:end]


def _term(text: str) -> tuple[str, str] | None:
    match = _TERM.match(_strip_parens(text))
    if not match:
        return None
    attr = (match.group("a1") or match.group("a2")).lower()
    value = match.group("v1") if match.group("v1") is not None else match.group("v2")
    return attr, value.lower()


def _disjunction(text: str) -> tuple[str, set[str]] | None:
    """`A == "x" || A == "y"` -> ("a", {"x", "y"}); None unless every alternative is on one attr."""
    if "==" not in text and "=?=" not in text:
        return None
    alternatives = _split_top(_strip_parens(text), "||")
    if not alternatives:
        return None
    attr = ""
    values: set[str] = set()
    for alternative in alternatives:
        term = _term(alternative)
        if term is None or (attr and term[0] != attr):
            return None
        attr = term[0]
        values.add(term[1])
    return attr, values


def plain_name(ref: str) -> bool:
    """An attribute reference without scope (`Cpus`, not `TARGET.Cpus` or `a.b`)."""
    return bool(_NAME.match(ref))


def conjuncts(constraint: str) -> list[str] | None:
    """The top-level `&&` terms of a constraint; the whole text as one term when it is a top-level
    `||` (which binds looser than `&&`); None when a top-level `?:` makes terms unsafe to split."""
    text = _strip_parens(constraint)
    alternatives = _split_top(text, "||")
    if alternatives is None:
        return None
    return [text] if len(alternatives) > 1 else _split_top(text, "&&")


def index_terms(constraint: str) -> dict[str, set[str]]:
    """{lower attr: lower string values} the constraint requires one of, e.g. {"mytype": {"x"}}."""
    if "==" not in constraint and "=?=" not in constraint:
        return {}  # no term to find
    terms: dict[str, set[str]] = {}
    conjuncts_ = conjuncts(constraint)
    if conjuncts_ is None:
        return terms
    for conjunct in conjuncts_:
        found = _disjunction(conjunct)
        if found is None:
            continue
        attr, values = found
        terms[attr] = terms[attr] & values if attr in terms else values
    return terms
