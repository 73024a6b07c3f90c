"""Factory benchmark: cycle time for ENTRIES x 10 clients at several sizes, and pilots/s per backend.

- cycle: a factory with ENTRIES entries and CLIENTS signed, sealed requests per entry
  (ReqIdleGlideins = IDLE). Cycle 1 validates every request, submits ENTRIES x CLIENTS x IDLE pilots
  and advertises every ad; the steady cycles that follow find the pressure met and submit nothing.
  Requests and ads go through a real `glidein collector` process (--bus collector, default) or an
  in-memory bus (--bus memory). Monitoring is on: status.json, the snapshot, and one RRD file per
  entry x client, entry, client and the total (the first pass creates them). Each steady cycle is
  printed as the daemon runs it (RRD rows handed to the writer thread, which first finishes the
  previous cycle's) and again until its own RRD files are written.
- backends: `--backend local` (pilots are queued job files, no processes; also LocalSubmitter.submit
  alone, batches of 10) or `--backend slurm` (the test suite's one-node Slurm, started as a test
  session starts it; every pilot an sbatch job held back an hour with --begin, scancel'ed at the
  end by job id). Cycle 1 gives the pilots/s end to end (bookkeeping + command lines + backend).
Targets (issue 17): steady cycle <= 5 s at 5,000 entries x 10 clients including monitoring.
Run: .venv/bin/python bench/factory.py [--entries 100 1000 5000] [--clients 10] [--idle 2]
     [--bus memory] [--backend slurm] [--profile FILE]
"""

from __future__ import annotations

import argparse
import atexit
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
    parser.add_argument("--entries", type=int, nargs="+", default=[1000], help="one run per size")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--idle", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--bus", choices=("collector", "memory"), default="collector")
    parser.add_argument("--backend", choices=("local", "slurm"), default="local")
    parser.add_argument("--profile", help="write a cProfile of the steady cycles to this file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.backend == "slurm" and not slurm_cluster():
        return
    if args.backend == "local":
        with tempfile.TemporaryDirectory(prefix="bench-factory-") as tmp_name:
            rate = bench_backend(Path(tmp_name), 2000)
            print(f"local backend submit: {rate:.0f} pilots/s (2000 pilots, batches of 10)")
    for size in args.entries:
        with tempfile.TemporaryDirectory(prefix="bench-factory-") as tmp_name:
            tmp = Path(tmp_name)
            bus, address, proc = make_bus(args.bus, tmp)
            try:
                run_cycles(args, size, tmp, bus, address)
            finally:
                if proc is not None:
                    proc.terminate()
                    proc.wait(10)


def slurm_cluster() -> bool:
    """The test suite's one-node Slurm (tests/slurm_support.py: started as a test session starts
    it, stopped at exit if this process was the last to use it); SLURM_CONF set for sbatch."""
    from tests import slurm_support

    try:
        slurm_support._join()
    except BaseException as exc:  # pytest's skip outcome: no Slurm here
        print(f"slurm backend: no cluster ({exc})")
        return False
    atexit.register(slurm_support._leave)
    os.environ["SLURM_CONF"] = str(slurm_support.PREFIX / "etc" / "slurm.conf")
    return True


def make_entry(backend: str, name: str) -> dict[str, Any]:
    """A local entry whose pilots stay queued, or a Slurm one whose jobs wait an hour (--begin)."""
    entry = local_entry(name, slots=1)
    if backend == "slurm":
        entry["gatekeeper"] = "localhost"
        entry["submitter"] = {"type": "slurm", "time_limit": 5, "sbatch_args": ["--begin=now+3600"]}
    return entry


def cancel_slurm_jobs(cycle: FactoryCycle) -> None:
    """scancel every job the bench's factory submitted (by job id: the cluster is shared)."""
    rows = cycle.store.conn.execute("SELECT backend_id FROM pilots WHERE backend_id != ''")
    ids = [str(r[0]) for r in rows]
    for i in range(0, len(ids), 500):
        subprocess.run(["scancel", *ids[i : i + 500]], check=False, capture_output=True, timeout=120)
    print(f"scancel: {len(ids)} Slurm jobs of the bench removed")


def run_cycles(args: argparse.Namespace, size: int, tmp: Path, bus: Any, address: str) -> None:
    entries = [make_entry(args.backend, f"e{i:04d}") for i in range(size)]
    for e in entries:
        e["limits"]["max_per_cycle"] = args.clients * args.idle
    started = time.perf_counter()
    setup = write_factory(tmp, entries, collector=address, workers=args.workers)
    cycle = FactoryCycle(load_factory_config(setup.config), bus)
    print(f"setup: {size} {args.backend} entries staged and loaded in {time.perf_counter() - started:.1f} s")
    cycle.run_once()  # keys and entry ads
    pub = setup.factory_pub()
    started = time.perf_counter()
    ads = []
    for i in range(size):
        for c in range(args.clients):
            req = ClientRequest(f"e{i:04d}@g@f1", "fe1", f"g{c}", args.idle, 10 * args.idle, 1, "frontend")
            req.secrets = {"GLIDEIN_Token": "tok" * 50}
            req.lifetime = 6 * 3600  # the steady cycles come after a first cycle that may take minutes
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
        f"cycle 1 ({size} entries x {args.clients} clients, {args.backend}): {report.seconds:.2f} s,"
        f" {report.requests} requests valid, {report.submitted} pilots submitted"
        f" = {report.submitted / report.seconds:.0f} pilots/s end to end; {wall:.2f} s with status/monitoring"
    )
    done = flush_monitor(cycle)
    if done is not None:
        print(f"first monitoring pass: {done.rows} RRD files created and written in {done.seconds:.1f} s")
    try:
        steady(args, cycle)
    finally:
        if args.backend == "slurm":
            cancel_slurm_jobs(cycle)
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
        print("  " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in report.phases.items()))
    if profiler is not None:
        profiler.dump_stats(args.profile)


if __name__ == "__main__":
    main()
