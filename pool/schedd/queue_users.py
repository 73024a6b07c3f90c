"""What users do to the queue beside submitting: read jobs and autoclusters, hold, release, remove.

A mixin of `queue.JobQueue` (same lock, store and autoclusters). Held jobs are HTCondor's: status
5 with HoldReason and HoldReasonCode (1 user request, 13 an input file could not be read);
`glidein hold` takes idle and running jobs (a running job's startd learns it at its next
heartbeat and kills it), `glidein release` puts held jobs back to idle, `glidein rm` takes any
live job. Each change is written to the job's event log when it has one (eventlog.py).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from glidein.common import classads
from glidein.pool.schedd import eventlog
from glidein.pool.schedd.autoclusters import HELD, IDLE, REMOVED, RUNNING, AutoClusters
from glidein.pool.schedd.jobads import job_ad, parse_job_ids
from glidein.pool.schedd.select import Selector, check_constraint, verdict
from glidein.pool.schedd.store import JobRow, Store

log = logging.getLogger(__name__)
LIVE = (IDLE, RUNNING, HELD)
ALL = (IDLE, RUNNING, REMOVED, 4, HELD)
HOLD_USER, HOLD_INPUT = 1, 13  # HTCondor's HoldReasonCode: UserRequest, TransferInputError


@dataclass(frozen=True)
class Action:
    """One user action: which statuses it takes, the new status, its event and its reason text."""

    verb: str  # "hold", "release", "remove"
    takes: tuple[int, ...]
    new: int
    reason: str


def action(verb: str, user: str, reason: str | None) -> Action:
    """The action `verb` by `user`; the reason defaults to HTCondor's 'via condor_hold (by user x)'."""
    text = " ".join((reason or "").split())[:500] or f"via glidein {verb} (by user {user})"
    if verb == "hold":
        return Action(verb, (IDLE, RUNNING), HELD, text)
    if verb == "release":
        return Action(verb, (HELD,), IDLE, text)
    return Action("remove", LIVE, REMOVED, text)


class UserActions:
    lock: threading.Lock
    store: Store
    acs: AutoClusters
    now: Callable[[], float]
    attrs_of: Callable[..., dict[str, str]]
    user_log: Callable[[JobRow], str | None]

    def jobs(
        self, constraint: str = "true", include_done: bool = False, limit: int = 0
    ) -> list[classads.ClassAd]:
        """Job ads selected by `constraint`; read from a snapshot, so claims are not held up."""
        selector = Selector(constraint, self.acs)
        out: list[classads.ClassAd] = []
        reader = self.store.reader()
        try:
            for row in reader.jobs(ALL if include_done else LIVE):
                if not selector.autocluster_may_match(row.ac):
                    continue
                ad = job_ad(self.attrs_of(row, reader))
                if selector.matches(ad):
                    out.append(ad)
                    if limit and len(out) >= limit:
                        break
        finally:
            reader.close()
        return out

    def _selected(self, ids: Sequence[str], constraint: str | None, takes: tuple[int, ...]) -> list[JobRow]:
        clusters, jobs = parse_job_ids(ids)
        selector = Selector(constraint, self.acs) if constraint else None
        rows: dict[str, JobRow] = {}
        for cluster in clusters:
            rows.update((row.job_id, row) for row in self.store.jobs(takes, cluster=cluster))
        for cluster, proc in jobs:
            found = self.store.job(cluster, proc)
            if found is not None and found.status in takes:
                rows[found.job_id] = found
        if selector is not None:
            for row in self.store.jobs(takes):
                if row.job_id in rows or not selector.autocluster_may_match(row.ac):
                    continue
                if not selector.needs_job_ad() or selector.matches(job_ad(self.attrs_of(row))):
                    rows[row.job_id] = row
        return sorted(rows.values(), key=lambda row: (row.cluster, row.proc))

    def act(self, ids: Sequence[str], constraint: str | None, todo: Action) -> list[str]:
        """Apply `todo` to the jobs named by `ids` and/or selected by `constraint`; their ids."""
        done: list[str] = []
        events = eventlog.Batch()
        with self.lock:
            now = int(self.now())
            self.store.begin()
            try:
                for row in self._selected(ids, constraint, todo.takes):
                    self._change(row, todo, now, events)
                    done.append(row.job_id)
                self.store.commit()
            except BaseException:
                self.store.rollback()
                raise
        events.write()
        log.info("%s jobs=%d reason=%s", todo.verb, len(done), todo.reason[:200])
        return done

    def _change(self, row: JobRow, todo: Action, now: int, events: eventlog.Batch) -> None:
        old, since = row.status, row.entered
        row.status, row.entered = todo.new, now
        row.reason, row.hold_code = (todo.reason, HOLD_USER) if todo.new == HELD else (None, None)
        row.lease = None  # a running job's startd hears 410 at its next heartbeat and kills it
        if todo.new == IDLE:
            row.claim, row.startd = None, None
        self.store.update(row)
        self.acs.move(row.ac, old, todo.new, since=since if old == IDLE else now)
        ref = eventlog.JobRef(row.cluster, row.proc)
        if todo.new == HELD:
            text = eventlog.held(ref, now, todo.reason, HOLD_USER)
        elif todo.new == IDLE:
            text = eventlog.released(ref, now, todo.reason)
        else:
            text = eventlog.aborted(ref, now, todo.reason)
        events.add(self.user_log(row), text)

    def remove(self, ids: Sequence[str], constraint: str | None, user: str = "unknown") -> list[str]:
        """Mark matching live jobs removed; a running one's startd learns it at its next heartbeat."""
        return self.act(ids, constraint, action("remove", user, None))

    def totals(self) -> dict[str, int]:
        with self.lock:
            counts = {IDLE: 0, RUNNING: 0, HELD: 0}
            for ac in self.acs.by_id.values():
                for status in counts:
                    counts[status] += ac.counts.get(status, 0)
        return {"idle": counts[IDLE], "running": counts[RUNNING], "held": counts[HELD]}

    def autoclusters(self, constraint: str = "true") -> list[dict[str, object]]:
        expr = check_constraint(constraint)
        out: list[dict[str, object]] = []
        now = self.now()
        with self.lock:
            for ac in self.acs.active():
                if constraint.strip() != "true" and not verdict(expr, ac.ad):
                    continue
                ad = json.loads(classads.to_json(ac.ad))
                item = {"id": ac.id, "idle": ac.idle, "running": ac.running, "held": ac.counts.get(HELD, 0)}
                out.append({**item, "old_idle": ac.old_idle(now), "ad": ad})
        return out
