"""Chaos benchmark (issue 13): kill random daemons of a running demo, restart them as systemd
would, and count what the users would notice.

The embedded demo (demo.layout.prepare, demo.run.start_services, the demo's Supervisor and
clean-up) runs in a new temporary directory with the chaos factory config of
bench/chaos_kit/layout.py and jobs of 2-6 s that each append one line per execution reaching its
end to records/job.PROC. Every 2-7 s (seeded) a victim is picked: one of the daemons (WMS and
user-pool collectors, schedd, factory web, factory, frontend), killed with SIGKILL (SIGTERM one
time in four) and restarted with the same command line, state and ports 1-3 s after it exited;
or (three times in ten) a running startd or pilot wrapper, not restarted: the factory replaces
pilots. When every job left the queue (or the timeout), everything is stopped as the demo stops
it, and the table shows: kills, jobs done once / lost / run twice, runaway pilots (processes
under the demo directory left after the clean-up), pilots sent to blocked sites (the black hole
after the factory blocked it, an entry in operator downtime), wall time and jobs/min. Exit code 1
when any of lost, run twice, runaway or blocked-site figures is not 0. docs/RELIABILITY.md.

Default (make bench): the issue's run, 1,000 jobs and 40 kills: 258-408 s measured on 2 cores
(jobs bounded by --timeout 600). A longer run: --jobs 3000 --kills 120 --timeout 1800 (1,242 s).
Run: .venv/bin/python bench/chaos.py [--jobs N] [--kills N] [--seed N] [--timeout S] [--slots N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType

from chaos_kit.daemons import Keeper, Kill, Proc, pick_victim, processes_under
from chaos_kit.layout import BLACK_HOLE, BLOCK_SECONDS, DOWN, WORKING, ChaosSetup, add_downtime, prepare_chaos
from chaos_kit.layout import records_dir as records_of
from chaos_kit.report import Outcome, format_table
from chaos_kit.tally import Blocks, blocked_sites, count_jobs, entries_blocked, job_views, read_records

from glidein.common.errors import GlideinError
from glidein.demo import cleanup
from glidein.demo.layout import DemoLayout
from glidein.demo.processes import Supervisor
from glidein.demo.run import start_services, submit_jobs
from glidein.pool.schedd.client import ScheddClient


@dataclass(frozen=True)
class Options:
    jobs: int
    kills: int
    seed: int
    timeout: float
    slots: int
    gap: tuple[float, float] = (2.0, 7.0)  # seconds between kills
    warmup: float = 10.0  # seconds after submission before the first kill
    term_share: float = 0.25  # kills with SIGTERM (an operator's restart); the others SIGKILL
    pilot_share: float = 0.3  # kills of a startd or pilot wrapper instead of a daemon


def say(text: str) -> None:
    print(text, flush=True)


def strike(keeper: Keeper, rng: random.Random, root: Path, opts: Options, at: float) -> Kill:
    sig = signal.SIGTERM if rng.random() < opts.term_share else signal.SIGKILL
    victim, pid = pick_victim(rng, root, opts.pilot_share, keeper.up())
    if pid is None:
        pid = keeper.kill(victim, sig)
    else:
        with contextlib.suppress(ProcessLookupError):  # it ended since the scan: still counted
            os.kill(pid, sig)
    return Kill(round(at, 1), victim, sig.name, pid)


def _queued(client: ScheddClient) -> int | None:
    """Jobs still idle, running or held; None while the schedd does not answer."""
    try:
        status = client.status()
    except (GlideinError, OSError, ValueError):
        return None
    return sum(int(str(status.get(k, 0))) for k in ("idle", "running", "held"))


@dataclass
class LoopResult:
    kills: list[Kill] = field(default_factory=list)
    finished: bool = False  # every job left the queue before the timeout
    good_blocked: set[str] = field(default_factory=set)  # working sites seen blocked


def chaos_loop(layout: DemoLayout, keeper: Keeper, opts: Options) -> LoopResult:
    """Kill and restart until every job left the queue or the timeout."""
    out = LoopResult()
    db = layout.factory_state / "factory.db"
    rng = random.Random(opts.seed)
    client = ScheddClient(layout.url("schedd"), timeout=5)
    t0 = time.monotonic()
    next_kill, next_line = t0 + opts.warmup, t0
    kills = out.kills
    while time.monotonic() < t0 + opts.timeout:
        now = time.monotonic()
        for name in keeper.tick():
            say(f"[{now - t0:6.1f}s] restarted {name}")
        if len(kills) < opts.kills and now >= next_kill:
            kill = strike(keeper, rng, layout.root, opts, now - t0)
            kills.append(kill)
            say(f"[{kill.at:6.1f}s] kill #{len(kills)}: {kill.signal} {kill.victim} pid={kill.pid}")
            next_kill = now + rng.uniform(*opts.gap)
        queued = _queued(client)
        out.good_blocked |= entries_blocked(db, WORKING, time.time())
        if now >= next_line:
            jobs = "schedd down" if queued is None else f"queued={queued} done={layout.jobs - queued}"
            say(f"[{now - t0:6.1f}s] jobs {jobs} | kills {len(kills)} | down: {', '.join(keeper.due) or '-'}")
            next_line = now + 15
        if queued == 0:
            out.finished = True
            return out
        time.sleep(1.0)
    return out


def final_jobs(layout: DemoLayout, keeper: Keeper) -> list[dict[str, object]]:
    """Every job ad, once every daemon is up again (the schedd may be restarting)."""
    deadline = time.monotonic() + 60
    while not keeper.all_up() and time.monotonic() < deadline:
        keeper.tick()
        time.sleep(0.5)
    client = ScheddClient(layout.url("schedd"), timeout=60)
    for _ in range(30):
        try:
            return client.jobs(include_done=True)
        except GlideinError:
            time.sleep(1.0)
    raise GlideinError("chaos: the schedd did not answer a jobs query for 30 s after the run")


def stop_everything(layout: DemoLayout, sup: Supervisor) -> list[Proc]:
    """The demo's own clean-up order (frontend and factory, the pilots at the sites through the
    factory's submitters, the rest); then the runaways: processes under the demo directory 10 s
    later, before the demo's safety net (SIGKILL of the process groups, of pilot pids) ends them."""
    killed = [name for name in ("frontend", "factory") if not sup.stop_named(name)]
    removed = cleanup.remove_pilots(layout.factory_config)
    cleanup.wait_pilots(layout.factory_state, 20.0)
    killed += sup.stop_all()
    say(f"stopped {len(sup.started)} processes (with restarts), removed {removed} pilots still at the sites")
    groups = frozenset(item.proc.pid for item in sup.started)
    deadline = time.monotonic() + 10.0
    while processes_under(layout.root, groups) and time.monotonic() < deadline:
        time.sleep(0.2)
    runaway = processes_under(layout.root, groups)
    for proc in runaway:
        say(f"  runaway pid={proc.pid} {proc.kind}: {proc.cmdline[:150]}")
    killed_groups = cleanup.kill_groups(sup, grace=0.0)
    pilots = cleanup.kill_pilots(layout.factory_state)
    for proc in processes_under(layout.root, groups):
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    if killed or killed_groups or pilots:
        names, group_names = ", ".join(killed) or "-", ", ".join(killed_groups) or "-"
        say(f"  had to kill: {names}; process groups {group_names}; {pilots} pilots")
    return runaway


def run(layout: DemoLayout, opts: Options) -> Outcome:
    sup = Supervisor(layout.logs, layout.root / "pids.json")
    keeper = Keeper(sup, random.Random(opts.seed + 1))
    down_since = add_downtime(layout)
    try:
        start_services(layout, sup)
        submitted_at = time.time()
        submit_jobs(layout, None)
        say(f"submitted {layout.jobs} jobs; chaos: {opts.kills} kills, seed {opts.seed}")
        loop = chaos_loop(layout, keeper, opts)
        wall = time.time() - submitted_at
        ads = final_jobs(layout, keeper)
    finally:
        runaway = stop_everything(layout, sup)
    (layout.root / "kills.json").write_text(json.dumps([asdict(k) for k in loop.kills], indent=1))
    figures = count_jobs(layout.jobs, job_views(ads), read_records(records_of(layout)))
    blocks = Blocks(BLACK_HOLE, float(BLOCK_SECONDS), DOWN, down_since)
    blocked = blocked_sites(layout.factory_state / "factory.db", blocks)
    good = sorted(loop.good_blocked)
    outcome = Outcome(figures, loop.kills, keeper.crashes, runaway, blocked, wall, loop.finished, good)
    say(format_table(outcome, submitted_at))
    return outcome


def parse_args() -> tuple[Options, Path | None, bool]:
    parser = argparse.ArgumentParser(description="kill and restart the demo's daemons while jobs run")
    parser.add_argument("--jobs", type=int, default=1000, help="jobs to run (default 1000)")
    parser.add_argument("--kills", type=int, default=40, help="kills at most (default 40)")
    parser.add_argument("--seed", type=int, default=1, help="seed of victims, signals, gaps (default 1)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds for the jobs (default 600)")
    parser.add_argument("--slots", type=int, default=5, help="pilots at once per working site (default 5)")
    parser.add_argument("--dir", type=Path, help="demo directory (default: a new temporary one)")
    parser.add_argument("--keep-dir", action="store_true", help="keep the directory even when all is 0")
    args = parser.parse_args()
    if args.jobs < 1 or args.kills < 0 or args.slots < 1:
        parser.error("--jobs and --slots must be at least 1, --kills at least 0")
    return Options(args.jobs, args.kills, args.seed, args.timeout, args.slots), args.dir, args.keep_dir


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # so that the clean-up in run() runs


def main() -> int:
    opts, directory, keep = parse_args()
    began = time.monotonic()
    signal.signal(signal.SIGTERM, _interrupt)
    root = (directory or Path(tempfile.mkdtemp(prefix="glidein-chaos-"))).resolve()
    root.mkdir(parents=True, exist_ok=True)
    layout = prepare_chaos(root, ChaosSetup(opts.jobs, opts.seed, opts.slots))
    say(f"glidein chaos run in {root} (logs in {layout.logs}); {os.cpu_count()} cores")
    outcome = run(layout, opts)
    say(f"total time of the script (set-up, run, clean-up): {time.monotonic() - began:.0f} s")
    if outcome.ok and not keep and directory is None:
        shutil.rmtree(root, ignore_errors=True)
    else:
        say(f"directory kept: {root}")
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
