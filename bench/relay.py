"""Embedded site relay bench (issue 16 part 1): how fast pilots go through `glidein schedd` in
relay mode to a local site, and how long a relay killed -9 takes to answer again.

Real processes on loopback: a `glidein collector`, the relay (`relay_argv`, local backend with
`--slots` slots, `--per-cycle` pilots handed per `--interval` s), pilots that run `true`. The
factory side is factory/submitters/relay.py (found by the relay's ad, token-signed calls).

Printed: the time of one submit call of `--pilots` pilots and one status call for them (the
factory's per-cycle calls), the time until the relay has handed every pilot to the site and until
every pilot has ended (what the per-cycle limit allows: pilots / per-cycle x interval), the most
pilots handed in one cycle (from the relay's log: never above `--per-cycle`), and, after kill -9
at a random point, the time until the restarted relay answers a status call again and whether any
pilot was handed twice or lost.

Run: .venv/bin/python bench/relay.py [--pilots 200] [--per-cycle 50] [--interval 1] [--slots 50]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from glidein.factory.pilot_states import PilotState
from glidein.factory.submitters.base import PilotRef, PilotSpec
from glidein.factory.submitters.relay import RelaySubmitter
from tests.integration.pool.relay_helpers import ENTRY, RelaySite
from tests.procs import Processes, wait_for

FINAL = (PilotState.COMPLETED, PilotState.FAILED)


def _states(sub: RelaySubmitter, ids: list[str]) -> dict[str, PilotState]:
    return {i: st.state for i, st in sub.status([PilotRef(i, "") for i in ids]).items()}


def run(args: argparse.Namespace, tmp: Path) -> list[str]:
    logs = tmp / "logs"
    logs.mkdir()
    processes = Processes(logs)
    try:
        site = {"type": "local", "slots": args.slots, "work_dir": str(tmp / "site")}
        relay = RelaySite(processes, tmp, site, max_per_cycle=args.per_cycle)
        relay.opts.interval = args.interval
        relay.start()
        sub = relay.wait_advertised(relay.port)
        ids = [f"p{n:05d}" for n in range(args.pilots)]
        specs = [PilotSpec(i, ENTRY, "bench", ["true"]) for i in ids]
        start = time.monotonic()
        sub.submit(specs)
        submitted = time.monotonic()
        _states(sub, ids)
        status_s = time.monotonic() - submitted
        wait_for(lambda: all(p["stage"] == "submitted" for p in relay.pilots()), timeout=3600, interval=0.2)
        handed = time.monotonic()
        wait_for(lambda: all(s in FINAL for s in _states(sub, ids).values()), timeout=3600, interval=0.5)
        ended = time.monotonic()
        floor = (args.pilots / args.per_cycle - 1) * args.interval
        cycles = [int(n) for n in re.findall(r"handed=(\d+)", relay.log(1))]
        lines = [
            f"pilots {args.pilots}, per cycle {args.per_cycle}, interval {args.interval:g} s,"
            f" site slots {args.slots}",
            f"submit call ({args.pilots} pilots): {submitted - start:.2f} s; status call: {status_s:.2f} s",
            f"all handed to the site: {handed - start:.1f} s (the per-cycle limit allows {floor:.1f} s)",
            f"all ended: {ended - start:.1f} s; most handed in one cycle: {max(cycles)}",
        ]
        lines += _kill_and_restart(relay, args, tmp)
        return lines
    finally:
        processes.stop_all()


def _kill_and_restart(relay: RelaySite, args: argparse.Namespace, tmp: Path) -> list[str]:
    sub = relay.submitter()
    ids = [f"k{n:05d}" for n in range(args.pilots)]
    sub.submit([PilotSpec(i, ENTRY, "bench", ["true"]) for i in ids])
    time.sleep(args.interval * 1.5)  # somewhere in the hand-over
    assert relay.proc is not None
    os.kill(relay.proc.pid, signal.SIGKILL)
    relay.proc.wait(10)
    killed = time.monotonic()
    relay.start()
    sub = relay.wait_advertised(relay.port)
    answered = time.monotonic()
    wait_for(lambda: all(s in FINAL for s in _states(sub, ids).values()), timeout=3600, interval=0.5)
    jobs = {d.name for d in (tmp / "site" / "jobs").iterdir() if d.name.startswith("k")}
    logs = relay.log(relay.starts - 1) + relay.log(relay.starts)
    handed = re.findall(r"pilot=(k\d+) handed to the backend", logs)
    found = len(re.findall(r"pilot=k\d+ unconfirmed hand-over: backend_id=", logs))
    again = len(re.findall(r"pilot=k\d+ unconfirmed hand-over: queued again", logs))
    twice = len(handed) - len(set(handed))
    return [
        f"kill -9 -> restarted relay found by its ad and answering: {answered - killed:.1f} s",
        f"after the kill: {len(jobs)} of {len(ids)} pilots at the site; unconfirmed hand-overs found at the"
        f" site {found}, queued again {again}; pilots logged as handed over twice: {twice}",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pilots", type=int, default=200)
    parser.add_argument("--per-cycle", type=int, default=50)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--slots", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="glidein-relay-bench-") as tmp:
        for line in run(args, Path(tmp)):
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
