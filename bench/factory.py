"""Factory benchmark: cycle time for 1,000 entries x 10 clients, and local submissions per second.

- cycle: a factory with ENTRIES local entries (queue_wait 1 h: pilots are queued job files, no
  processes) and CLIENTS signed, sealed requests per entry (ReqIdleGlideins = IDLE). Cycle 1
  validates every request, submits ENTRIES x CLIENTS x IDLE pilots and advertises every ad; the
  steady cycles that follow find the pressure met and submit nothing. Requests and ads go through
  a real `glidein collector` process (--bus collector, default) or an in-memory bus (--bus memory).
- submissions/s: LocalSubmitter.submit of N pilots in batches of 10 (the backend alone), and the
  whole path of cycle 1 (bookkeeping + command lines + backend) per pilot.
Targets: steady cycle <= 10 s, >= 200 pilots/s.
Run: .venv/bin/python bench/factory.py [--entries 1000] [--clients 10] [--idle 2] [--bus memory]
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from glidein.common.classads import from_dict
from glidein.common.config import load_factory_config
from glidein.common.glideclient import ClientRequest, request_ad
from glidein.common.monitoring.writer import BatchDone
from glidein.factory.cycle import FactoryCycle
from glidein.factory.submitters.base import PilotSpec
from glidein.factory.submitters.local import LocalSubmitter
from tests.factory_support import local_entry, write_factory
from tests.procs import GLIDEIN, free_port, wait_for_port


class MemoryBus:
    def __init__(self) -> None:
        self.ads: dict[tuple[str, str], Any] = {}

    def advertise(self, ads: Sequence[Any]) -> None:
        for ad in ads:
            self.ads[(str(ad["MyType"]), str(ad["Name"]))] = ad

    def invalidate(self, my_type: str, constraint: str = "true") -> None:
        self.ads = {k: v for k, v in self.ads.items() if k[0] != my_type}

    def query(
        self, my_type: str | None, constraint: str = "true", projection: Sequence[str] = ()
    ) -> list[Any]:
        return [ad for (t, _), ad in self.ads.items() if my_type is None or t == my_type]


def bench_backend(tmp: Path, count: int) -> float:
    params = SimpleNamespace(slots=1, queue_wait=3600.0, failure_rate=0.0, black_hole=False, work_dir=None)
    sub = LocalSubmitter("bench", params, tmp)
    argv = ["python3", "glidein_startup.py", "-factory", "f1", "-param_GLIDEIN_Token", "x" * 200]
    specs = [PilotSpec(f"p{i:06d}", "bench", "fe.g", argv) for i in range(count)]
    started = time.perf_counter()
    for i in range(0, count, 10):
        sub.submit(specs[i : i + 10])
    return count / (time.perf_counter() - started)


def make_bus(kind: str, tmp: Path) -> tuple[Any, str, subprocess.Popen[bytes] | None]:
    if kind == "memory":
        return MemoryBus(), "127.0.0.1:9", None
    from glidein.common.bus import Bus

    port = free_port()
    log = open(tmp / "collector.log", "wb")  # noqa: SIM115 - lives as long as the collector
    proc = subprocess.Popen(
        [*GLIDEIN, "collector", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    wait_for_port(port, 20)
    return Bus([f"127.0.0.1:{port}"], timeout=60), f"127.0.0.1:{port}", proc


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--idle", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--bus", choices=("collector", "memory"), default="collector")
    parser.add_argument("--profile", help="write a cProfile of the steady cycles to this file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-factory-") as tmp_name:
        tmp = Path(tmp_name)
        print(
            f"local backend submit: {bench_backend(tmp / 'backend', 2000):.0f} pilots/s"
            " (2000 pilots, batches of 10)"
        )
        bus, address, proc = make_bus(args.bus, tmp)
        try:
            run_cycles(args, tmp, bus, address)
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(10)


def run_cycles(args: argparse.Namespace, tmp: Path, bus: Any, address: str) -> None:
    entries = [local_entry(f"e{i:04d}", slots=1) for i in range(args.entries)]
    for e in entries:
        e["limits"]["max_per_cycle"] = args.clients * args.idle
    started = time.perf_counter()
    setup = write_factory(tmp, entries, collector=address, workers=args.workers)
    cycle = FactoryCycle(load_factory_config(setup.config), bus)
    print(f"setup: {args.entries} entries staged and loaded in {time.perf_counter() - started:.1f} s")
    cycle.run_once()  # keys and entry ads
    pub = setup.factory_pub()
    started = time.perf_counter()
    ads = []
    for i in range(args.entries):
        for c in range(args.clients):
            req = ClientRequest(f"e{i:04d}@g@f1", "fe1", f"g{c}", args.idle, 10 * args.idle, 1, "frontend")
            req.secrets = {"GLIDEIN_Token": "tok" * 50}
            ads.append(from_dict(request_ad(req, setup.frontend_key, pub)))
    bus.advertise(ads)
    print(
        f"frontend side: {len(ads)} signed requests made and advertised"
        f" in {time.perf_counter() - started:.1f} s"
    )
    wall = time.perf_counter()
    report = cycle.run_once()
    wall = time.perf_counter() - wall
    print(
        f"cycle 1 ({args.entries} entries x {args.clients} clients): {report.seconds:.2f} s,"
        f" {report.requests} requests valid, {report.submitted} pilots submitted"
        f" = {report.submitted / report.seconds:.0f} pilots/s end to end; {wall:.2f} s with status/monitoring"
    )
    done = flush_monitor(cycle)
    if done is not None:
        print(f"first monitoring pass: {done.rows} RRD files created and written in {done.seconds:.1f} s")
    steady(args, cycle)
    cycle.shutdown()


def flush_monitor(cycle: FactoryCycle) -> BatchDone | None:
    monitor = cycle.monitor.monitor
    return monitor.flush() if monitor is not None else None


def steady(args: argparse.Namespace, cycle: FactoryCycle) -> None:
    """Steady cycles back to back: `cycle` is run_once as the daemon sees it (status.json and
    monitoring included; the RRD rows are handed to the writer thread, which first finishes the
    previous cycle's); `+ rrd` also waits for this cycle's RRD files to be written."""
    profiler = cProfile.Profile() if args.profile else None
    for n in range(2, args.cycles + 1):
        wall = time.perf_counter()
        if profiler is not None and n > 2:  # cycle 2 still moves the new pilots to pending
            profiler.enable()
        report = cycle.run_once()
        if profiler is not None:
            profiler.disable()
        took = time.perf_counter() - wall
        done = flush_monitor(cycle)
        with_rrd = time.perf_counter() - wall
        rrd = f", rrd writes {done.seconds:.2f} s ({done.rows} files)" if done else ""
        print(
            f"cycle {n} (steady): work {report.seconds:.2f} s, {report.submitted} submitted,"
            f" {report.requests} requests; cycle {took:.2f} s with status/monitoring;"
            f" {with_rrd:.2f} s + rrd{rrd} (load {os.getloadavg()[0]:.1f})"
        )
    if profiler is not None:
        profiler.dump_stats(args.profile)


if __name__ == "__main__":
    main()
