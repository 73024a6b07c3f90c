"""Network closeness on the real negotiator: two real pilots in `condor` mode, each given its
entry's bandwidth to an SE as the factory passes it (GLIDEIN_BW_<SE> + GLIDEIN_Startd_Attrs),
start condor_startds in a personal pool; jobs written with the documented idiom
(`glidein.common.closeness.submit_lines`) need >= N MB/s and rank by bandwidth.
"""

from __future__ import annotations

from pathlib import Path

from glidein.common.closeness import se_attr, submit_lines
from glidein.pool.condor.personal import CondorPool
from tests.integration.condor import test_pilot_condor as condor_pilots
from tests.integration.pilot.helpers import StageSite
from tests.procs import Processes, wait_for

SE = "se1.cern.ch"
site = condor_pilots.site  # the staged HTCondor tarball, served on loopback
tarball = condor_pilots.tarball


def _start_pilot(site: StageSite, pool: CondorPool, processes: Processes, name: str, mbps: int) -> None:
    params = {se_attr(SE): str(mbps), "GLIDEIN_Startd_Attrs": se_attr(SE), "GLIDEIN_Max_Idle": "300"}
    processes.start(condor_pilots.pilot_argv(site, pool, name, **params), f"pilot-{name}")


def _submit(pool: CondorPool, job_dir: Path, name: str, seconds: int, min_mbps: int) -> str:
    lines = ["executable = /bin/sleep", f"arguments = {seconds}", f"log = {name}.log"]
    lines += [*submit_lines([SE], min_mbps), "queue"]
    (job_dir / f"{name}.sub").write_text("\n".join(lines) + "\n")
    out = pool.tool("condor_submit", "-terse", f"{name}.sub", cwd=job_dir)
    return out.split()[0].split("-")[0]  # "12.0 - 12.0" -> "12.0"


def _host(pool: CondorPool, job: str) -> str:
    """The startd (not the dynamic slot) a running job is on; "" while it is not running."""
    out = pool.tool("condor_q", job, "-af", "JobStatus", "RemoteHost", timeout=20).split()
    return out[1].split("@", 1)[-1] if out and out[0] == "2" and len(out) > 1 else ""  # the startd


def test_negotiator_gives_jobs_the_slot_with_most_bandwidth(
    site: StageSite, users_pool: CondorPool, processes: Processes, job_dir: Path
) -> None:
    _start_pilot(site, users_pool, processes, "bwfast", 120)
    _start_pilot(site, users_pool, processes, "bwslow", 60)
    for name in ("bwfast", "bwslow"):
        wait_for(lambda n=name: bool(condor_pilots.slot_names(users_pool, n)), timeout=90, interval=1)
    published = users_pool.tool("condor_status", "-af", "GLIDEIN_Pilot_ID", se_attr(SE), timeout=20)
    assert sorted(published.splitlines()) == ["bwfast 120", "bwslow 60"]
    fast = condor_pilots.slot_names(users_pool, "bwfast")[0].split("@", 1)[1]  # glidein_bwfast@host
    slow = condor_pilots.slot_names(users_pool, "bwslow")[0].split("@", 1)[1]

    first = _submit(users_pool, job_dir, "first", 25, 50)  # both free and enough: Rank picks fast
    wait_for(lambda: bool(_host(users_pool, first)), timeout=60, interval=1)
    assert _host(users_pool, first) == fast
    picky = _submit(users_pool, job_dir, "picky", 1, 100)  # slow is free but has 60 MB/s only
    second = _submit(users_pool, job_dir, "second", 5, 50)
    wait_for(lambda: bool(_host(users_pool, second)), timeout=60, interval=1)
    assert _host(users_pool, second) == slow
    assert users_pool.tool("condor_q", picky, "-af", "JobStatus", timeout=20).split() == ["1"]
    wait_for(lambda: bool(_host(users_pool, picky)), timeout=90, interval=1)  # fast is free again
    assert _host(users_pool, picky) == fast
