"""The pilot in `condor` mode with real HTCondor: staged tarball -> condor_master/startd -> users' pool.

The factory's staging code stages the HTCondor tarball (../shared/htcondor); the real wrapper,
run as the test user (root here: the daemons then drop to nobody), untars it, writes the
condor_config and starts condor_master with a token minted from the pool's POOL key. The slot
must show up in the users' collector, run a job submitted with condor_submit, and the pilot must
end by itself with a success report; SIGTERM must end the whole tree within a bounded time.
GLIDEIN_Max_Idle counts from the start until a job ran, GLIDEIN_Max_Tail from the last job's end.
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from glidein.factory import staging
from glidein.pool.condor.personal import CondorPool, children_of
from tests.integration.condor.conftest import PILOT_ID
from tests.integration.pilot.helpers import StageSite
from tests.procs import Processes, wait_for

SHARED = staging.PACKAGE_ROOT.parent / "shared" / "htcondor"
JOB = """\
executable = /bin/sh
arguments = "-c 'echo ran-on $$(GLIDEIN_Pilot_ID)'"
requirements = GLIDEIN_Site == "SiteCondor"
output = out.txt
error = err.txt
log = job.log
should_transfer_files = YES
queue
"""


@pytest.fixture(scope="module")
def tarball() -> Path:
    found = sorted(SHARED.glob("htcondor-*.tar.gz"))
    if not found:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and no HTCondor tarball in {SHARED}")
        pytest.skip(f"needs the HTCondor tarball in {SHARED}")
    return found[-1]


@pytest.fixture
def site(condor_dir: Path, tarball: Path, processes: Processes) -> Iterator[StageSite]:
    """A stage with the tarball, served by `glidein factory web`; pilot dirs the daemons can enter."""
    root = Path(tempfile.mkdtemp(prefix="site-", dir=condor_dir))
    os.chmod(root, 0o755)  # the pilot's daemons (nobody) traverse it
    site = StageSite(root, processes, constants={"GLIDEIN_Site": "SiteCondor"})
    spec = site.spec()
    spec.condor_tarball = tarball
    spec.constants = {"GLIDEIN_STARTD_MODE": "condor"}
    site.result = staging.stage(spec)
    site.serve()
    (root / "work").mkdir(mode=0o755)
    yield site


def pilot_argv(site: StageSite, pool: CondorPool, pilot_id: str, **params: str) -> list[str]:
    values = {
        "GLIDEIN_Collector": pool.collector,
        "GLIDEIN_Token": pool.mint_token(PILOT_ID),
        "GLIDEIN_Condor_Daemon_Identities": "condor@* nobody@*",
        "GLIDEIN_Condor_Update_Interval": "5",
        "GLIDEIN_CPUS": "1",
        "GLIDEIN_MaxMemMBs": "512",
    }
    return site.pilot_argv(pilot_id, **(values | params))


def slot_names(pool: CondorPool, pilot_id: str) -> list[str]:
    out = pool.tool("condor_status", "-const", f'GLIDEIN_Pilot_ID == "{pilot_id}"', "-af", "Name", timeout=20)
    return out.split()


def test_condor_pilot_joins_the_pool_runs_a_job_and_ends_by_itself(
    site: StageSite, users_pool: CondorPool, processes: Processes, job_dir: Path
) -> None:
    started = time.monotonic()
    argv = pilot_argv(site, users_pool, "cp1", GLIDEIN_Max_Idle="90", GLIDEIN_Max_Tail="5")
    pilot = processes.start(argv, "pilot-cp1")
    wait_for(lambda: bool(slot_names(users_pool, "cp1")), timeout=60, interval=1)
    slot_after = time.monotonic() - started
    ad = users_pool.tool("condor_status", "-const", 'GLIDEIN_Pilot_ID == "cp1"', "-af", "GLIDECLIENT_Name")
    assert ad.split() == ["fe.main"]
    (job_dir / "job.sub").write_text(JOB)
    users_pool.tool("condor_submit", "job.sub", cwd=job_dir)
    wait_for(lambda: "ran-on" in _read(job_dir / "out.txt"), timeout=60, interval=1)
    assert _read(job_dir / "out.txt").split() == ["ran-on", "cp1"]
    assert pilot.wait(90) == 0, processes.log("pilot-cp1")
    report = site.report("cp1")
    assert report["status"] == "success", report
    startd = report["startd"]
    assert isinstance(startd, dict)
    assert startd["jobs_run"] == 1 and startd["master_exit"] in (0, 99) and startd["exit_code"] == 0
    assert "DAEMON_SHUTDOWN" in str(startd["reason"])
    print(f"slot in condor_status {slot_after:.1f} s after the pilot started; report {startd}")


def test_sigterm_stops_condor_master_and_its_daemons(
    site: StageSite, users_pool: CondorPool, processes: Processes
) -> None:
    argv = pilot_argv(site, users_pool, "cp2", GLIDEIN_Max_Idle="600", GLIDEIN_Condor_Stop_Timeout="10")
    pilot = processes.start(argv, "pilot-cp2")
    wait_for(lambda: bool(slot_names(users_pool, "cp2")), timeout=60, interval=1)
    family = children_of(pilot.pid)
    assert len(family) >= 4  # launcher, condor_master, condor_procd, condor_startd
    stopped = time.monotonic()
    pilot.send_signal(signal.SIGTERM)
    assert pilot.wait(60) == 0, processes.log("pilot-cp2")
    assert time.monotonic() - stopped < 60
    alive = [pid for pid in family if _alive(pid)]
    assert not alive, alive
    report = site.report("cp2")
    assert report["status"] == "success" and isinstance(report["startd"], dict)
    assert report["startd"]["reason"] == "SIGTERM to the pilot"


SLEEP_JOB = """\
executable = /bin/sleep
arguments = {seconds}
requirements = GLIDEIN_Pilot_ID == "{pilot}"
log = job.log
queue
"""


@pytest.mark.timeout(300)
def test_idle_counts_until_the_first_job_and_tail_from_the_last_job_end(
    site: StageSite, users_pool: CondorPool, processes: Processes, job_dir: Path
) -> None:
    """glideinWMS's lifetimes on a real partitionable slot: a pilot that never gets a job ends
    GLIDEIN_Max_Idle after its start; one whose job outlives Max_Idle keeps running, and ends
    GLIDEIN_Max_Tail after that job ended. Before: STARTD_NOCLAIM_SHUTDOWN ended it Max_Idle after
    the job, and a tail clock on NumDynamicSlotsTime at once (the job is longer than Max_Tail)."""
    max_idle, max_tail, job_seconds = 20, 30, 40
    lifetimes = {"GLIDEIN_Max_Idle": str(max_idle), "GLIDEIN_Max_Tail": str(max_tail)}
    idle_start = time.monotonic()
    idle = processes.start(pilot_argv(site, users_pool, "cpi", **lifetimes), "pilot-cpi")
    busy = processes.start(pilot_argv(site, users_pool, "cpt", **lifetimes), "pilot-cpt")
    wait_for(lambda: bool(slot_names(users_pool, "cpt")), timeout=60, interval=1)
    (job_dir / "job.sub").write_text(SLEEP_JOB.format(seconds=job_seconds, pilot="cpt"))
    users_pool.tool("condor_submit", "job.sub", cwd=job_dir)
    assert idle.wait(max_idle + 40) == 0, processes.log("pilot-cpi")
    idle_lived = time.monotonic() - idle_start
    wait_for(lambda: "Job terminated" in _read(job_dir / "job.log"), timeout=job_seconds + 60, interval=0.5)
    job_end = time.monotonic()
    assert busy.poll() is None, "the busy pilot ended during its job"
    assert busy.wait(max_tail + 40) == 0, processes.log("pilot-cpt")
    tail = time.monotonic() - job_end
    reports = {pilot: site.report(pilot)["startd"] for pilot in ("cpi", "cpt")}
    print(f"idle pilot lived {idle_lived:.0f} s; busy pilot ended {tail:.0f} s after its job; {reports}")
    assert max_idle <= idle_lived <= max_idle + 35
    assert max_tail - 2 <= tail <= max_tail + 25
    idle_report, busy_report = reports["cpi"], reports["cpt"]
    assert isinstance(idle_report, dict) and isinstance(busy_report, dict)
    assert (idle_report["jobs_run"], idle_report["reason"]) == (0, "startd DAEMON_SHUTDOWN: max_idle_time")
    assert (busy_report["jobs_run"], busy_report["reason"]) == (1, "startd DAEMON_SHUTDOWN: max_tail_time")


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"
