"""Per-entry feedback figures over a window, from factory.db and the pilots' final reports.

Published in the entry's glidefactory ad (docs/INTERFACES.md) so that frontends can prefer good
sites (`frontend.shares`):

* ``GLIDEIN_Feedback_Pilots``: pilots judged in the window (ended after its start, not killed:
  a pilot removed or preempted says nothing about the site; one removed before it ever ran
  neither).
* ``GLIDEIN_Feedback_ValidationRate``: the share of those that did not fail validation or die at
  once (the black-hole test, `factory.health.is_failure`).
* ``GLIDEIN_Feedback_QueueWaitMedian``: median seconds from submission to running of the pilots
  that started or ended in the window; a pilot still queued, or removed from the queue before it
  ran, that waited longer than that median counts with its wait so far (a site that starts
  nothing must not look fast: with no pilot started, the longest wait so far).
* ``GLIDEIN_Feedback_JobsPerPilotHour``: jobs the ended pilots' startds ran (`jobs_run` of the
  final report) per hour those pilots ran.
* ``GLIDEIN_Feedback_JobFailureRate``: the share of those jobs that ended with a non-zero exit
  code (`jobs_failed` of the embedded startd's report; HTCondor's startd does not give it, and
  pilots without it are left out).
* ``GLIDEIN_Feedback_Window``: the window, seconds.

A figure with no data in the window is left out of the ad (undefined in ClassAd expressions).
"""

from __future__ import annotations

import sqlite3
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from glidein.factory.health import KILLED, KILLED_CODE, PilotEnd, is_failure

PREFIX = "GLIDEIN_Feedback_"
IDLE_STATES = ("new", "pending", "idle", "held")


@dataclass(frozen=True)
class PilotSample:
    """One pilot of an entry as the figures need it (times in seconds since the epoch)."""

    pilot_id: str
    state: str
    submit_time: float
    start_time: float | None = None  # first time seen running
    end_time: float | None = None
    exit_code: int | None = None
    report_status: str | None = None
    failure_class: str | None = None
    jobs_run: int | None = None  # from the final report's startd result
    jobs_failed: int | None = None  # the same (embedded startd only)


@dataclass(frozen=True)
class Feedback:
    window: float
    pilots: int = 0
    validation_rate: float | None = None
    queue_wait_median: float | None = None
    jobs_per_pilot_hour: float | None = None
    started: int = 0
    job_failure_rate: float | None = None

    def ad_attrs(self) -> dict[str, object]:
        """The figures as glidefactory attributes (those without data left out)."""
        out: dict[str, object] = {f"{PREFIX}Window": int(self.window), f"{PREFIX}Pilots": self.pilots}
        optional = {
            "ValidationRate": self.validation_rate,
            "QueueWaitMedian": self.queue_wait_median,
            "JobsPerPilotHour": self.jobs_per_pilot_hour,
            "JobFailureRate": self.job_failure_rate,
        }
        out.update({f"{PREFIX}{k}": float(round(v, 4)) for k, v in optional.items() if v is not None})
        return out

    def text(self) -> str:
        """One line for logs and pages: `pilots=12 valid=0.92 wait=35s jobs/h=4.1 job_fail=0.02`."""

        def fmt(value: float | None, spec: str) -> str:
            return "-" if value is None else format(value, spec)

        return (
            f"pilots={self.pilots} valid={fmt(self.validation_rate, '.2f')} "
            f"wait={fmt(self.queue_wait_median, '.0f')}s jobs/h={fmt(self.jobs_per_pilot_hour, '.1f')} "
            f"job_fail={fmt(self.job_failure_rate, '.2f')}"
        )


def _killed(p: PilotSample) -> bool:
    if p.report_status is not None:
        return p.report_status == "failure" and p.failure_class == KILLED
    return p.exit_code == KILLED_CODE


def _judged(p: PilotSample) -> bool:
    """Ended, and its end says something about the site."""
    if p.end_time is None or _killed(p):
        return False
    return p.start_time is not None or p.report_status is not None or p.state in ("failed", "lost")


def _as_end(p: PilotSample) -> PilotEnd:
    run = (p.end_time or 0.0) - (p.start_time if p.start_time is not None else p.end_time or 0.0)
    return PilotEnd(p.state, p.exit_code, run, p.end_time or 0.0, p.report_status, p.failure_class)


def _never_ran(p: PilotSample) -> bool:
    """Still queued, or removed from the queue (by the factory or the site) before it ran."""
    return p.state in IDLE_STATES or (p.state == "removed" and p.report_status is None)


def _wait_so_far(p: PilotSample, now: float) -> float:
    return (p.end_time if p.end_time is not None else now) - p.submit_time


def _recent(p: PilotSample, since: float) -> bool:
    """Started in the window, or ended in it."""
    return (p.start_time or 0.0) > since or (p.end_time is not None and p.end_time > since)


def queue_wait_median(samples: Sequence[PilotSample], now: float, since: float) -> float | None:
    """Median submit-to-running wait of pilots started or ended after `since`, long-queued ones counted."""
    waits = [p.start_time - p.submit_time for p in samples if p.start_time is not None and _recent(p, since)]
    queued = [_wait_so_far(p, now) for p in samples if p.start_time is None and _never_ran(p)]
    if not waits:
        return max(queued) if queued else None  # a lower bound: nothing started yet
    median = statistics.median(waits)
    longer = [w for w in queued if w > median]
    return float(statistics.median(waits + longer)) if longer else float(median)


def jobs_per_pilot_hour(ended: Sequence[PilotSample]) -> float | None:
    """Jobs run per hour of pilot run time, over ended pilots whose report gives jobs_run."""
    reported = [p for p in ended if p.jobs_run is not None and p.start_time is not None]
    hours = sum(max(0.0, (p.end_time or 0.0) - (p.start_time or 0.0)) for p in reported) / 3600.0
    if not reported or hours <= 0:
        return None
    return sum(p.jobs_run or 0 for p in reported) / hours


def job_failure_rate(ended: Sequence[PilotSample]) -> float | None:
    """Failed jobs over jobs run, over ended pilots whose report counts both."""
    counted = [p for p in ended if p.jobs_failed is not None and p.jobs_run]
    runs = sum(p.jobs_run or 0 for p in counted)
    return sum(p.jobs_failed or 0 for p in counted) / runs if runs else None


def figures(samples: Sequence[PilotSample], now: float, window: float, quick: float = 60.0) -> Feedback:
    """The feedback of one entry from its pilots (any of them; the window is applied here)."""
    since = now - window
    ended = [p for p in samples if p.end_time is not None and p.end_time > since]
    judged = [p for p in ended if _judged(p)]
    failures = sum(1 for p in judged if is_failure(_as_end(p), quick))
    rate = (len(judged) - failures) / len(judged) if judged else None
    started = sum(1 for p in samples if p.start_time is not None and p.start_time > since)
    return Feedback(
        window=window,
        pilots=len(judged),
        validation_rate=rate,
        queue_wait_median=queue_wait_median(samples, now, since),
        jobs_per_pilot_hour=jobs_per_pilot_hour(judged),
        started=started,
        job_failure_rate=job_failure_rate(judged),
    )


_SAMPLES_SQL = (
    "SELECT p.pilot_id, p.state, p.submit_time, (SELECT MIN(h.time) FROM history h"
    " WHERE h.pilot_id = p.pilot_id AND h.new_state = 'running'), p.end_time, p.exit_code,"
    " p.report_status, p.failure_class FROM pilots p WHERE p.entry = ?"
    " AND (p.end_time IS NULL OR p.end_time > ?)"
)

JobCounts = tuple[int | None, int | None]  # (jobs_run, jobs_failed) of a pilot's final report
ReadJobs = Callable[[str], JobCounts]


def load_samples(conn: sqlite3.Connection, entry: str, since: float, jobs: ReadJobs) -> list[PilotSample]:
    """The pilots of `entry` not ended before `since`; `jobs(pilot_id)` reads the report."""
    out = []
    for pid, state, submit, start, end, code, status, klass in conn.execute(_SAMPLES_SQL, (entry, since)):
        run, failed = jobs(str(pid)) if end is not None else (None, None)
        out.append(
            PilotSample(str(pid), str(state), float(submit), start, end, code, status, klass, run, failed)
        )
    return out


def _count(startd: object, key: str) -> int | None:
    value = startd.get(key) if isinstance(startd, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class ReportJobs:
    """Job counts of pilots' final reports, read once per pilot (a stored report never changes)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.cache: dict[str, JobCounts] = {}

    def __call__(self, pilot_id: str) -> JobCounts:
        if pilot_id in self.cache:
            return self.cache[pilot_id]
        from glidein.factory.web import read_report

        report = read_report(self.state_dir, pilot_id)
        startd = report.get("startd") if report else None
        value = (_count(startd, "jobs_run"), _count(startd, "jobs_failed"))
        if report is not None:
            self.cache[pilot_id] = value
        return value

    def forget(self, keep: set[str]) -> None:
        """Drop cached pilots no longer in any window."""
        self.cache = {k: v for k, v in self.cache.items() if k in keep}


class FeedbackBook:
    """The factory's figures per entry, recomputed each cycle (kept for logs and pages)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.jobs: dict[str, ReportJobs] = {}
        self.last: dict[str, Feedback] = {}

    def update(
        self, conn: sqlite3.Connection, entry: str, now: float, window: float, quick: float
    ) -> Feedback:
        jobs = self.jobs.setdefault(entry, ReportJobs(self.state_dir))
        samples = load_samples(conn, entry, now - window, jobs)
        jobs.forget({p.pilot_id for p in samples})
        self.last[entry] = result = figures(samples, now, window, quick)
        return result
