"""The frontend's monitoring row per cycle (RRD files and snapshot, see docs/MONITORING.md).

One `EntryStatus` per entry the frontend decided on, one `ClientStatus` per group from the
factory's `glidefactoryclient` ads (what the factory reports for our clients), with the jobs
idle/running the frontend matched to that entry. Never raises into the cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from glidein.common import classads
from glidein.common.classads import ClassAd
from glidein.common.config.frontend import FrontendConfig
from glidein.common.errors import GlideinError
from glidein.frontend.cycle import GroupOutcome

log = logging.getLogger(__name__)


class Querier(Protocol):
    def query(
        self, my_type: str | None, constraint: str = ..., projection: Sequence[str] = ...
    ) -> list[ClassAd]: ...


class FrontendMonitor:
    def __init__(self, config: FrontendConfig) -> None:
        from glidein.common.monitoring.recorder import Monitor
        from glidein.common.monitoring.rrd import RRDConfig

        root = Path(config.monitoring.dir or Path(config.state_dir) / "monitor")
        self.name = config.name
        self.monitor = Monitor(root, "frontend", RRDConfig(step=config.monitoring.step))

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
            for outcome in outcomes:
                for d in outcome.decisions:
                    entries[d.entry.name] = classads.to_dict(d.entry.ad)
                    short = str(d.entry.attr("EntryName") or d.entry.name)
                    jobs[(short, f"{self.name}.{outcome.group}")] = d.jobs_here()
            statuses = entries_from_ads(list(entries.values()), client_ads, jobs)
            self.monitor.record_cycle(statuses, now)
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
