"""A pilot wrapper or its startd killed -9, with the real startd running a real job (issue 13)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from glidein.common import tokens
from tests.integration.pilot.helpers import StageSite
from tests.integration.pool.pool_helpers import Pool, script
from tests.integration.pool.test_startd_faults import alive, kill_pids, read_pid
from tests.procs import Processes, free_port, wait_for, wait_for_port

LONG_JOB = "sleep 300 &\necho $! > {child}\necho $$ > {leader}\nwait\n"


class PilotRun:
    """A collector, a schedd with one long job, and a real pilot whose startd runs that job."""

    def __init__(self, processes: Processes, tmp: Path, lease: float, job: str = LONG_JOB) -> None:
        self.processes, self.tmp = processes, tmp
        collector_port = free_port()
        processes.glidein(["collector", "--port", str(collector_port)], "collector")
        wait_for_port(collector_port)
        (tmp / "pool_area").mkdir()
        self.pool = Pool(processes, tmp / "pool_area", lease=lease)
        self.pool.start_schedd(extra=["--collector", f"127.0.0.1:{collector_port}"])
        self.leader_file, self.child_file = tmp / "leader.pid", tmp / "grandchild.pid"
        exe = script(tmp / "job.sh", job.format(child=self.child_file, leader=self.leader_file, tmp=tmp))
        self.pool.queue(f"executable = {exe}\noutput = out.txt\nqueue\n")
        self.site = StageSite(tmp, processes, real_startd=True)
        self.site.stage()
        self.site.serve()
        token = tokens.mint(tokens.load_key(self.pool.key_file), "pilot-p1", ["startd"], 600, "factory")
        argv = self.site.pilot_argv(
            GLIDEIN_Collector=f"127.0.0.1:{collector_port}",
            GLIDEIN_Schedd=self.pool.url,
            GLIDEIN_Token=token,
            GLIDEIN_Max_Idle="40",
            GLIDEIN_Max_Tail="40",
            GLIDEIN_Advertise_Interval="1",
            GLIDEIN_Poll_Interval="1",
            GLIDEIN_CPUS="1",
        )
        argv += ["-hold_time", "600"]  # the last one wins: a failure of a validation class would hold
        self.pilot = processes.start(argv, "pilot", env={"PILOT_TEST_MARKERS": str(self.site.markers)})

    def job_pids(self) -> tuple[int, int]:
        return read_pid(self.leader_file), read_pid(self.child_file)

    def startd_pid(self) -> int:
        """The wrapper's child running `python -m glidein.pool.startd`."""
        for name in os.listdir("/proc"):
            try:
                with open(f"/proc/{name}/stat") as handle:
                    ppid = int(handle.read().rsplit(")", 1)[-1].split()[1])
                with open(f"/proc/{name}/cmdline", "rb") as handle:
                    cmdline = handle.read()
            except (OSError, ValueError):
                continue
            if ppid == self.pilot.pid and b"glidein.pool.startd" in cmdline:
                return int(name)
        raise AssertionError("no startd under the wrapper")

    def job_status(self) -> tuple[int, int]:
        job = self.pool.jobs()["1.0"]
        return int(str(job["JobStatus"])), int(str(job["NumJobStarts"]))


def test_a_killed_wrapper_stops_its_startd_which_gives_the_job_back_at_once(
    processes: Processes, tmp_path: Path
) -> None:
    run = PilotRun(processes, tmp_path, lease=120.0)  # the job cannot go back by its lease in this test
    leader, grandchild = run.job_pids()
    startd = run.startd_pid()
    try:
        assert run.job_status() == (2, 1)
        run.pilot.send_signal(signal.SIGKILL)
        run.pilot.wait(5)
        killed_at = time.monotonic()
        wait_for(lambda: not alive(startd), timeout=15)  # PR_SET_PDEATHSIG=SIGTERM: a graceful end
        for pid in (leader, grandchild):
            assert not alive(pid), "the job outlived its startd"
        wait_for(lambda: run.job_status() == (1, 1), timeout=5)  # released: idle again, not in 120 s
        assert time.monotonic() - killed_at < 20
        assert (
            "killed job=1.0 (signal): back to the schedd"
            in (run.site.work_dirs()[0] / "startd.log").read_text()
        )
    finally:
        kill_pids(startd, leader, grandchild)


def test_a_startd_killed_under_a_live_wrapper_is_startd_killed_and_its_jobs_die(
    processes: Processes, tmp_path: Path
) -> None:
    run = PilotRun(processes, tmp_path, lease=120.0)
    leader, grandchild = run.job_pids()
    startd = run.startd_pid()
    try:
        time.sleep(11)  # it ran a while (gs.KILLED_AFTER): not a startd failing at once
        os.kill(startd, signal.SIGKILL)
        code = run.pilot.wait(20)  # no hold of the node (-hold_time 600)
        assert code == 6, run.processes.log("pilot")
        for pid in (leader, grandchild):  # the job's shell (PDEATHSIG) kills its group
            assert not alive(pid), "a job process outlived its startd and wrapper"
        report = run.site.report()
        assert (report["status"], report["failure_class"], report["step"]) == (
            "failure",
            "Killed",
            "startd",
        )
        assert str(report["message"]).startswith("startd killed by signal 9 after ")
    finally:
        kill_pids(startd, leader, grandchild)
        if run.pilot.poll() is None:
            run.pilot.kill()
            run.pilot.wait(5)


def test_a_result_held_by_a_startd_killed_while_the_schedd_was_down_is_sent_by_the_wrapper(
    processes: Processes, tmp_path: Path
) -> None:
    job = "echo $$ > {leader}\nwhile [ ! -e {tmp}/go ]; do sleep 0.1; done\necho finished\nexit 4\n"
    run = PilotRun(processes, tmp_path, lease=5.0, job=job)
    read_pid(run.leader_file)  # running
    startd, found_at = run.startd_pid(), time.monotonic()
    schedd = run.pool.schedd
    assert schedd is not None
    schedd.send_signal(signal.SIGKILL)
    schedd.wait(5)
    (tmp_path / "go").touch()  # the job ends while the schedd is down
    startd_log = run.site.work_dirs()[0] / "startd.log"
    wait_for(lambda: "cannot report job=1.0" in startd_log.read_text(), timeout=15)
    time.sleep(max(0.0, found_at + 11 - time.monotonic()))  # a startd that ran (gs.KILLED_AFTER)
    os.kill(startd, signal.SIGKILL)  # and then its startd is killed: the result is only on disk
    wait_for(lambda: "results left" in startd_log.read_text() or "sending them" in processes.log("pilot"), 10)
    time.sleep(2)
    run.pool.start_schedd()  # back a few seconds later, within the flush's result_grace
    wait_for(lambda: run.pool.jobs()["1.0"]["JobStatus"] == 4, timeout=30)
    assert run.pilot.wait(30) == 6, processes.log("pilot")
    job_ad = run.pool.jobs()["1.0"]
    assert (job_ad["ExitCode"], job_ad["NumJobStarts"]) == (4, 1)
    assert (run.pool.tmp / "out.txt").read_text() == "finished\n"
    assert "the startd left 1 job results: sending them" in processes.log("pilot")
