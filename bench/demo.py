"""Demo benchmark: `glidein demo` end to end (no Slurm), twice with 200 jobs, on the embedded
pool and then on real HTCondor daemons (`--htcondor`, skipped with a line when none is found).

Prints per run: the wall time of the whole command (start-up, jobs, clean-up), the time the
200 jobs took after submission, the time to the first running job, the pilots submitted per site
and the wasted pilot time, as the demo's own summary states them. About 4 minutes.
Run: .venv/bin/python bench/demo.py [--embedded-only | --htcondor-only] [--runs N] [--jobs N]
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

JOBS = 200
RUNS = 2


def run_once(directory: Path, htcondor: bool, n_jobs: int = JOBS) -> dict[str, str]:
    argv = [sys.executable, "-m", "glidein.cli", "demo", "--jobs", str(n_jobs), "--slurm", "no"]
    argv += ["--htcondor"] if htcondor else []
    started = time.monotonic()
    run = subprocess.run(
        [*argv, "--dir", str(directory)], capture_output=True, text=True, timeout=900, check=False
    )
    wall = time.monotonic() - started
    if run.returncode != 0:
        sys.exit(f"demo failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    out = run.stdout
    figures = {"wall time of `glidein demo`": f"{wall:.1f} s"}
    jobs = re.search(r"jobs: (\d+) of (\d+) completed with the right output in (\d+) s", out)
    first = re.search(r"time to first running job: ([\d.]+) s", out)
    waste = re.search(r"wasted pilot time \(pilots that ran no job\): (\d+) s", out)
    assert jobs and first and waste, out
    figures[f"{n_jobs} jobs (1-3 s each), submission to last done"] = f"{jobs.group(3)} s"
    figures["submission to first running job"] = f"{first.group(1)} s"
    figures["wasted pilot time"] = f"{waste.group(1)} s"
    for site, entry, submitted, jobs_run in re.findall(
        r"^  (\S+)\s+(\S+)\s+(\d+)\s+\d+\s+\d+\s+\d+\s+(\d+)$", out, flags=re.MULTILINE
    ):
        figures[f"pilots submitted / jobs run at {site} ({entry})"] = f"{submitted} / {jobs_run}"
    return figures


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="glidein demo end to end, embedded and real HTCondor")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--embedded-only", action="store_true", help="skip the real HTCondor runs")
    only.add_argument("--htcondor-only", action="store_true", help="skip the embedded pool runs")
    parser.add_argument("--runs", type=int, default=RUNS, help=f"runs per pool kind (default {RUNS})")
    parser.add_argument("--jobs", type=int, default=JOBS, help=f"jobs per run (default {JOBS})")
    return parser.parse_args()


def main() -> None:
    from glidein.common.errors import ConfigError
    from glidein.pool.condor.release import find_release

    args = parse_args()
    kinds = [] if args.htcondor_only else ["embedded"]
    if not args.embedded_only:
        try:
            print(f"HTCondor release: {find_release().root}")
            kinds.append("htcondor")
        except ConfigError as exc:
            print(f"htcondor: skipped ({exc})")
    for kind in kinds:
        for number in range(1, args.runs + 1):
            with tempfile.TemporaryDirectory(prefix="glidein-bench-demo-") as tmp:
                os.chmod(tmp, 0o755)  # the HTCondor pools run as nobody under root
                figures = run_once(Path(tmp) / "demo", kind == "htcondor", args.jobs)
                load = os.getloadavg()
                print(f"{kind} run {number}: load average at the end {load[0]:.2f} (5 min {load[1]:.2f})")
                for name, value in figures.items():
                    print(f"{kind} run {number}: {name}: {value}")


if __name__ == "__main__":
    main()
