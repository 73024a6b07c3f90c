"""Downtimes: scheduled (in the config) and operator-made (`glidein factory downtime add|end|list`).

Operator downtimes live in the factory's SQLite file (table `downtimes`) so that the CLI and the
running daemon share them. A downtime applies to an entry (or "All"), a frontend (or "All") and a
security class (or "All"); while one is active the entry submits nothing for the clients it
covers, and an entry-wide one makes the entry advertise `GLIDEIN_In_Downtime = True`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from glidein.common.errors import NotFoundError
from glidein.common.timefmt import iso

ALL = "All"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS downtimes (
    id INTEGER PRIMARY KEY AUTOINCREMENT, entry TEXT NOT NULL, frontend TEXT NOT NULL,
    security_class TEXT NOT NULL, start REAL NOT NULL, end REAL, comment TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Downtime:
    entry: str = ALL
    frontend: str = ALL
    security_class: str = ALL
    start: float = 0.0
    end: float | None = None  # None: open-ended
    comment: str = ""
    ident: int = 0  # row id of operator downtimes; 0 for configured ones

    def active(self, now: float) -> bool:
        return self.start <= now and (self.end is None or now < self.end)

    def covers(self, entry: str, frontend: str = ALL, security_class: str = ALL) -> bool:
        """True when this downtime applies to `entry` for that frontend / security class."""
        return (
            self.entry in (ALL, entry)
            and self.frontend in (ALL, frontend)
            and self.security_class in (ALL, security_class)
        )

    @property
    def entry_wide(self) -> bool:
        return self.frontend == ALL and self.security_class == ALL

    def describe(self) -> str:
        """One line with times as UTC dates ("end=open" when open-ended), never epochs."""
        end = "open" if self.end is None else iso(self.end)
        return (
            f"id={self.ident} entry={self.entry} frontend={self.frontend}"
            f" security_class={self.security_class} start={iso(self.start)}"
            f" end={end} comment={self.comment!r}"
        )


def entry_down(downtimes: Iterable[Downtime], entry: str, now: float) -> Downtime | None:
    """The active entry-wide downtime of `entry`, if any (pure)."""
    return next((d for d in downtimes if d.active(now) and d.entry_wide and d.covers(entry)), None)


def client_downtime(
    downtimes: Iterable[Downtime], entry: str, frontend: str, security_class: str, now: float
) -> Downtime | None:
    """The active downtime covering this client at `entry`, if any (pure)."""
    return next((d for d in downtimes if d.active(now) and d.covers(entry, frontend, security_class)), None)


class DowntimeStore:
    def __init__(self, path: str | Path) -> None:
        self.conn = sqlite3.connect(str(path), timeout=60.0, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.executescript(_SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def add(self, downtime: Downtime) -> int:
        cur = self.conn.execute(
            "INSERT INTO downtimes (entry, frontend, security_class, start, end, comment)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                downtime.entry,
                downtime.frontend,
                downtime.security_class,
                downtime.start,
                downtime.end,
                downtime.comment,
            ),
        )
        return int(cur.lastrowid or 0)

    def end(self, now: float, entry: str = ALL, ident: int = 0) -> list[int]:
        """End the active downtimes with id `ident`, or those of `entry` ("All": the All ones); their ids."""
        ended = [
            d.ident
            for d in self.all()
            if d.active(now) and ((ident and d.ident == ident) or (not ident and d.entry == entry))
        ]
        if not ended:
            raise NotFoundError(f"no active downtime {'id ' + str(ident) if ident else 'of entry ' + entry}")
        self.conn.executemany("UPDATE downtimes SET end = ? WHERE id = ?", [(now, i) for i in ended])
        return ended

    def all(self) -> list[Downtime]:
        rows = self.conn.execute(
            "SELECT entry, frontend, security_class, start, end, comment, id FROM downtimes ORDER BY id"
        )
        return [
            Downtime(r[0], r[1], r[2], float(r[3]), None if r[4] is None else float(r[4]), r[5], int(r[6]))
            for r in rows
        ]


def from_config(entry: str, configured: Sequence[object]) -> list[Downtime]:
    """Downtimes of an entry's config (`entries[i].downtimes`) as Downtime values."""
    out: list[Downtime] = []
    for item in configured:
        start, end = getattr(item, "start", None), getattr(item, "end", None)
        out.append(
            Downtime(
                entry,
                str(getattr(item, "frontend", ALL)),
                str(getattr(item, "security_class", ALL)),
                start.timestamp() if start is not None else 0.0,
                end.timestamp() if end is not None else None,
                str(getattr(item, "comment", "")),
            )
        )
    return out
