"""Monitoring figures: RRD writes per cycle, graph rendering, /metrics and page rendering.

Prints how long one factory cycle spends recording E entries x C clients (one RRD file per
entry, per client, per entry x client, plus the total), how long a PNG graph takes, and how
long /metrics and the entries page take for the same data.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from glidein.common.monitoring.model import ClientStatus, Counts, EntryStatus
from glidein.common.monitoring.recorder import Monitor, rrd_rows
from glidein.common.monitoring.snapshot import Snapshot, StaticSource
from glidein.common.web.app import WebApp, WebConfig

ENTRIES, CLIENTS, CYCLES, STEP = 500, 3, 3, 300


def entries(cycle: int) -> list[EntryStatus]:
    return [
        EntryStatus(
            f"entry_{e:04d}",
            f"Site{e % 50}",
            clients=tuple(
                ClientStatus(f"fe{c}.main", Counts(pilots_idle=e % 7 + cycle, pilots_completed=cycle * 3))
                for c in range(CLIENTS)
            ),
        )
        for e in range(ENTRIES)
    ]


def timed(label: str, func: Callable[[], object], repeat: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        func()
    per = (time.perf_counter() - start) / repeat
    print(f"{label}: {per * 1000:.1f} ms")
    return per


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        monitor = Monitor(Path(tmp), "factory")
        files = len(rrd_rows("factory", entries(0)))
        t0 = int(time.time()) // STEP * STEP - CYCLES * STEP
        start = time.perf_counter()
        monitor.record_cycle(entries(0), t0)
        create = time.perf_counter() - start
        print(f"entries x clients: {ENTRIES} x {CLIENTS} = {files} RRD files per cycle")
        print(f"first cycle (creates the files): {create:.2f} s ({files / create:.0f} files/s)")
        for k in range(1, CYCLES):
            start = time.perf_counter()
            monitor.record_cycle(entries(k), t0 + k * STEP)
            took = time.perf_counter() - start
        print(f"later cycle (updates + snapshot): {took:.2f} s ({files / took:.0f} files/s)")
        source = StaticSource(Snapshot(t0, tuple(entries(CYCLES - 1))))
        app = WebApp(WebConfig(graph_cache_s=0), source, monitor.store)
        timed(
            "graph PNG, uncached",
            lambda: app.handle("/graph.png?chart=pilots&period=1d&entry=entry_0001"),
            20,
        )
        cached = WebApp(WebConfig(), source, monitor.store)
        timed("graph PNG, cached", lambda: cached.handle("/graph.png?chart=pilots&period=1d"), 200)
        timed(f"/metrics over {ENTRIES * CLIENTS} series", lambda: app.handle("/metrics"), 5)
        timed(f"entries page with {ENTRIES} entries", lambda: app.handle("/"), 5)


if __name__ == "__main__":
    main()
