"""The one wrapper over HTCondor's ClassAd library (`classad2` from the pinned htcondor wheel).

Nothing else in glidein imports classad2/htcondor2 for ClassAd work: import every ClassAd name
from this module. `htcondor2` is imported before `classad2` (here and in `classad_core`): it
registers HTCondor's ClassAd functions (`stringListMember`, ...) and the matchmaking rule that
an unscoped reference not found in MY falls back to TARGET; without it both silently fail.

Values: evaluation returns plain Python values; the ClassAd `undefined` and `error` come back as
the distinct, falsy sentinels UNDEFINED and ERROR (classad2's own `Value.Undefined` and
`Value.Error` are truthy ints, a classic source of false matches). A match is only `is True`.

Syntaxes: new (`[ a = 1; b = "x" ]`), old/long (`a = 1` one per line, ads separated by blank
lines, `#` comment lines; a backslash is literal except before a quote) and JSON (expressions
as `"\\/Expr(...)\\/"`). Several ads are always split and parsed one by one.
The core (sentinels, evaluation) is in `classad_core`, matching in `classad_match`.
"""

import json
import re
from collections.abc import Mapping
from datetime import datetime

# isort: off
import htcondor2  # noqa: F401  # must come before classad2: see the module docstring
from classad2 import ClassAd, ExprTree, Value

# isort: on

from glidein.common import classad_text
from glidein.common.classad_core import (
    ERROR,
    UNDEFINED,
    ErrorValue,
    PyValue,
    Undefined,
    eval_attr,
    evaluate,
    expr_value,
    holds,
    is_true,
    parse_expr,
    parse_old_expr,
    quote,
)
from glidein.common.classad_match import (
    OneWayMatcher,
    external_refs,
    internal_refs,
    match_with_rank,
    rank,
    symmetric_match,
)
from glidein.common.classad_parse import from_old_pairs, parse_ad, parse_ads
from glidein.common.errors import ClassAdError

__all__ = [
    "ERROR",
    "UNDEFINED",
    "ClassAd",
    "ErrorValue",
    "ExprTree",
    "OneWayMatcher",
    "PyValue",
    "Undefined",
    "eval_attr",
    "evaluate",
    "expr_value",
    "external_refs",
    "from_dict",
    "from_old_pairs",
    "holds",
    "internal_refs",
    "is_true",
    "match_with_rank",
    "parse_ad",
    "parse_ads",
    "parse_expr",
    "parse_old_expr",
    "quote",
    "rank",
    "symmetric_match",
    "to_dict",
    "to_json",
    "to_json_list",
    "to_json_obj",
    "to_new",
    "to_old",
    "to_old_pairs",
]

# ---------------------------------------------------------------- serialising


def to_new(ad: ClassAd) -> str:
    """One-line new syntax: `[ a = 1; b = "x" ]`."""
    return str(repr(ad))


def to_json(ad: ClassAd) -> str:
    """JSON object; expressions travel as `"\\/Expr(<text>)\\/"`. Safe to pass through any JSON
    library: parse_ad also reads the decoded spelling "/Expr(<text>)/" as an expression."""
    return classad_text.json_protect_literals(str(ad.printJson()))


def to_json_obj(ad: ClassAd) -> dict[str, object]:
    """The ad as a JSON-ready dict (to embed in a larger JSON document); `parse_ad(json.dumps(d))`
    reads it back."""
    value = json.loads(to_json(ad))
    assert isinstance(value, dict)
    return value


def to_json_list(ads: "list[ClassAd]") -> str:
    """A JSON list of ads (what `parse_ads` reads back)."""
    return "[\n" + ",\n".join(to_json(ad) for ad in ads) + "\n]\n"


def to_old(ad: ClassAd) -> str:
    """Old/long syntax, one `Name = expression` per line. What old syntax cannot express (a line
    break in a string; a backslash before a quote that ends a string inside a larger
    expression) raises ClassAdError naming the attribute: use to_new/to_json for such ads."""
    text = str(ad.printOld())
    if text.count("\n") != len(ad):
        for name, expr in to_old_pairs(ad):
            if "\n" in expr:
                raise ClassAdError(f"attribute {name}: a line break cannot be written in old ClassAd syntax")
    if '\\"' in text:
        for line in text.split("\n"):
            name, _, expr = line.partition(" = ")
            _check_old(ad, name, expr)
    return text


_AMBIGUOUS_OLD = re.compile(r'\\"(?!\Z)')


def _check_old(ad: ClassAd, name: str, expr: str) -> None:
    """Old syntax has no escape for a backslash before a closing quote: `\\"` followed by more
    text is read as a quote inside the string (and before a line break as a closing one), so
    some values cannot be written. Where `\\"` is not at the very end, check by reading back."""
    if not _AMBIGUOUS_OLD.search(expr):
        return
    try:
        same = parse_old_expr(expr) == ad.lookup(name)
    except ClassAdError:
        same = False
    if not same:
        raise ClassAdError(
            f"attribute {name}: cannot be written in old ClassAd syntax (no escape for a backslash "
            "before a quote); use new or JSON syntax"
        )


def to_old_pairs(ad: ClassAd) -> list[tuple[str, str]]:
    """(name, old-syntax expression text) per attribute, the CEDAR wire form (a line break in a
    string stays raw: one pair is one expression). Unwritable values raise as in to_old."""
    lines = str(ad.printOld()).split("\n")[:-1]
    if len(lines) == len(ad):
        pairs = [(name, value) for name, _, value in (line.partition(" = ") for line in lines)]
    else:
        pairs = []
        for name in ad:
            single = ClassAd()
            single[name] = ad.lookup(name)
            pairs.append((name, str(single.printOld()).partition(" = ")[2][:-1]))
    for name, expr in pairs:
        if '\\"' in expr:
            _check_old(ad, name, expr)
    return pairs


# ---------------------------------------------------------------- dicts


def _literal_py(value: object) -> PyValue:
    if isinstance(value, Value):
        return None if value is Value.Undefined else ERROR
    if isinstance(value, ExprTree):
        return str(value)
    if isinstance(value, ClassAd):
        return to_dict(value)
    if isinstance(value, list):
        return [_literal_py(item) for item in value]
    if isinstance(value, datetime):
        return value.timestamp()
    return value


def to_dict(ad: ClassAd) -> dict[str, PyValue]:
    """Literals as Python values (undefined -> None, error -> ERROR, nested ads -> dicts);
    unevaluated expressions as their new-syntax text."""
    return {name: _literal_py(ad[name]) for name in ad}


def _from_py(name: str, value: object) -> object:
    if value is None or value is UNDEFINED:
        return None
    if value is ERROR:
        return Value.Error
    if isinstance(value, str) and "\0" in value:
        raise ClassAdError(f"attribute {name}: a ClassAd string cannot hold a NUL character")
    if isinstance(value, bool | float | str | ExprTree | ClassAd):
        return value
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise ClassAdError(f"attribute {name}: integer {value} does not fit in 64 bits")
        return value
    if isinstance(value, Mapping):
        return from_dict(value)
    if isinstance(value, list | tuple):
        return [_from_py(name, item) for item in value]
    raise ClassAdError(f"attribute {name}: cannot put a {type(value).__name__} into a ClassAd")


def from_dict(values: Mapping[str, object]) -> ClassAd:
    """Python values -> ClassAd literals (str is a string; use expr_value(text) for an expression)."""
    ad = ClassAd()
    for name, value in values.items():
        if not isinstance(name, str) or not name:
            raise ClassAdError(f"bad attribute name {name!r}")
        ad[name] = _from_py(name, value)
    return ad
