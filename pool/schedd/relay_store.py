"""The relay's pilots: one table in the schedd's own queue file (queue.sqlite, WAL).

A pilot row moves through `stage`:
  queued      accepted from the factory, not yet handed to the backend
  submitting  about to be handed to the backend (committed BEFORE the backend call)
  submitted   the backend took it (committed AFTER the call, with the backend's id)
A relay killed between the two commits finds the pilot `submitting` at start and asks the backend
for it by pilot id (every backend names what it submits after the pilot id): found, it is
`submitted`; not found, the backend never took it and it is `queued` again. So a pilot is
never handed over twice and never dropped.

`state` is what the relay last learnt from the backend (a PilotState value; `missing` when the
backend stopped listing a pilot it took: not reported, the factory decides). Secrets are kept only
until the backend took the pilot (the backend writes its own 0600 parameter file).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

QUEUED, SUBMITTING, SUBMITTED = "queued", "submitting", "submitted"
FINAL_STATES = ("completed", "failed", "removed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS relay_pilots (
    pilot_id TEXT PRIMARY KEY, spec TEXT NOT NULL, stage TEXT NOT NULL, state TEXT NOT NULL,
    backend_id TEXT NOT NULL DEFAULT '', exit_code INTEGER, held_reason TEXT NOT NULL DEFAULT '',
    queued REAL NOT NULL, updated REAL NOT NULL, remove INTEGER NOT NULL DEFAULT 0,
    release INTEGER NOT NULL DEFAULT 0, handovers INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS relay_pilots_open ON relay_pilots (stage, queued)
    WHERE state NOT IN ('completed', 'failed', 'removed');
"""
_COLUMNS = "pilot_id, spec, stage, state, backend_id, exit_code, held_reason, remove, release, handovers"


@dataclass(frozen=True)
class RelayPilot:
    pilot_id: str
    spec: dict[str, object]
    stage: str
    state: str
    backend_id: str
    exit_code: int | None
    held_reason: str
    remove: bool
    release: bool
    handovers: int  # times the backend was called with it (1 for every pilot handed over)

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


def _row(row: tuple[object, ...]) -> RelayPilot:
    pid, spec, stage, state, backend, code, held, remove, release, handovers = row
    return RelayPilot(
        str(pid),
        json.loads(str(spec)),
        str(stage),
        str(state),
        str(backend),
        None if code is None else int(str(code)),
        str(held),
        bool(remove),
        bool(release),
        int(str(handovers)),
    )


class RelayStore:
    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # a committed hand-over survives a power cut too
        self.db.executescript(_SCHEMA)
        self.lock = threading.Lock()

    def close(self) -> None:
        with self.lock:
            self.db.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One transaction under the lock: a batch is recorded whole (and synced once)."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def _select(self, where: str, args: Sequence[object] = ()) -> list[RelayPilot]:
        sql = f"SELECT {_COLUMNS} FROM relay_pilots WHERE {where}"  # noqa: S608 - constant clauses
        with self.lock:
            return [_row(r) for r in self.db.execute(sql, tuple(args))]

    def add(self, specs: Iterable[Mapping[str, object]], now: float) -> list[str]:
        """Queue pilots; one already known (a factory's retry) is left as it is. Ids accepted."""
        out = []
        with self._tx():
            for spec in specs:
                pilot_id = str(spec["pilot_id"])
                self.db.execute(
                    "INSERT OR IGNORE INTO relay_pilots (pilot_id, spec, stage, state, queued, updated)"
                    " VALUES (?, ?, ?, 'idle', ?, ?)",
                    (pilot_id, json.dumps(dict(spec)), QUEUED, now, now),
                )
                out.append(pilot_id)
        return out

    def get(self, ids: Sequence[str]) -> dict[str, RelayPilot]:
        found: dict[str, RelayPilot] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            found.update((p.pilot_id, p) for p in self._select(f"pilot_id IN ({marks})", chunk))
        return found

    def all(self) -> list[RelayPilot]:
        return self._select("1 ORDER BY queued, pilot_id")

    def in_stage(self, stage: str) -> list[RelayPilot]:
        return self._select("stage = ? AND state NOT IN ('completed', 'failed', 'removed')", [stage])

    def take(self, limit: int, now: float) -> list[RelayPilot]:
        """Up to `limit` queued pilots, oldest first, marked `submitting` (committed)."""
        with self._tx():
            rows = self.db.execute(
                f"SELECT {_COLUMNS} FROM relay_pilots WHERE stage = ? AND remove = 0"  # noqa: S608
                " AND state NOT IN ('completed', 'failed', 'removed') ORDER BY queued, pilot_id LIMIT ?",
                (QUEUED, limit),
            ).fetchall()
            taken = [_row(r) for r in rows]
            self.db.executemany(
                "UPDATE relay_pilots SET stage = ?, handovers = handovers + 1, updated = ?"
                " WHERE pilot_id = ?",
                [(SUBMITTING, now, p.pilot_id) for p in taken],
            )
        return taken

    def submitted(self, backend_ids: Mapping[str, str], now: float) -> None:
        """The backend took these pilots: record its ids and forget their secrets."""
        with self._tx():
            for pilot_id, backend_id in backend_ids.items():
                (spec,) = self.db.execute(
                    "SELECT spec FROM relay_pilots WHERE pilot_id = ?", (pilot_id,)
                ).fetchone()
                scrubbed = {**json.loads(spec), "secrets": {}}
                self.db.execute(
                    "UPDATE relay_pilots SET stage = ?, backend_id = ?, spec = ?, updated = ?"
                    " WHERE pilot_id = ?",
                    (SUBMITTED, backend_id, json.dumps(scrubbed), now, pilot_id),
                )

    def requeue(self, ids: Iterable[str], now: float) -> None:
        """The backend did not take these pilots: queued again, for a later cycle."""
        with self._tx():
            self.db.executemany(
                "UPDATE relay_pilots SET stage = ?, updated = ? WHERE pilot_id = ? AND stage = ?",
                [(QUEUED, now, pilot_id, SUBMITTING) for pilot_id in ids],
            )

    def set_state(
        self, pilot_id: str, state: str, now: float, exit_code: int | None = None, held_reason: str = ""
    ) -> None:
        self.set_states([(pilot_id, state, exit_code, held_reason)], now)

    def set_states(self, rows: Sequence[tuple[str, str, int | None, str]], now: float) -> None:
        """(pilot id, state, exit code, held reason) of several pilots, in one transaction."""
        with self._tx():
            self.db.executemany(
                "UPDATE relay_pilots SET state = ?, exit_code = ?, held_reason = ?, updated = ?"
                " WHERE pilot_id = ?",
                [(state, code, held, now, pilot_id) for pilot_id, state, code, held in rows],
            )

    def flag(self, column: str, ids: Sequence[str], value: bool, now: float) -> list[str]:
        """Set the `remove` or `release` request of open pilots; the ids it was set on."""
        assert column in ("remove", "release")
        open_ids = [p.pilot_id for p in self.get(ids).values() if not p.final]
        with self._tx():
            self.db.executemany(
                f"UPDATE relay_pilots SET {column} = ?, updated = ? WHERE pilot_id = ?",  # noqa: S608
                [(int(value), now, pilot_id) for pilot_id in open_ids],
            )
        return open_ids

    def totals(self) -> dict[str, int]:
        with self.lock:
            rows = self.db.execute("SELECT state, COUNT(*) FROM relay_pilots GROUP BY state").fetchall()
        return {str(state): int(count) for state, count in rows}
