"""A query's projection: the wire lines of the asked attributes of a stored ad, found by search.

A stored ad is its client's `Name = expr` lines, NUL-terminated. The lines of the projected
attributes are found with one lower-casing and one `find` per asked name (C speed), not by
splitting and decoding every line: a count query (`Projection = "MyType"`) over 100,000 ads costs
what its answer costs. As condor_collector does (putClassAd expands a projection), a projected
attribute that is an expression also brings the ad's attributes it references, directly or
through others (classad2's internal references), so that the client evaluates it as it would in
the whole ad.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable

from glidein.pool import cedar
from glidein.pool.collector.ads import Record

# A value that references nothing: a number, a plain string, a boolean or undefined.
_LITERAL = re.compile(
    rb'[ \t]*(?:[-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?|"[^"\\]*"|true|false|undefined)[ \t]*\Z', re.I
)
_BLANK = b" \t"
_EQUALS = ord("=")


class Projection:
    """The lower-cased attribute names a query asks for."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = {name.lower() for name in names}
        self.probes = [b"\0" + name.encode("utf-8", "surrogateescape") for name in sorted(self.names)]

    def item(self, record: Record) -> bytes:
        """The record as a query answer item: `more` = 1, then its projected ad."""
        low = b"\0" + record.blob.lower()
        if b"\0 " in low or b"\0\t" in low:  # a name after blanks: line by line
            return _by_lines(record, self.names)
        spans = _spans(low, self.probes)
        if any(not _LITERAL.match(low, equals + 1, end) for _, equals, end in spans):
            spans = self._expanded(record, low, spans)
        spans.sort()
        blob = b"".join(record.blob[start : end - 1] + b"\0" for start, _, end in spans)
        return b"".join((cedar.INT.pack(1), cedar.INT.pack(len(spans)), blob, b"\0\0"))

    def _expanded(self, record: Record, low: bytes, spans: list[Span]) -> list[Span]:
        """`spans` and those of the attributes their expressions reference."""
        found: set[str] = set()
        for start, _, _ in spans:
            name = low[start + 1 : low.index(b"=", start)].strip().decode("utf-8", "replace")
            with contextlib.suppress(Exception):  # classad2 raises its own types (absent, too deep)
                found.update(ref.lower() for ref in record.ad.internalRefs(record.ad.lookup(name)))
        extra = [b"\0" + name.encode("utf-8", "surrogateescape") for name in found - self.names]
        return spans + _spans(low, extra)


Span = tuple[int, int, int]  # one line: its NUL before, its "=" and its NUL after, in `low`


def _spans(low: bytes, probes: list[bytes]) -> list[Span]:
    """The lines of `low` (b"\\0" + the lower-cased blob) whose name is one of `probes`
    (b"\\0" + lower-cased name): every line with that name, however spaced around "="."""
    spans = []
    for probe in probes:
        pos = low.find(probe)
        while pos >= 0:
            after = pos + len(probe)
            while after < len(low) and low[after] in _BLANK:
                after += 1
            if after < len(low) and low[after] == _EQUALS:
                spans.append((pos, after, low.index(b"\0", after)))
            pos = low.find(probe, after)
    return spans


def _by_lines(record: Record, names: set[str]) -> bytes:
    """Projection.item line by line, for the rare ad whose names follow blanks."""
    lines = [line for line in record.blob.split(b"\0")[:-1] if _name(line) in names]
    refs: set[str] = set()
    for line in lines:
        if not _LITERAL.match(line, line.index(b"=") + 1):
            with contextlib.suppress(Exception):  # classad2 raises its own types
                refs.update(r.lower() for r in record.ad.internalRefs(record.ad.lookup(_name(line))))
    if refs - names:
        lines = [line for line in record.blob.split(b"\0")[:-1] if _name(line) in names | refs]
    blob = b"".join(line + b"\0" for line in lines)
    return b"".join((cedar.INT.pack(1), cedar.INT.pack(len(lines)), blob, b"\0\0"))


def _name(line: bytes) -> str:
    return line.split(b"=", 1)[0].strip().decode("utf-8", "replace").lower()
