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
    batch_script,
    conf_problem,
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
