"""Network closeness on the embedded pool: real schedd, real startds whose slots carry different
bandwidths to the job's SE. A job needing >= 50 MB/s never runs where there is less, and among
free slots it lands on the one its Rank (the bandwidth) puts first, even when a worse slot asks
for work first (the schedd holds the job back for the better free slot: pool/schedd/free_slots.py).
"""

from __future__ import annotations

import time
from pathlib import Path

from glidein.common.closeness import se_attr, submit_lines
from tests.integration.pool.pool_helpers import Pool, script
from tests.procs import Processes, wait_for

SE = "se1.cern.ch"


def _job(exe: Path, seconds: float) -> str:
    lines = [f"executable = {exe}", f"arguments = {seconds}", *submit_lines([SE], 50), "queue"]
    return "\n".join(lines) + "\n"


def _bandwidth(mbps: int) -> dict[str, str]:
    return {se_attr(SE): str(mbps), "GLIDEIN_Site": f'"site{mbps}"'}


def _ran_on(pool: Pool, job: str, timeout: float = 20.0) -> str:
    jobs = pool.wait_jobs(lambda found: found.get(job, {}).get("JobStatus") in (2, 4), timeout)
    return str(jobs[job]["RemoteHost"])


def test_jobs_land_on_the_free_slot_with_most_bandwidth(processes: Processes, tmp_path: Path) -> None:
    pool = Pool(processes, tmp_path)
    pool.start_schedd()
    exe = script(tmp_path / "job.sh", 'sleep "$1"\n')
    # the slower slots poll more often: without Rank they would take the jobs first
    idle = {"max_idle_time": 60, "max_tail_time": 60}
    pool.startd("fast", attrs=_bandwidth(120), poll_interval=1.0, **idle)
    pool.startd("medium", attrs=_bandwidth(60), poll_interval=0.2, **idle)
    pool.startd("slow", attrs=_bandwidth(20), poll_interval=0.1, **idle)
    time.sleep(2.5)  # every startd has asked (and got nothing) at least once
    first = pool.queue(_job(exe, 8))
    assert _ran_on(pool, f"{first}.0") == "fast"
    second = pool.queue(_job(exe, 8))  # fast is busy: the best free one is medium
    assert _ran_on(pool, f"{second}.0") == "medium"
    third = pool.queue(_job(exe, 0.1))  # only slow is free, and 20 MB/s is not enough
    time.sleep(3)
    assert pool.jobs()[f"{third}.0"]["JobStatus"] == 1
    wait_for(lambda: pool.jobs()[f"{third}.0"]["JobStatus"] == 4, timeout=25, interval=0.3)
    assert pool.jobs()[f"{third}.0"]["RemoteHost"] in ("fast", "medium")
