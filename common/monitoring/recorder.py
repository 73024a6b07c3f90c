"""The one call a daemon makes each cycle: `Monitor.record_cycle(entries, now, pilots)`.

It writes every RRD (totals, per entry, per client, per entry x client) and, when a snapshot
path is set, the JSON snapshot the web process serves. A failing file is logged in one line
and skipped: monitoring never stops a factory or frontend cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from glidein.common.errors import GlideinError
from glidein.common.log import log_exception
from glidein.common.monitoring.model import Counts, EntryStatus, PilotRecord, client_totals
from glidein.common.monitoring.rrd import RRDConfig, RRDKey, RRDStore
from glidein.common.monitoring.snapshot import Snapshot, write_snapshot

log = logging.getLogger(__name__)


def rrd_rows(kind: str, entries: Sequence[EntryStatus]) -> list[tuple[RRDKey, Counts]]:
    """Every (file, numbers) pair one cycle writes, totals included (pure)."""
    rows: list[tuple[RRDKey, Counts]] = [(RRDKey(kind), Counts.total(e.totals for e in entries))]
    for entry in entries:
        rows.append((RRDKey(kind, entry=entry.name), entry.totals))
        rows.extend((RRDKey(kind, entry.name, c.client), c.counts) for c in entry.clients)
    rows.extend((RRDKey(kind, client=name), counts) for name, counts in client_totals(entries).items())
    return rows


@dataclass
class Monitor:
    """Monitoring output of one daemon: `<root>/<kind>/...rrd` and `<root>/<kind>/snapshot.json`."""

    root: Path
    kind: str  # "factory" or "frontend"
    rrd_config: RRDConfig | None = None
    write_snapshot_file: bool = True

    def __post_init__(self) -> None:
        self.store = RRDStore(self.root, self.rrd_config)
        RRDKey(self.kind).relpath()  # validates the kind now, not at the first cycle

    @property
    def snapshot_path(self) -> Path:
        return self.root / self.kind / "snapshot.json"

    def record_cycle(
        self, entries: Sequence[EntryStatus], now: float, pilots: Sequence[PilotRecord] = ()
    ) -> int:
        """Record one cycle's numbers at time `now`; returns how many RRD rows were written."""
        written = 0
        for key, counts in rrd_rows(self.kind, entries):
            try:
                written += self.store.update(key, counts, now)
            except GlideinError as exc:
                log_exception(log, f"monitoring: cannot record {key}", exc)
        if self.write_snapshot_file:
            try:
                write_snapshot(self.snapshot_path, Snapshot(now, tuple(entries), tuple(pilots)))
            except OSError as exc:
                log_exception(log, f"monitoring: cannot write {self.snapshot_path}", exc)
        return written
