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

from collections.abc import Mapping
from datetime import datetime

# isort: off
import htcondor2  # noqa: F401  # must come before classad2: see the module docstring
import classad2
from classad2 import ClassAd, ExprTree, ParserType, Value

# isort: on

from glidein.common import classad_text
from glidein.common.classad_core import (
    ERROR,
    PARSE_ERRORS,
    UNDEFINED,
    ErrorValue,
    PyValue,
    Undefined,
    eval_attr,
    evaluate,
    expr_value,
    is_true,
    lib_error,
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
from glidein.common.classad_text import TextError, line_of, snippet
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
    "to_new",
    "to_old",
    "to_old_pairs",
]

_parse_next = classad2.classad2_impl._classad_parse_next


# ---------------------------------------------------------------- parsing


def _syntax(text: str, pos: int) -> str:
    """'new', 'json', 'jsonlist', 'old' or 'empty' from the first significant character."""
    stripped = classad_text._COMMENT.sub("", text[pos : pos + 4096]).lstrip()
    if not stripped:
        return "old" if text[pos:].strip() else "empty"
    if stripped[0] == "{":
        return "json"
    if stripped[0] == "[":
        rest = stripped[1:].lstrip()
        return "jsonlist" if rest[:1] in ("{", "]") else "new"
    return "old"


def _parse_chunk(chunk: str, parser: ParserType, kind: str) -> ClassAd:
    try:
        ad, _ = _parse_next(chunk, int(parser), 0)
    except PARSE_ERRORS:
        ad = None
    if ad is None:
        raise lib_error(kind, chunk)
    return ad


def _old_line_parts(lines: list[tuple[int, str]]) -> list[tuple[int, str, str]]:
    """(line number, name, new-syntax value) for each attribute line of one old ad."""
    parts = []
    for number, line in lines:
        name, eq, value = line.partition("=")
        name, value = name.strip(), value.strip()
        if not eq or not name.isidentifier() or not name.isascii() or value[:1] == "=":
            raise ClassAdError(f"line {number}: expected 'Name = expression', got {snippet(line.strip())}")
        value = classad_text.old_strings_to_new(value)
        reason = classad_text.unsafe_expr_reason(value)
        if reason:
            raise ClassAdError(f"line {number}: attribute {name}: {reason} in {snippet(value)}")
        parts.append((number, name, value))
    return parts


def _parse_old(lines: list[tuple[int, str]]) -> ClassAd:
    parts = _old_line_parts(lines)
    text = "[" + "\n;".join(f"{name} = {value}" for _, name, value in parts) + "\n]"
    try:
        return ClassAd(text)
    except PARSE_ERRORS:
        pass
    for number, name, value in parts:  # slow path: find the culprit
        try:
            parse_expr(value)
        except ClassAdError as err:
            raise ClassAdError(f"line {number}: attribute {name}: {err}") from None
    raise lib_error("old-syntax ClassAd", text)


def _old_groups(text: str) -> list[list[tuple[int, str]]]:
    """Attribute lines of each old ad (ads separated by blank lines; '#' lines are comments)."""
    groups: list[list[tuple[int, str]]] = [[]]
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        if not stripped:
            if groups[-1]:
                groups.append([])
        elif stripped[0] != "#":
            groups[-1].append((number, line))
    return [group for group in groups if group]


def _chunks(text: str, kind: str) -> list[str]:
    try:
        if kind == "jsonlist":
            first, last = text.index("["), text.rindex("]")
            classad_text._check_between(text, last + 1, len(text), "")
            return classad_text.split_ads(text, first + 1, last, sep=",")
        return classad_text.split_ads(text)
    except TextError as err:
        raise ClassAdError(str(err)) from None


def parse_ads(text: str) -> list[ClassAd]:
    """Parse several ads: old ads separated by blank lines, concatenated new ads, JSON objects
    or a JSON list of objects (`[]` is an empty list). Each ad is split out and parsed alone."""
    kind = _syntax(text, 0)
    if kind == "empty":
        return []
    if kind == "old":
        return [_parse_old(group) for group in _old_groups(text)]
    parser = ParserType.New if kind == "new" else ParserType.JSON
    label = "new-syntax ClassAd" if kind == "new" else "JSON ClassAd"
    ads = []
    for chunk in _chunks(text, kind):
        if parser is ParserType.JSON and chunk[0] != "{":
            raise ClassAdError(f"line {line_of(text, text.index(chunk))}: JSON ad must be an object")
        ads.append(_parse_chunk(chunk, parser, label))
    return ads


def parse_ad(text: str) -> ClassAd:
    """Parse exactly one ad in new, old/long or JSON syntax."""
    if _syntax(text, 0) == "jsonlist":
        raise ClassAdError(f"expected one ClassAd, got a JSON list: {snippet(text)}")
    ads = parse_ads(text)
    if len(ads) != 1:
        raise ClassAdError(f"expected one ClassAd, found {len(ads)} in {snippet(text)}")
    return ads[0]


def from_old_pairs(pairs: "list[tuple[str, str]]") -> ClassAd:
    """An ad from (name, old-syntax expression text) pairs, the CEDAR wire form."""
    lines = [(index, f"{name} = {value}") for index, (name, value) in enumerate(pairs, start=1)]
    try:
        return _parse_old(lines)
    except ClassAdError as err:
        raise ClassAdError(str(err).replace("line ", "pair ", 1)) from None


# ---------------------------------------------------------------- serialising


def to_new(ad: ClassAd) -> str:
    """One-line new syntax: `[ a = 1; b = "x" ]`."""
    return str(repr(ad))


def to_json(ad: ClassAd) -> str:
    """JSON object; expressions travel as `"\\/Expr(<text>)\\/"`."""
    return str(ad.printJson())


def to_json_list(ads: "list[ClassAd]") -> str:
    """A JSON list of ads (what `parse_ads` reads back)."""
    return "[\n" + ",\n".join(str(ad.printJson()) for ad in ads) + "\n]\n"


def to_old(ad: ClassAd) -> str:
    """Old/long syntax, one `Name = expression` per line. A string with a line break cannot be
    written in this syntax: ClassAdError names the attribute (use to_new/to_json instead)."""
    text = str(ad.printOld())
    if text.count("\n") != len(ad):
        for name, expr in to_old_pairs(ad):
            if "\n" in expr or "\r" in expr:
                raise ClassAdError(f"attribute {name}: a line break cannot be written in old ClassAd syntax")
    return text


def to_old_pairs(ad: ClassAd) -> list[tuple[str, str]]:
    """(name, old-syntax expression text) per attribute, the CEDAR wire form."""
    lines = str(ad.printOld()).split("\n")[:-1]
    if len(lines) == len(ad):
        return [(name, value) for name, _, value in (line.partition(" = ") for line in lines)]
    pairs = []
    for name in ad:
        single = ClassAd()
        single[name] = ad.lookup(name)
        pairs.append((name, str(single.printOld()).partition(" = ")[2][:-1]))
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
