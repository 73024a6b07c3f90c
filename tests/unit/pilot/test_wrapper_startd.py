"""How the wrapper judges the startd's end, and the job groups it kills after the startd."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from glidein.pilot_wrapper import glidein_startup as gs

KILLED_9 = ("Killed", "startd killed by signal 9 after 300 s")


@pytest.mark.parametrize(
    ("startd", "expected"),
    [
        ({"exit_code": 0, "seconds": 1.0}, None),
        ({"exit_code": -9, "seconds": 300.0}, KILLED_9),
        ({"exit_code": -15, "seconds": 11.0}, ("Killed", "startd killed by signal 15 after 11 s")),
        ({"exit_code": 1, "seconds": 300.0, "master_exit": -9}, KILLED_9),  # condor_master
        ({"exit_code": 1, "seconds": 300.0, "master_exit": 137}, KILLED_9),
        ({"exit_code": -11, "seconds": 0.5}, ("Config", "startd exited with -11")),  # crashed at once
        ({"exit_code": 2, "seconds": 0.3}, ("Config", "startd exited with 2")),  # bad startd.json
        ({"exit_code": 1, "seconds": 300.0}, ("Config", "startd exited with 1")),  # its own error
        ({"exit_code": 1, "seconds": 300.0, "master_exit": 4}, ("Config", "startd exited with 1")),
    ],
)  # fmt: skip
def test_startd_end_classes(startd: dict[str, object], expected: tuple[str, str] | None) -> None:
    assert gs.startd_end(startd) == expected


def test_startd_killed_is_its_own_exit_code_and_scripts_cannot_claim_it(tmp_path: Path) -> None:
    assert gs.FAILURE_CODES["Killed"] == 6
    assert sorted(gs.FAILURE_CODES.values()) == [1, 2, 3, 4, 5, 6]
    script = tmp_path / "check.py"
    script.write_text(
        "import json, os, sys\n"
        "result = {'status': 'ERROR', 'failure': 'Killed'}\n"
        "json.dump(result, open(os.environ['GLIDEIN_RESULT_FILE'], 'w'))\n"
        "sys.exit(1)\n"
    )
    (tmp_path / "results").mkdir()
    config = tmp_path / "glidein_config"
    config.write_text("")
    log = gs.Reporter({})
    with pytest.raises(gs.PilotFailure) as failure:
        gs.run_exec({"name": "check.py", "level": "client"}, str(script), str(config), str(tmp_path), log)
    assert failure.value.failure_class == "VO_Config"  # a validation failure stays one


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
def test_kill_job_groups_kills_recorded_sessions_only(tmp_path: Path) -> None:
    records = tmp_path / "job_pgids"
    records.mkdir()
    pidfile = tmp_path / "grandchild"
    # a job whose leader is gone (as after PR_SET_PDEATHSIG) but whose grandchild still runs
    job = subprocess.Popen(["sh", "-c", f"sleep 30 & echo $! > {pidfile}; exit 0"], start_new_session=True)
    job.wait(5)
    deadline = time.monotonic() + 5
    while not pidfile.read_text().strip() if pidfile.exists() else True:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    grandchild = int(pidfile.read_text())
    bystander = subprocess.Popen(["sleep", "30"])  # in our own group and session: never a job's
    try:
        (records / str(job.pid)).write_text("1.0\n")
        (records / str(bystander.pid)).write_text("1.1\n")
        (records / "999999999").write_text("1.2\n")  # gone long ago
        (records / "notes").write_text("")
        assert gs.kill_job_groups(str(records)) == [job.pid]
        deadline = time.monotonic() + 5
        while _alive(grandchild):
            assert time.monotonic() < deadline, "the job's grandchild survived"
            time.sleep(0.05)
        assert bystander.poll() is None
        assert gs.kill_job_groups(str(tmp_path / "missing")) == []
    finally:
        bystander.kill()
        bystander.wait(5)
        with contextlib.suppress(OSError):
            os.kill(grandchild, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_the_startd_is_told_to_stop_when_the_wrapper_dies() -> None:
    preexec = gs.die_with_parent(signal.SIGTERM)
    assert preexec is not None
    code = "import ctypes; v = ctypes.c_int()\nctypes.CDLL(None).prctl(2, ctypes.byref(v), 0, 0, 0)\n"
    out = subprocess.run(
        [sys.executable, "-c", code + "print(v.value)"],
        preexec_fn=preexec,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == str(int(signal.SIGTERM))


def test_results_a_killed_startd_left_are_sent_by_startd_flush(tmp_path: Path) -> None:
    marker = tmp_path / "flush-argv"
    record = f"import sys; open({str(marker)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')"
    argv = [sys.executable, "-c", record, "--config", "startd.json"]
    pilot = gs.Pilot({}, {}, gs.Reporter({}))
    pilot.work = str(tmp_path)
    pilot.flush_results(argv, dict(os.environ))  # no results left: nothing to run
    assert not marker.exists()
    spool = tmp_path / "execute" / "results"
    spool.mkdir(parents=True)
    (spool / "claim1.json").write_text("{}")
    pilot.flush_results(["condor_launch.py", "glidein_config"], dict(os.environ))  # condor mode: n/a
    pilot.flush_results(argv, dict(os.environ))
    assert marker.read_text() == "--config startd.json --flush\n"
