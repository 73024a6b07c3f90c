"""The embedded pool with real processes: submit -> q -> a startd claims, runs, completes."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from tests.integration.pool.pool_helpers import Pool, script
from tests.procs import Processes, wait_for

JOB = """\
executable = {exe}
arguments = "job $(Process) 'two words'"
environment = "GREETING=hello-$(Process) OTHER='x y'"
transfer_input_files = data.txt
output = out.$(Cluster).$(Process)
error = err.$(Cluster).$(Process)
request_memory = 1GB
+Project = "demo"
queue 3
"""


def _exit_job(tmp: Path) -> Path:
    body = 'echo "$1|$2|$GREETING|$OTHER|$(cat data.txt)"\necho "to stderr $1" >&2\nexit $(( $2 + 3 ))\n'
    return script(tmp / "job.sh", body)


def test_submit_q_run_complete_outputs_and_exit_codes(processes: Processes, tmp_path: Path) -> None:
    pool = Pool(processes, tmp_path)
    pool.start_schedd()
    (tmp_path / "data.txt").write_text("input-data")
    submitted = pool.submit(JOB.format(exe=_exit_job(tmp_path)))
    assert submitted.returncode == 0, submitted.stderr
    assert "3 job(s) submitted to cluster 1." in submitted.stdout

    q = pool.glidein("q", "-nobatch")
    assert q.returncode == 0, q.stderr
    assert "   1.0   " in q.stdout and "   1.2   " in q.stdout
    assert " 1.0-2\n" in pool.glidein("q").stdout  # the batch view: one row for the cluster
    assert "3 jobs; 0 completed, 0 removed, 3 idle, 0 running" in q.stdout
    af = pool.glidein("q", "-af", "ProcId", "RequestMemory", "Project", "-constraint", "ProcId >= 1")
    assert af.stdout.splitlines() == ["1 1024 demo", "2 1024 demo"]

    pool.startd("s1", cpus=2, memory_mb=4096)
    assert pool.result("s1") == {"jobs_run": 3, "jobs_failed": 3, "reason": "max_tail_time"}  # exit 3, 4, 5
    for proc in range(3):
        out = (tmp_path / f"out.1.{proc}").read_text()
        assert out == f"job|{proc}|hello-{proc}|x y|input-data\n"
        assert (tmp_path / f"err.1.{proc}").read_text() == "to stderr job\n"
    done = pool.glidein("q", "-all", "-af", "ProcId", "JobStatus", "ExitCode", "NumJobStarts", "RemoteHost")
    assert done.stdout.splitlines() == ["0 4 3 1 s1", "1 4 4 1 s1", "2 4 5 1 s1"]
    assert "0 jobs;" in pool.glidein("q").stdout  # completed jobs leave the queue


def test_q_long_json_autocluster_and_rm(processes: Processes, tmp_path: Path) -> None:
    pool = Pool(processes, tmp_path)
    pool.start_schedd()
    exe = script(tmp_path / "noop.sh", "exit 0\n")
    text = f"executable = {exe}\nrequest_cpus = 2\nqueue 2\nrequest_cpus = 1\nqueue 3\n"
    assert pool.submit(text).returncode == 0
    clusters = json.loads(pool.glidein("q", "-autocluster", "-json").stdout)
    assert sorted((c["ad"]["RequestCpus"], c["idle"]) for c in clusters) == [(1, 3), (2, 2)]
    table = pool.glidein("q", "-autocluster").stdout
    assert "AUTOCLUSTER" in table and len(table.splitlines()) == 3
    long = pool.glidein("q", "-long", "-constraint", "ProcId == 4").stdout
    assert "ProcId = 4" in long and "RequestCpus = 1" in long
    ads = json.loads(pool.glidein("q", "-json").stdout)
    assert [ad["ProcId"] for ad in ads] == [0, 1, 2, 3, 4]

    removed = pool.glidein("rm", "1.0", "-constraint", "RequestCpus == 1 && ProcId > 3")
    assert removed.returncode == 0
    assert removed.stdout.splitlines() == ["Job 1.0 marked for removal", "Job 1.4 marked for removal"]
    assert pool.glidein("rm", "77").returncode == 1
    after = pool.client().autoclusters()
    assert sorted((c["ad"]["RequestCpus"], c["idle"]) for c in after) == [(1, 2), (2, 1)]


def test_rm_needs_the_local_secret(processes: Processes, tmp_path: Path) -> None:
    pool = Pool(processes, tmp_path)
    pool.start_schedd()
    exe = script(tmp_path / "noop.sh", "exit 0\n")
    pool.queue(f"executable = {exe}\nqueue\n")
    other = tmp_path / "elsewhere"
    other.mkdir()
    env = {"GLIDEIN_SCHEDD_DIR": str(other), "GLIDEIN_SCHEDD": pool.url}
    from tests.procs import run_glidein

    refused = run_glidein(["rm", "1"], env=env)
    assert refused.returncode == 2
    assert "local-user secret" in refused.stderr
    listed = run_glidein(["q", "-af", "JobStatus"], env=env)  # reads need no secret
    assert listed.stdout.strip() == "1"


def test_two_startds_never_run_the_same_job(processes: Processes, tmp_path: Path) -> None:
    pool = Pool(processes, tmp_path)
    pool.start_schedd()
    log = tmp_path / "runs.log"
    exe = script(tmp_path / "j.sh", f'echo "$1 $_CONDOR_SCRATCH_DIR" >> {log}\nsleep 0.2\n')
    pool.queue(f"executable = {exe}\narguments = $(Process)\nqueue 16\n")
    for name in ("a", "b"):
        pool.startd(name, cpus=2)
    results = [pool.result(name) for name in ("a", "b")]
    assert sum(int(str(r["jobs_run"])) for r in results) == 16
    runs = [line.split()[0] for line in log.read_text().splitlines()]
    assert sorted(runs, key=int) == [str(i) for i in range(16)]  # each job ran exactly once
    jobs = pool.jobs()
    assert {job["NumJobStarts"] for job in jobs.values()} == {1}
    assert {job["RemoteHost"] for job in jobs.values()} == {"a", "b"}


def test_schedd_restart_keeps_the_queue(processes: Processes, tmp_path: Path) -> None:
    pool = Pool(processes, tmp_path)
    pool.start_schedd()
    exe = script(tmp_path / "noop.sh", "exit 0\n")
    assert pool.submit(f'executable = {exe}\narguments = $(Process)\n+Tag = "t"\nqueue 4\n').returncode == 0
    assert pool.client().remove(["1.3"]) == ["1.3"]
    before = pool.glidein("q", "-af", "ClusterId", "ProcId", "Args", "Tag").stdout
    assert pool.stop_schedd() == 0
    pool.start_schedd()
    assert pool.glidein("q", "-af", "ClusterId", "ProcId", "Args", "Tag").stdout == before
    assert before.splitlines() == ["1 0 0 t", "1 1 1 t", "1 2 2 t"]
    assert pool.queue(f"executable = {exe}\nqueue\n") == 2
    clusters = pool.client().autoclusters()
    assert sum(int(str(c["idle"])) for c in clusters) == 4


def test_a_killed_startds_job_is_run_again(processes: Processes, tmp_path: Path) -> None:
    pool = Pool(processes, tmp_path, lease=2.0)
    pool.start_schedd()
    marker = tmp_path / "first-run.pid"
    body = f"if [ ! -e {marker} ]; then echo $$ > {marker}; sleep 60; fi\necho second run\n"
    exe = script(tmp_path / "j.sh", body)
    pool.queue(f"executable = {exe}\noutput = out.txt\nqueue\n")
    first = pool.startd("doomed", max_idle_time=30)
    wait_for(marker.exists, timeout=10)
    first.send_signal(signal.SIGKILL)
    first.wait(5)
    try:
        jobs = pool.wait_jobs(lambda j: j["1.0"]["JobStatus"] == 1, timeout=10)
        assert jobs["1.0"]["NumJobStarts"] == 1
        pool.startd("rescuer")
        assert pool.result("rescuer")["jobs_run"] == 1
    finally:
        import contextlib
        import os

        with contextlib.suppress(ProcessLookupError):  # the job dies with its startd (PDEATHSIG)
            os.kill(int(marker.read_text()), signal.SIGKILL)
    job = pool.jobs()["1.0"]
    assert (job["JobStatus"], job["ExitCode"], job["NumJobStarts"], job["RemoteHost"]) == (4, 0, 2, "rescuer")
    assert (tmp_path / "out.txt").read_text() == "second run\n"
    assert "lease expired job=1.0 startd=doomed" in processes.log("schedd")


def test_startd_without_a_valid_token_gets_nothing(processes: Processes, tmp_path: Path) -> None:
    pool = Pool(processes, tmp_path)
    pool.start_schedd()
    exe = script(tmp_path / "noop.sh", "exit 0\n")
    pool.queue(f"executable = {exe}\nqueue 2\n")
    forged = pool.token("forger", key=bytes(32))
    pool.startd("forger", token=forged, max_idle_time=2)
    expired = tmp_path / "token.expired"
    from glidein.common import tokens

    key = tokens.load_key(pool.key_file)
    expired.write_text(tokens.mint(key, "late", ["startd"], 1, "test", now=1_000_000.0))
    pool.startd("late", token=expired, max_idle_time=2)
    wrong_scope = tmp_path / "token.reader"
    wrong_scope.write_text(tokens.mint(key, "reader", ["read"], 600, "test"))
    pool.startd("reader", token=wrong_scope, max_idle_time=2)
    for name in ("forger", "late", "reader"):
        assert pool.result(name) == {"jobs_run": 0, "jobs_failed": 0, "reason": "max_idle_time"}
    assert {job["JobStatus"] for job in pool.jobs().values()} == {1}
    log = processes.log("schedd")
    assert "signature does not verify" in log and "expired" in log and "lacks scope 'startd'" in log
    assert "claimed" not in log


def test_sigterm_kills_jobs_and_gives_them_back(processes: Processes, tmp_path: Path) -> None:
    pool = Pool(processes, tmp_path)
    pool.start_schedd()
    started = tmp_path / "started"
    exe = script(tmp_path / "long.sh", f"touch {started}\nexec sleep 60\n")
    pool.queue(f"executable = {exe}\nqueue\n")
    proc = pool.startd("s1")
    wait_for(started.exists, timeout=10)
    assert pool.jobs()["1.0"]["JobStatus"] == 2
    proc.send_signal(signal.SIGTERM)
    assert pool.result("s1", timeout=10) == {"jobs_run": 0, "jobs_failed": 0, "reason": "signal"}
    job = pool.jobs()["1.0"]
    assert (job["JobStatus"], job["NumJobStarts"]) == (1, 1)
