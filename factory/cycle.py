"""One factory cycle: read and validate requests, read pilot status (one query per shared backend),
work every entry in parallel, update black-hole health, advertise the ads.

The daemon (factory/daemon.py) only calls `run_once` in its loop, `reload` on SIGHUP and
`shutdown` at the end.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from glidein.common.condor_auth import use_token_dir
from glidein.common.errors import GlideinError
from glidein.common.timefmt import iso
from glidein.factory import ads, advertise, budgets, downtimes, staging
from glidein.factory.closeness import MatrixSource, with_bandwidths
from glidein.factory.contexts import PilotContexts
from glidein.factory.entry import TokenBucket
from glidein.factory.entry_config import allowed, frontend_limits, health_policy
from glidein.factory.feedback import Feedback, FeedbackBook
from glidein.factory.frontends import MY_TYPE as CLIENT_GLOBAL
from glidein.factory.frontends import Expectations, FrontendWatch
from glidein.factory.health import Health, HealthPolicy, assess
from glidein.factory.keys import FactoryKeys, load_keys
from glidein.factory.monitoring import FactoryMonitor  # [demo] monitoring hook
from glidein.factory.requests import (
    KEY_ATTRS,
    FrontendTrust,
    RequestValidator,
    ValidRequest,
    plain,
    split_known,
    validate_all,
)
from glidein.factory.state import PilotStore, StateWriteError, apply_unblocks
from glidein.factory.state_dir import StateGuard, status_document
from glidein.factory.submitters.base import BackendStatus, PilotRef
from glidein.factory.worker import EntryResult, EntryTask, make_submitter, work_entry

log = logging.getLogger(__name__)
GLOBAL_TYPES = ("glidefactoryglobal", "glidefactory", "glidefactoryclient")


class BusLike(Protocol):
    def advertise(self, ads: Sequence[Any]) -> None: ...
    def invalidate(self, my_type: str, constraint: str = ...) -> None: ...
    def query(
        self, my_type: str | None, constraint: str = ..., projection: Sequence[str] = ...
    ) -> list[Any]: ...


@dataclass
class CycleReport:
    seconds: float = 0.0
    entries: int = 0
    requests: int = 0
    submitted: int = 0
    removed: int = 0
    failed_entries: list[str] = field(default_factory=list)
    state_error: str = ""  # non-empty: factory.db could not be written, nothing was worked
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step (logs, status, bench)


class Laps:
    """Seconds since the previous lap, recorded by name."""

    def __init__(self, phases: dict[str, float]) -> None:
        self.phases, self.last = phases, time.monotonic()

    def __call__(self, name: str) -> None:
        now = time.monotonic()
        self.phases[name] = round(now - self.last, 3)
        self.last = now


class FactoryCycle:
    monitor: FactoryMonitor  # made by reload

    def __init__(self, cfg: Any, bus: BusLike, clock: Callable[[], float] = time.time) -> None:
        self.bus, self.clock = bus, clock
        self.state_dir = Path(cfg.state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = str(self.state_dir / "factory.db")
        self.store = PilotStore(self.db_path)
        self.guard = StateGuard(self.store)
        self.downtime_store = downtimes.DowntimeStore(self.db_path)
        self.buckets: dict[str, TokenBucket] = {}
        self.health: dict[str, Health] = self.store.load_health()  # blocks outlive a restart
        self.health_policies: dict[str, HealthPolicy] = {}
        self.executor: Executor | None = None
        self.feedback = FeedbackBook(self.state_dir)  # figures for the entry ads (GLIDEIN_Feedback_*)
        self.cfg: Any = None
        self.reload(cfg)

    # ------------------------------------------------------------ configuration
    def reload(self, cfg: Any) -> None:
        """Take a new config: entries added start, removed ones stop being advertised (pilots kept)."""
        first = self.cfg is None
        old = set() if first else {e.name for e in self.entries()}
        self.cfg = cfg
        self.closeness = MatrixSource(cfg.closeness, self.clock) if cfg.closeness else None
        self.ident = ads.Identity(cfg.name, cfg.glidein_name, cfg.loop.classad_lifetime)
        self.client_ads, self.signed_ads = advertise.ClientAds(self.ident), advertise.SignedAds()
        if first:
            self.keys = self._load_keys()
        else:  # a reload never stops the daemon on keys it cannot write
            self._refresh_keys(self.clock())
        self.fe_limits = frontend_limits(cfg)
        self.health_policies = {e.name: health_policy(e) for e in self.entries()}
        trust = {
            fe.name: FrontendTrust.from_keys(
                fe.name, fe.signing_keys, [sc.name for sc in fe.security_classes]
            )
            for fe in cfg.frontends
        }
        names = [self.ident.entry_name(e.name) for e in self.entries()]
        self.validator = RequestValidator(
            trust, self.keys.open_keys(self.clock()), names, self.store, self.clock
        )
        identities = {fe.name: fe.identity for fe in cfg.frontends}
        self.frontends = FrontendWatch(Expectations(trust, identities, self.ident.global_name))
        if not first:
            self.monitor.flush(60.0)  # the old monitor's last RRD rows
        # [demo] monitoring hook
        self.monitor = FactoryMonitor(cfg, self.store.conn, self.state_dir, self.feedback)
        gone = old - {e.name for e in self.entries()}
        for name in sorted(gone):
            self._invalidate(f'EntryName == "{name}"', ("glidefactory", "glidefactoryclient"))
            log.info("entry=%s removed from the config; its pilots stay in the bookkeeping", name)

    def entries(self) -> list[Any]:
        matrix = self.closeness.current() if self.closeness is not None else None
        return with_bandwidths([e for e in self.cfg.all_entries() if e.enabled], matrix)

    def _load_keys(self) -> FactoryKeys:
        sec = self.cfg.security
        rot = sec.key_rotation
        return load_keys(
            Path(sec.signing_key),
            Path(sec.encryption_key),
            float(rot.interval),
            float(rot.grace),
            self.clock(),
        )

    # ------------------------------------------------------------ inputs
    def _requests(self, report: CycleReport) -> dict[str, list[ValidRequest]]:
        if report.state_error:
            return {}  # accepting a request writes its sequence
        try:  # first the few attributes that tell an ad validated before; whole ads only if needed
            found = self.bus.query("glideclient", projection=KEY_ATTRS)
            valid, other = split_known(self.validator, (a for a in found if self._ours(a)))
            if other:
                whole = self.bus.query("glideclient")
                fresh = [
                    a
                    for a in whole
                    if self._ours(a) and (plain(a, "FrontendName"), plain(a, "Name")) in other
                ]
                valid += validate_all(self.validator, fresh)
        except StateWriteError as exc:
            report.state_error = self.guard.failed(str(exc))
            return {}
        except GlideinError as exc:
            log.warning("cannot read requests this cycle (nothing new is submitted): %s", exc)
            return {}
        by_entry: dict[str, list[ValidRequest]] = {}
        for req in valid:
            by_entry.setdefault(req.entry, []).append(req)
        report.requests = len(valid)
        return by_entry

    def _ours(self, ad: Any) -> bool:
        return plain(ad, "ReqName") in self.validator.entries

    def _read_frontends(self) -> None:
        """The frontends' glideclientglobal ads: logged and shown in status.json, never used to submit."""
        try:
            found = self.bus.query(CLIENT_GLOBAL)
        except GlideinError as exc:
            log.warning("cannot read %s ads this cycle: %s", CLIENT_GLOBAL, exc)
            return
        self.frontends.update(found, self.validator.factory_keys.keys(), self.clock())

    def _stage(self) -> staging.StageResult | None:
        try:
            return staging.load_result(Path(self.cfg.staging.dir))
        except GlideinError as exc:
            log.error("no stage, nothing can be submitted: %s", exc)
            return None

    def _shared_statuses(
        self, entries: Sequence[Any]
    ) -> dict[str, tuple[dict[str, BackendStatus] | None, str]]:
        """ONE status query per backend shared by several entries (e.g. all Slurm entries)."""
        groups: dict[str, list[Any]] = {}
        for entry in entries:
            groups.setdefault(make_submitter(entry, self._work_dir()).status_key(), []).append(entry)
        out: dict[str, tuple[dict[str, BackendStatus] | None, str]] = {}
        for key, members in groups.items():
            if len(members) < 2:
                continue
            refs = [PilotRef(r.pilot_id, r.backend_id) for e in members for r in self.store.active(e.name)]
            try:
                statuses = make_submitter(members[0], self._work_dir()).status(refs)
                out.update({e.name: (statuses, "") for e in members})
            except GlideinError as exc:
                log.warning("status of %d entries (%s) unreadable: %s", len(members), key, exc)
                out.update({e.name: (None, str(exc)) for e in members})
        return out

    def _work_dir(self) -> str:
        return str(self.state_dir)

    # ------------------------------------------------------------ the cycle
    def run_once(self) -> CycleReport:
        """One cycle; with factory.db unwritable it works no entry (submits nothing) and says so."""
        started, now = time.monotonic(), self.clock()
        self._refresh_keys(now)
        entries = self.entries()
        self._unblock(now)
        report = CycleReport(entries=len(entries), state_error=self.guard.check(now))
        lap = Laps(report.phases)
        requests = self._requests(report)
        self._read_frontends()
        stage = self._stage()
        all_downtimes = self.downtime_store.all()
        lap("requests")
        if report.state_error:
            results = self.guard.read_only_results([e.name for e in entries])
        else:
            results = self._work_entries(
                entries, requests, stage=stage, all_downtimes=all_downtimes, now=now, report=report
            )
        lap("entries")
        figured = self._advertise(entries, results, stage, all_downtimes, now)
        lap("advertise")
        report.seconds = time.monotonic() - started
        status = status_document(results, asdict(report), self.frontends.status(), self.health, now)
        self.guard.write_status(status)
        lap("status")
        if not report.state_error:  # no entry worked: nothing to record (a gap in the RRDs)
            self.monitor.record(entries, results, self.health, all_downtimes, now, figured=figured)
        lap("monitoring")
        log.info(
            "cycle done: entries=%d requests=%d submitted=%d removed=%d failed_entries=%d seconds=%.2f%s",
            report.entries,
            report.requests,
            report.submitted,
            report.removed,
            len(report.failed_entries),
            report.seconds,
            " state_dir=unwritable" if report.state_error else "",
        )
        return report

    def _unblock(self, now: float) -> None:
        """Lift the blocks an operator asked for (`glidein factory unblock`), one line each."""
        try:
            apply_unblocks(self.store, self.health, now)
        except StateWriteError as exc:  # asked again next cycle (kept in factory.db until taken)
            self.guard.failed(str(exc))

    def _refresh_keys(self, now: float) -> None:
        """Load (rotate when due) the keys; when they cannot be written the ones in memory serve on."""
        try:
            self.keys = self._load_keys()
            self.guard.ok("factory keys")
        except OSError as exc:
            self.guard.note("factory keys", f"factory keys: {exc}; the keys in memory serve on")
        self.validator.factory_keys = self.keys.open_keys(now)

    def _work_entries(
        self,
        entries: Sequence[Any],
        requests: dict[str, list[ValidRequest]],
        *,
        stage: staging.StageResult | None,
        all_downtimes: list[Any],
        now: float,
        report: CycleReport,
    ) -> list[EntryResult]:
        shared = self._shared_statuses(entries)
        contexts = PilotContexts.for_cycle(self.cfg, self.state_dir, self.guard, stage)
        tasks = [
            self._task(
                e,
                requests.get(self.ident.entry_name(e.name), []),
                shared=shared,
                contexts=contexts,
                dts=all_downtimes,
                now=now,
            )
            for e in entries
        ]
        results = self._run(self._with_shares(tasks))
        for res in results:
            self._after_entry(res, now, report)
        return results

    def _task(
        self,
        entry: Any,
        reqs: list[ValidRequest],
        *,
        shared: dict[str, Any],
        contexts: PilotContexts,
        dts: list[Any],
        now: float,
    ) -> EntryTask:
        kept = []
        for req in reqs:
            if allowed(entry, req):
                kept.append(req)
            else:
                log.warning(
                    "entry=%s client=%s security_class=%s not allowed here; request skipped",
                    entry.name,
                    req.request.client,
                    req.request.security_class,
                )
        dts = dts + downtimes.from_config(entry.name, entry.downtimes)
        down = {}
        for req in kept:
            d = downtimes.client_downtime(
                dts, entry.name, req.request.frontend, req.request.security_class, now
            )
            if d is not None:
                down[req.request.client] = d.comment or "downtime"
        bucket = self.buckets.setdefault(
            entry.name, TokenBucket(entry.limits.submit_rate or 1e9, max(1, entry.limits.max_per_cycle), now)
        )
        health = self.health.get(entry.name, Health())
        statuses, failed = shared.get(entry.name, (None, ""))
        return EntryTask(
            entry=entry,
            shared_budgets={},
            requests=kept,
            statuses=statuses,
            status_failed=failed,
            now=now,
            rate_allowance=bucket.available(now),
            down_clients=down,
            blocked_reason=health.reason if health.blocked(now) else "",
            db_path=self.db_path,
            work_dir=self._work_dir(),
            pilots=contexts.get(
                entry.name, [r.request.client for r in kept], getattr(entry, "self_contained", False)
            ),
            state_dir=str(self.state_dir),
            reports_since=now - self.health_policies.get(entry.name, HealthPolicy()).window,
        )

    def _with_shares(self, tasks: list[EntryTask]) -> list[EntryTask]:
        """Give every task its share of the factory-wide frontend/security-class limits."""
        if not self.fe_limits:
            return tasks
        rows = self.store.client_counts()
        idle, running = budgets.per_entry_clients(rows)
        demands = {
            t.entry.name: budgets.entry_demands(
                [r.request for r in t.requests if r.request.client not in t.down_clients],
                idle.get(t.entry.name, Counter()),
                running.get(t.entry.name, Counter()),
                cap=min(t.rate_allowance, t.entry.limits.max_per_cycle),
            )
            for t in tasks
            if not t.blocked_reason and t.pilots is not None
        }
        names = [t.entry.name for t in tasks]
        shares = budgets.share_budgets(self.fe_limits, budgets.count_keys(rows), demands, names)
        return [replace(t, shared_budgets=shares[t.entry.name]) for t in tasks]

    def _run(self, tasks: list[EntryTask]) -> list[EntryResult]:
        workers = int(self.cfg.loop.workers) or (os.cpu_count() or 1)
        if workers <= 1 or len(tasks) <= 1:
            return [work_entry(t) for t in tasks]
        if self.executor is None:
            self.executor = ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=use_token_dir,  # htcondor2's settings are per process: the workers too
                initargs=(self.cfg.condor_tokens,),
            )
        try:
            return list(self.executor.map(work_entry, tasks, chunksize=max(1, len(tasks) // (workers * 8))))
        except Exception as exc:  # a broken pool: do this cycle inline, make a new pool next time
            log.error("entry worker pool failed (%s); working entries in the daemon this cycle", exc)
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.executor = None
            return [work_entry(t) for t in tasks]

    def _after_entry(self, res: EntryResult, now: float, report: CycleReport) -> None:
        for line in res.lines:
            log.info("%s", line)
        for err in res.errors:
            log.warning("entry=%s %s", res.entry, err)
        if res.errors:
            report.failed_entries.append(res.entry)
        report.submitted += res.submitted
        report.removed += res.removed
        self.buckets[res.entry].take(res.submitted)
        policy = self.health_policies.get(res.entry, HealthPolicy())
        ends = self.store.recent_ends(res.entry, now - policy.window)
        before = self.health.get(res.entry, Health())
        after = assess(before, ends, now, policy)
        if after.blocked(now) and not before.blocked(now):
            log.warning(
                "entry=%s blocked until=%s reason=%r", res.entry, iso(after.blocked_until), after.reason
            )
        self.health[res.entry] = after
        if after != before:
            try:
                self.store.save_health(res.entry, after)
            except StateWriteError as exc:  # kept in memory; saved when the disk takes it
                self.guard.failed(str(exc))

    # ------------------------------------------------------------ outputs
    def _advertise(
        self, entries: Sequence[Any], results: Sequence[EntryResult], stage: Any, dts: list[Any], now: float
    ) -> dict[str, Feedback]:
        """Send the ads; the entries' feedback figures of this cycle (monitoring shows them too)."""
        by_name = {r.entry: r for r in results}
        web = advertise.stage_attrs(str(self.cfg.staging.url), stage)
        out = [ads.signed(ads.global_ad(self.ident, self.keys), self.keys)]
        ended = self.monitor.counters()  # pilots completed, validation failures, waste per client
        figured: dict[str, Feedback] = {}
        for entry in entries:
            res = by_name.get(entry.name, EntryResult(entry.name))
            health = self.health.get(entry.name, Health())
            down = downtimes.entry_down(
                dts + downtimes.from_config(entry.name, entry.downtimes), entry.name, now
            )
            st = ads.EntryState(
                down is not None,
                health.reason if health.blocked(now) else "",
                res.totals.get("idle", 0),
                res.totals.get("running", 0),
                res.totals.get("held", 0),
                health.blocked_until if health.blocked(now) else 0.0,
            )
            ad = ads.entry_ad(self.ident, self.keys, entry, web, st)
            policy = self.health_policies.get(entry.name, HealthPolicy())
            fb = self.feedback.update(self.store.conn, entry.name, now, policy.window, policy.quick_seconds)
            figured[entry.name] = fb
            ad |= fb.ad_attrs()
            out.append(self.signed_ads.signed(ad, self.keys))
            out += self.client_ads.changed(entry.name, res.clients, now, ended)
        try:
            self.bus.advertise(out)
        except GlideinError as exc:
            self.client_ads.forget()
            log.warning("advertising %d ads failed: %s", len(out), exc)
        return figured

    def _invalidate(self, constraint: str, types: Sequence[str] = GLOBAL_TYPES) -> None:
        full = (
            f'FactoryName == "{self.cfg.name}" && GlideinName == "{self.cfg.glidein_name}" && ({constraint})'
        )
        for my_type in types:
            try:
                self.bus.invalidate(my_type, full)
            except GlideinError as exc:
                log.warning("invalidating %s ads failed: %s", my_type, exc)

    def shutdown(self, invalidate: bool = True) -> None:
        if invalidate:
            self._invalidate("true")
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)
            self.executor = None
        self.monitor.flush(60.0)  # the last cycle's RRD files, written in a thread
        self.store.close()
        self.downtime_store.close()
