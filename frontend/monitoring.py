"""The frontend's monitoring row per cycle (RRD files and snapshot, see docs/MONITORING.md).

One `EntryStatus` per entry the frontend decided on, one `ClientStatus` per group from the
factory's `glidefactoryclient` ads (what the factory reports for our clients: pilots, requests and
its pilot counters), with the jobs idle/running the frontend matched to that entry. The pilots
page lists the pilots the frontend sees in its user pool: one row per `GLIDEIN_Pilot_ID` among
the slot ads of its groups (running when a slot is claimed), as the factory's page lists them
from its bookkeeping. Never raises into the cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from glidein.common import classads
from glidein.common.bus import Bus
from glidein.common.classads import ClassAd
from glidein.common.config.frontend import FrontendConfig
from glidein.common.errors import GlideinError
from glidein.common.monitoring.model import PILOT_ID_RE, PilotRecord, PilotState
from glidein.frontend.cycle import GroupOutcome

log = logging.getLogger(__name__)


class Querier(Protocol):
    def query(
        self, my_type: str | None, constraint: str = ..., projection: Sequence[str] = ...
    ) -> list[ClassAd]: ...


SLOT_ATTRS = (
    "GLIDEIN_Pilot_ID", "GLIDEIN_Entry_Name", "GLIDEIN_Site", "GLIDECLIENT_Name", "GLIDEIN_Client",
    "State", "DaemonStartTime",
)  # fmt: skip


def pilots_from_slots(slots: Sequence[Mapping[str, object]], frontend: str) -> list[PilotRecord]:
    """One PilotRecord per pilot of `frontend`'s groups among the slot ads (pure)."""
    found: dict[str, PilotRecord] = {}
    for slot in slots:
        pid, client = slot.get("GLIDEIN_Pilot_ID"), slot.get("GLIDECLIENT_Name") or slot.get("GLIDEIN_Client")
        if (
            not isinstance(pid, str)
            or not PILOT_ID_RE.match(pid)
            or not str(client).startswith(f"{frontend}.")
        ):
            continue
        start = slot.get("DaemonStartTime")
        started = float(start) if isinstance(start, int | float) and not isinstance(start, bool) else None
        running = slot.get("State") == "Claimed"
        seen = found.get(pid)
        if seen is not None:
            running = running or seen.state == PilotState.RUNNING
            started = min(filter(None, (started, seen.start_time)), default=None)
        entry = str(slot.get("GLIDEIN_Entry_Name") or "")
        found[pid] = PilotRecord(
            pid, entry, str(client), str(slot.get("GLIDEIN_Site") or entry),
            PilotState.RUNNING if running else PilotState.IDLE, None, started,  # submit: the factory knows
        )  # fmt: skip
    return sorted(found.values(), key=lambda p: p.pilot_id)


class FrontendMonitor:
    def __init__(self, config: FrontendConfig, pool: Querier | None = None) -> None:
        from glidein.common.monitoring.recorder import Monitor
        from glidein.common.monitoring.rrd import RRDConfig

        root = Path(config.monitoring.dir or Path(config.state_dir) / "monitor")
        self.name = config.name
        self.monitor = Monitor(root, "frontend", RRDConfig(step=config.monitoring.step))
        self.pool = pool if pool is not None else Bus(list(config.collectors.user_pool))
        # Entry ads as dicts, by ad object: the verified entries come back unchanged cycle after
        # cycle (requests.EntryVerifier), 5,000 of them at global-pool scale (bench/frontend.py).
        self._entry_dicts: dict[int, tuple[ClassAd, dict[str, object]]] = {}

    def _entry_dict(
        self, ad: ClassAd, seen: dict[int, tuple[ClassAd, dict[str, object]]]
    ) -> dict[str, object]:
        found = self._entry_dicts.get(id(ad))
        if found is None or found[0] is not ad:
            found = (ad, dict(classads.to_dict(ad)))
        seen[id(ad)] = found
        return found[1]

    def pilots(self) -> list[PilotRecord]:
        """The pilots of our groups in the user pool; none (one line) when the pool cannot be read."""
        try:
            slots = self.pool.query("Machine", "true", SLOT_ATTRS)
        except GlideinError as exc:
            log.warning("monitoring: pilots not listed this cycle: %s", exc)
            return []
        return pilots_from_slots([classads.to_dict(s) for s in slots], self.name)

    def record(self, wms: Querier, outcomes: Sequence[GroupOutcome], now: float) -> None:
        from glidein.common.monitoring.ads import entries_from_ads

        try:
            client_ads = [
                classads.to_dict(ad)
                for ad in wms.query("glidefactoryclient")
                if str(classads.eval_attr(ad, "ReqClientName")).startswith(f"{self.name}.")
            ]
            entries: dict[str, dict[str, object]] = {}
            jobs: dict[tuple[str, str], tuple[int, int]] = {}
            seen: dict[int, tuple[ClassAd, dict[str, object]]] = {}
            for outcome in outcomes:
                for d in outcome.decisions:
                    entries[d.entry.name] = self._entry_dict(d.entry.ad, seen)
                    short = str(d.entry.attr("EntryName") or d.entry.name)
                    jobs[(short, f"{self.name}.{outcome.group}")] = d.jobs_here()
            self._entry_dicts = seen
            statuses = entries_from_ads(list(entries.values()), client_ads, jobs)
            self.monitor.record_cycle(statuses, now, self.pilots())
        except GlideinError as exc:
            log.warning("monitoring: this cycle not recorded: %s", exc)


def make_monitor(config: FrontendConfig) -> FrontendMonitor | None:
    if not config.monitoring.enabled:
        return None
    try:
        return FrontendMonitor(config)
    except (ImportError, GlideinError, OSError) as exc:
        log.warning("monitoring disabled: %s", exc)
        return None
