"""What the demo watches while it runs: jobs (schedd), pilots per site (factory bookkeeping), blocks.

`Observer.sample()` reads the truth from the parts themselves (the schedd's HTTP API, the
factory's SQLite bookkeeping and `status.json`); `progress_line` formats one live line (pure).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from glidein.common.errors import GlideinError

_PILOTS_SQL = "SELECT entry, state, COUNT(*) FROM pilots GROUP BY entry, state"
_HAS_PILOTS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pilots'"
_SHOWN = ("idle", "running", "completed", "failed")


@dataclass
class Sample:
    time: float
    jobs_idle: int = 0
    jobs_running: int = 0
    jobs_held: int = 0
    jobs_done: int = 0
    pilots: dict[str, dict[str, int]] = field(default_factory=dict)  # entry -> state -> count
    blocked: dict[str, str] = field(default_factory=dict)  # entry -> reason
    error: str = ""


def pilot_counts(db: Path) -> dict[str, dict[str, int]]:
    if not db.exists():
        return {}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        out: dict[str, dict[str, int]] = {}
        if not conn.execute(_HAS_PILOTS).fetchone():
            return out  # the factory has opened its bookkeeping but not yet made its tables
        for entry, state, n in conn.execute(_PILOTS_SQL):
            key = "idle" if state in ("new", "pending", "idle") else str(state)
            row = out.setdefault(str(entry), {})
            row[key] = row.get(key, 0) + int(n)
        return out
    finally:
        conn.close()


def blocked_entries(status_file: Path) -> dict[str, str]:
    """Entries the factory's last cycle reported blocked (`status.json`), with the reason."""
    try:
        data = json.loads(status_file.read_text())
    except (OSError, ValueError):
        return {}
    entries = data.get("entries", {}) if isinstance(data, dict) else {}
    return {
        name: str(e.get("blocked")) for name, e in entries.items() if isinstance(e, dict) and e.get("blocked")
    }


class JobCounts(Protocol):
    """The schedd's job counts: the embedded ScheddClient, or demo.condor.CondorSchedd."""

    def status(self) -> Mapping[str, object]: ...


class Observer:
    def __init__(self, schedd: JobCounts, factory_state: Path, total_jobs: int) -> None:
        self.schedd = schedd
        self.db = factory_state / "factory.db"
        self.status_file = factory_state / "status.json"
        self.total_jobs = total_jobs
        self.started = time.time()
        self.first_running: float | None = None
        self.blocked_seen: dict[str, str] = {}  # every entry seen blocked during the run

    def sample(self) -> Sample:
        now = time.time()
        sample = Sample(now)
        try:
            status = self.schedd.status()
            sample.jobs_idle = int(str(status.get("idle", 0)))
            sample.jobs_running = int(str(status.get("running", 0)))
            sample.jobs_held = int(str(status.get("held", 0)))
            sample.jobs_done = self.total_jobs - sample.jobs_idle - sample.jobs_running - sample.jobs_held
        except (GlideinError, ValueError) as exc:
            sample.error = str(exc)
        try:
            sample.pilots = pilot_counts(self.db)
        except sqlite3.Error as exc:
            sample.error = sample.error or f"factory bookkeeping: {exc}"
        sample.blocked = blocked_entries(self.status_file)
        self.blocked_seen.update(sample.blocked)
        if self.first_running is None and (sample.jobs_running or sample.jobs_done):
            self.first_running = now
        return sample


def progress_line(sample: Sample, started: float, sites: Mapping[str, str]) -> str:
    """One line: elapsed, jobs idle/running/done, pilots per site (idle/running/ended ok/failed)."""
    parts = [
        f"[{sample.time - started:5.0f}s] jobs idle={sample.jobs_idle} running={sample.jobs_running}"
        f" done={sample.jobs_done}" + (f" held={sample.jobs_held}" if sample.jobs_held else "")
    ]
    for entry in sorted(sites):
        counts = sample.pilots.get(entry, {})
        numbers = "/".join(str(counts.get(s, 0)) for s in _SHOWN)
        flag = " BLOCKED" if entry in sample.blocked else ""
        parts.append(f"{sites[entry]} {numbers}{flag}")
    line = " | ".join(parts)
    return line + (f"  ({sample.error})" if sample.error else "")
