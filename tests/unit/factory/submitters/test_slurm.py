"""Slurm adapter: parsing of recorded real output (slurm-wlm 22.05.8) and the commands it runs."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import pytest

from glidein.common.errors import SubmitError
from glidein.factory.pilot_states import PilotState
from glidein.factory.submitters.base import PilotRef, PilotSpec
from glidein.factory.submitters.slurm import (
    SlurmSubmitter,
    accounted_pilots,
    batch_script,
    conf_problem,
    jobs_to_account,
    parse_exit_code,
    parse_sacct,
    parse_sbatch,
    parse_squeue,
    pilot_statuses,
    run_command,
)

S = PilotState
DATA = Path(__file__).parent / "data"


def test_parse_recorded_squeue() -> None:
    jobs = parse_squeue((DATA / "squeue_all_slurm22.txt").read_text())
    assert len(jobs) == 17
    got = pilot_statuses(jobs, {"cccc": 0, "dddd": 3})
    assert "smoke" not in got and "other job" not in got
    assert got["aaaa"].state == S.RUNNING and got["aaaa"].backend_id == "2"
    assert got["bbbb"].state == S.HELD and got["bbbb"].held_reason == "JobHeldUser"
    assert got["cccc"].state == S.COMPLETED and got["cccc"].exit_code == 0
    assert got["dddd"].state == S.FAILED and got["dddd"].exit_code == 3
    assert got["eeee"].state == S.REMOVED
    assert got["gggg"].state == S.IDLE


def test_parse_squeue_edge_cases() -> None:
    assert parse_squeue("") == []
    (job,) = parse_squeue("12|a|b|RUNNING|None\n")
    assert job.name == "a|b" and job.state == "RUNNING"
    with pytest.raises(SubmitError, match="unexpected squeue line"):
        parse_squeue("slurm_load_jobs error: Unable to contact slurm controller")


def test_parse_sbatch() -> None:
    assert parse_sbatch("42\n") == "42"
    assert parse_sbatch("43;cluster\n") == "43"
    with pytest.raises(SubmitError):
        parse_sbatch("")


def test_batch_script_quotes_arguments(tmp_path: Path) -> None:
    spec = PilotSpec("p1", "e1", "fe.g", ["python3", "x.py", "-param_A", "it's $HOME"], {"K": "v w"})
    text = batch_script(spec, tmp_path / "p1.exit")
    assert "export K='v w'" in text
    assert "'it'\"'\"'s $HOME'" in text
    assert text.startswith("#!/bin/sh")


class Recorder:
    def __init__(self, replies: dict[str, tuple[int, str, str]]) -> None:
        self.calls: list[list[str]] = []
        self.replies = replies

    def __call__(self, argv: Sequence[str]) -> tuple[int, str, str]:
        self.calls.append(list(argv))
        return self.replies.get(argv[0], (0, "", ""))


def test_one_squeue_for_all_and_errors_are_submit_errors(tmp_path: Path) -> None:
    runner = Recorder({"squeue": (0, (DATA / "squeue_all_slurm22.txt").read_text(), "")})
    params = SimpleNamespace(time_limit=30, partition="debug", account=None, sbatch_args=[], work_dir=None)
    sub = SlurmSubmitter("e1", params, tmp_path, runner)
    got = sub.status([PilotRef("aaaa", "2")])
    assert got["aaaa"].state == S.RUNNING
    assert [c[0] for c in runner.calls] == ["squeue"]
    broken = SlurmSubmitter(
        "e1", params, tmp_path, Recorder({"squeue": (1, "", "Unable to contact slurm controller")})
    )
    with pytest.raises(SubmitError, match="squeue failed"):
        broken.status([])


def test_submit_writes_private_script_and_runs_sbatch(tmp_path: Path) -> None:
    runner = Recorder({"sbatch": (0, "77\n", "")})
    params = SimpleNamespace(
        time_limit=30, partition="debug", account="acct", sbatch_args=["--qos=x"], work_dir=None
    )
    sub = SlurmSubmitter("e1", params, tmp_path, runner)
    assert sub.submit([PilotSpec("p1", "e1", "fe.g", ["python3", "w.py"], cpus=2)]) == {"p1": "77"}
    argv = runner.calls[0]
    assert "--job-name=glidein_p1" in argv and "--partition=debug" in argv and "--account=acct" in argv
    assert "--cpus-per-task=2" in argv and "--qos=x" in argv
    script = tmp_path / "slurm" / "p1.sh"
    assert argv[-1] == str(script) and script.stat().st_mode & 0o077 == 0
    sub.remove([PilotRef("p1", "77")])
    sub.release([PilotRef("p1", "77")])
    assert runner.calls[1] == ["scancel", "77"] and runner.calls[2] == ["scontrol", "release", "77"]
    refusing = SlurmSubmitter(
        "e1", params, tmp_path, Recorder({"sbatch": (1, "", "Invalid partition name specified")})
    )
    with pytest.raises(SubmitError, match="Invalid partition"):
        refusing.submit([PilotSpec("p2", "e1", "fe.g", ["true"])])


def test_run_command_is_bounded() -> None:
    started = time.monotonic()
    rc, _out, err = run_command(["sleep", "30"], timeout=0.3)
    assert rc == 124 and "timed out after 0.3 s" in err
    assert time.monotonic() - started < 10


def test_timeout_fails_closed_naming_the_cause(tmp_path: Path) -> None:
    params = SimpleNamespace(command_timeout=20, work_dir=None)
    env = {"SLURM_CONF": str(DATA / "squeue_all_slurm22.txt")}  # an existing, non-empty file
    runner = Recorder({"squeue": (124, "", "squeue: timed out after 20 s")})
    sub = SlurmSubmitter("e1", params, tmp_path, runner, env=env)
    with pytest.raises(
        SubmitError, match=r"entry e1: squeue timed out after 20 s \(submitter.command_timeout"
    ):
        sub.status([])


@pytest.mark.parametrize(("conf", "why"), [("missing.conf", "No such file"), ("empty.conf", "empty file")])
def test_broken_slurm_conf_fails_at_once_without_running(tmp_path: Path, conf: str, why: str) -> None:
    (tmp_path / "empty.conf").write_text("")
    runner = Recorder({})
    sub = SlurmSubmitter("e1", SimpleNamespace(), tmp_path, runner, env={"SLURM_CONF": str(tmp_path / conf)})
    for call in (lambda: sub.status([]), lambda: sub.remove([PilotRef("p", "7")])):
        with pytest.raises(SubmitError, match=f"not run: SLURM_CONF=.*{conf}: {why}"):
            call()
    assert runner.calls == []
    assert conf_problem({}) == "" and conf_problem({"SLURM_CONF": str(DATA / "squeue_all_slurm22.txt")}) == ""


def test_configured_timeout_bounds_a_hanging_squeue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A squeue that hangs (as Slurm's own minute of retries does) is cut at command_timeout."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "squeue").write_text("#!/bin/sh\nexec sleep 60\n")
    (bindir / "squeue").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    sub = SlurmSubmitter("e1", SimpleNamespace(command_timeout=1), tmp_path, env={})
    started = time.monotonic()
    with pytest.raises(SubmitError, match="squeue timed out after 1 s"):
        sub.status([])
    assert time.monotonic() - started < 15


def test_sbatch_timeout_leaves_the_pilot_uncertain(tmp_path: Path) -> None:
    """An sbatch cut at its timeout may have queued the job: the pilot stays NEW for squeue to find."""
    runner = Recorder({"sbatch": (124, "", "sbatch: timed out after 20 s")})
    sub = SlurmSubmitter("e1", SimpleNamespace(command_timeout=20), tmp_path, runner, env={})
    with pytest.raises(SubmitError, match="sbatch timed out"):
        sub.submit([PilotSpec("p1", "e1", "fe.g", ["true"])])
    assert sub.uncertain == {"p1"}
    refusing = SlurmSubmitter("e1", SimpleNamespace(), tmp_path, Recorder({"sbatch": (1, "", "no")}), env={})
    with pytest.raises(SubmitError):
        refusing.submit([PilotSpec("p2", "e1", "fe.g", ["true"])])
    assert refusing.uncertain == set()


# ---------------------------------------------------------------- exit codes from accounting (sacct)
# Recorded on one cluster with SLURM_ACCOUNTING=1: squeue while the jobs were in slurmctld's memory,
# sacct for job ids 2..10 and 999 (unknown: no line). Jobs: okok exit 0, fail7 exit 7, running,
# held then cancelled, "we|ird" killed by SIGKILL, cancelrun cancelled while running, "other" (not a
# pilot) exit 3, timeout (time limit), pend (--begin in an hour).
SQUEUE_ACCT = (DATA / "squeue_accounted_slurm22.txt").read_text()
SACCT = (DATA / "sacct_slurm22.txt").read_text()
ENDED = ["okok", "fail7", "held", "we|ird", "cancelrun", "timeout"]


def test_parse_recorded_sacct() -> None:
    jobs = {j.job_id: j for j in parse_sacct(SACCT)}
    assert len(jobs) == 9 and "999" not in jobs
    assert (jobs["3"].name, jobs["3"].state, jobs["3"].exit_code) == ("glidein_fail7", "FAILED", 7)
    assert jobs["6"].name == "glidein_we|ird" and jobs["6"].exit_code == 137  # 0:9, killed
    assert jobs["5"].state == "CANCELLED" and jobs["5"].ended  # "CANCELLED by 0"
    assert jobs["9"].state == "TIMEOUT" and jobs["9"].ended
    assert not jobs["4"].ended and not jobs["10"].ended  # RUNNING, PENDING
    assert [parse_exit_code(f) for f in ("0:0", "7:0", "0:15", "2:9")] == [0, 7, 143, 2]
    for bad in ("sacct: error: Problem talking to the database: Connection refused", "3|x|FAILED|7:x"):
        with pytest.raises(SubmitError, match="unexpected sacct"):
            parse_sacct(bad)


def test_accounting_decides_the_end_of_failed_and_vanished_pilots() -> None:
    squeue = [j for j in parse_squeue(SQUEUE_ACCT) if j.job_id != "2"]  # okok left squeue (MinJobAge)
    refs = [PilotRef(p, "") for p in ["running", "pend", "fail7", "we|ird", "timeout"]]
    refs += [PilotRef("okok", "2"), PilotRef("never", "999"), PilotRef("unsent", "")]
    asked = jobs_to_account(squeue, refs)
    assert asked == {"3": "fail7", "6": "we|ird", "9": "timeout", "2": "okok", "999": "never"}
    got = pilot_statuses(squeue, {}, accounted_pilots(parse_sacct(SACCT), asked))
    assert (got["fail7"].state, got["fail7"].exit_code) == (S.FAILED, 7)
    assert (got["we|ird"].state, got["we|ird"].exit_code) == (S.FAILED, 137)
    assert (got["timeout"].state, got["timeout"].exit_code) == (S.FAILED, -1)  # ended by Slurm: 0:0
    assert (got["okok"].state, got["okok"].exit_code, got["okok"].backend_id) == (S.COMPLETED, 0, "2")
    assert "never" not in got and "unsent" not in got  # unknown to accounting too: reconcile says LOST
    assert got["running"].state == S.RUNNING and got["pend"].state == S.IDLE
    assert got["held"].state == S.REMOVED and got["cancelrun"].state == S.REMOVED


def test_a_failure_not_yet_accounted_waits_for_its_record() -> None:
    """slurmdbd lags slurmctld: a pilot squeue shows failed, with no exit file and no record yet, stays
    RUNNING until its code is known; with an exit file, or without accounting, it ends at once."""
    squeue = parse_squeue("3|glidein_fail7|FAILED|NonZeroExitCode\n")
    lagging = accounted_pilots(parse_sacct("3|glidein_fail7|RUNNING|0:0\n"), {"3": "fail7"})
    assert lagging == {"fail7": None}
    assert pilot_statuses(squeue, {}, lagging)["fail7"].state == S.RUNNING
    assert pilot_statuses(squeue, {"fail7": 7}, lagging)["fail7"].exit_code == 7
    assert pilot_statuses(squeue, {}, None)["fail7"].exit_code == -1
    reused = accounted_pilots(parse_sacct("3|glidein_other|FAILED|1:0\n"), {"3": "fail7"})
    assert reused == {"fail7": None}  # a job id reused by another job is not this pilot's record


def test_one_sacct_per_status_for_the_ended_pilots(tmp_path: Path) -> None:
    runner = Recorder({"squeue": (0, SQUEUE_ACCT, ""), "sacct": (0, SACCT, "")})
    sub = SlurmSubmitter("e1", SimpleNamespace(command_timeout=20), tmp_path, runner, env={})
    got = sub.status([PilotRef(p, "") for p in ["running", "fail7", "we|ird", "okok"]])
    assert [c[0] for c in runner.calls] == ["squeue", "sacct"]
    assert runner.calls[1] == [
        "sacct",
        "-X",
        "-n",
        "-P",
        "-j",
        "3,6",
        "-o",
        "JobIDRaw,JobName,State,ExitCode",
    ]
    assert got["fail7"].exit_code == 7 and got["we|ird"].exit_code == 137 and got["okok"].exit_code == 0
    runner.calls.clear()
    sub.status([PilotRef("running", "4"), PilotRef("okok", "2")])  # nothing ended but COMPLETED
    assert [c[0] for c in runner.calls] == ["squeue"]


@pytest.mark.parametrize(
    ("reply", "logged"),
    [
        ((1, "", "Slurm accounting storage is disabled"), ""),
        ((1, "", "sacct: error: Problem talking to the database: Connection refused"), "rc 1: sacct: error"),
        ((124, "", "sacct: timed out after 20 s"), "timed out after 20 s"),
    ],
)
def test_without_accounting_the_exit_file_tells(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, reply: tuple[int, str, str], logged: str
) -> None:
    runner = Recorder({"squeue": (0, SQUEUE_ACCT, ""), "sacct": reply})
    sub = SlurmSubmitter("e1", SimpleNamespace(command_timeout=20), tmp_path, runner, env={})
    (tmp_path / "slurm").mkdir()
    (tmp_path / "slurm" / "fail7.exit").write_text("7\n")
    got = sub.status([PilotRef("fail7", "3"), PilotRef("we|ird", "6")])
    assert (got["fail7"].state, got["fail7"].exit_code) == (S.FAILED, 7)
    assert (got["we|ird"].state, got["we|ird"].exit_code) == (S.FAILED, -1)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    if logged:
        assert len(warnings) == 1 and "entry=e1 sacct failed" in warnings[0] and logged in warnings[0]
    else:
        assert warnings == []
