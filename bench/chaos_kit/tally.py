"""The figures of a chaos run, each from its own source: the jobs' own execution records, the
schedd's job ads (done, starts), the factory's bookkeeping (pilots per entry, black-hole health,
downtimes) and a scan of /proc after everything was stopped."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

COMPLETED = 4


@dataclass(frozen=True)
class JobView:
    status: int
    starts: int
    exit_code: int | None


def read_records(records: Path) -> dict[int, int]:
    """proc -> executions that reached their end (lines of records/job.PROC)."""
    out: dict[int, int] = {}
    for path in records.glob("job.*"):
        text = path.read_text(errors="replace")
        out[int(path.name.split(".", 1)[1])] = sum(1 for line in text.splitlines() if line.strip())
    return out


def job_views(ads: list[dict[str, object]]) -> dict[int, JobView]:
    """proc -> status, NumJobStarts, ExitCode from the schedd's job ads (JSON)."""
    out = {}
    for ad in ads:
        code = ad.get("ExitCode")
        out[int(str(ad["ProcId"]))] = JobView(
            int(str(ad["JobStatus"])),
            int(str(ad.get("NumJobStarts", 0))),
            None if code is None else int(str(code)),
        )
    return out


@dataclass
class BlockedSite:
    entry: str
    since: float | None  # when the block or downtime began (None: never blocked)
    sent_after: int  # pilots submitted to it since then
    submitted: int  # pilots submitted to it in all


def _pilot_times(db: sqlite3.Connection, entry: str) -> list[float]:
    rows = db.execute("SELECT submit_time FROM pilots WHERE entry = ?", (entry,))
    return [float(r[0]) for r in rows]


def _block_start(db: sqlite3.Connection, entry: str, length: float) -> float | None:
    """When the factory blocked `entry`: blocked_until minus the block's length (the chaos config
    makes every block of it last `length`, longer than the run)."""
    row = db.execute("SELECT blocked_until, strikes FROM health WHERE entry = ?", (entry,)).fetchone()
    if row is None or int(row[1]) < 1:
        return None
    return float(row[0]) - length


@dataclass(frozen=True)
class Blocks:
    black_hole: str  # entry the factory blocks itself (health)
    length: float  # seconds every block of it lasts
    down: str  # entry in operator downtime
    down_since: float


def blocked_sites(db_path: Path, blocks: Blocks) -> list[BlockedSite]:
    """Pilots submitted to the blocked entries after their block or downtime began. A pilot's
    submit_time is its factory cycle's time, as is the block's: the pilots of the cycle that
    decided the block (submitted before the decision) are not counted, those of later cycles are."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        out = []
        hole_since = _block_start(db, blocks.black_hole, blocks.length)
        for entry, since in ((blocks.black_hole, hole_since), (blocks.down, blocks.down_since)):
            times = _pilot_times(db, entry)
            after = 0 if since is None else sum(1 for t in times if t > since)
            out.append(BlockedSite(entry, since, after, len(times)))
        return out
    finally:
        db.close()


def entries_blocked(db_path: Path, entries: tuple[str, ...], now: float) -> set[str]:
    """Which of `entries` (working sites) the factory's black-hole detection blocks at `now`
    (polled during the run: an expired block leaves no trace in the table)."""
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
        try:
            rows = db.execute("SELECT entry FROM health WHERE blocked_until > ?", (now,)).fetchall()
        finally:
            db.close()
    except sqlite3.Error:
        return set()  # no database or table yet, or busy: the next poll sees it
    return {str(r[0]) for r in rows if str(r[0]) in entries}


@dataclass
class Figures:
    submitted: int
    done_once: int = 0
    lost: list[int] = field(default_factory=list)  # not completed by the schedd by the deadline
    twice: list[int] = field(default_factory=list)  # more than one execution reached its end
    restarted: int = 0  # the schedd started the job more than once (information)
    no_record: list[int] = field(default_factory=list)  # completed by the schedd, never ran to its end
    bad_exit: list[int] = field(default_factory=list)


def count_jobs(submitted: int, views: dict[int, JobView], records: dict[int, int]) -> Figures:
    fig = Figures(submitted)
    for proc in range(submitted):
        view, ran = views.get(proc), records.get(proc, 0)
        done = view is not None and view.status == COMPLETED
        if not done:
            fig.lost.append(proc)
        elif ran == 0:
            fig.no_record.append(proc)
        if ran > 1:
            fig.twice.append(proc)
        if done and ran == 1:
            fig.done_once += 1
        if view is not None and view.starts > 1:
            fig.restarted += 1
        if done and view is not None and view.exit_code != 0:
            fig.bad_exit.append(proc)
    return fig
