"""The full chain with the real embedded startd: stage -> pilot -> startd in the pool -> job run."""

from __future__ import annotations

import json
from pathlib import Path

from glidein.common import tokens
from glidein.pool import cedar
from tests.integration.pilot.helpers import StageSite
from tests.integration.pool.pool_helpers import Pool, script
from tests.procs import Processes, free_port, wait_for, wait_for_port

JOB = """\
executable = {exe}
arguments = "from-pilot"
output = out.$(Cluster).$(Process)
error = err.$(Cluster).$(Process)
queue 1
"""


def test_pilot_starts_the_real_startd_which_joins_the_pool_and_runs_a_job(
    tmp_path: Path, processes: Processes
) -> None:
    collector_port = free_port()
    processes.glidein(["collector", "--port", str(collector_port)], "collector")
    wait_for_port(collector_port)
    collector = f"127.0.0.1:{collector_port}"
    (tmp_path / "pool_area").mkdir()
    pool = Pool(processes, tmp_path / "pool_area")
    pool.start_schedd(extra=["--collector", collector])
    exe = script(tmp_path / "job.sh", 'echo "ran $1 on $_CONDOR_SLOT_NAME"\n')
    submitted = pool.submit(JOB.format(exe=exe))
    assert submitted.returncode == 0, submitted.stderr

    site = StageSite(tmp_path, processes, real_startd=True)
    site.stage()
    site.serve()
    token = tokens.mint(tokens.load_key(pool.key_file), "pilot-p1", ["startd"], 600, "factory")
    argv = site.pilot_argv(
        GLIDEIN_Collector=collector,
        GLIDEIN_Schedd=pool.url,
        GLIDEIN_Token=token,
        GLIDEIN_Max_Idle="20",
        GLIDEIN_Max_Tail="4",
        GLIDEIN_Advertise_Interval="1",
        GLIDEIN_Poll_Interval="1",
        GLIDEIN_CPUS="1",
    )
    pilot = processes.start(argv, "pilot", env={"PILOT_TEST_MARKERS": str(site.markers)})

    def slot_ads() -> list[dict[str, str]]:  # lower-cased attribute names
        return [cedar.ad_dict(ad) for ad in cedar.query(collector, "STARTD", 'GLIDEIN_Site == "SiteA"')]

    wait_for(lambda: bool(slot_ads()), timeout=25, interval=0.3)
    slot = slot_ads()[0]
    assert slot["glidein_entry_name"] == '"e1"' and slot["glidein_pilot_id"] == '"p1"'
    jobs = pool.wait_jobs(lambda js: js and all(j["JobStatus"] == 4 for j in js.values()), timeout=25)
    assert [j["ExitCode"] for j in jobs.values()] == [0]
    assert pilot.wait(30) == 0, processes.log("pilot")
    report = site.report()
    assert report["status"] == "success"
    startd = report["startd"]
    assert isinstance(startd, dict) and startd["jobs_run"] == 1 and startd["exit_code"] == 0
    assert "ran from-pilot" in next((pool.tmp).glob("out.*")).read_text()
    assert "pilot-p1" not in json.dumps(report) and token not in processes.log("pilot")
