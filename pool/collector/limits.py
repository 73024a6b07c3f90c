"""Bounds on the ClassAd text the collector accepts, checked before classad2 sees it.

classad2 overflows the C stack (SIGSEGV) on a very long or deeply nested expression, and its
`eval()` function parses a string at evaluation time, out of reach of any check on the text.
So every ad and every constraint is measured first (`glidein.common.classad_limits`: `AD` for a
whole ad, `EXPRESSION` for a constraint) and `eval(` outside string literals is refused.
Counting characters with `bytes.translate` (C speed) clears the usual small ad at once: it can only
overcount operators and nesting, so the exact scan runs only when the counts come close.
"""

from __future__ import annotations

import re

from glidein.common import classad_limits
from glidein.common.classad_limits import AD, EXPRESSION, Limits
from glidein.common.errors import ClassAdError
from glidein.pool import cedar

_EVAL = re.compile(r"\beval\s*\(", re.I)
_LITERALS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', re.S)
_COUNTED = "".join(sorted(classad_limits.OPERATOR_CHARS | classad_limits.OPEN)).encode()
_NOT_COUNTED = bytes(byte for byte in range(256) if byte not in _COUNTED)


def _surely_within(text: str, data: bytes, limits: Limits) -> bool:
    """True when even counting every operator and bracket character the text is within limits."""
    if len(text) > limits.max_chars:
        return False
    counted = data.translate(None, _NOT_COUNTED)  # one C pass
    opens = counted.count(b"(") + counted.count(b"[") + counted.count(b"{")
    return opens <= limits.max_depth and len(counted) - opens <= limits.max_operators


def _check_eval(text: str, data: bytes, where: str) -> None:
    if b"(" in data and b"eval" in data.lower() and _EVAL.search(_LITERALS.sub('""', text)):
        raise ClassAdError(f"{where}: eval() is not accepted")


def check_expression(text: str, where: str) -> None:
    """ClassAdError naming `where` unless one expression (a constraint) is within EXPRESSION."""
    data = text.encode("utf-8", "surrogateescape")
    if not _surely_within(text, data, EXPRESSION):
        classad_limits.check_text(text, where, EXPRESSION)
    _check_eval(text, data, where)


def _culprit(lines: list[str]) -> str:
    """The attribute of an ad over its limits: the first one over EXPRESSION, else the longest."""
    named = []
    for line in lines:
        try:
            name, expr = cedar.split_line(line)
        except cedar.CedarError:
            continue
        try:
            check_expression(expr, "")
        except ClassAdError:
            return name
        named.append((len(expr), name))
    return max(named)[1] if named else "?"


def check_ad(text: str, data: bytes | None = None) -> None:
    """ClassAdError naming the attribute unless an ad (NUL-terminated old-syntax lines) is within
    AD and uses no eval(). `data`: the bytes `text` was decoded from, when the caller has them."""
    if data is None:
        data = text.encode("utf-8", "surrogateescape")
    try:
        if not _surely_within(text, data, AD):
            classad_limits.check_text(text, "ad", AD)
        _check_eval(text, data, "ad")
    except ClassAdError as exc:
        name = _culprit(text.split("\0")[:-1])
        raise ClassAdError(f"attribute {name}: {exc}") from None
