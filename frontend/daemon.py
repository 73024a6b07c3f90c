"""The frontend daemon: lifecycle only (queries, advertising, state files, signals).

Each cycle: verified entry ads from the WMS collector, slot and schedd ads from the user pool,
each enabled group's jobs from the schedds, then `frontend.cycle.decide_group`, then one signed
glideclient ad per (entry, group) to the WMS collectors and one glideresource ad per (entry,
group) to the user pool, and one glideclientglobal ad per factory (who we are, for the factory's
operators). Fail closed: without the factory entries or the slot ads nothing is
advertised this cycle, and a group whose schedds all failed sends nothing (its previous requests
expire with their ClassAdLifetime). SIGTERM/SIGINT stop after the cycle and invalidate our ads;
SIGHUP reloads the configuration.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from glidein import __version__
from glidein.common import classads, crypto
from glidein.common.bus import Bus
from glidein.common.classads import ClassAd
from glidein.common.condor_auth import use_token_dir
from glidein.common.config import load_frontend_config
from glidein.common.config.frontend import FrontendConfig, Group
from glidein.common.errors import GlideinError
from glidein.frontend import credentials, jobs
from glidein.frontend.cycle import EntryDecision, GroupOutcome, decide_group
from glidein.frontend.ha import ACTIVE, MODE_ATTR, RESOURCE_MODE_ATTR, STANDBY, Standby, mark, own_constraint
from glidein.frontend.matching import new_memo
from glidein.frontend.monitoring import make_monitor
from glidein.frontend.pressure import RemovalHistory
from glidein.frontend.requests import (
    Entry,
    EntryVerifier,
    FrontendInfo,
    Request,
    ResourceAd,
    SealCache,
    Sequencer,
    factory_of,
    global_ads,
    request_ad,
    resource_ad,
)

log = logging.getLogger(__name__)


@dataclass
class Snapshot:
    """What one cycle reads from the world."""

    entries: list[Entry]
    slots: list[ClassAd]
    sources: list[jobs.JobSource]


class HistoryStore:
    """Removal history per (group, entry), kept as JSON in the state directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, dict[str, RemovalHistory]] = {}
        try:
            raw = json.loads(path.read_text())
            for group, entries in raw.items():
                self.data[group] = {name: RemovalHistory(**vals) for name, vals in entries.items()}
        except (OSError, ValueError, TypeError, AttributeError):
            pass

    def group(self, name: str) -> dict[str, RemovalHistory]:
        return self.data.setdefault(name, {})

    def save(self) -> None:
        raw = {g: {n: asdict(h) for n, h in entries.items()} for g, entries in self.data.items()}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(raw, sort_keys=True))
        os.replace(tmp, self.path)


class Frontend:
    def __init__(
        self,
        config: FrontendConfig,
        wms: Bus | None = None,
        pool: Bus | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config, self.clock = config, clock
        use_token_dir(config.condor_tokens)  # real HTCondor collectors and schedds authenticate us
        self.wms = wms or Bus(config.collectors.wms)
        self.pool = pool or Bus(config.collectors.user_pool)
        self._key: Ed25519PrivateKey | None = None
        state = Path(config.state_dir)
        state.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.sequencer = Sequencer(state / "adsequence", clock)
        self.history = HistoryStore(state / "removal_history.json")
        self.minter = credentials.TokenMinter(config.collectors.user_pool[0], clock)
        self.trusted = {f.name: f.signing_key for f in config.security.trusted_factories}
        self.verifier = EntryVerifier(self.trusted)  # unchanged entry ads are not checked again
        self.monitor = make_monitor(config)
        self.job_ads = jobs.AdCache()  # autocluster ads parsed in the last cycle, reused when unchanged
        self.seals = SealCache()  # secrets sealed in the last cycle, reused while unchanged
        self.match_memo = new_memo()  # what matching read of those ads in the last cycle
        self.mode = STANDBY if config.is_standby else ACTIVE
        self.standby = None
        if config.is_standby:
            self.standby = Standby(self.wms, self.pool, config.high_availability.active or config.name, clock)

    @property
    def key(self) -> Ed25519PrivateKey:
        if self._key is None:
            self._key = crypto.load_signing_key(self.config.security.signing_key)
        return self._key

    # ------------------------------------------------------------ reading

    def snapshot(self) -> Snapshot:
        """Entries, slots and job sources; GlideinError (fail closed) when a collector is down."""
        entries = self.verifier.verify(self.wms.query("glidefactory"))
        slots = self.pool.query("Machine")
        schedd_ads = self.pool.query("Scheduler") if self.config.discover_schedds else []
        return Snapshot(entries, slots, self._sources(schedd_ads))

    def _sources(self, schedd_ads: list[ClassAd]) -> list[jobs.JobSource]:
        by_name = {classads.eval_attr(ad, "Name"): ad for ad in schedd_ads}
        sources: list[jobs.JobSource] = []
        for ref in self.config.schedds:
            if ref.type == "embedded" and ref.url:
                sources.append(jobs.EmbeddedSchedd(ref.name, ref.url, cache=self.job_ads))
            else:
                sources.append(jobs.LazyHTCondorSchedd(ref.name, by_name.get(ref.name), query=ref.query))
        known = [r.name for r in self.config.schedds]
        return sources + jobs.sources_from_ads(schedd_ads, known=known, cache=self.job_ads)

    def decide(self, snap: Snapshot, group: Group) -> GroupOutcome | None:
        projection = jobs.job_projection(group.match_expr, [e.ad for e in snap.entries])
        clusters, failed = jobs.collect(snap.sources, group.job_constraint, projection)
        if snap.sources and len(failed) == len(snap.sources):
            log.warning("group=%s no schedd answered: no request this cycle", group.name)
            return None
        history = self.history.group(group.name)
        return decide_group(
            self.config,
            group,
            clusters=clusters,
            entries=snap.entries,
            slot_ads=snap.slots,
            history=history,
            now=self.clock(),
            memo=self.match_memo,
        )

    # ------------------------------------------------------------ writing

    def _schedd_url(self, snap: Snapshot) -> str | None:
        for source in snap.sources:
            if isinstance(source, jobs.EmbeddedSchedd):
                return source.url
        return None

    def request_for(self, decision: EntryDecision, group: Group, schedd_url: str | None) -> Request:
        creds = self.config.group_credentials(group)
        cred = credentials.choose(creds, decision.entry.attr("GLIDEIN_Supported_AuthMethods"))
        params = {"GLIDEIN_Collector": self.config.collectors.user_pool[0]}
        if schedd_url:
            params["GLIDEIN_Schedd"] = schedd_url
        params.update(group.params)
        secrets: dict[str, str] = {}
        if cred is not None:
            subject = f"{self.config.name}.{group.name}"
            secrets[credentials.TOKEN_PARAM] = self.minter.token(cred, subject, decision.entry.name)
        p, r = decision.pressure, decision.removal
        return Request(
            decision.entry,
            self.config.name,
            group.name,
            cred.security_class if cred is not None else "frontend",
            p.min_idle,
            p.max_run,
            r.level,
            r.margin,
            group.limits.idle_glideins_lifetime,
            params,
            secrets,
            decision.monitor(),
        )

    def publish(self, snap: Snapshot, outcomes: list[tuple[Group, GroupOutcome]]) -> None:
        """glideclientglobal + glideclient ads to the WMS collectors, glideresource ads to the pool."""
        lifetime = self.config.loop.classad_lifetime
        requests, resources = [], []
        schedd_url = self._schedd_url(snap)
        factories = {factory_of(e) for e in snap.entries}
        count = sum(len(o.decisions) for _, o in outcomes) + len(factories)
        sequences = iter(self.sequencer.block(count))
        sent: Counter[str] = Counter()
        now = self.clock()
        self.seals.next_cycle()
        for group, outcome in outcomes:
            exprs = {
                "GlideClientMatchingGlideinCondorExpr": group.match_expr,
                "GlideClientConstraintJobCondorExpr": group.job_constraint,
                "GlideClientConstraintFactoryCondorExpr": group.factory_constraint,
            }
            for decision in outcome.decisions:
                req = self.request_for(decision, group, schedd_url)
                requests.append(request_ad(req, self.key, next(sequences), lifetime, now, seal=self.seals))
                sent[factory_of(decision.entry)] += 1
                resources.append(self._resource_ad(decision, group, exprs))
        info = FrontendInfo(
            self.config.name,
            self.config.security.identity,
            tuple(g.name for g in self.config.groups if g.enabled),
            __version__,
            lifetime,
        )
        globals_ = global_ads(info, snap.entries, sent, self.key, sequences, now=now)
        if self.standby is not None:
            globals_ = []  # the active's globals tell the standby it is alive: never overwrite them
            if not self.standby.may_serve():  # again right before advertising: the active wins
                return
        if requests or globals_:
            self.wms.advertise(globals_ + mark(requests, MODE_ATTR, self.mode))
        if resources:
            self.pool.advertise(mark(resources, RESOURCE_MODE_ATTR, self.mode))

    def _resource_ad(self, decision: EntryDecision, group: Group, exprs: dict[str, str]) -> ClassAd:
        triggered = {
            t.key: f"count={t.count}, {'curb' if t.is_curb else 'limit'}={t.bound}"
            for t in decision.pressure.triggered
        }
        info = decision.resource_info()
        res = ResourceAd(decision.entry, self.config.name, group.name, info, exprs, triggered)
        res.decided_by, res.lifetime = decision.pressure.decided_by, self.config.loop.classad_lifetime
        return resource_ad(res)

    def cycle(self) -> list[GroupOutcome]:
        """One cycle; returns what was decided (advertised unless reading failed). A standby
        whose active frontend is on the bus does nothing."""
        with _collector_paused():
            return self._cycle()

    def _cycle(self) -> list[GroupOutcome]:
        if self.standby is not None and not self.standby.may_serve():
            return []
        self.job_ads.next_cycle()
        self.match_memo.next_cycle()
        try:
            snap = self.snapshot()
        except GlideinError as exc:
            log.error("cycle skipped (fail closed): %s", exc)
            return []
        outcomes: list[tuple[Group, GroupOutcome]] = []
        for group in self.config.groups:
            if not group.enabled:
                continue
            outcome = self.decide(snap, group)
            if outcome is None:
                continue
            for decision in outcome.decisions:
                log.info(decision.log_line())
                self.history.group(group.name)[decision.entry.name] = decision.removal.history
            outcomes.append((group, outcome))
        self.history.save()
        try:
            self.publish(snap, outcomes)
        except GlideinError as exc:  # a collector down, a key unreadable: next cycle tries again
            log.error("advertising failed this cycle: %s", exc)
        results = [outcome for _, outcome in outcomes]
        if self.monitor is not None:
            self.monitor.record(self.wms, results, self.clock())
        return results

    def interval(self) -> float:
        """Seconds to the next cycle: a standby standing by checks every high_availability.check_interval."""
        ha = self.config.high_availability
        if self.standby is not None and not self.standby.serving and ha.check_interval:
            return float(ha.check_interval)
        return float(self.config.loop.interval)

    def invalidate(self) -> None:
        """Withdraw our requests, glideclientglobal and glideresource ads (graceful stop); only
        those we published in our HA mode (an active's stop leaves a serving standby's ads)."""
        name = self.config.name
        targets = [
            (self.wms, "glideclient", own_constraint("FrontendName", name, self.mode)),
            (self.pool, "glideresource", own_constraint("GlideFrontendName", name, self.mode)),
        ]
        if self.standby is None:
            targets.append((self.wms, "glideclientglobal", f"FrontendName == {classads.quote(name)}"))
        for bus, my_type, constraint in targets:
            try:
                bus.invalidate(my_type, constraint)
            except GlideinError as exc:
                log.warning("could not invalidate %s ads: %s", my_type, exc)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off during a cycle: with the caches alive (100,000s of
    objects at 50,000 autoclusters) each of its full passes rescans them all; cProfile of a steady
    cycle charged seconds to trivial functions, the mark of such passes (bench/frontend.py). The
    cycle makes next to no cyclic garbage (reference counting frees the rest); the collector runs
    again between cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Runner:
    """The loop: cycles every `loop.interval` seconds; signals only set flags."""

    def __init__(self, config_path: str, once: bool = False) -> None:
        self.config_path, self.once = config_path, once
        self.stop = False
        self.reload = False

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop = True

    def _on_hup(self, signum: int, frame: FrameType | None) -> None:
        self.reload = True

    def run(self) -> int:
        config = load_frontend_config(self.config_path)
        log.info(
            "glidein frontend %s starting: Python %s, config %s, name %s",
            __version__,
            sys.version.split()[0],
            self.config_path,
            config.name,
        )
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)
        frontend = Frontend(config)
        while True:
            started = time.monotonic()
            frontend.cycle()
            if self.once:
                return 0
            interval = frontend.interval()
            while not self.stop and not self.reload and time.monotonic() - started < interval:
                time.sleep(0.2)
            if self.stop:
                log.info("stopping: withdrawing our ads")
                frontend.invalidate()
                return 0
            if self.reload:
                self.reload = False
                frontend = self._reloaded(frontend)

    def _reloaded(self, frontend: Frontend) -> Frontend:
        try:
            config = load_frontend_config(self.config_path)
        except GlideinError as exc:
            log.error("reload refused, keeping the running configuration: %s", exc)
            return frontend
        log.info("configuration reloaded from %s", self.config_path)
        return Frontend(config)
