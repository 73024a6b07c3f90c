"""Pilot benchmark on real HTCondor: pilot start -> its slot in condor_status, submit -> job running.

Starts a personal users' pool (condor_collector, condor_negotiator, condor_schedd from the release
`find_release` finds; IDTOKENS, loopback, the short intervals of pool/condor/config.py), packs the
release into a tarball and stages it as the factory does for `startd_mode: condor`, served by
`glidein factory web`. Then, `--runs` times, starts the pilot wrapper in condor mode (run by the
system python3, as on a worker node; it downloads and verifies the stage, untars HTCondor, writes
the condor_config with an IDTOKEN minted from the pool's POOL key and runs condor_master) and
measures: wrapper start -> condor_master running; wrapper start -> the pilot's slot listed by
`condor_status` of the users' collector; `condor_submit` of one job pinned to that slot -> the
job's execute event in its user log; SIGTERM to the pilot -> the pilot and its daemons gone.
Prints median/min/max of each, one line per figure. Every process it starts is stopped by pid;
every wait is bounded (STEP_TIMEOUT). About 1-1.5 minutes for 5 runs.
Run: .venv/bin/python bench/pilot_condor.py [--runs N] [--htcondor RELEASE_DIR] [--condor-extra SETTINGS]
"""

import argparse
import contextlib
import functools
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from glidein.bench.pilot import PYTHON, free_port, pilot_argv, stop, web
from glidein.common.errors import ConfigError, GlideinError
from glidein.demo.condor import pack_release
from glidein.factory import staging
from glidein.pool.condor.config import PoolSpec
from glidein.pool.condor.personal import CondorPool, children_of, pool_account, stop_master
from glidein.pool.condor.pilots import pilot_params, slot_names
from glidein.pool.condor.release import Release, find_release

RUNS = 5
STEP_TIMEOUT = 120.0  # bound of every wait (pool start, slot, job, pilot stop)
IDENTITY = "pilot@127.0.0.1"  # whom the pilots' IDTOKENs are minted for (a startd identity of the pool)
JOB = """\
executable = /bin/true
requirements = GLIDEIN_Pilot_ID == "{pilot_id}"
log = {pilot_id}.log
output = {pilot_id}.out
error = {pilot_id}.err
should_transfer_files = YES
queue
"""
FIGURES = {
    "master": "pilot start -> condor_master running (download, verify, untar, condor_config)",
    "slot": "pilot start -> its slot in condor_status of the users' collector",
    "running": "condor_submit -> the job running on that slot (execute event in the user log)",
    "stop": "SIGTERM to the pilot (job done) -> the pilot and its HTCondor daemons gone",
}


@dataclass
class Bench:
    """What every run uses: the work directory, the users' pool and the stage."""

    root: Path
    pool: CondorPool
    stage: staging.StageResult
    condor_extra: str = ""

    @property
    def job_dir(self) -> Path:
        return self.root / "jobs"


def wait_until(
    check: Callable[[], bool], what: str, since: float, pilot: subprocess.Popen[bytes], every: float = 0.05
) -> float:
    """Seconds from `since` until `check()` holds (tried `every` s); RuntimeError if the pilot ends
    or time runs out."""
    while not check():
        if pilot.poll() is not None:
            raise RuntimeError(f"the pilot exited with {pilot.returncode} before: {what}")
        if time.monotonic() - since > STEP_TIMEOUT:
            raise RuntimeError(f"not within {STEP_TIMEOUT:.0f} s: {what}")
        time.sleep(every)
    return time.monotonic() - since


def runs_master(pid: int) -> bool:
    """Whether a condor_master runs below process `pid`."""
    for child in children_of(pid):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{child}/comm").read_text().strip() == "condor_master":
                return True
    return False


def listed(pool: CondorPool, pilot_id: str) -> bool:
    try:
        return bool(slot_names(pool, pilot_id))
    except GlideinError:
        return False


def has_event(user_log: Path, code: str) -> bool:
    """Whether the job's user log holds an event `code` ("001" execute, "005" terminated)."""
    text = user_log.read_text(errors="replace") if user_log.exists() else ""
    return f"\n{code} (" in "\n" + text


def measure(bench: Bench, pilot: subprocess.Popen[bytes], pilot_id: str, began: float) -> dict[str, float]:
    """The pilot's start-up figures, then one job submitted to its slot, run to completion."""
    figures = {"master": wait_until(lambda: runs_master(pilot.pid), "condor_master started", began, pilot)}
    # condor_status is a process of its own: polled 4 times a second, not to slow the pilot down
    in_pool = functools.partial(listed, bench.pool, pilot_id)
    figures["slot"] = wait_until(in_pool, "slot in condor_status", began, pilot, every=0.25)
    (bench.job_dir / f"{pilot_id}.sub").write_text(JOB.format(pilot_id=pilot_id))
    user_log = bench.job_dir / f"{pilot_id}.log"
    submitted = time.monotonic()
    bench.pool.tool("condor_submit", f"{pilot_id}.sub", cwd=bench.job_dir, timeout=STEP_TIMEOUT)
    figures["running"] = wait_until(lambda: has_event(user_log, "001"), "job running", submitted, pilot)
    wait_until(lambda: has_event(user_log, "005"), "job done", submitted, pilot)
    return figures


def one_run(bench: Bench, run: int) -> dict[str, float]:
    """Start pilot `bc<run>`, measure it, stop it (SIGTERM, then SIGKILL to what is left) by pid."""
    pilot_id = f"bc{run}"
    params = pilot_params(bench.pool, IDENTITY, GLIDEIN_Max_Idle="600", GLIDEIN_Condor_Stop_Timeout="10")
    if bench.condor_extra:
        params["GLIDEIN_Condor_Extra"] = bench.condor_extra
    argv = pilot_argv(bench.stage, bench.root, pilot_id, params)
    with open(bench.root / f"pilot-{pilot_id}.log", "wb") as log:
        began = time.monotonic()
        pilot = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    try:
        figures = measure(bench, pilot, pilot_id, began)
    finally:
        stopping = time.monotonic()
        stop_master(pilot.pid, timeout=STEP_TIMEOUT)
        pilot.wait(10)
    figures["stop"] = time.monotonic() - stopping
    if pilot.returncode != 0:
        raise RuntimeError(f"pilot {pilot_id} exited with {pilot.returncode}; see its log")
    return figures


def prepare(root: Path) -> None:
    """A work directory the pool account (nobody under root) can enter; jobs' directory it can write."""
    uid, gid, _ = pool_account()
    os.chmod(root, 0o755)
    os.chown(root, uid, gid)
    (root / "work").mkdir(mode=0o755)
    (root / "jobs").mkdir()
    os.chmod(root / "jobs", 0o777)


def stage(release: Release, root: Path, port: int) -> staging.StageResult:
    """The default files plus the release as the condor tarball, for pilots in condor mode."""
    tarball = pack_release(release, root / "htcondor-release.tar.gz")
    spec = staging.StagingSpec(root / "stage", f"http://127.0.0.1:{port}", condor_tarball=tarball)
    spec.constants = {"GLIDEIN_STARTD_MODE": "condor"}
    return staging.stage(spec)


def run_bench(release: Release, root: Path, runs: int, condor_extra: str = "") -> dict[str, list[float]]:
    """Pool and web server up, `runs` pilots one after the other, everything stopped."""
    prepare(root)
    port = free_port()
    result = stage(release, root, port)
    spec = PoolSpec(root / "users", name="bench-users", startd_identities=(IDENTITY,))
    pool = CondorPool(release, spec)
    with contextlib.ExitStack() as stack:
        server = web(root / "stage", root / "state", port)
        stack.callback(stop, [server])
        began = time.monotonic()
        pool.start(timeout=STEP_TIMEOUT)
        stack.callback(pool.stop)
        print(f"users' pool (collector, negotiator, schedd) ready in {time.monotonic() - began:.1f} s")
        bench = Bench(root, pool, result, condor_extra)
        times: dict[str, list[float]] = {key: [] for key in FIGURES}
        for run in range(runs):
            for key, value in one_run(bench, run).items():
                times[key].append(value)
    return times


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="pilot start -> slot and submit -> running on real HTCondor")
    parser.add_argument("--runs", type=int, default=RUNS, help=f"pilots in turn (default {RUNS})")
    parser.add_argument("--htcondor", metavar="RELEASE_DIR", help="HTCondor release (default: as found)")
    parser.add_argument(
        "--condor-extra",
        default="",
        metavar="SETTINGS",
        help="`;`-separated `NAME = value` lines added to the pilots' condor_config (GLIDEIN_Condor_Extra)",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    try:
        release = find_release(args.htcondor)
    except ConfigError as exc:
        print(f"pilot_condor: skipped ({exc})")
        return
    load = os.getloadavg()[0]
    print(f"HTCondor {release.version()} ({release.root}); wrapper run by {PYTHON}")
    if args.condor_extra:
        print(f"pilots' condor_config also has: {args.condor_extra}")
    print(f"load average {load:.2f} on {os.cpu_count()} cpus at the start")
    root = Path(tempfile.mkdtemp(prefix="glidein-bench-pilot-condor-"))
    try:
        times = run_bench(release, root, args.runs, args.condor_extra)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for key, label in FIGURES.items():
        values = times[key]
        print(
            f"{label}: median {statistics.median(values):.2f} s "
            f"(min {min(values):.2f}, max {max(values):.2f}, {len(values)} runs)"
        )
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
