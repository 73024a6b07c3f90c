"""Held jobs and the user event log with real processes: a job held for a missing input file is
released once the file is back and runs; `glidein hold`/`release`/`rm` by hand; every step is in
the job's `log =` file as htcondor2.JobEventLog reads it."""

from __future__ import annotations

import json
from pathlib import Path

import htcondor2

from tests.integration.pool.pool_helpers import Pool, script
from tests.procs import Processes

ET = htcondor2.JobEventType


def _events(path: Path) -> list[tuple[int, int, ET]]:
    return [(ev.cluster, ev.proc, ev.type) for ev in htcondor2.JobEventLog(str(path)).events(0)]


def test_job_held_for_missing_input_is_released_after_the_fix_and_runs(
    processes: Processes, tmp_path: Path
) -> None:
    pool = Pool(processes, tmp_path)
    pool.start_schedd()
    data = tmp_path / "in.txt"
    data.write_text("first")
    exe = script(tmp_path / "cat.sh", "cat in.txt\n")
    text = f"executable = {exe}\ntransfer_input_files = in.txt\noutput = out.txt\nlog = job.log\nqueue\n"
    assert pool.submit(text).returncode == 0
    data.unlink()  # gone between submit and claim: the schedd holds the job when a startd claims it
    pool.startd("s1", max_idle_time=40)
    jobs = pool.wait_jobs(lambda j: j["1.0"]["JobStatus"] == 5)
    assert jobs["1.0"]["HoldReasonCode"] == 13 and "cannot read input file" in str(jobs["1.0"]["HoldReason"])
    held = pool.glidein("q", "-hold")
    assert held.returncode == 0, held.stderr
    row = next(line for line in held.stdout.splitlines() if line.startswith("   1.0 "))
    assert "   13/0   cannot read input file" in row
    assert "0 idle, 0 running, 1 held" in held.stdout

    data.write_text("fixed")
    released = pool.glidein("release", "1.0")
    assert (released.returncode, released.stdout) == (0, "Job 1.0 released\n")
    pool.wait_jobs(lambda j: j["1.0"]["JobStatus"] == 4)
    assert (tmp_path / "out.txt").read_text() == "fixed"
    assert pool.glidein("release", "1.0").returncode == 1  # no longer held: "No matching jobs found."

    events = _events(tmp_path / "job.log")
    assert [e[2] for e in events] == [ET.SUBMIT, ET.JOB_HELD, ET.JOB_RELEASED, ET.EXECUTE, ET.JOB_TERMINATED]
    log = list(htcondor2.JobEventLog(str(tmp_path / "job.log")).events(0))
    assert log[1]["HoldReasonCode"] == 13 and log[4]["ReturnValue"] == 0


def test_hold_and_release_by_hand_show_in_q_and_in_the_log(processes: Processes, tmp_path: Path) -> None:
    pool = Pool(processes, tmp_path)
    pool.start_schedd()
    exe = script(tmp_path / "noop.sh", "exit 0\n")
    text = f"executable = {exe}\nlog = jobs.log\narguments = $(Process)\nqueue 3\n"
    assert pool.submit(text).returncode == 0
    held = pool.glidein("hold", "1", "-reason", "waiting for the calibration")
    assert held.stdout.splitlines() == ["Job 1.0 held", "Job 1.1 held", "Job 1.2 held"]
    assert pool.glidein("hold", "1.0").returncode == 1  # already held
    jobs = pool.jobs()
    assert {j["JobStatus"] for j in jobs.values()} == {5}
    assert jobs["1.1"]["HoldReason"] == "waiting for the calibration" and jobs["1.1"]["HoldReasonCode"] == 1
    autoclusters = pool.glidein("q", "-autocluster").stdout.splitlines()
    assert autoclusters[0].split()[:4] == ["AUTOCLUSTER", "IDLE", "RUNNING", "HELD"]
    assert autoclusters[1].split()[1:4] == ["0", "0", "3"]
    view = pool.glidein("q", "-held").stdout
    assert view.count("waiting for the calibration") == 3

    assert pool.glidein("release", "-constraint", "ProcId >= 1").stdout.splitlines() == [
        "Job 1.1 released",
        "Job 1.2 released",
    ]
    assert pool.glidein("rm", "1.0").returncode == 0
    assert [j["JobStatus"] for _id, j in sorted(pool.jobs().items())] == [3, 1, 1]
    events = _events(tmp_path / "jobs.log")
    assert [(c, p, t) for c, p, t in events if p == 0] == [
        (1, 0, ET.SUBMIT),
        (1, 0, ET.JOB_HELD),
        (1, 0, ET.JOB_ABORTED),
    ]
    assert [t for _c, p, t in events if p == 1] == [ET.SUBMIT, ET.JOB_HELD, ET.JOB_RELEASED]
    reasons = [ev.get("Reason") for ev in htcondor2.JobEventLog(str(tmp_path / "jobs.log")).events(0)]
    assert any(str(r).startswith("via glidein release (by user ") for r in reasons)


def test_hold_of_a_running_job_stops_it_and_release_runs_it_again(
    processes: Processes, tmp_path: Path
) -> None:
    pool = Pool(processes, tmp_path)
    pool.start_schedd()
    marker = tmp_path / "runs"
    exe = script(tmp_path / "slow.sh", f"echo run >> {marker}\nsleep 2\n")
    text = f"executable = {exe}\ntransfer_executable = false\nlog = run.log\nqueue\n"
    assert pool.submit(text).returncode == 0
    pool.startd("s1", max_idle_time=40, max_tail_time=3)
    pool.wait_jobs(lambda j: j["1.0"]["JobStatus"] == 2)
    assert pool.glidein("hold", "1.0").returncode == 0
    pool.wait_jobs(lambda j: j["1.0"]["JobStatus"] == 5)
    assert pool.glidein("release", "1.0").returncode == 0
    jobs = pool.wait_jobs(lambda j: j["1.0"]["JobStatus"] == 4, timeout=30)
    assert jobs["1.0"]["NumJobStarts"] == 2 and marker.read_text() == "run\nrun\n"
    kinds = [t for _c, _p, t in _events(tmp_path / "run.log")]
    assert kinds == [ET.SUBMIT, ET.EXECUTE, ET.JOB_HELD, ET.JOB_RELEASED, ET.EXECUTE, ET.JOB_TERMINATED]
    done = json.loads(pool.glidein("q", "-all", "-json").stdout)
    assert done[0]["RemoteWallClockTime"] >= 1.0  # RUN_TIME of a completed job
