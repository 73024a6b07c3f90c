"""What `glidein config import-xml` leaves out, counted: one line per kind, not one per element.

A production factory repeats the same attribute on every entry (`<release sleep>` on 1,058
entries): the operator needs to know once that it has no meaning here, how often it occurs and
where the first one is, not 1,058 lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Tally:
    """Kinds of things the import dropped or changed, each with a count and its first place."""

    counts: dict[str, int] = field(default_factory=dict)
    first: dict[str, str] = field(default_factory=dict)

    def add(self, kind: str, where: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.first.setdefault(kind, where)

    def lines(self) -> list[str]:
        return [_line(kind, count, self.first[kind]) for kind, count in self.counts.items()]


def _line(kind: str, count: int, where: str) -> str:
    times = "once" if count == 1 else f"{count} times"
    return f"{kind} ({times}; first at {where})"


def summarize(items: Sequence[tuple[str, str]]) -> list[str]:
    """(kind, full line) pairs -> the full line of a kind seen once, else one counted line."""
    by_kind: dict[str, list[str]] = {}
    for kind, line in items:
        by_kind.setdefault(kind, []).append(line)
    out = []
    for kind, lines in by_kind.items():
        if len(lines) == 1:
            out.append(lines[0])
        else:
            out.append(_line(kind, len(lines), lines[0].split(": ", 1)[0]))
    return out
