"""A finished job's result waits in the startd until the schedd takes it; jobs record their groups."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from glidein.pool.startd.config import parse_config
from glidein.pool.startd.daemon import Startd
from glidein.pool.startd.jobs import PGID_DIR, RunningJob, die_with_parent
from glidein.pool.startd.results import Outbox, Result
from glidein.pool.startd.schedd_client import ClaimGone, Rejected, ScheddClient, ScheddUnavailable


class FakeSchedd(ScheddClient):
    """The schedd's answers to complete/claim, scripted; every call recorded."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:9", "token")
        self.down = False
        self.complete_error: Exception | None = None
        self.completed: list[tuple[str, int, str]] = []
        self.claims = 0
        self.jobs: list[dict[str, Any]] = []
        self.timeouts: list[float] = []

    def complete(self, claim_id: str, exit_code: int, stdout_b64: str, stderr_b64: str) -> None:
        self.timeouts.append(self.timeout)
        if self.down:
            raise ScheddUnavailable("connection refused")
        if self.complete_error is not None:
            raise self.complete_error
        self.completed.append((claim_id, exit_code, base64.b64decode(stdout_b64).decode()))

    def claim(self, name: str, slot: Any) -> dict[str, Any] | None:
        self.claims += 1
        if self.down:
            raise ScheddUnavailable("connection refused")
        return self.jobs.pop(0) if self.jobs else None

    def heartbeat(self, claim_id: str) -> None:
        if self.down:
            raise ScheddUnavailable("connection refused")

    def release(self, claim_id: str, reason: str) -> None:
        pass


def _result(n: int) -> Result:
    return Result(f"claim{n}", f"1.{n}", n, base64.b64encode(b"out").decode(), "")


def test_a_result_waits_until_the_schedd_is_back_and_is_sent_once() -> None:
    schedd = FakeSchedd()
    outbox = Outbox(schedd, retry_interval=5.0)
    schedd.down = True
    outbox.add(_result(1), now=100.0)
    outbox.add(_result(2), now=101.0)  # the schedd failed a moment ago: no new try before 105
    assert list(outbox.pending) == ["claim1", "claim2"]
    assert len(schedd.timeouts) == 1
    schedd.down = False
    outbox.flush(104.0)
    assert schedd.completed == []
    outbox.flush(105.0)
    assert schedd.completed == [("claim1", 1, "out"), ("claim2", 2, "out")]
    outbox.flush(200.0)
    assert not outbox.pending and len(schedd.completed) == 2


@pytest.mark.parametrize("error", [ClaimGone("no such claim"), Rejected("HTTP 400: bad exit code")])
def test_a_result_the_schedd_will_never_take_is_settled(error: Exception) -> None:
    schedd = FakeSchedd()
    schedd.complete_error = error
    outbox = Outbox(schedd, retry_interval=5.0)
    outbox.add(_result(1), now=100.0)
    assert not outbox.pending


def test_drain_retries_within_the_grace_then_drops_with_one_line_each(caplog: Any) -> None:
    schedd = FakeSchedd()
    schedd.down = True
    outbox = Outbox(schedd, retry_interval=5.0)
    outbox.add(_result(1), now=0.0)
    outbox.add(_result(2), now=0.0)
    clock = [0.0]
    dropped = outbox.drain(12.0, clock=lambda: clock[0], sleep=lambda s: clock.__setitem__(0, clock[0] + s))
    assert [r.job_id for r in dropped] == ["1.1", "1.2"]
    assert 3 <= len(schedd.timeouts) <= 4  # one try per retry interval, not a busy loop
    assert max(schedd.timeouts[1:]) <= 12.0  # no single try outlives the grace
    lines = [r.getMessage() for r in caplog.records if "did not take its result" in r.getMessage()]
    assert len(lines) == 2 and not outbox.pending
    assert schedd.timeout == 30.0


def test_drain_ends_as_soon_as_the_schedd_takes_the_results() -> None:
    schedd = FakeSchedd()
    schedd.down = True
    outbox = Outbox(schedd, retry_interval=1.0)
    outbox.add(_result(1), now=0.0)
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds
        schedd.down = clock[0] < 3.0

    assert outbox.drain(60.0, clock=lambda: clock[0], sleep=sleep) == []
    assert schedd.completed == [("claim1", 1, "out")] and clock[0] < 5.0


def _payload(tmp: Path, claim: str, body: str) -> dict[str, Any]:
    exe = tmp / f"job_{claim}.sh"
    exe.write_text("#!/bin/sh\n" + body)
    exe.chmod(0o755)
    return {"claim_id": claim, "job_id": f"1.{claim}", "cmd": str(exe), "transfer_executable": False}


def _wait(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_startd_frees_the_slot_keeps_the_result_and_claims_nothing_while_it_waits(tmp_path: Path) -> None:
    config = parse_config(
        {
            "name": "s",
            "schedd_url": "http://x",
            "token_file": "t",
            "work_dir": str(tmp_path),
            "poll_interval": 1,
        }
    )
    schedd = FakeSchedd()
    schedd.jobs = [_payload(tmp_path, "c1", "echo done\nexit 3\n"), _payload(tmp_path, "c2", "exit 0\n")]
    startd = Startd(config, schedd, advertiser=lambda _a, _b: None)
    os.makedirs(startd.execute_dir)
    now = 1000.0
    startd.step(now)
    assert list(startd.jobs) == ["c1"] and os.listdir(startd.pgid_dir)
    schedd.down = True
    _wait(lambda: startd.jobs["c1"].poll() is not None)
    claims = schedd.claims
    for tick in range(5):  # 5 s of loop with the schedd down
        startd.step(now + 1 + tick)
    assert startd.jobs == {} and startd.free().cpus == 1  # the job is over: its slot is free
    assert schedd.claims == claims  # ... but no new work while its result waits
    assert list(startd.outbox.pending) == ["c1"] and schedd.completed == []
    assert os.listdir(startd.pgid_dir) == []  # no record of a job that ended
    schedd.down = False
    startd.step(now + 7)
    assert schedd.completed == [("c1", 3, "done\n")]  # sent once, after the schedd came back
    assert (startd.jobs_run, startd.jobs_failed) == (1, 1)  # exit 3: a failed job (the pilot's report)
    assert "c2" in startd.jobs  # and work is claimed again
    startd.jobs["c2"].kill()


def test_old_results_are_not_lost_when_the_first_complete_fails(tmp_path: Path) -> None:
    """Before: one failed complete dropped the result, and the job ran again after its lease."""
    config = parse_config(
        {"name": "s", "schedd_url": "http://x", "token_file": "t", "work_dir": str(tmp_path)}
    )
    schedd = FakeSchedd()
    schedd.jobs = [_payload(tmp_path, "c1", "exit 0\n")]
    startd = Startd(config, schedd, advertiser=lambda _a, _b: None)
    os.makedirs(startd.execute_dir)
    startd.step(0.0)
    schedd.down = True
    _wait(lambda: startd.jobs["c1"].poll() is not None)
    startd.step(1.0)
    schedd.down = False
    startd.step(10.0)
    assert [c[0] for c in schedd.completed] == ["c1"]


def test_a_job_records_its_group_and_removes_the_record(tmp_path: Path) -> None:
    records = tmp_path / PGID_DIR
    (tmp_path / "execute").mkdir()
    job = RunningJob(_payload(tmp_path, "c1", "exec sleep 30\n"), str(tmp_path / "execute"), {}, str(records))
    assert job.proc is not None
    assert os.listdir(records) == [str(job.proc.pid)]
    assert os.getpgid(job.proc.pid) == job.proc.pid == os.getsid(job.proc.pid)
    job.kill()
    job.cleanup()
    assert os.listdir(records) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_die_with_parent_sets_the_death_signal(tmp_path: Path) -> None:
    preexec = die_with_parent(signal.SIGKILL)
    assert preexec is not None
    code = "import ctypes; v = ctypes.c_int()\nctypes.CDLL(None).prctl(2, ctypes.byref(v), 0, 0, 0)\n"
    code += "print(v.value)"  # PR_GET_PDEATHSIG
    out = subprocess.run(
        [sys.executable, "-c", code], preexec_fn=preexec, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == str(int(signal.SIGKILL))


def test_a_result_not_taken_at_once_is_saved_until_taken_and_a_new_outbox_loads_it(tmp_path: Path) -> None:
    spool = tmp_path / "results"
    schedd = FakeSchedd()
    taken = Outbox(schedd, 5.0, str(spool))
    taken.add(_result(1), now=0.0)  # taken at the first offer: nothing written
    assert schedd.completed and not spool.exists()
    schedd.down = True
    killed = Outbox(schedd, 5.0, str(spool))
    killed.add(_result(2), now=0.0)
    assert os.listdir(spool) == ["claim2.json"]  # what a startd killed now would leave
    schedd.down = False
    later = Outbox(schedd, 5.0, str(spool))  # `startd --flush`, or the next startd in this work dir
    assert later.load() == 1
    assert later.drain(10.0) == []
    assert schedd.completed[-1] == ("claim2", 2, "out") and os.listdir(spool) == []


def test_a_dropped_result_leaves_no_file_behind(tmp_path: Path) -> None:
    schedd = FakeSchedd()
    schedd.down = True
    outbox = Outbox(schedd, 5.0, str(tmp_path))
    outbox.add(_result(1), now=0.0)
    (tmp_path / "junk.json").write_text("{not json")
    assert outbox.load() == 1  # the bad file is ignored with a warning
    clock = [0.0]
    assert (
        len(outbox.drain(1.0, clock=lambda: clock[0], sleep=lambda s: clock.__setitem__(0, clock[0] + s)))
        == 1
    )
    assert os.listdir(tmp_path) == ["junk.json"]


def test_a_stopping_startd_completes_jobs_that_already_ended(tmp_path: Path) -> None:
    """A signal between a job's end and the loop's next look at it: the job is completed, not
    killed and given back (which ran it a second time: chaos finding)."""
    config = parse_config(
        {"name": "s", "schedd_url": "http://x", "token_file": "t", "work_dir": str(tmp_path)}
    )
    schedd = FakeSchedd()
    schedd.jobs = [_payload(tmp_path, "c1", "echo done\nexit 0\n")]
    startd = Startd(config, schedd, advertiser=lambda _a, _b: None)
    os.makedirs(startd.execute_dir)
    startd.step(1000.0)
    _wait(lambda: startd.jobs["c1"].poll() is not None)
    startd.kill_all("signal")
    assert schedd.completed == [("c1", 0, "done\n")] and startd.jobs == {}


def test_a_job_reads_its_slot_ad_from_condor_machine_ad(tmp_path: Path) -> None:
    """As under HTCondor's starter: the slot's attributes (the pilot's GLIDEIN_Startd_Attrs among
    them) in $_CONDOR_MACHINE_AD, one `name = expr` a line, so that a job can adapt to its node."""
    config = parse_config(
        {
            "name": "s",
            "schedd_url": "http://x",
            "token_file": "t",
            "work_dir": str(tmp_path),
            "attrs": {"GLIDEIN_CPU_Speed": "0.25", "GLIDEIN_Site": '"Slow"'},
        }
    )
    schedd = FakeSchedd()
    body = "sed -n -e 's/^GLIDEIN_CPU_Speed = //p' -e 's/^GLIDEIN_Site = //p' \"$_CONDOR_MACHINE_AD\"\n"
    schedd.jobs = [_payload(tmp_path, "c1", body)]
    startd = Startd(config, schedd, advertiser=lambda _a, _b: None)
    os.makedirs(startd.execute_dir)
    startd.step(1000.0)
    _wait(lambda: startd.jobs["c1"].poll() is not None)
    startd.step(1001.0)
    assert schedd.completed == [("c1", 0, '0.25\n"Slow"\n')]
