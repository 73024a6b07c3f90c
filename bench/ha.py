"""High-availability bench (issue 16 part 3): how long a standby frontend takes to take over.

Runs tests/ha_scenario.py on real processes, `--runs` times in new temporary directories: two
glidein collectors as the WMS bus, the user pool's collector, the embedded schedd, the factory with
one local entry (4 pilots at most), an active and a standby frontend (same name and key, the
standby checking every `--check-interval` s). Wave 1 of `--jobs` jobs runs; the first WMS
collector is killed -9 meanwhile; then the active frontend is killed -9. Its ads vanish after
their ClassAdLifetime (`--lifetime` s); the standby takes over; wave 2 runs on the pilots the
standby's requests bring; the active restarts and the standby steps back.

Printed per run and as medians: the active's ads' lifetime after kill -9 (the detection delay,
set by the operator's classad_lifetime), the takeover time after they vanished (what the standby
itself adds: at most one check and one cycle), the step-back time after the active restarts
(its start-up, its first cycle, the standby's next check), the most live pilots (limit 4).

Run: .venv/bin/python bench/ha.py [--runs 3] [--jobs 6] [--lifetime 12] [--check-interval 1]
     [--restart-factory]  (also kill -9 the factory while wave 2 runs and start it again)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.ha_scenario import MAX_PILOTS, Figures, Scenario


def one_run(jobs: int, lifetime: int, check: int, restart_factory: bool) -> Figures:
    with tempfile.TemporaryDirectory(prefix="glidein-ha-") as tmp:
        scenario = Scenario(Path(tmp) / "ha", jobs=jobs, lifetime=lifetime, check_interval=check)
        scenario.restart_factory = restart_factory
        try:
            scenario.start()
            return scenario.run(timeout=600)
        finally:
            scenario.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=6, help="jobs per wave (3 s each)")
    parser.add_argument("--lifetime", type=int, default=12, help="frontends' classad_lifetime (s)")
    parser.add_argument("--check-interval", type=int, default=1, help="the standby's check interval (s)")
    parser.add_argument(
        "--restart-factory", action="store_true", help="also kill -9 the factory in wave 2 and restart it"
    )
    args = parser.parse_args()
    runs = []
    for number in range(1, args.runs + 1):
        fig = one_run(args.jobs, args.lifetime, args.check_interval, args.restart_factory)
        done = sum(1 for j in fig.jobs if j.get("JobStatus") == 4)
        print(f"run {number}: " + "; ".join(fig.lines()) + f"; jobs done {done}/{2 * args.jobs}", flush=True)
        runs.append(fig)
    med = statistics.median
    print(
        f"median over {len(runs)} runs (lifetime {args.lifetime} s, check every {args.check_interval} s): "
        f"ads gone {med(f.vanished_s for f in runs):.1f} s after kill -9, "
        f"takeover {med(f.takeover_s for f in runs):.1f} s after that, "
        f"step back {med(f.step_back_s for f in runs):.1f} s after the active restarted, "
        f"most pilots {max(f.max_pilots for f in runs)} (limit {MAX_PILOTS})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
