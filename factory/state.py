"""Pilot bookkeeping in SQLite: one row per pilot, its state history, request sequences, and each
entry's black-hole health (blocked until, reason, back-off strikes; loaded at start).

A pilot is recorded (state NEW) *before* the submit call, so a factory killed mid-submission
finds it on restart: the backend's status (matched by pilot id, which submitters put in the job
name) either shows it, or after a grace period it becomes LOST. Nothing is ever submitted twice
for one row, and nothing submitted is forgotten. Transitions follow `pilot_states.TRANSITIONS`;
an illegal one is refused and logged. Several processes (the entry workers, the CLI) share the
database file (WAL mode, busy timeout).

A write that fails (a full or read-only disk) raises `StateWriteError`, one line naming the file
and the cause; a transaction that failed is rolled back, so the next write starts clean.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glidein.common.errors import GlideinError
from glidein.common.timefmt import when
from glidein.factory.health import Health, PilotEnd, unblocked
from glidein.factory.pilot_states import TERMINAL, PilotState, PilotView, can_move

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pilots (
    pilot_id TEXT PRIMARY KEY, entry TEXT NOT NULL, client TEXT NOT NULL,
    security_class TEXT NOT NULL DEFAULT '', credential_id TEXT NOT NULL DEFAULT '',
    backend_id TEXT NOT NULL DEFAULT '', state TEXT NOT NULL, submit_time REAL NOT NULL,
    state_since REAL NOT NULL, held_reason TEXT NOT NULL DEFAULT '', releases INTEGER NOT NULL DEFAULT 0,
    exit_code INTEGER, end_time REAL, report_status TEXT, failure_class TEXT, relay TEXT
);
CREATE INDEX IF NOT EXISTS pilots_entry_state ON pilots (entry, state);
CREATE INDEX IF NOT EXISTS pilots_entry_end ON pilots (entry, end_time);
CREATE INDEX IF NOT EXISTS pilots_submit ON pilots (submit_time DESC, pilot_id);
CREATE TABLE IF NOT EXISTS history (
    pilot_id TEXT NOT NULL, time REAL NOT NULL, old_state TEXT, new_state TEXT NOT NULL, reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_pilot ON history (pilot_id);
CREATE TABLE IF NOT EXISTS sequences (
    frontend TEXT NOT NULL, name TEXT NOT NULL, sequence INTEGER NOT NULL, signature TEXT NOT NULL,
    expiry REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (frontend, name)
);
CREATE INDEX IF NOT EXISTS sequences_name ON sequences (name);
CREATE TABLE IF NOT EXISTS write_probe (id INTEGER PRIMARY KEY, time REAL NOT NULL);
CREATE TABLE IF NOT EXISTS health (
    entry TEXT PRIMARY KEY, blocked_until REAL NOT NULL, reason TEXT NOT NULL,
    strikes INTEGER NOT NULL, since REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS unblocks (entry TEXT PRIMARY KEY, time REAL NOT NULL);
"""

_ACTIVE_SQL = ",".join(f"'{s.value}'" for s in PilotState if s not in TERMINAL)
_GROUP = " GROUP BY entry, state"
_COUNTS_SQL = f"SELECT entry, state, COUNT(*) FROM pilots WHERE state IN ({_ACTIVE_SQL}){_GROUP}"  # noqa: S608


class StateWriteError(GlideinError):
    """factory.db (or another file of the state dir) cannot be written: submit nothing until it can."""


def cannot_write(path: Path, exc: BaseException) -> StateWriteError:
    """`state dir /x: cannot write factory.db: <cause>` (an OSError shows its errno)."""
    return StateWriteError(f"state dir {path.parent}: cannot write {path.name}: {exc}")


@dataclass(frozen=True)
class PilotRecord:
    view: PilotView
    entry: str
    backend_id: str
    credential_id: str

    @property
    def pilot_id(self) -> str:
        return self.view.pilot_id

    @property
    def state(self) -> PilotState:
        return self.view.state


@dataclass(frozen=True)
class NewPilot:
    entry: str
    client: str
    security_class: str
    credential_id: str


def new_pilot_id() -> str:
    return uuid.uuid4().hex[:16]


def connect(path: str | Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=60.0, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(_SCHEMA)
    have = {row[1] for row in conn.execute("PRAGMA table_info(pilots)")}
    for column in ("report_status", "failure_class", "relay"):  # databases made before these were kept
        if column not in have:
            conn.execute(f"ALTER TABLE pilots ADD COLUMN {column} TEXT")
    if "expiry" not in {row[1] for row in conn.execute("PRAGMA table_info(sequences)")}:
        conn.execute("ALTER TABLE sequences ADD COLUMN expiry REAL NOT NULL DEFAULT 0")  # expired: judge none
    return conn


def _record(row: Any) -> PilotRecord:
    (pid, entry, client, sec, cred, backend, state, submit, since, held, releases) = row
    view = PilotView(pid, client, PilotState(state), submit, since, sec, held, releases)
    return PilotRecord(view, str(entry), str(backend), str(cred))


_COLUMNS = (
    "pilot_id, entry, client, security_class, credential_id, backend_id, state, submit_time,"
    " state_since, held_reason, releases"
)


class PilotStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.conn = connect(self.path)
        except sqlite3.Error as exc:
            raise cannot_write(self.path, exc) from None

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise cannot_write(self.path, exc) from None
        try:
            yield self.conn
            self.conn.execute("COMMIT")
        except BaseException as exc:
            if self.conn.in_transaction:  # a failed COMMIT (disk full) leaves it open
                self.conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise cannot_write(self.path, exc) from None
            raise

    def _write(self, sql: str, args: Sequence[object]) -> None:
        """One statement in its own transaction; StateWriteError when it cannot be written."""
        with self._tx() as conn:
            conn.execute(sql, args)

    def probe(self, now: float) -> None:
        """Write one row: StateWriteError unless factory.db can be written right now."""
        self._write("INSERT OR REPLACE INTO write_probe (id, time) VALUES (1, ?)", (now,))

    # ------------------------------------------------------------ pilots

    def record_new(self, pilot: NewPilot, count: int, now: float) -> list[str]:
        """Record `count` pilots in state NEW (before submitting them); return their ids."""
        ids = [new_pilot_id() for _ in range(count)]
        with self._tx() as conn:
            conn.executemany(
                "INSERT INTO pilots (pilot_id, entry, client, security_class, credential_id, state,"
                " submit_time, state_since) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (i, pilot.entry, pilot.client, pilot.security_class, pilot.credential_id, "new", now, now)
                    for i in ids
                ],
            )
            conn.executemany(
                "INSERT INTO history VALUES (?, ?, NULL, 'new', 'recorded')", [(i, now) for i in ids]
            )
        return ids

    def set_backend_ids(self, backend_ids: dict[str, str], now: float) -> None:
        """Submission accepted: NEW -> PENDING with the backend's id."""
        with self._tx() as conn:
            for pilot_id, backend_id in backend_ids.items():
                conn.execute("UPDATE pilots SET backend_id = ? WHERE pilot_id = ?", (backend_id, pilot_id))
        self.move_many([(p, PilotState.PENDING, "submitted") for p in backend_ids], now)

    def active(self, entry: str | None = None) -> list[PilotRecord]:
        """Every pilot not in a terminal state (of one entry, or all)."""
        sql = f"SELECT {_COLUMNS} FROM pilots WHERE state IN ({_ACTIVE_SQL})"  # noqa: S608 - constants
        args: tuple[str, ...] = ()
        if entry is not None:
            sql += " AND entry = ?"
            args = (entry,)
        return [_record(row) for row in self.conn.execute(sql + " ORDER BY submit_time, pilot_id", args)]

    def get(self, pilot_id: str) -> PilotRecord | None:
        sql = f"SELECT {_COLUMNS} FROM pilots WHERE pilot_id = ?"  # noqa: S608 - constants
        row = self.conn.execute(sql, (pilot_id,)).fetchone()
        return _record(row) if row else None

    def move_many(
        self,
        moves: Sequence[tuple[str, PilotState, str]],
        now: float,
        held_reasons: dict[str, str] | None = None,
        exit_codes: dict[str, int | None] | None = None,
    ) -> int:
        """Apply (pilot id, new state, reason) transitions allowed by the table; return how many moved."""
        moved = 0
        with self._tx() as conn:
            for pilot_id, new, reason in moves:
                row = conn.execute("SELECT state FROM pilots WHERE pilot_id = ?", (pilot_id,)).fetchone()
                if row is None:
                    log.warning("pilot=%s unknown; cannot move it to %s", pilot_id, new.value)
                    continue
                old = PilotState(row[0])
                if old == new:
                    continue
                if not can_move(old, new):
                    log.warning(
                        "pilot=%s illegal transition %s -> %s refused", pilot_id, old.value, new.value
                    )
                    continue
                end = now if new in TERMINAL else None
                conn.execute(
                    "UPDATE pilots SET state = ?, state_since = ?, held_reason = ?, end_time = ?,"
                    " exit_code = COALESCE(?, exit_code) WHERE pilot_id = ?",
                    (
                        new.value,
                        now,
                        (held_reasons or {}).get(pilot_id, ""),
                        end,
                        (exit_codes or {}).get(pilot_id),
                        pilot_id,
                    ),
                )
                conn.execute(
                    "INSERT INTO history VALUES (?, ?, ?, ?, ?)",
                    (pilot_id, now, old.value, new.value, reason),
                )
                moved += 1
        return moved

    def count_release(self, pilot_ids: Sequence[str]) -> None:
        with self._tx() as conn:
            conn.executemany(
                "UPDATE pilots SET releases = releases + 1 WHERE pilot_id = ?", [(p,) for p in pilot_ids]
            )

    def history(self, pilot_id: str) -> list[tuple[str | None, str, str]]:
        rows = self.conn.execute(
            "SELECT old_state, new_state, reason FROM history WHERE pilot_id = ? ORDER BY rowid", (pilot_id,)
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def counts_by_entry(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for entry, state, n in self.conn.execute(_COUNTS_SQL):
            out.setdefault(entry, {})[state] = n
        return out

    def client_counts(self) -> list[tuple[str, str, str, PilotState, int]]:
        """(entry, client, security class, state, count) of every pilot not ended."""
        rows = self.conn.execute(
            "SELECT entry, client, security_class, state, COUNT(*) FROM pilots"  # noqa: S608 - constants
            f" WHERE state IN ({_ACTIVE_SQL}) GROUP BY entry, client, security_class, state"
        )
        return [(str(r[0]), str(r[1]), str(r[2]), PilotState(r[3]), int(r[4])) for r in rows]

    def recent_ends(self, entry: str, since: float) -> list[PilotEnd]:
        """Pilots of `entry` that ended after `since`, with their reported outcome if any."""
        rows = self.conn.execute(
            "SELECT p.state, p.exit_code, p.end_time - COALESCE((SELECT MIN(h.time) FROM history h"
            " WHERE h.pilot_id = p.pilot_id AND h.new_state = 'running'), p.end_time), p.end_time,"
            " p.report_status, p.failure_class FROM pilots p WHERE p.entry = ? AND p.end_time > ?",
            (entry, since),
        )
        return [PilotEnd(str(r[0]), r[1], float(r[2] or 0.0), float(r[3]), r[4], r[5]) for r in rows]

    def unreported_ends(self, entry: str, since: float) -> list[str]:
        """Ids of pilots of `entry` that ended after `since` and whose report is not recorded yet."""
        rows = self.conn.execute(
            "SELECT pilot_id FROM pilots WHERE entry = ? AND end_time > ? AND report_status IS NULL",
            (entry, since),
        )
        return [str(r[0]) for r in rows]

    def set_reports(self, reports: dict[str, tuple[str, str | None]]) -> None:
        """Record pilots' final reports: pilot id -> (status, failure class)."""
        with self._tx() as conn:
            conn.executemany(
                "UPDATE pilots SET report_status = ?, failure_class = ? WHERE pilot_id = ?",
                [(status, klass, pid) for pid, (status, klass) in reports.items()],
            )

    def set_relay(self, pilot_ids: Sequence[str], relay: str) -> None:
        """Record the site relay the pilots were submitted through (factory/relay/route.py)."""
        with self._tx() as conn:
            conn.executemany(
                "UPDATE pilots SET relay = ? WHERE pilot_id = ?", [(relay, p) for p in pilot_ids]
            )

    def relays(self, entry: str) -> dict[str, str]:
        """Pilot id -> the relay it went through, for `entry`'s pilots that went through one."""
        rows = self.conn.execute(
            "SELECT pilot_id, relay FROM pilots WHERE entry = ? AND relay IS NOT NULL", (entry,)
        )
        return {str(r[0]): str(r[1]) for r in rows}

    # ------------------------------------------------------------ request sequences (replay guard)

    def last_sequence(self, frontend: str, name: str) -> tuple[int, str, float] | None:
        row = self.conn.execute(
            "SELECT sequence, signature, expiry FROM sequences WHERE frontend = ? AND name = ?",
            (frontend, name),
        ).fetchone()
        return (int(row[0]), str(row[1]), float(row[2])) if row else None

    def save_sequence(self, frontend: str, name: str, accepted: tuple[int, str, float]) -> None:
        sequence, signature, expiry = accepted
        self._write(
            "INSERT INTO sequences (frontend, name, sequence, signature, expiry) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (frontend, name) DO UPDATE SET sequence = excluded.sequence,"
            " signature = excluded.signature, expiry = excluded.expiry",
            (frontend, name, sequence, signature, expiry),
        )

    def request_expiries(self, entry: str) -> dict[str, float]:
        """client -> ReqExpiry of its last accepted request to `entry` (Name entry@glidein@factory@client)."""
        out: dict[str, float] = {}
        rows = self.conn.execute(  # names starting "entry@" ('A' follows '@'): an index range, not a scan
            "SELECT name, expiry FROM sequences WHERE name >= ? AND name < ?", (f"{entry}@", f"{entry}A")
        )
        for name, expiry in rows:
            parts = str(name).split("@", 3)
            if len(parts) == 4:
                out[parts[3]] = max(float(expiry), out.get(parts[3], 0.0))
        return out

    # ------------------------------------------------------------ entry health (black-hole blocks)

    def load_health(self) -> dict[str, Health]:
        """Every entry's last saved health: a block outlives a restart of the factory."""
        rows = self.conn.execute("SELECT entry, blocked_until, reason, strikes, since FROM health")
        return {str(r[0]): Health(float(r[1]), str(r[2]), int(r[3]), float(r[4])) for r in rows}

    def save_health(self, entry: str, health: Health) -> None:
        self._write(
            "INSERT INTO health (entry, blocked_until, reason, strikes, since) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (entry) DO UPDATE SET blocked_until = excluded.blocked_until,"
            " reason = excluded.reason, strikes = excluded.strikes, since = excluded.since",
            (entry, health.blocked_until, health.reason, health.strikes, health.since),
        )

    def request_unblock(self, entry: str, now: float) -> None:
        """`glidein factory unblock ENTRY`: the daemon lifts the block at its next cycle."""
        self._write("INSERT OR REPLACE INTO unblocks (entry, time) VALUES (?, ?)", (entry, now))

    def take_unblocks(self) -> list[str]:
        """The entries an operator asked to unblock since the last call (the requests are consumed)."""
        if self.conn.execute("SELECT 1 FROM unblocks LIMIT 1").fetchone() is None:
            return []
        with self._tx() as conn:
            names = [str(r[0]) for r in conn.execute("SELECT entry FROM unblocks ORDER BY time")]
            conn.execute("DELETE FROM unblocks")
        return names


def apply_unblocks(store: PilotStore, health: dict[str, Health], now: float) -> list[str]:
    """Lift the blocks asked for with `glidein factory unblock` (in `health` and factory.db), one
    log line each; the entries unblocked. StateWriteError when factory.db cannot be written."""
    names = store.take_unblocks()
    for name in names:
        before = health.get(name, Health())
        health[name] = unblocked(before, now)
        was = f"was blocked until {when(before.blocked_until)}" if before.blocked(now) else "was not blocked"
        log.info("entry=%s unblocked by the operator (%s)", name, was)
        store.save_health(name, health[name])
    return names
