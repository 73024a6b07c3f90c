"""The schedd's job queue: submit, claim (late binding), heartbeat, complete, release, remove.

Every state change happens under one lock and in one SQLite transaction, so a job is never
claimed twice and a submission is all or nothing. Autocluster counts change together with the
rows (`AutoClusters.move`). Job states: 1 idle, 2 running, 3 removed, 4 completed, 5 held.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from glidein.common import classads
from glidein.common.errors import NotFoundError, SubmitError
from glidein.pool.schedd import eventlog
from glidein.pool.schedd.autoclusters import (
    COMPLETED,
    HELD,
    IDLE,
    PER_JOB,
    REMOVED,
    RUNNING,
    AutoCluster,
    AutoClusters,
    expression_refs,
    only_per_job,
    significant,
)
from glidein.pool.schedd.free_slots import FreeSlots
from glidein.pool.schedd.jobads import job_attrs
from glidein.pool.schedd.queue_users import HOLD_INPUT, LIVE, UserActions
from glidein.pool.schedd.store import JobRow, Store
from glidein.pool.schedd.submit import ParsedCluster, SubmitContext, parse_submit

log = logging.getLogger(__name__)
_RESOURCES = (
    ("RequestCpus", "Cpus"),
    ("RequestMemory", "Memory"),
    ("RequestDisk", "Disk"),
    ("RequestGPUs", "GPUs"),
)


@dataclass
class Claim:
    claim_id: str
    row: JobRow
    attrs: dict[str, str]
    requests: dict[str, int]


@dataclass
class QueueOptions:
    name: str = "schedd"
    lease_s: float = 30.0
    clock: Callable[[], float] = time.time
    address: str = "127.0.0.1:0"  # host:port named in the event log's submit events


@dataclass
class Submitted:
    cluster: int
    jobs: int
    warnings: list[str]


class JobQueue(UserActions):
    def __init__(self, state_dir: Path, options: QueueOptions) -> None:
        self.options = options
        self.store = Store(state_dir / "queue.sqlite")
        self.lock = threading.Lock()
        self.acs = AutoClusters()
        self._clusters: dict[int, tuple[str, int, dict[str, str]]] = {}
        self.free_slots = FreeSlots()  # who asked and got nothing: Rank picks among them
        for ac_id, attrs in self.store.autoclusters():
            self.acs.add(ac_id, attrs)
        for ac_id, status, count in self.store.status_counts():
            self.acs.move(ac_id, None, status, count)
        for ac_id, since, count in self.store.idle_ages():
            self.acs.by_id[ac_id].idle_since[since] = count
        self.store.renew_all_leases(self.now() + options.lease_s)  # startds get one lease to come back

    def now(self) -> float:
        return self.options.clock()

    def close(self) -> None:
        with self.lock:
            self.store.close()

    # ------------------------------------------------------------------ submit

    def submit(self, text: str, filename: str, iwd: str, owner: str) -> tuple[int, int]:
        """Parse and queue one submit description; returns (cluster id, number of jobs)."""
        done = self.submit_text(text, filename, iwd, owner)
        return done.cluster, done.jobs

    def submit_text(self, text: str, filename: str, iwd: str, owner: str) -> Submitted:
        """Parse and queue one submit description. The cluster id is taken only when the jobs are
        queued (same transaction): a refused submission uses none. Parsed again in the rare case
        another submission took the id meanwhile ($(Cluster) may appear in the jobs)."""
        with self.lock:
            cluster_id = self.store.peek_cluster_id()
        while True:
            parsed = parse_submit(text, SubmitContext(filename, iwd, cluster_id))
            qdate = int(self.now())
            parsed.common.update(
                {"Owner": classads.quote(owner), "MyType": '"Job"', "TargetType": '"Machine"'}
            )
            parsed.common["TotalSubmitProcs"] = str(len(parsed.procs))
            with self.lock:
                current = self.store.peek_cluster_id()
                if current == cluster_id:
                    self._insert(cluster_id, owner, qdate, parsed)
                    break
            cluster_id = current
        self._log_submit(cluster_id, qdate, parsed)
        log.info(
            "submitted cluster=%d jobs=%d owner=%s file=%s", cluster_id, len(parsed.procs), owner, filename
        )
        return Submitted(cluster_id, len(parsed.procs), parsed.warnings)

    def _log_submit(self, cluster_id: int, qdate: int, parsed: ParsedCluster) -> None:
        common_log = parsed.common.get("UserLog")
        if common_log is None and not any("UserLog" in proc for proc in parsed.procs):
            return
        events = eventlog.Batch()
        for proc, varying in enumerate(parsed.procs):
            path = classads.evaluate(varying.get("UserLog", common_log or "undefined"))
            text = eventlog.submitted(eventlog.JobRef(cluster_id, proc), qdate, self.options.address)
            events.add(path if isinstance(path, str) else None, text)
        events.write()

    def _insert(self, cluster_id: int, owner: str, qdate: int, parsed: ParsedCluster) -> None:
        common_sig = significant(parsed.common)
        cluster_common = {k: v for k, v in parsed.common.items() if k not in common_sig}
        new_acs: list[tuple[int, dict[str, str]]] = []
        moves: dict[int, int] = {}
        self.store.begin()
        try:
            self.store.take_cluster_id(cluster_id)
            self.store.add_cluster(cluster_id, owner, qdate, cluster_common)
            rows = self._rows(
                cluster_id=cluster_id,
                qdate=qdate,
                parsed=parsed,
                common_sig=common_sig,
                new_acs=new_acs,
                moves=moves,
            )
            self.store.add_jobs(rows)
            self.store.commit()
        except BaseException:
            self.store.rollback()
            for ac_id, _attrs in new_acs:
                self.acs.by_sig = {s: i for s, i in self.acs.by_sig.items() if i != ac_id}
                self.acs.by_id.pop(ac_id, None)
            raise
        for ac_id, count in moves.items():
            self.acs.move(ac_id, None, IDLE, count, since=qdate)

    def _ac_for(self, sig: dict[str, str], new_acs: list[tuple[int, dict[str, str]]]) -> int:
        found = self.acs.find(sig)
        if found is not None:
            return found
        ac_id = self.store.add_autocluster(sig)
        self.acs.add(ac_id, sig)
        new_acs.append((ac_id, sig))
        return ac_id

    def _rows(
        self,
        *,
        cluster_id: int,
        qdate: int,
        parsed: ParsedCluster,
        common_sig: dict[str, str],
        new_acs: list[tuple[int, dict[str, str]]],
        moves: dict[int, int],
    ) -> Iterator[tuple[int, int, int, int, str | None]]:
        plain_ac = self._ac_for(common_sig, new_acs)
        common_refs = expression_refs(parsed.common)
        for proc, varying in enumerate(parsed.procs):
            ac_id, vars_json = plain_ac, None
            if varying and only_per_job(varying, common_refs):
                vars_json = json.dumps(varying)  # the common case: $(Process) in Args, Out, ...
            elif varying:
                merged = {**parsed.common, **varying}
                sig = significant(merged)
                ac_id = plain_ac if sig == common_sig else self._ac_for(sig, new_acs)
                per_job = {k: v for k, v in varying.items() if k not in sig}
                vars_json = json.dumps(per_job) if per_job else None
            moves[ac_id] = moves.get(ac_id, 0) + 1
            yield (cluster_id, proc, ac_id, qdate, vars_json)

    # ------------------------------------------------------------------ ads

    def _cluster(self, cluster: int, store: Store) -> tuple[str, int, dict[str, str]]:
        cached = self._clusters.get(cluster)
        if cached is None:
            found = store.cluster(cluster)
            if found is None:
                raise NotFoundError(f"cluster {cluster} not found")
            if len(self._clusters) > 4096:
                self._clusters.clear()
            self._clusters[cluster] = cached = found
        return cached

    def attrs_of(self, row: JobRow, store: Store | None = None) -> dict[str, str]:
        _owner, qdate, common = self._cluster(row.cluster, store or self.store)
        return job_attrs(row, self.acs.by_id[row.ac].attrs, common, qdate, self.options.name)

    def user_log(self, row: JobRow) -> str | None:
        """The job's event log file (`log =`), None when it has none; cheap when none is set."""
        _owner, _qdate, common = self._cluster(row.cluster, self.store)
        text = common.get("UserLog")
        if row.vars and '"UserLog"' in row.vars:
            text = json.loads(row.vars).get("UserLog", text)
        value = classads.evaluate(text) if text else None
        return value if isinstance(value, str) and value else None

    # ------------------------------------------------------------------ startd side

    def claim(self, slot: classads.ClassAd, startd: str) -> Claim | None:
        """Claim the best idle job for `slot`: two-way match, then JobPrio, then Rank; a job whose
        Rank puts another free slot first waits for that one (free_slots.py)."""
        with self.lock:
            now = self.now()
            for ac, requests in self._candidates(slot):
                if self.free_slots.hold_back(ac.ad, slot, startd, now, _fits):
                    continue
                row = self.store.first_idle(ac.id)
                if row is None:
                    log.error("autocluster %d counts idle jobs but has none; recounting", ac.id)
                    ac.counts[IDLE] = 0
                    continue
                self.free_slots.claimed(startd)
                return self._start(row, startd, requests)
            self.free_slots.free(startd, slot, now)
        return None

    def _candidates(self, slot: classads.ClassAd) -> list[tuple[AutoCluster, dict[str, int]]]:
        scored: list[tuple[int, float, int, AutoCluster, dict[str, int]]] = []
        for ac in self.acs.by_id.values():
            if ac.idle <= 0 or not ac.matcher.matches(slot):
                continue
            matched, rank = classads.match_with_rank(ac.ad, slot)
            requests = _fits(ac.ad, slot) if matched else None
            if requests is not None:
                scored.append((-ac.prio, -rank, ac.id, ac, requests))
        scored.sort(key=lambda item: item[:3])
        return [(item[3], item[4]) for item in scored]

    def _start(self, row: JobRow, startd: str, requests: dict[str, int]) -> Claim:
        now, idle_since = self.now(), row.entered
        row.status, row.starts, row.entered, row.started = RUNNING, row.starts + 1, int(now), int(now)
        row.claim, row.startd, row.lease = secrets.token_urlsafe(18), startd, now + self.options.lease_s
        self.store.begin()
        self.store.update(row)
        self.store.commit()
        self.acs.move(row.ac, IDLE, RUNNING, since=idle_since)
        log.info("claimed job=%s startd=%s starts=%d", row.job_id, startd, row.starts)
        return Claim(str(row.claim), row, self.attrs_of(row), requests)

    def executing(self, claim: Claim) -> None:
        """The execute event, once the job's files are read and it goes to its startd (as HTCondor
        writes it after the input transfer: a job held for a missing input has none)."""
        with self.lock:  # user_log reads the store, whose connection the lock guards
            path = self.user_log(claim.row)
        if path:
            eventlog.append(path, eventlog.executing(self._ref(claim.row), self.now(), str(claim.row.startd)))

    def _claimed(self, claim_id: str) -> JobRow:
        row = self.store.by_claim(claim_id)
        if row is None or row.status not in (RUNNING, REMOVED, HELD):
            raise NotFoundError("no such claim (lease expired or job finished)")
        if row.status in (REMOVED, HELD):
            raise NotFoundError(f"job {row.job_id} was {'removed' if row.status == REMOVED else 'held'}")
        return row

    @staticmethod
    def _ref(row: JobRow) -> eventlog.JobRef:
        return eventlog.JobRef(row.cluster, row.proc)

    def _event(self, row: JobRow, text: str) -> None:
        path = self.user_log(row)
        if path:
            eventlog.append(path, text)

    def heartbeat(self, claim_id: str) -> str:
        with self.lock:
            row = self._claimed(claim_id)
            row.lease = self.now() + self.options.lease_s
            self.store.update(row)
            return row.job_id

    def claimed_attrs(self, claim_id: str) -> dict[str, str]:
        """The attributes of the job running under `claim_id` (NotFoundError if none)."""
        with self.lock:
            return self.attrs_of(self._claimed(claim_id))

    def complete(self, claim_id: str, exit_code: int) -> tuple[JobRow, dict[str, str]]:
        """Mark the claimed job completed; returns its row and attributes (for its outputs)."""
        with self.lock:
            row = self._claimed(claim_id)
            row.status, row.exit_code, row.claim, row.lease = COMPLETED, exit_code, None, None
            row.completed = row.entered = int(self.now())
            self.store.update(row)
            self.acs.move(row.ac, RUNNING, COMPLETED)
            attrs = self.attrs_of(row)
            self._event(row, eventlog.terminated(self._ref(row), row.completed, exit_code))
        log.info("completed job=%s exit_code=%d startd=%s", row.job_id, exit_code, row.startd)
        return row, attrs

    def hold(self, claim_id: str, reason: str, code: int = HOLD_INPUT) -> None:
        """A claimed job that cannot start (e.g. an unreadable input file) is held."""
        with self.lock:
            row = self._claimed(claim_id)
            row.status, row.claim, row.lease, row.entered = HELD, None, None, int(self.now())
            row.reason, row.hold_code = reason[:500], code
            self.store.update(row)
            self.acs.move(row.ac, RUNNING, HELD)
            self._event(row, eventlog.held(self._ref(row), row.entered, row.reason, code))
        log.warning("held job=%s reason=%s", row.job_id, reason)

    def release(self, claim_id: str, reason: str) -> str:
        """The startd gives the job back (killed, shutting down): idle again."""
        with self.lock:
            row = self._claimed(claim_id)
            startd = row.startd
            self._requeue(row)
        log.info("released job=%s startd=%s reason=%s", row.job_id, startd, reason[:200])
        return row.job_id

    def _requeue(self, row: JobRow) -> None:
        row.status, row.claim, row.startd, row.lease, row.entered = IDLE, None, None, None, int(self.now())
        self.store.update(row)
        self.acs.move(row.ac, RUNNING, IDLE, since=row.entered)
        self._event(row, eventlog.evicted(self._ref(row), row.entered))

    def reap(self) -> int:
        """Running jobs whose lease expired go back to idle; returns how many."""
        with self.lock:
            expired = self.store.expired_leases(self.now())
            for row in expired:
                log.warning("lease expired job=%s startd=%s: back to idle", row.job_id, row.startd)
                self._requeue(row)
            return len(expired)


def _fits(job: classads.ClassAd, slot: classads.ClassAd) -> dict[str, int] | None:
    """The job's resource requests when the slot offers enough of each, else None."""
    requests: dict[str, int] = {}
    for request_attr, slot_attr in _RESOURCES:
        wanted = classads.evaluate(request_attr, job, slot)
        offered = classads.evaluate(slot_attr, slot, job)
        want = int(wanted) if isinstance(wanted, int | float) and not isinstance(wanted, bool) else 0
        have = int(offered) if isinstance(offered, int | float) and not isinstance(offered, bool) else 0
        if want > have:
            return None
        requests[request_attr] = want
    return requests


__all__ = ["LIVE", "PER_JOB", "Claim", "JobQueue", "QueueOptions", "SubmitError", "Submitted"]
