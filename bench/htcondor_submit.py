"""HTCondor submitter on real schedds: pilots/s per grid type, and a factory cycle of 100 htcondor entries.

Starts a factory schedd pool and a CE pool (`pool.condor.sites.start_sites`: personal pools on
loopback, each a collector and one named schedd, run as nobody under root) and authenticates this
process to the factory's schedd with the factory's IDTOKEN (`use_token_dir`), as the factory does.

1. `HTCondorSubmitter.submit` through the real factory schedd, PILOTS pilots per grid type, in
   batches of 10 (the entries' default `batch_size`) and of 100: one submit() call per batch, which
   is one schedd transaction (one cluster, item data). Pilots are PilotSpecs with the command line
   the factory builds (stage arguments, report token, parameters, a sealed IDTOKEN that the
   submitter moves to a 0600 `-param_file`). Grid types:
   - `condor` (Condor-C to the CE's schedd) with `+remote_JobUniverse = 5`: forwarded and left
     idle at the CE (it has no worker nodes), as a real Condor-C entry; the gridmanager starts
     forwarding them while the next batches are submitted (with `--follow`, the first such run
     also waits until all are at the CE, then times their removal, which goes through the CE);
   - `condor` again with `hold = True`, the same path without the forwarding work, for comparison;
   - `batch slurm` and `arc https://arc.example.org/arex` with `hold = True` (submit_attrs): the
     schedd queues them held, so nothing goes to Slurm or to the (nonexistent) ARC-CE.
   Each is then removed with `condor_rm` (timed until the queue no longer lists them).
2. A FactoryCycle (in-memory bus, signed requests of `--idle` pilots per entry) with ENTRIES
   `htcondor` entries on the one factory schedd, Condor-C to the CE, `+remote_JobUniverse = 5`:
   cycle 1 submits ENTRIES x IDLE pilots; the steady cycles (median of `--cycles`) find the
   pressure met. The cycle groups entries by `status_key`: one schedd query per cycle for all.
   With `--follow`, then the wait until all its pilots are idle at the CE.
Everything is removed with condor_rm and both pools are stopped by pid. About 45 s; with
`--follow` 5-10 minutes (Condor-C forwards 6-8 pilots per second here).
Run: .venv/bin/python bench/htcondor_submit.py [--pilots 1000] [--entries 100] [--idle 5] [--follow]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from glidein.bench.factory import MemoryBus
from glidein.common.classads import from_dict
from glidein.common.condor_auth import use_token_dir
from glidein.common.config import load_factory_config
from glidein.common.config.entry import HTCondorSubmitter as HTCondorParams
from glidein.common.errors import ConfigError, GlideinError
from glidein.common.glideclient import ClientRequest, request_ad
from glidein.factory import staging
from glidein.factory.cycle import FactoryCycle
from glidein.factory.submitters.base import PilotSpec
from glidein.factory.submitters.htcondor import HTCondorSubmitter
from glidein.pool.condor.personal import CondorPool, children_of, pool_account
from glidein.pool.condor.release import find_release
from glidein.pool.condor.sites import FACTORY_SCHEDD, Sites, condor_grid_resource, schedd_name, start_sites
from tests.factory_support import write_factory

BATCH_SIZES = (10, 100)
WAIT_AT_CE = {"+remote_JobUniverse": "5"}  # the CE routes it to the vanilla universe: idle, no startd
HELD = {"hold": "True"}  # queued held at the factory's schedd: never sent anywhere
TOKEN = "eyJhbGciOiJSUzI1NiJ9." + "x" * 600 + ".sig"  # the size of a real pilot IDTOKEN
DRAIN_TIMEOUT = 300.0  # bound of the wait for condor_rm'd jobs to leave a queue
CYCLE_PILOTS = 'regexp("^ce[0-9]+$", GlideinEntryName)'  # the cycle's entries are ce000, ce001, ...


@dataclass(frozen=True)
class GridCase:
    """One grid type to measure and what its pilots do after the submission."""

    name: str  # short name for entry names
    grid_resource: str
    submit_attrs: dict[str, str]
    note: str


@dataclass
class Bench:
    """The running pools and where pilot files go."""

    sites: Sites
    root: Path

    def log_dir(self, name: str) -> Path:
        """A pilot output directory the factory's schedd (run as the pool account) may write."""
        path = self.root / "pilots" / name
        path.mkdir(parents=True)
        uid, gid, _ = pool_account()
        os.chown(path, uid, gid)
        return path

    def params(self, grid_resource: str, attrs: dict[str, str], log_dir: Path) -> HTCondorParams:
        return HTCondorParams(
            grid_resource=grid_resource,
            schedd=schedd_name(FACTORY_SCHEDD),
            collector=self.sites.factory.collector,
            submit_attrs=attrs,
            log_dir=str(log_dir),
        )


def grid_cases(sites: Sites) -> list[GridCase]:
    condor = condor_grid_resource(sites.ce)
    return [
        GridCase("ce", condor, WAIT_AT_CE, "Condor-C to the CE, forwarded and left idle there"),
        GridCase("ceheld", condor, HELD, "Condor-C, held at submission (hold = True): not forwarded"),
        GridCase("slurm", "batch slurm", HELD, "held at submission (hold = True): nothing reaches Slurm"),
        GridCase(
            "arc",
            "arc https://arc.example.org/arex",
            HELD,
            "held at submission (hold = True): no ARC-CE exists here",
        ),
    ]


def pilot_argv(entry: str, pilot_id: str) -> list[str]:
    """A command line as factory/worker.py pilot_argv builds it (stage, report token, parameters)."""
    sign = "0123456789abcdef0123456789abcdef01234567"
    argv = ["python3", str(staging.WRAPPER_PATH), "-factory", "f1", "-name", "g", "-entry", entry]
    argv += ["-clientname", "fe1.main", "-web", "http://factory.example.org:8319/stage", "-sign", sign]
    argv += ["-signtype", "sha1", "-descript", "description.abc123.cfg", "-signentry", sign]
    argv += ["-descriptentry", f"entry_{entry}/description.abc123.cfg"]
    argv += ["-v", "std", "-pilot_id", pilot_id, "-hold_time", "1200"]
    argv += ["-report_url", "http://factory.example.org:8319", "-report_token", "r" * 64]
    params = {"GLIDEIN_Site": f"Site_{entry}", "GLIDEIN_CPUS": "1", "GLIDEIN_Max_Idle": "1200"}
    params |= {"GLIDEIN_Retire_Time": "21600", "GLIDEIN_Token": TOKEN}
    for name, value in sorted(params.items()):
        argv += [f"-param_{name}", value]
    return argv


def pilot_specs(entry: str, count: int) -> list[PilotSpec]:
    labels = {"Factory": "f1", "Name": "g", "FrontendName": "fe1", "SecurityClass": "frontend"}
    labels["CredentialIdentifier"] = "cred1"
    ids = [f"{entry}_{n:05d}" for n in range(count)]
    return [PilotSpec(i, entry, "fe1.main", pilot_argv(entry, i), labels=labels) for i in ids]


def schedd_cpu(pool: CondorPool) -> float:
    """CPU seconds used so far by the pool's condor_schedd (user + system, from /proc)."""
    assert pool.proc is not None
    for pid in children_of(pool.proc.pid):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/comm").read_text().strip() == "condor_schedd":
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def queued(pool: CondorPool, constraint: str) -> int:
    out = pool.tool("condor_q", "-allusers", "-constraint", constraint, "-af", "ProcId", timeout=120)
    return len(out.split())


def remove_and_drain(pool: CondorPool, constraint: str) -> float:
    """condor_rm of the jobs matching `constraint`; seconds until the queue lists none of them."""
    started = time.monotonic()
    with contextlib.suppress(GlideinError):  # "no jobs matching" when none is left
        pool.tool("condor_rm", "-constraint", constraint, timeout=120)
    while queued(pool, constraint):
        if time.monotonic() - started > DRAIN_TIMEOUT:
            raise RuntimeError(f"jobs ({constraint}) still queued {DRAIN_TIMEOUT:.0f} s after condor_rm")
        time.sleep(1)
    return time.monotonic() - started


def submit_all(sub: HTCondorSubmitter, specs: Sequence[PilotSpec], batch: int) -> list[float]:
    """Every spec submitted, `batch` per submit() call; the seconds each call took."""
    took = []
    for start in range(0, len(specs), batch):
        chunk = specs[start : start + batch]
        began = time.perf_counter()
        accepted = sub.submit(chunk)
        took.append(time.perf_counter() - began)
        if len(accepted) != len(chunk):
            raise RuntimeError(f"{sub.entry}: {len(accepted)} of {len(chunk)} pilots accepted")
    return took


def measure_submit(bench: Bench, case: GridCase, batch: int, count: int, follow: bool) -> str:
    """One output line: pilots/s of `count` pilots of `case` in batches of `batch`, then removed."""
    entry = f"bench_{case.name}_{batch}"
    log_dir = bench.log_dir(entry)
    params = bench.params(case.grid_resource, case.submit_attrs, log_dir)
    sub = HTCondorSubmitter(entry, params, bench.root)
    specs = pilot_specs(entry, count)
    cpu, cpu_schedd = time.process_time(), schedd_cpu(bench.sites.factory)
    began = time.perf_counter()
    took = submit_all(sub, specs, batch)
    seconds = time.perf_counter() - began
    cpu, cpu_schedd = time.process_time() - cpu, schedd_cpu(bench.sites.factory) - cpu_schedd
    mine = f'GlideinEntryName == "{entry}"'
    listed = queued(bench.sites.factory, mine)
    if listed != count:
        raise RuntimeError(f"{entry}: {listed} of {count} pilots in the factory's schedd")
    forwarded = ""
    if follow and case.submit_attrs is WAIT_AT_CE:
        at_ce = wait_at_ce(bench.sites.ce, mine, count, began)
        forwarded = f"; all {count} at the CE {at_ce:.1f} s after the first submission"
    drained = remove_and_drain(bench.sites.factory, mine)
    return (
        f"{case.grid_resource.split()[0]:6} [{case.grid_resource}] {count} pilots, batches of {batch}:"
        f" {count / seconds:.0f} pilots/s ({seconds:.1f} s; per batch median"
        f" {1000 * statistics.median(took):.0f} ms; CPU per pilot: bench {1000 * cpu / count:.2f} ms,"
        f" schedd {1000 * cpu_schedd / count:.2f} ms){forwarded}; condor_rm + drained in {drained:.1f} s"
        f" -- {case.note}"
    )


def wait_at_ce(ce: CondorPool, constraint: str, count: int, since: float) -> float:
    """Seconds from `since` (perf_counter) until the CE's schedd holds `count` jobs of `constraint`."""
    while queued(ce, constraint) < count:
        if time.perf_counter() - since > DRAIN_TIMEOUT:
            raise RuntimeError(f"jobs ({constraint}) not all at the CE within {DRAIN_TIMEOUT:.0f} s")
        time.sleep(1)
    return time.perf_counter() - since


def cycle_entry(bench: Bench, name: str, idle: int) -> dict[str, Any]:
    """An htcondor entry on the factory's schedd, Condor-C to the CE where its pilots stay idle."""
    params = bench.params(condor_grid_resource(bench.sites.ce), WAIT_AT_CE, bench.log_dir(name))
    return {
        "name": name,
        "gatekeeper": bench.sites.ce.collector,
        "submitter": params.model_dump(mode="json", exclude_defaults=True) | {"type": "htcondor"},
        "attrs": {"GLIDEIN_Site": {"value": f"Site_{name}"}, "GLIDEIN_CPUS": {"value": 1, "type": "int"}},
        "limits": {"max_idle": idle, "max_glideins": idle, "max_per_cycle": idle, "submit_rate": 100},
    }


def ask(bus: MemoryBus, setup: Any, entries: Sequence[str], idle: int) -> None:
    """One signed request of `idle` idle pilots per entry, as a frontend sends them."""
    pub = setup.factory_pub()
    ads = []
    for name in entries:
        req = ClientRequest(f"{name}@g@f1", "fe1", "main", idle, idle, 1, "frontend")
        req.secrets = {"GLIDEIN_Token": TOKEN}
        ads.append(from_dict(request_ad(req, setup.frontend_key, pub)))
    bus.advertise(ads)


def timed_cycle(cycle: FactoryCycle) -> tuple[Any, float]:
    wall = time.perf_counter()
    report = cycle.run_once()
    return report, time.perf_counter() - wall


def run_cycles(bench: Bench, args: argparse.Namespace) -> list[str]:
    """Cycle 1 (submission) and the steady cycles of ENTRIES htcondor entries on one schedd."""
    names = [f"ce{n:03d}" for n in range(args.entries)]
    entries = [cycle_entry(bench, name, args.idle) for name in names]
    setup = write_factory(
        bench.root / "cycle", entries, workers=args.workers, condor_tokens=str(bench.sites.tokens)
    )
    bus = MemoryBus()
    cycle = FactoryCycle(load_factory_config(setup.config), bus)
    try:
        cycle.run_once()  # keys and entry ads
        ask(bus, setup, names, args.idle)
        began = time.perf_counter()
        first, wall = timed_cycle(cycle)
        want = args.entries * args.idle
        if first.submitted != want or first.failed_entries:
            raise RuntimeError(f"cycle 1 submitted {first.submitted} of {want}: {first.failed_entries[:3]}")
        lines = [
            f"factory cycle 1, {args.entries} htcondor entries on one schedd (loop.workers={args.workers}):"
            f" {first.seconds:.2f} s for {first.submitted} pilots = {first.submitted / first.seconds:.0f}"
            f" pilots/s end to end ({wall:.2f} s with status.json and monitoring)"
        ]
        lines.append(steady(cycle, args, want))
        if not args.follow:
            return lines
        at_ce = wait_at_ce(bench.sites.ce, CYCLE_PILOTS, want, began)
        lines.append(f"factory cycle: all {want} pilots idle at the CE {at_ce:.1f} s after cycle 1 began")
    finally:
        cycle.shutdown()
    return lines


def steady(cycle: FactoryCycle, args: argparse.Namespace, want: int) -> str:
    reports = [timed_cycle(cycle) for _ in range(args.cycles)]
    if any(r.submitted or r.removed or r.failed_entries for r, _ in reports):
        raise RuntimeError(f"steady cycles were not steady: {[vars(r) for r, _ in reports]}")
    times = sorted(r.seconds for r, _ in reports)
    walls = [w for _, w in reports]
    return (
        f"factory steady cycle, {args.entries} entries, {want} pilots queued (one schedd query):"
        f" median {statistics.median(times):.2f} s (min {times[0]:.2f}, max {times[-1]:.2f},"
        f" {len(times)} cycles; {statistics.median(walls):.2f} s with status.json and monitoring)"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pilots", type=int, default=1000, help="pilots per grid type and batch size")
    parser.add_argument("--entries", type=int, default=100, help="htcondor entries in the factory cycle")
    parser.add_argument("--idle", type=int, default=5, help="idle pilots asked per entry")
    parser.add_argument("--cycles", type=int, default=5, help="steady cycles measured")
    parser.add_argument("--workers", type=int, default=1, help="the factory's entry worker processes")
    parser.add_argument(
        "--follow", action="store_true", help="also time Condor-C forwarding to the CE and removal from it"
    )
    parser.add_argument("--htcondor", metavar="RELEASE_DIR", help="HTCondor release (default: as found)")
    return parser.parse_args()


def with_sites(release: Any, work: Callable[[Bench], None]) -> None:
    """Both pools up under a fresh directory the pool account can enter; all removed and stopped after."""
    root = Path(tempfile.mkdtemp(prefix="glidein-bench-htcondor-"))
    os.chmod(root, 0o755)
    uid, gid, _ = pool_account()
    os.chown(root, uid, gid)
    try:
        began = time.monotonic()
        sites = start_sites(release, root, None)
        try:
            print(f"factory schedd pool and CE pool ready in {time.monotonic() - began:.1f} s")
            use_token_dir(sites.tokens)  # as `glidein factory run` does with `condor_tokens`
            work(Bench(sites, root))
        finally:
            try:
                left = remove_and_drain(sites.factory, "true")
                print(f"condor_rm of every pilot left: the factory's queue empty after {left:.1f} s")
            except (GlideinError, RuntimeError) as exc:
                print(f"clean-up: {exc} (the pools are stopped anyway)")
            sites.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    try:
        release = find_release(args.htcondor)
    except ConfigError as exc:
        print(f"htcondor_submit: skipped ({exc})")
        return
    print(f"HTCondor {release.version()} ({release.root}); load average {os.getloadavg()[0]:.2f}")

    def work(bench: Bench) -> None:
        follow = args.follow
        for case in grid_cases(bench.sites):
            for batch in BATCH_SIZES:
                print(measure_submit(bench, case, batch, args.pilots, follow), flush=True)
                follow = follow and case.submit_attrs is not WAIT_AT_CE  # forwarding timed once
        for line in run_cycles(bench, args):
            print(line, flush=True)

    with_sites(release, work)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
