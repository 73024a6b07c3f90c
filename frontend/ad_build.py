"""Our own ads (glideclient, glideresource) as ClassAds, built from one text parsed at once.

`classads.from_dict` sets attributes one by one; 2 x 5,000 ads a cycle at global-pool scale
(bench/frontend.py) made that a visible part of the cycle. `ad_of` gives the same ad (tested
against from_dict) for the values these ads hold, and falls back to from_dict for anything else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from glidein.common import classads
from glidein.common.classads import ClassAd, ExprTree

_ATTR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Expr:
    """An expression with its text, unparsed once (an entry's attributes, the same every cycle)."""

    tree: ExprTree
    text: str

    @classmethod
    def of(cls, tree: ExprTree) -> Expr:
        return cls(tree, str(tree))


def ad_of(values: Mapping[str, object]) -> ClassAd:
    """`classads.from_dict` for the values of our own ads (strings, integers, booleans and
    expressions), from one text parsed at once: 2 x 5,000 ads a cycle at global-pool scale
    (bench/frontend.py). Anything else (and names equal but for case) goes to from_dict."""
    parts = []
    for name, value in values.items():
        text = _literal_text(value)
        if text is None or not _ATTR_NAME.fullmatch(name):
            return _from_dict(values)
        parts.append(f"{name} = {text}")
    if len({name.lower() for name in values}) != len(values):
        return _from_dict(values)
    try:
        return ClassAd("[" + "; ".join(parts) + "]")
    except Exception:  # classad2 raises its own ClassAdException
        return _from_dict(values)


def _from_dict(values: Mapping[str, object]) -> ClassAd:
    return classads.from_dict({k: v.tree if isinstance(v, Expr) else v for k, v in values.items()})


def _literal_text(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and -(2**63) <= value < 2**63:
        return str(value)
    if isinstance(value, str) and "\0" not in value:
        return classads.quote(value)
    if isinstance(value, Expr):
        return value.text
    if isinstance(value, ExprTree):
        return str(value)  # its unparsed text reads back as the same expression
    return None
