"""The factory's monitoring: one `Monitor.record_cycle` per cycle (RRD files, snapshot for the web).

Gauges per entry x client are the numbers of the cycle's `ClientOutcome`s, the same values the
`glidefactoryclient` ads carry (so the RRDs equal the ads); `pilots_pending` is the part of the
idle pilots not yet seen queued at the site (NEW/PENDING). Counters come from the bookkeeping:
pilots completed, validation failures (exit codes 1-5 of the pilot wrapper) and waste (run time
of ended pilots that ran no job, from their `report.json`). The pilots page lists the newest
`monitoring.pilots_listed` pilots with their validation result. Read-only on the SQLite file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glidein.common.log import log_exception
from glidein.common.monitoring.model import (
    ClientStatus,
    Counts,
    EntryState,
    EntryStatus,
    LogKind,
    PilotRecord,
    PilotState,
)
from glidein.common.monitoring.recorder import Monitor
from glidein.common.monitoring.rrd import RRDConfig
from glidein.common.monitoring.snapshot import LOG_FILES
from glidein.factory import downtimes
from glidein.factory.feedback import Feedback, FeedbackBook
from glidein.factory.health import VALIDATION_CLASSES, VALIDATION_CODES, Health
from glidein.factory.web import read_report

log = logging.getLogger(__name__)
_FIRST_RUN = "(SELECT MIN(h.time) FROM history h WHERE h.pilot_id = p.pilot_id AND h.new_state = 'running')"
_ENDED = "p.state IN ('completed', 'failed', 'removed', 'lost')"
_ENDED_IDS_SQL = f"SELECT p.pilot_id FROM pilots p WHERE {_ENDED}"  # noqa: S608
_ENDED_SQL = (  # of the ended pilots not seen yet: the run time needs a look into their history
    f"SELECT p.pilot_id, p.entry, p.client, p.state, p.exit_code, p.end_time - COALESCE({_FIRST_RUN},"  # noqa: S608
    " p.end_time) FROM pilots p WHERE p.pilot_id IN (SELECT value FROM json_each(?))"
)
_PILOTS_SQL = (  # the newest first (index pilots_submit), then their first run time: not for every pilot
    "SELECT p.pilot_id, p.entry, p.client, p.state, p.submit_time, p.exit_code, p.end_time,"  # noqa: S608
    f" {_FIRST_RUN}, p.relay FROM (SELECT pilot_id, entry, client, state, submit_time, exit_code,"
    " end_time, relay FROM pilots ORDER BY submit_time DESC, pilot_id LIMIT ?) p"
    " ORDER BY p.submit_time DESC, p.pilot_id"
)
_PENDING_SQL = "SELECT entry, client, COUNT(*) FROM pilots WHERE state IN ('new', 'pending') GROUP BY 1, 2"


@dataclass(frozen=True)
class Ended:
    """What the counters need of one ended pilot (ended pilots never change: cached by id)."""

    entry: str
    client: str
    completed: bool
    validation_failure: bool
    waste_seconds: float


def ended_counts(ended: Sequence[Ended]) -> dict[tuple[str, str], Counts]:
    """Cumulative counters per (entry, client) (pure)."""
    acc: dict[tuple[str, str], list[float]] = {}
    for e in ended:
        row = acc.setdefault((e.entry, e.client), [0, 0, 0.0])
        row[0] += e.completed
        row[1] += e.validation_failure
        row[2] += e.waste_seconds
    return {
        key: Counts(pilots_completed=int(c), validation_failures=int(v), waste_seconds=round(w))
        for key, (c, v, w) in acc.items()
    }


def client_rows(
    outcomes: Sequence[Any], counters: Mapping[str, Counts], pending: Mapping[str, int]
) -> tuple[ClientStatus, ...]:
    """One ClientStatus per client of an entry: the cycle's outcome (as advertised) + counters (pure)."""
    by_client = {str(o.client): o for o in outcomes}
    rows = []
    for client in sorted(set(by_client) | set(counters)):
        base = counters.get(client, Counts())
        o = by_client.get(client)
        if o is None:
            rows.append(ClientStatus(client, base))
            continue
        counts = Counts(  # the advertised gauges, the bookkeeping's counters (base has no gauges)
            pilots_idle=int(o.idle) + base.pilots_idle,
            pilots_running=int(o.running) + base.pilots_running,
            pilots_held=int(o.held) + base.pilots_held,
            pilots_pending=min(int(o.idle), pending.get(client, 0)) + base.pilots_pending,
            requested_idle=int(o.req_idle) + base.requested_idle,
            requested_max=int(o.req_max) + base.requested_max,
            jobs_idle=int(getattr(o, "jobs_idle", 0)) + base.jobs_idle,
            jobs_running=int(getattr(o, "jobs_running", 0)) + base.jobs_running,
            pilots_completed=base.pilots_completed,
            validation_failures=base.validation_failures,
            waste_seconds=base.waste_seconds,
        )
        limit = "" if o.limit == "none" else str(o.limit)
        rows.append(ClientStatus(client, counts, limit))
    return tuple(rows)


def backend_outputs(entry: Any, state_dir: Path, pilot_id: str) -> dict[LogKind, Path]:
    """Where the entry's backend puts the pilot's output, by the submitters' own defaults: local
    (the site's job directory) and slurm (`--output`) write one combined stdout/stderr file,
    htcondor brings stdout and stderr back separately into its `log_dir`."""
    params = getattr(entry, "submitter", None)
    kind, own = getattr(params, "type", ""), getattr(params, "work_dir", None)
    if kind == "local":
        return {
            LogKind.STDOUT: Path(own or state_dir / "local" / entry.name) / "jobs" / pilot_id / "pilot.log"
        }
    if kind == "slurm":
        return {LogKind.STDOUT: Path(own or state_dir / "slurm") / f"{pilot_id}.out"}
    if kind == "htcondor":
        base = Path(getattr(params, "log_dir", None) or state_dir / "condor" / entry.name)
        return {LogKind.STDOUT: base / f"{pilot_id}.out", LogKind.STDERR: base / f"{pilot_id}.err"}
    return {}


def link_output(pilot_dir: Path, kind: LogKind, output: Path) -> bool:
    """`<pilot_dir>/stdout.txt` (or stderr.txt) -> the backend's file, so the web process serves it."""
    link = pilot_dir / LOG_FILES[kind]
    if link.is_symlink() or link.exists():
        return True
    if not output.is_file():
        return False
    pilot_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):  # the web process or a previous cycle made it
        link.symlink_to(output)
    return True


def _site(entry: Any) -> str:
    attr = getattr(entry, "attrs", {}).get("GLIDEIN_Site")
    return str(attr.value) if attr is not None else str(entry.name)


def _feedback_window(entry: Any) -> tuple[float, float]:
    """The window and "died at once" seconds of the entry's figures (its black-hole policy's)."""
    health = getattr(entry, "health", None)
    if health is None:
        return 1800.0, 60.0
    return float(health.window), float(health.quick_seconds)


class FactoryMonitor:
    """Built from the factory config; `record` is called at the end of every cycle, never raises."""

    def __init__(
        self, cfg: Any, conn: sqlite3.Connection, state_dir: Path, feedback: FeedbackBook | None = None
    ) -> None:
        section = getattr(cfg, "monitoring", None)  # None: a config object without the section
        self.root = Path(section.dir) if section and section.dir else state_dir / "monitor"
        self.listed = int(section.pilots_listed) if section else 0
        self.conn, self.state_dir = conn, state_dir
        self.monitor: Monitor | None = None
        if section is not None and section.enabled:  # RRDs written in a thread while the daemon goes on
            self.monitor = Monitor(self.root, "factory", RRDConfig(step=int(section.step)), background=True)
        self.ended: dict[str, Ended] = {}
        self.feedback = feedback or FeedbackBook(state_dir)  # the cycle's: figured once per cycle

    def flush(self, timeout: float | None = None) -> None:
        """Wait (at most `timeout`) for the RRD files of the last cycle to be written."""
        writer = self.monitor.writer if self.monitor is not None else None
        if writer is not None and writer.flush(timeout) is None and writer.busy:
            log.warning("monitoring: RRD files still being written after %s s", timeout)

    def record(
        self,
        entries: Sequence[Any],
        results: Sequence[Any],
        health: Mapping[str, Health],
        all_downtimes: Sequence[downtimes.Downtime],
        now: float,
        *,
        figured: Mapping[str, Feedback] | None = None,
    ) -> None:
        """`figured`: feedback figures the cycle already worked out at `now` (not done twice)."""
        if self.monitor is None:
            return
        started = time.monotonic()
        try:
            statuses = self.entry_statuses(entries, results, health, all_downtimes, now, figured=figured)
            pilots = self.pilot_records({e.name: _site(e) for e in entries}, {e.name: e for e in entries})
            self.monitor.record_cycle(statuses, now, pilots)
        except (sqlite3.Error, OSError, ValueError) as exc:
            log_exception(log, "monitoring: this cycle is not recorded", exc)
            return
        log.debug("monitoring recorded in %.3f s", time.monotonic() - started)

    def counters(self) -> dict[tuple[str, str], Counts]:
        """Pilots completed, validation failures and waste per (entry, client), for the client ads."""
        try:
            return ended_counts(list(self._update_ended().values()))
        except sqlite3.Error as exc:
            log.warning("monitoring: pilot counters unreadable this cycle: %s", exc)
            return {}

    def entry_statuses(
        self,
        entries: Sequence[Any],
        results: Sequence[Any],
        health: Mapping[str, Health],
        all_downtimes: Sequence[downtimes.Downtime],
        now: float,
        *,
        figured: Mapping[str, Feedback] | None = None,
    ) -> list[EntryStatus]:
        by_name = {r.entry: r for r in results}
        counters: dict[str, dict[str, Counts]] = {}
        for (entry_name, client), c in ended_counts(list(self._update_ended().values())).items():
            counters.setdefault(entry_name, {})[client] = c
        pending: dict[str, dict[str, int]] = {}
        for entry, client, n in self.conn.execute(_PENDING_SQL):
            pending.setdefault(str(entry), {})[str(client)] = int(n)
        out = []
        for entry in entries:
            result = by_name.get(entry.name)
            own = counters.get(entry.name, {})
            rows = client_rows(result.clients if result else (), own, pending.get(entry.name, {}))
            dts = list(all_downtimes) + downtimes.from_config(entry.name, entry.downtimes)
            down = downtimes.entry_down(dts, entry.name, now)
            h = health.get(entry.name, Health())
            until: float | None = None
            if down is not None:
                state, reason, until = EntryState.DOWNTIME, down.comment or "downtime", down.end
            elif h.blocked(now):
                state, reason, until = EntryState.BLOCKED, h.reason, h.blocked_until
            else:
                state, reason = EntryState.OK, ""
            fb = (figured or {}).get(entry.name) or self.feedback.update(
                self.conn, entry.name, now, *_feedback_window(entry)
            )
            out.append(EntryStatus(entry.name, _site(entry), state, reason, rows, fb.text(), until))
        return out

    def _update_ended(self) -> dict[str, Ended]:
        new = [str(r[0]) for r in self.conn.execute(_ENDED_IDS_SQL) if r[0] not in self.ended]
        if not new:
            return self.ended
        for pid, entry, client, state, code, run in self.conn.execute(_ENDED_SQL, (json.dumps(new),)):
            report = read_report(self.state_dir, pid)
            startd = report.get("startd") if report else None
            jobs = startd.get("jobs_run") if isinstance(startd, dict) else None
            waste = float(run or 0.0) if not jobs else 0.0
            klass = report.get("failure_class") if report else None
            if report is not None and report.get("status") == "failure":
                failed = klass in VALIDATION_CLASSES  # the pilot's own word, whatever the exit code
            else:
                failed = report is None and state == "failed" and code in VALIDATION_CODES
            self.ended[pid] = Ended(str(entry), str(client), state == "completed", failed, max(0.0, waste))
        return self.ended

    def _logs(self, pid: str, entry: Any) -> frozenset[LogKind]:
        pilot_dir = self.state_dir / "pilots" / pid
        logs = {LogKind.LOG} if (pilot_dir / "log.txt").exists() else set()
        if entry is not None:
            outputs = backend_outputs(entry, self.state_dir, pid)
            logs.update(kind for kind, path in outputs.items() if link_output(pilot_dir, kind, path))
        return frozenset(logs)

    def pilot_records(
        self, sites: Mapping[str, str], entries: Mapping[str, Any] | None = None
    ) -> list[PilotRecord]:
        out = []
        for pid, entry, client, state, submit, code, end, start, relay in self.conn.execute(
            _PILOTS_SQL, (self.listed,)
        ):
            report = read_report(self.state_dir, pid)
            logs = self._logs(str(pid), (entries or {}).get(str(entry)))
            v = validation(report, PilotState(state), code, logs)
            out.append(
                PilotRecord(
                    str(pid), str(entry), str(client), sites.get(str(entry), str(entry)), PilotState(state),
                    submit, start, end, code, v.ok, v.first[:300], v.klass, v.jobs, logs, v.output,
                    relay or "",
                )
            )  # fmt: skip
        return out


@dataclass(frozen=True)
class Validation:
    """What the pilots page shows of a pilot's outcome."""

    ok: bool | None  # None: no report (yet)
    first: str = ""  # failing step: message, or why there is no report
    klass: str = ""
    output: str = ""
    jobs: int | None = None


NO_REPORT = "NoReport"  # the class shown for a pilot that ended without its final report


def validation(
    report: Mapping[str, object] | None, state: PilotState, code: int | None, logs: frozenset[LogKind]
) -> Validation:
    """The pilot's validation outcome from its final report (pure); an ended pilot without one
    says so, with its exit code and where its output is (the batch system's stdout/stderr)."""
    if report is None:
        if state not in (PilotState.FAILED, PilotState.LOST):
            return Validation(None)
        where = " and ".join(k.value for k in (LogKind.STDOUT, LogKind.STDERR) if k in logs)
        why = "lost by its site" if state == PilotState.LOST else f"exit code {'?' if code is None else code}"
        see = f"; see its {where}" if where else "; no output came back from the site"
        return Validation(False, f"died before its first report ({why}){see}", NO_REPORT)
    ok = report.get("status") == "success"
    startd = report.get("startd")
    jobs = startd.get("jobs_run") if isinstance(startd, dict) else None
    jobs = jobs if isinstance(jobs, int) else None
    if ok:
        return Validation(True, jobs=jobs)
    first = f"{report.get('step', '')}: {report.get('message', '')}"
    output = str(report.get("output") or "")
    return Validation(False, first, str(report.get("failure_class") or ""), output[-4000:], jobs)
