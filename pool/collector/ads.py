"""Ads as the collector keeps them: the ClassAd for evaluation plus the wire lines to send back.

An update arrives as `Name = expr` lines in old syntax. The collector keeps those bytes (so a query
answer is the client's own text, no re-printing) and builds one ClassAd for constraint evaluation
by rewriting the lines into a single new-syntax ad. Each expression is first checked not to leak
out of its attribute (a top-level `;` or `]`, a comment opener) so that one attribute can never
inject another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from glidein.common import classads
from glidein.common.errors import ClassAdError
from glidein.pool import cedar

# Expressions that read the same in old and new syntax and cannot leak: no backslash, no `;`,
# no brackets, no `/` (comments), no quoted names; string literals without backslashes.
_SAFE = re.compile(r'[^\\;\[\]{}/\'"]*(?:"[^"\\]*"[^\\;\[\]{}/\'"]*)*\Z')
_NEW_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|//|/\*|["\';\[\]{}()]', re.S)
_PAIRS = {")": "(", "]": "[", "}": "{"}
PRIVATE = {"capability", "childclaimids", "claimid", "claimidlist", "claimids", "transferkey"}
STAMPED = {"lastheardfrom"}


@dataclass(slots=True)
class Record:
    """One stored ad: identity, the ClassAd, its wire lines, and when it expires."""

    my_type: str
    name: str
    ad: classads.ClassAd
    lines: list[bytes]
    expires: float


def _check_new(name: str, expr: str) -> None:
    """Raise ClassAdError if a new-syntax expression could leak out of `[ name = expr ]`."""
    stack: list[str] = []
    for match in _NEW_TOKEN.finditer(expr):
        tok = match.group()
        if tok in ('"', "'", "//", "/*"):
            raise ClassAdError(f"attribute {name}: unterminated string or comment")
        if tok in "([{":
            stack.append(tok)
        elif tok in _PAIRS:
            if not stack or stack.pop() != _PAIRS[tok]:
                raise ClassAdError(f"attribute {name}: unbalanced {tok!r}")
        elif tok == ";" and not stack:
            raise ClassAdError(f"attribute {name}: ';' outside brackets")
    if stack:
        raise ClassAdError(f"attribute {name}: unclosed {stack[-1]!r}")


def to_new_expr(name: str, expr: str) -> str:
    """The new-syntax text of one old-syntax attribute expression, checked not to leak."""
    if _SAFE.match(expr):
        return expr
    try:
        new = cedar.old_to_new(expr)
    except cedar.CedarError as exc:
        raise ClassAdError(f"attribute {name}: {exc}") from None
    _check_new(name, new)
    return new


def _string_attr(exprs: dict[str, str], name: str) -> str | None:
    text = exprs.get(name.lower())
    if text is None:
        return None
    value = cedar.literal(text)
    if not isinstance(value, str):
        raise ClassAdError(f"attribute {name} is not a string literal: {text[:60]!r}")
    return value


def build_record(
    raw_lines: list[bytes], default_type: str | None, now: float, default_lifetime: float
) -> Record:
    """A Record from the raw wire lines of one update; ClassAdError names what is wrong."""
    kept: dict[str, tuple[str, bytes, str]] = {}  # lower name -> (name, raw line, expr)
    for raw in raw_lines:
        try:
            name, expr = cedar.split_line(raw.decode("utf-8", "replace"))
        except cedar.CedarError as exc:
            raise ClassAdError(str(exc)) from None
        low = name.lower()
        if low in PRIVATE or low.startswith("_condor_priv") or low in STAMPED:
            continue
        kept[low] = (name, raw, expr)
    exprs = {low: item[2] for low, item in kept.items()}
    my_type = _string_attr(exprs, "MyType")
    if my_type is None:
        if default_type is None:
            raise ClassAdError("ad has no MyType")
        my_type = default_type
        kept["mytype"] = (
            "MyType",
            ("MyType = " + cedar.quote_old(my_type)).encode(),
            cedar.quote_old(my_type),
        )
    ad_name = _string_attr(exprs, "Name") or _string_attr(exprs, "Machine")
    if not ad_name:
        raise ClassAdError(f"{my_type} ad has no Name")
    lifetime_value = cedar.literal(exprs.get("classadlifetime", ""))
    is_number = isinstance(lifetime_value, (int, float)) and not isinstance(lifetime_value, bool)
    lifetime = float(lifetime_value) if is_number and lifetime_value > 0 else default_lifetime  # type: ignore[operator,arg-type]
    stamp = int(now)
    body = "; ".join(item[0] + " = " + to_new_expr(item[0], item[2]) for item in kept.values())
    try:
        ad = classads.ClassAd(f"[ {body}; LastHeardFrom = {stamp} ]")
    except Exception as exc:  # classad2 raises its own exception types on bad syntax
        raise ClassAdError(f"{my_type} ad {ad_name!r} does not parse: {exc}") from None
    lines = [item[1] for item in kept.values()]
    lines.append(b"LastHeardFrom = %d" % stamp)
    return Record(my_type, ad_name, ad, lines, now + lifetime)


def _line_name(line: bytes) -> str:
    return line.split(b"=", 1)[0].strip().decode("utf-8", "replace").lower()


def encode_record(record: Record, projection: set[str] | None = None) -> bytes:
    """The record as a query answer item: `more` = 1, then the ad (projected if asked)."""
    lines = record.lines
    if projection:
        lines = [line for line in lines if _line_name(line) in projection]
    return b"".join(
        (cedar.INT.pack(1), cedar.INT.pack(len(lines)), b"\0".join(lines), b"\0\0\0" if lines else b"\0\0")
    )
