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


def _strip_parens(text: str) -> str:
    """Remove parentheses that enclose the whole expression."""
    text = text.strip()
    while text.startswith("(") and text.endswith(")"):
        depth = 0
        for match in _TOKEN.finditer(text):
            tok = match.group()
            if tok[0] in _OPEN:
                depth += 1
            elif tok[0] in _CLOSE:
                depth -= 1
                if depth == 0 and match.end() != len(text):
                    return text  # the first group closes before the end: `(a) && (b)`
        text = text[1:-1].strip()
    return text


def _term(text: str) -> tuple[str, str] | None:
    match = _TERM.match(_strip_parens(text))
    if not match:
        return None
    attr = (match.group("a1") or match.group("a2")).lower()
    value = match.group("v1") if match.group("v1") is not None else match.group("v2")
    return attr, value.lower()


def _disjunction(text: str) -> tuple[str, set[str]] | None:
    """`A == "x" || A == "y"` -> ("a", {"x", "y"}); None unless every alternative is on one attr."""
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


def index_terms(constraint: str) -> dict[str, set[str]]:
    """{lower attr: lower string values} the constraint requires one of, e.g. {"mytype": {"x"}}."""
    conjuncts = _split_top(_strip_parens(constraint), "&&")
    terms: dict[str, set[str]] = {}
    if conjuncts is None:
        return terms
    for conjunct in conjuncts:
        found = _disjunction(conjunct)
        if found is None:
            continue
        attr, values = found
        terms[attr] = terms[attr] & values if attr in terms else values
    return terms
