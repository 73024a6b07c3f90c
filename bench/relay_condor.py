"""Site relay on real HTCondor (issue 16 part 1): how long the factory's relay monitor takes to
bring a relay up through a CE, to notice it killed -9, and to have the next one live.

Real daemons on loopback: the factory's schedd pool and a CE pool (pool/condor/sites.py, no
Slurm: the relay starts all the same), the relay monitor (factory/relay/monitor.py) ticking every
`--interval` seconds as the factory daemon does before each cycle. Each round: kill -9 the relay's
master and daemons, then time the monitor's `failed` step and the next `live` one.

Printed per round and as medians: deploy -> live (Condor-C to the CE, local universe, the relay's
first ad and answer), kill -> redeployed (ticks and seconds), redeployed -> live. Rounds after the
first come within 10 minutes of a failure, so they show the back-off (`relay.backoff`, 60 s,
doubling): the first failure is redeployed at once, the next ones wait.

Run: .venv/bin/python bench/relay_condor.py [--rounds 3] [--interval 1]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from glidein.common.condor_auth import use_token_dir
from glidein.common.config.entry import HTCondorSubmitter
from glidein.common.config.relay import Relay
from glidein.factory.relay.monitor import RelayMonitor
from glidein.factory.relay.state import Phase
from glidein.pool.condor.personal import children_of, pool_account
from glidein.pool.condor.release import find_release
from glidein.pool.condor.sites import FACTORY_SCHEDD, Sites, condor_grid_resource, schedd_name, start_sites


def entry_of(sites: Sites, root: Path) -> SimpleNamespace:
    uid, gid, _ = pool_account()
    logs = root / "logs"
    logs.mkdir()
    os.chown(logs, uid, gid)
    submitter = HTCondorSubmitter(
        grid_resource=condor_grid_resource(sites.ce),
        schedd=schedd_name(FACTORY_SCHEDD),
        collector=sites.factory.collector,
        log_dir=str(logs),
    )
    relay = Relay(dir=str(root / "relay"), release_dir=str(sites.factory.release.root), update_interval=5)
    return SimpleNamespace(name="bench", submitter=submitter, relay=relay)


def until(mon: RelayMonitor, entry: SimpleNamespace, phase: Phase, interval: float) -> tuple[int, float]:
    """Ticks and seconds until the relay is in `phase` (at most 5 minutes)."""
    started, ticks = time.monotonic(), 0
    while time.monotonic() - started < 300:
        ticks += 1
        if mon.step(entry).phase == phase:
            return ticks, time.monotonic() - started
        time.sleep(interval)
    raise SystemExit(f"relay not {phase.value} within 300 s")


def kill(relay_dir: Path) -> None:
    master = int((relay_dir / "master.pid").read_text())
    for pid in [master, *children_of(master)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def run(rounds: int, interval: float) -> None:
    root = Path(tempfile.mkdtemp(prefix="glidein-relay-bench-"))
    os.chmod(root, 0o755)
    uid, gid, _ = pool_account()
    os.chown(root, uid, gid)
    sites = start_sites(find_release(), root, None)
    try:
        use_token_dir(sites.tokens)
        entry = entry_of(sites, root)
        mon = RelayMonitor(root / "state", "bench")
        _, first = until(mon, entry, Phase.LIVE, interval)
        print(f"first deployment -> live: {first:.1f} s")
        detect, up = [], []
        for n in range(rounds):
            kill(root / "relay")
            ticks, seconds = until(mon, entry, Phase.DEPLOYING, interval)
            _, live = until(mon, entry, Phase.LIVE, interval)
            detect.append(seconds)
            up.append(live)
            print(
                f"round {n + 1}: kill -9 -> redeployed {ticks} ticks ({seconds:.1f} s), -> live {live:.1f} s"
            )
        print(
            f"median: redeployed {statistics.median(detect):.1f} s, live again {statistics.median(up):.1f} s"
        )
        sites.factory.tool("condor_rm", "-constraint", 'GlideinRelayEntry =?= "bench"')
        with contextlib.suppress(OSError, ValueError):
            kill(root / "relay")
    finally:
        sites.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between monitor ticks")
    args = parser.parse_args()
    run(args.rounds, args.interval)


if __name__ == "__main__":
    main()
