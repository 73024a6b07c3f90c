"""Monitoring figures: RRD writes per cycle, graph rendering, /metrics and page rendering.

Prints, for E entries x C clients (one RRD file per entry, per client, per entry x client, plus
the total; --entries takes several sizes), how long one cycle spends recording them: the first
cycle (creates the files), a later cycle written in the caller (`Monitor`), and a later cycle
handed to the writer thread (`Monitor(background=True)`, as the factory runs it: the caller's
share, and the time until the files are written). Then how long a PNG graph takes, and how long
/metrics and the entries page take for the same data.
Run: .venv/bin/python bench/monitoring.py [--entries 500 1000 5000] [--clients 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from glidein.common.monitoring.model import ClientStatus, Counts, EntryStatus
from glidein.common.monitoring.recorder import Monitor, rrd_rows
from glidein.common.monitoring.snapshot import Snapshot, StaticSource
from glidein.common.web.app import WebApp, WebConfig

CYCLES, STEP = 3, 300


def entries(n: int, clients: int, cycle: int) -> list[EntryStatus]:
    return [
        EntryStatus(
            f"entry_{e:04d}",
            f"Site{e % 50}",
            clients=tuple(
                ClientStatus(f"fe{c}.main", Counts(pilots_idle=e % 7 + cycle, pilots_completed=cycle * 3))
                for c in range(clients)
            ),
        )
        for e in range(n)
    ]


def timed(label: str, func: Callable[[], object], repeat: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        func()
    per = (time.perf_counter() - start) / repeat
    print(f"  {label}: {per * 1000:.1f} ms")
    return per


def rrd_figures(root: Path, n: int, clients: int, t0: int) -> Monitor:
    """First cycle, later cycles in the caller, later cycles in the writer thread."""
    direct = Monitor(root / "direct", "factory", write_snapshot_file=False)
    files = len(rrd_rows("factory", entries(n, clients, 0)))
    start = time.perf_counter()
    direct.record_cycle(entries(n, clients, 0), t0)
    create = time.perf_counter() - start
    print(f"  first cycle (creates {files} files): {create:.2f} s ({files / create:.0f} files/s)")
    for k in range(1, CYCLES):
        start = time.perf_counter()
        direct.record_cycle(entries(n, clients, k), t0 + k * STEP)
        took = time.perf_counter() - start
    print(f"  later cycle, written in the caller: {took:.2f} s ({files / took:.0f} files/s)")
    background = Monitor(root / "direct", "factory", write_snapshot_file=False, background=True)
    for k in range(CYCLES, CYCLES + 2):  # the second one: last update times known, as in a daemon
        start = time.perf_counter()
        background.record_cycle(entries(n, clients, k), t0 + k * STEP)
        handed = time.perf_counter() - start
        done = background.flush()
        total = time.perf_counter() - start
    seconds = done.seconds if done else float("nan")
    print(
        f"  later cycle, writer thread: {handed:.2f} s in the caller, files written after {total:.2f} s"
        f" (thread {seconds:.2f} s)"
    )
    return direct


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, nargs="+", default=[500])
    parser.add_argument("--clients", type=int, default=3)
    args = parser.parse_args()
    for n in args.entries:
        print(f"{n} entries x {args.clients} clients (load {os.getloadavg()[0]:.1f}):")
        with tempfile.TemporaryDirectory() as tmp:
            t0 = int(time.time()) // STEP * STEP - (CYCLES + 3) * STEP
            monitor = rrd_figures(Path(tmp), n, args.clients, t0)
            web_figures(monitor, entries(n, args.clients, CYCLES - 1), t0, args.clients)


def web_figures(monitor: Monitor, last: list[EntryStatus], t0: int, clients: int) -> None:
    source = StaticSource(Snapshot(t0, tuple(last)))
    app = WebApp(WebConfig(graph_cache_s=0), source, monitor.store)
    timed("graph PNG, uncached", lambda: app.handle("/graph.png?chart=pilots&period=1d&entry=entry_0001"), 20)
    cached = WebApp(WebConfig(), source, monitor.store)
    timed("graph PNG, cached", lambda: cached.handle("/graph.png?chart=pilots&period=1d"), 200)
    timed(f"/metrics over {len(last) * clients} series", lambda: app.handle("/metrics"), 3)
    timed(f"entries page with {len(last)} entries", lambda: app.handle("/"), 3)


if __name__ == "__main__":
    main()
