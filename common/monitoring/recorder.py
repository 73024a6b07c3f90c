"""The one call a daemon makes each cycle: `Monitor.record_cycle(entries, now, pilots)`.

It writes every RRD (totals, per entry, per client, per entry x client) and, when a snapshot
path is set, the JSON snapshot the web process serves. A failing file is logged in one line
(the first few of a cycle; then one line counts them) and skipped: monitoring never stops a
factory or frontend cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from glidein.common.log import log_exception
from glidein.common.monitoring.model import Counts, EntryStatus, PilotRecord, client_totals
from glidein.common.monitoring.rrd import RRDConfig, RRDKey, RRDStore
from glidein.common.monitoring.snapshot import Snapshot, write_snapshot
from glidein.common.monitoring.writer import BackgroundWriter, BatchDone, write_rows

log = logging.getLogger(__name__)


def rrd_rows(kind: str, entries: Sequence[EntryStatus]) -> list[tuple[RRDKey, Counts]]:
    """Every (file, numbers) pair one cycle writes, totals included (pure)."""
    totals = [e.totals for e in entries]
    rows: list[tuple[RRDKey, Counts]] = [(RRDKey(kind), Counts.total(totals))]
    for entry, total in zip(entries, totals, strict=True):
        rows.append((RRDKey(kind, entry=entry.name), total))
        rows.extend((RRDKey(kind, entry.name, c.client), c.counts) for c in entry.clients)
    rows.extend((RRDKey(kind, client=name), counts) for name, counts in client_totals(entries).items())
    return rows


@dataclass
class Monitor:
    """Monitoring output of one daemon: `<root>/<kind>/...rrd` and `<root>/<kind>/snapshot.json`.

    With `background`, `record_cycle` hands the RRD rows to a thread (common/monitoring/writer.py)
    and returns; `flush` waits for them (a daemon calls it before it stops)."""

    root: Path
    kind: str  # "factory" or "frontend"
    rrd_config: RRDConfig | None = None
    write_snapshot_file: bool = True
    background: bool = False

    def __post_init__(self) -> None:
        self.store = RRDStore(self.root, self.rrd_config)
        RRDKey(self.kind).relpath()  # validates the kind now, not at the first cycle
        self.writer = BackgroundWriter(self.store) if self.background else None

    @property
    def snapshot_path(self) -> Path:
        return self.root / self.kind / "snapshot.json"

    def record_cycle(
        self, entries: Sequence[EntryStatus], now: float, pilots: Sequence[PilotRecord] = ()
    ) -> int:
        """Record one cycle's numbers at time `now`; how many RRD rows were written (in the
        background: how many were handed to the writer)."""
        rows = rrd_rows(self.kind, entries)
        if self.writer is not None:
            self.writer.submit(rows, now)
            written = len(rows)
        else:
            written = write_rows(self.store, rows, now).written
        if self.write_snapshot_file:
            try:
                write_snapshot(self.snapshot_path, Snapshot(now, tuple(entries), tuple(pilots)))
            except OSError as exc:
                log_exception(log, f"monitoring: cannot write {self.snapshot_path}", exc)
        return written

    def flush(self, timeout: float | None = None) -> BatchDone | None:
        """Wait for RRD rows still being written; the last batch's figures (None: none, or still
        writing after `timeout`)."""
        return self.writer.flush(timeout) if self.writer is not None else None
