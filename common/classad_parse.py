"""Parsing ClassAds from text: new, old/long and JSON syntax, one ad or many.

Use `glidein.common.classads` (it re-exports `parse_ad`, `parse_ads`, `from_old_pairs`).

Several ads are never handed to classad2 as one large string (its `parseAds` converts the
whole remaining text for every ad: quadratic). New and JSON ads are parsed from a bounded
window at the current position; old ads are cut at blank lines. Old ads are rewritten into one
new-syntax ad (string escapes converted, each value checked so it cannot leak into another
attribute) and parsed in one call; only when that fails is the text analysed line by line, so
that the error names the line and the attribute.
"""

import re

from glidein.common import classad_text
from glidein.common.classad_core import PARSE_ERRORS, ClassAd, ParserType, lib_error, parse_expr, parse_next
from glidein.common.classad_text import line_of, snippet
from glidein.common.errors import ClassAdError

_OLD_LINE = re.compile(r"^[ \t\r]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*=(?!=)[ \t]*([^\n]*\S)[ \t\r]*$", re.M)
_SIGNIFICANT_LINE = re.compile(r"^[ \t\r]*[^\s#]", re.M)
_BLANK_LINES = re.compile(r"\n(?:[ \t\r]*\n)+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SKIP = re.compile(r"(?:\s+|//[^\n]*|/\*.*?\*/)*", re.S)
_WINDOW = 8192
_EMPTY_BRACKETS = re.compile(r"\s*\[\s*\]\s*")
_EMPTY_AD = re.compile(r"\[\s*\]|\{\s*\}")


def _skip(text: str, pos: int, stop: int | None = None) -> int:
    """Offset of the first character at or after `pos` that is not whitespace or a comment."""
    match = _SKIP.match(text, pos, len(text) if stop is None else stop)
    return match.end() if match else pos


def syntax_of(text: str) -> str:
    """'new', 'json', 'jsonlist', 'old' or 'empty' from the first significant character."""
    pos = _skip(text, 0)
    head = text[pos : pos + 1]
    if head == "[":
        nxt = _skip(text, pos + 1)
        return "jsonlist" if text[nxt : nxt + 1] in ("{", "]") else "new"
    return {"": "empty", "{": "json"}.get(head, "old")


def _join_parse(pairs: list[tuple[str, str]]) -> ClassAd | None:
    """One ad from (name, old-syntax value) pairs in one library call, or None if in doubt."""
    parts = []
    for name, value in pairs:
        new_value = classad_text.old_strings_to_new(value)
        if classad_text.quick_unsafe_reason(new_value):
            return None
        parts.append(f"{name} = {new_value}")
    return _parse_joined("[" + "\n;".join(parts) + "\n]")


def _significant_lines(chunk: str) -> int:
    """Attribute lines in one old ad (blank lines only around it: ads are cut at blank lines)."""
    if "#" in chunk:
        return len(_SIGNIFICANT_LINE.findall(chunk))
    return chunk.strip().count("\n") + 1


def _whole_old_ad(chunk: str) -> ClassAd | None:
    """The fast path for one old ad: convert and check the whole text at once, or None.

    Without comment lines, `;`, `/*` or stray quotes, each line becomes one attribute of a
    new-syntax ad (the new parser then checks every line is `Name = expression`)."""
    text = classad_text.old_strings_to_new_lines(chunk) if "\\" in chunk else chunk
    if classad_text.has_risky_chars(text):
        return None
    if "#" not in text:
        return _parse_joined("[" + text.strip().replace("\n", "\n;") + "\n]")
    pairs = _OLD_LINE.findall(text)
    if len(pairs) != _significant_lines(chunk):
        return None
    joined = "[" + "\n;".join([f"{name} = {value}" for name, value in pairs]) + "\n]"
    return _parse_joined(joined)


def _parse_joined(joined: str) -> ClassAd | None:
    try:
        ad, offset = parse_next(joined, int(ParserType.New), 0)
    except PARSE_ERRORS:
        return None
    if ad is None or offset != (len(joined) if joined.isascii() else len(joined.encode())):
        return None
    return ad


def _culprit(label: str, name: str, value: str) -> ClassAdError:
    new_value = classad_text.old_strings_to_new(value)
    reason = classad_text.unsafe_expr_reason(new_value)
    if reason:
        return ClassAdError(f"{label}: attribute {name}: {reason} in {snippet(value)}")
    try:
        parse_expr(new_value)
    except ClassAdError as err:
        return ClassAdError(f"{label}: attribute {name}: {err}")
    return ClassAdError(f"{label}: attribute {name}: cannot be parsed with the other attributes")


def _old_error(text: str, first_line: int) -> ClassAdError:
    """The first bad line of an old ad, as a one-line error."""
    for number, line in enumerate(text.split("\n"), start=first_line):
        if not _SIGNIFICANT_LINE.match(line):
            continue
        match = _OLD_LINE.match(line)
        if not match:
            return ClassAdError(f"line {number}: expected 'Name = expression', got {snippet(line.strip())}")
        err = _culprit(f"line {number}", match.group(1), match.group(2))
        if "cannot be parsed with the other" not in str(err):
            return err
    return lib_error("old-syntax ClassAd", text)


def _old_ad(text: str, start: int, end: int) -> ClassAd:
    chunk = text[start:end]
    ad = _whole_old_ad(chunk)
    if ad is not None:
        return ad
    pairs = _OLD_LINE.findall(chunk)
    if len(pairs) == len(_SIGNIFICANT_LINE.findall(chunk)):
        ad = _join_parse(pairs)
        if ad is not None:
            return ad
    raise _old_error(chunk, line_of(text, start))


def _old_ads(text: str) -> list[ClassAd]:
    ads, start = [], 0
    for sep in [*_BLANK_LINES.finditer(text), None]:
        end = len(text) if sep is None else sep.start()
        if _SIGNIFICANT_LINE.search(text, start, end):
            ads.append(_old_ad(text, start, end))
        start = end if sep is None else sep.end()
    return ads


def _next_ad(text: str, pos: int, stop: int, parser: ParserType, kind: str) -> tuple[ClassAd, int]:
    """Parse the ad at `pos` from a growing window of the text; return it and the end offset."""
    empty = _EMPTY_AD.match(text, pos, stop)
    if empty:  # classad2 cannot parse an empty ad
        return ClassAd(), empty.end()
    window = _WINDOW
    while True:
        chunk = text[pos : min(stop, pos + window)]
        try:
            ad, offset = parse_next(chunk, int(parser), 0)
        except PARSE_ERRORS:
            ad, offset = None, 0
        if ad is not None and offset > 0:
            used = offset if chunk.isascii() else len(chunk.encode()[:offset].decode())
            return ad, pos + used
        if pos + window >= stop:
            raise ClassAdError(f"line {line_of(text, pos)}: {lib_error(kind, chunk)}")
        window *= 4


def _stream(text: str, kind: str) -> list[ClassAd]:
    parser = ParserType.New if kind == "new" else ParserType.JSON
    label = "new-syntax ClassAd" if kind == "new" else "JSON ClassAd"
    pos, stop, sep = 0, len(text), ""
    if kind == "jsonlist":
        pos, stop, sep = text.index("[") + 1, text.rindex("]"), ","
        if _skip(text, stop + 1) < len(text):
            raise ClassAdError(f"line {line_of(text, stop)}: unexpected text after the JSON list")
    ads: list[ClassAd] = []
    while True:
        pos = _skip(text, pos, stop)
        if ads and sep and pos < stop:
            if not text.startswith(sep, pos):
                raise ClassAdError(f"line {line_of(text, pos)}: expected {sep!r} between ads")
            pos = _skip(text, pos + 1, stop)
            if pos >= stop:
                raise ClassAdError(f"line {line_of(text, pos)}: {sep!r} after the last ad")
        if pos >= stop:
            return ads
        opener = "{" if parser is ParserType.JSON else "["
        if text[pos] != opener:
            raise ClassAdError(
                f"line {line_of(text, pos)}: expected {opener!r}, got {snippet(text[pos:stop])}"
            )
        ad, pos = _next_ad(text, pos, stop, parser, label)
        ads.append(ad)


def parse_ads(text: str) -> list[ClassAd]:
    """Parse several ads: old ads separated by blank lines, concatenated new ads, JSON objects
    or a JSON list of objects (`[]` is an empty list). Each ad is parsed on its own."""
    kind = syntax_of(text)
    if kind == "empty":
        return []
    if kind == "old":
        return _old_ads(text)
    if kind != "new":
        text = classad_text.json_for_classad2(text)
    return _stream(text, kind)


def parse_ad(text: str) -> ClassAd:
    """Parse exactly one ad in new, old/long or JSON syntax (`[]` is the empty ad here)."""
    if syntax_of(text) == "jsonlist":
        if not _EMPTY_BRACKETS.fullmatch(text):
            raise ClassAdError(f"expected one ClassAd, got a JSON list: {snippet(text)}")
        return ClassAd()
    ads = parse_ads(text)
    if len(ads) != 1:
        raise ClassAdError(f"expected one ClassAd, found {len(ads)} in {snippet(text)}")
    return ads[0]


def from_old_pairs(pairs: list[tuple[str, str]]) -> ClassAd:
    """An ad from (name, old-syntax expression text) pairs, the CEDAR wire form."""
    for index, (name, _) in enumerate(pairs, start=1):
        if not _NAME.fullmatch(name):
            raise ClassAdError(f"pair {index}: bad attribute name {snippet(name)}")
    ad = _join_parse(pairs) if pairs else ClassAd()
    if ad is not None:
        return ad
    for index, (name, value) in enumerate(pairs, start=1):
        err = _culprit(f"pair {index}", name, value)
        if "cannot be parsed with the other" not in str(err):
            raise err
    raise ClassAdError(f"pairs {snippet(repr(pairs))} do not form a ClassAd")
