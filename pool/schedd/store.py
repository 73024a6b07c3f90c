"""The persistent job queue: SQLite in WAL mode, one connection used under the queue's lock.

A job row holds only what varies per job; the attributes shared by a whole cluster live once
in `clusters.common`, the significant ones once in `autoclusters.attrs` (JSON, name ->
ClassAd expression text). A full job ad = autocluster attrs + cluster common + job vars +
the status columns (see `queue.JobQueue.job_ad`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS autoclusters (id INTEGER PRIMARY KEY, attrs TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clusters (
    id INTEGER PRIMARY KEY, owner TEXT NOT NULL, qdate INTEGER NOT NULL, common TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    cluster INTEGER NOT NULL, proc INTEGER NOT NULL, status INTEGER NOT NULL, ac INTEGER NOT NULL,
    starts INTEGER NOT NULL DEFAULT 0, entered INTEGER NOT NULL, vars TEXT,
    claim TEXT, startd TEXT, lease REAL, exit_code INTEGER, started INTEGER, completed INTEGER, reason TEXT,
    hold_code INTEGER, PRIMARY KEY (cluster, proc)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS jobs_idle ON jobs (ac, cluster, proc) WHERE status = 1;
CREATE INDEX IF NOT EXISTS jobs_claim ON jobs (claim) WHERE claim IS NOT NULL;
"""
JOB_COLUMNS = (
    "cluster, proc, status, ac, starts, entered, vars, claim, startd, lease, exit_code, started, completed, "
    "reason, hold_code"
)
_SELECT = f"SELECT {JOB_COLUMNS} FROM jobs WHERE "  # noqa: S608 - constant column list


@dataclass
class JobRow:
    cluster: int
    proc: int
    status: int
    ac: int
    starts: int
    entered: int
    vars: str | None
    claim: str | None
    startd: str | None
    lease: float | None
    exit_code: int | None
    started: int | None
    completed: int | None
    reason: str | None = None  # why the job is held
    hold_code: int | None = None  # HTCondor's HoldReasonCode (1 user request, 13 input transfer failed)

    @property
    def job_id(self) -> str:
        return f"{self.cluster}.{self.proc}"


class Store:
    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = path
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        if readonly:
            self.db.execute("PRAGMA query_only=ON")
            return
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(jobs)")}
        if "hold_code" not in columns:  # a queue written before hold codes were kept
            self.db.execute("ALTER TABLE jobs ADD COLUMN hold_code INTEGER")

    def reader(self) -> Store:
        """A second, read-only connection: long reads see a snapshot and do not block writers (WAL)."""
        return Store(self.path, readonly=True)

    def close(self) -> None:
        self.db.close()

    def begin(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.db.execute("COMMIT")

    def rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def peek_cluster_id(self) -> int:
        """The id the next submission will get (taken by `take_cluster_id` with its jobs)."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'next_cluster'").fetchone()
        return int(row[0]) if row else 1

    def take_cluster_id(self, cluster: int) -> None:
        """Inside the submission's transaction: ids are used only by queued jobs, never reused."""
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('next_cluster', ?)", (str(cluster + 1),))

    def autoclusters(self) -> list[tuple[int, dict[str, str]]]:
        return [(r[0], json.loads(r[1])) for r in self.db.execute("SELECT id, attrs FROM autoclusters")]

    def add_autocluster(self, attrs: dict[str, str]) -> int:
        cur = self.db.execute("INSERT INTO autoclusters (attrs) VALUES (?)", (json.dumps(attrs),))
        return int(cur.lastrowid or 0)

    def status_counts(self) -> list[tuple[int, int, int]]:
        """(autocluster, status, count) for every live job."""
        return list(
            self.db.execute("SELECT ac, status, COUNT(*) FROM jobs WHERE status IN (1, 2, 5) GROUP BY 1, 2")
        )

    def idle_ages(self) -> list[tuple[int, int, int]]:
        """(autocluster, second it went idle, count) for every idle job."""
        return list(self.db.execute("SELECT ac, entered, COUNT(*) FROM jobs WHERE status = 1 GROUP BY 1, 2"))

    def add_cluster(self, cluster: int, owner: str, qdate: int, common: dict[str, str]) -> None:
        self.db.execute(
            "INSERT INTO clusters VALUES (?, ?, ?, ?)", (cluster, owner, qdate, json.dumps(common))
        )

    def cluster(self, cluster: int) -> tuple[str, int, dict[str, str]] | None:
        row = self.db.execute("SELECT owner, qdate, common FROM clusters WHERE id = ?", (cluster,)).fetchone()
        return (row[0], row[1], json.loads(row[2])) if row else None

    def add_jobs(self, rows: Iterable[tuple[int, int, int, int, str | None]]) -> None:
        """Insert idle jobs: (cluster, proc, autocluster, entered, vars JSON or None)."""
        self.db.executemany(
            "INSERT INTO jobs (cluster, proc, status, ac, entered, vars) VALUES (?, ?, 1, ?, ?, ?)", rows
        )

    def first_idle(self, ac: int) -> JobRow | None:
        sql = _SELECT + "ac = ? AND status = 1 ORDER BY cluster, proc LIMIT 1"
        row = self.db.execute(sql, (ac,)).fetchone()
        return JobRow(*row) if row else None

    def job(self, cluster: int, proc: int) -> JobRow | None:
        sql = _SELECT + "cluster = ? AND proc = ?"
        row = self.db.execute(sql, (cluster, proc)).fetchone()
        return JobRow(*row) if row else None

    def by_claim(self, claim: str) -> JobRow | None:
        row = self.db.execute(_SELECT + "claim = ?", (claim,)).fetchone()
        return JobRow(*row) if row else None

    def jobs(self, statuses: Sequence[int], cluster: int | None = None) -> Iterator[JobRow]:
        marks = ",".join("?" * len(statuses))
        sql = _SELECT + f"status IN ({marks})"
        params: list[int] = list(statuses)
        if cluster is not None:
            sql += " AND cluster = ?"
            params.append(cluster)
        for row in self.db.execute(sql + " ORDER BY cluster, proc", params):
            yield JobRow(*row)

    def expired_leases(self, now: float) -> list[JobRow]:
        sql = _SELECT + "claim IS NOT NULL AND status = 2 AND lease < ?"
        return [JobRow(*row) for row in self.db.execute(sql, (now,))]

    def update(self, row: JobRow) -> None:
        self.db.execute(
            "UPDATE jobs SET status=?, starts=?, entered=?, claim=?, startd=?, lease=?, exit_code=?, "
            "started=?, completed=?, reason=?, hold_code=? WHERE cluster=? AND proc=?",
            (
                row.status,
                row.starts,
                row.entered,
                row.claim,
                row.startd,
                row.lease,
                row.exit_code,
                row.started,
                row.completed,
                row.reason,
                row.hold_code,
                row.cluster,
                row.proc,
            ),
        )

    def renew_all_leases(self, lease: float) -> None:
        self.db.execute("UPDATE jobs SET lease = ? WHERE status = 2", (lease,))
