"""Daemons killed -9: no job runs twice, and a startd's jobs die with it (real processes, issue 13)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

from glidein.pool.startd.jobs import PGID_DIR
from tests.integration.pool.pool_helpers import Pool, script
from tests.procs import Processes, wait_for


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def read_pid(path: Path) -> int:
    wait_for(lambda: path.exists() and path.read_text().strip().isdigit(), timeout=15)
    return int(path.read_text())


def kill_pids(*pids: int) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def test_a_job_ending_while_the_schedd_is_killed_completes_exactly_once(
    processes: Processes, tmp_path: Path
) -> None:
    pool = Pool(processes, tmp_path, lease=4.0)
    pool.start_schedd()
    go, runs = tmp_path / "go", tmp_path / "runs.txt"
    body = f"echo start >> {runs}\nwhile [ ! -e {go} ]; do sleep 0.1; done\necho the-output\nexit 7\n"
    exe = script(tmp_path / "job.sh", body)
    pool.queue(f"executable = {exe}\noutput = out.txt\nqueue\n")
    startd = pool.startd("s1", max_tail_time=40, max_idle_time=40)
    wait_for(runs.exists, timeout=15)
    assert pool.schedd is not None
    pool.schedd.send_signal(signal.SIGKILL)  # as a crash: systemd restarts it a moment later
    pool.schedd.wait(5)
    go.touch()  # the job ends while the schedd is down
    wait_for(lambda: "cannot report job=1.0" in processes.log("startd-s1"), timeout=15)
    time.sleep(1.5)  # several retries fail meanwhile
    pool.start_schedd()  # same state dir and port
    jobs = pool.wait_jobs(lambda js: js["1.0"]["JobStatus"] == 4, timeout=15)
    time.sleep(2 * pool.lease)  # a lost result would let the lease expire and the job run again
    job = pool.jobs()["1.0"]
    assert (job["JobStatus"], job["ExitCode"], job["NumJobStarts"]) == (4, 7, 1), jobs
    assert runs.read_text() == "start\n"
    assert (tmp_path / "out.txt").read_text() == "the-output\n"
    assert startd.poll() is None  # the startd went on
    assert "completed job=1.0 exit_code=7" in processes.log("startd-s1")


def test_a_startd_killed_9_takes_its_job_along_and_leaves_its_group_recorded(
    processes: Processes, tmp_path: Path
) -> None:
    pool = Pool(processes, tmp_path, lease=30.0)
    pool.start_schedd()
    leader_file, child_file = tmp_path / "leader.pid", tmp_path / "grandchild.pid"
    body = f"sleep 300 &\necho $! > {child_file}\necho $$ > {leader_file}\nwait\n"
    pool.queue(f"executable = {script(tmp_path / 'job.sh', body)}\nqueue\n")
    startd = pool.startd("doomed", max_idle_time=30)
    leader, grandchild = read_pid(leader_file), read_pid(child_file)
    try:
        records = tmp_path / "startd-doomed" / PGID_DIR
        assert os.listdir(records) == [str(os.getpgid(leader))]  # the job's group, recorded while it runs
        startd.send_signal(signal.SIGKILL)
        startd.wait(5)
        wait_for(lambda: not alive(leader), timeout=5)  # PR_SET_PDEATHSIG: the job dies with it ...
        wait_for(lambda: not alive(grandchild), timeout=5)  # ... and what it forked, its whole group
    finally:
        kill_pids(leader, grandchild)


def test_results_of_a_startd_killed_while_the_schedd_was_down_are_sent_by_flush(
    processes: Processes, tmp_path: Path
) -> None:
    """Both down at once: the result saved in the startd's work dir is sent by `startd --flush`."""
    pool = Pool(processes, tmp_path, lease=4.0)
    pool.start_schedd()
    go, runs = tmp_path / "go", tmp_path / "runs.txt"
    body = f"echo start >> {runs}\nwhile [ ! -e {go} ]; do sleep 0.1; done\necho saved-output\nexit 5\n"
    pool.queue(f"executable = {script(tmp_path / 'job.sh', body)}\noutput = out.txt\nqueue\n")
    startd = pool.startd("s1", max_idle_time=40)
    wait_for(runs.exists, timeout=15)
    assert pool.schedd is not None
    pool.schedd.send_signal(signal.SIGKILL)
    pool.schedd.wait(5)
    go.touch()
    wait_for(lambda: "cannot report job=1.0" in processes.log("startd-s1"), timeout=15)
    startd.send_signal(signal.SIGKILL)  # the result is only on disk now
    startd.wait(5)
    assert len(os.listdir(tmp_path / "startd-s1" / "results")) == 1
    pool.start_schedd()
    config = tmp_path / "startd-s1" / "startd.json"
    flush = [sys.executable, "-S", "-m", "glidein.pool.startd", "--config", str(config), "--flush"]
    sender = processes.start(flush, "flush", env={"PYTHONPATH": str(pool.bundle)})
    assert sender.wait(20) == 0, processes.log("flush")
    job = pool.jobs()["1.0"]
    assert (job["JobStatus"], job["ExitCode"], job["NumJobStarts"]) == (4, 5, 1)
    assert (tmp_path / "out.txt").read_text() == "saved-output\n" and runs.read_text() == "start\n"
    assert os.listdir(tmp_path / "startd-s1" / "results") == []
    assert "results left: 1, not taken: 0" in processes.log("flush")


def test_a_job_that_ended_unseen_by_a_startd_killed_9_is_sent_by_flush(
    processes: Processes, tmp_path: Path
) -> None:
    """The job ends in the instant before its startd is killed -9 (here: the startd is stopped, so
    it never sees the end): the exit code its shell wrote in the sandbox is sent by `--flush`, once."""
    pool = Pool(processes, tmp_path, lease=30.0)
    pool.start_schedd()
    go, runs = tmp_path / "go", tmp_path / "runs.txt"
    body = f"echo start >> {runs}\nwhile [ ! -e {go} ]; do sleep 0.1; done\necho unseen-output\nexit 4\n"
    pool.queue(f"executable = {script(tmp_path / 'job.sh', body)}\noutput = out.txt\nqueue\n")
    startd = pool.startd("s1", max_idle_time=40)
    wait_for(runs.exists, timeout=15)
    startd.send_signal(signal.SIGSTOP)  # it will not poll the job again
    go.touch()
    execute = tmp_path / "startd-s1" / "execute"
    wait_for(lambda: any(execute.glob("dir_*/.exit_code")), timeout=15)
    startd.send_signal(signal.SIGKILL)
    startd.wait(5)
    config = tmp_path / "startd-s1" / "startd.json"
    flush = [sys.executable, "-S", "-m", "glidein.pool.startd", "--config", str(config), "--flush"]
    sender = processes.start(flush, "flush", env={"PYTHONPATH": str(pool.bundle)})
    assert sender.wait(20) == 0, processes.log("flush")
    job = pool.jobs()["1.0"]
    assert (job["JobStatus"], job["ExitCode"], job["NumJobStarts"]) == (4, 4, 1)
    assert (tmp_path / "out.txt").read_text() == "unseen-output\n" and runs.read_text() == "start\n"
    assert not any(execute.glob("dir_*"))  # taken once: a second flush finds nothing
    again = processes.start(flush, "flush2", env={"PYTHONPATH": str(pool.bundle)})
    assert again.wait(20) == 0 and "results left: 0" in processes.log("flush2")
