"""Secrets and the report token stay off every pilot's command line (which `ps` shows to all): the
worker hands them to the submitters apart, and local, Slurm and HTCondor write them to a 0600
`-param_file` that the wrapper reads and that is deleted once the pilot ended."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from glidein.common.errors import SubmitError
from glidein.factory.entry import ClientRequest
from glidein.factory.pilot_states import PilotState
from glidein.factory.requests import ValidRequest
from glidein.factory.submitters.base import PilotRef, PilotSpec
from glidein.factory.submitters.htcondor_desc import item
from glidein.factory.submitters.local import LocalSubmitter
from glidein.factory.submitters.param_file import param_file_text
from glidein.factory.submitters.slurm import SlurmSubmitter
from glidein.factory.web import report_token
from glidein.factory.worker import PilotContext, pilot_command
from glidein.pilot_wrapper import glidein_startup as gs
from tests.procs import wait_for
from tests.unit.factory.submitters.test_slurm import Recorder
from tests.unit.factory.test_pilot_argv import entry_with

KEY = b"k" * 32
CTX = PilotContext("f1", "g", "python3", "/stage/glidein_startup.py", {}, "http://127.0.0.1:8319", KEY)
POOL_TOKEN = "eyJ.pool.SECRET"


def secret_request(**secrets: str) -> ValidRequest:
    req = ClientRequest("fe1.main", "fe1", "frontend", 1, 10)
    values = {"GLIDEIN_Token": POOL_TOKEN, **secrets}
    return ValidRequest("e1@g@f1", "e1@g@f1@fe1.main", req, "main", 1, "sig", 0.0, {"X": "1"}, values)


def test_pilot_command_keeps_every_secret_and_the_report_token_off_argv(tmp_path: Path) -> None:
    entry = entry_with(tmp_path)
    argv, secrets = pilot_command(CTX, entry, secret_request(MY_KEY="sealed-7", report_token="forged"), "p1")
    text = " ".join(argv)
    for value in (POOL_TOKEN, "sealed-7", report_token(KEY, "p1"), "forged"):
        assert value not in text
    assert "-report_token" not in argv and "-param_GLIDEIN_Token" not in argv and "-param_X" in argv
    assert secrets == {
        "GLIDEIN_Token": POOL_TOKEN,
        "MY_KEY": "sealed-7",
        "report_token": report_token(KEY, "p1"),
    }
    assert argv[argv.index("-report_url") + 1] == "http://127.0.0.1:8319"


def test_the_wrapper_reads_the_report_token_and_secrets_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "p1.params"
    path.write_text(param_file_text({"GLIDEIN_Token": POOL_TOKEN, "report_token": "r" * 64}))
    base = ["-factory", "f", "-name", "g", "-entry", "e", "-web", "w", "-sign", "s", "-descript", "d"]
    opts, params = gs.parse_args([*base, "-param_file", str(path)])
    assert opts["report_token"] == "r" * 64 and params == {"GLIDEIN_Token": POOL_TOKEN}


@pytest.mark.parametrize(("name", "value"), [("A", "x\nreport_token=evil"), ("A", "x\rB=y"), ("A=B", "x")])
def test_a_secret_that_would_forge_another_line_is_refused(name: str, value: str) -> None:
    with pytest.raises(SubmitError, match="not a NAME=value line"):
        param_file_text({name: value})


def spec(pilot_id: str, argv: list[str]) -> PilotSpec:
    secrets = {"GLIDEIN_Token": POOL_TOKEN, "report_token": "r" * 64}
    return PilotSpec(pilot_id, "e1", "fe1.main", argv, secrets=secrets)


def test_local_site_writes_a_private_param_file_and_deletes_it_when_the_pilot_ends(tmp_path: Path) -> None:
    params = SimpleNamespace(slots=1, queue_wait=0.0, failure_rate=0.0, black_hole=False, work_dir=None)
    site = LocalSubmitter("e1", params, tmp_path)
    reads = "import sys; a = sys.argv; print(open(a[a.index('-param_file') + 1]).read())"
    site.submit([spec("p1", [sys.executable, "-c", reads])])
    job_dir = tmp_path / "local" / "e1" / "jobs" / "p1"
    job = (job_dir / "job.json").read_text()
    param_file = job_dir / "pilot.params"
    assert POOL_TOKEN not in job and json.loads(job)["argv"][-2:] == ["-param_file", str(param_file)]
    assert param_file.stat().st_mode & 0o777 == 0o600 and job_dir.stat().st_mode & 0o777 == 0o711
    ref = [PilotRef("p1", "p1")]
    site.status(ref)  # starts it
    wait_for(lambda: site.status(ref)["p1"].state == PilotState.COMPLETED, timeout=15)
    assert POOL_TOKEN in (job_dir / "pilot.log").read_text()  # the pilot read it
    assert not param_file.exists()
    site.submit([spec("p2", ["true"])])
    site.remove([PilotRef("p2", "p2")])  # removed while queued: never ran, the status pass deletes it
    assert site.status([PilotRef("p2", "p2")])["p2"].state == PilotState.REMOVED
    assert not (tmp_path / "local" / "e1" / "jobs" / "p2" / "pilot.params").exists()


def test_slurm_script_has_no_secret_and_the_param_file_goes_when_the_job_ended(tmp_path: Path) -> None:
    runner = Recorder({"sbatch": (0, "77\n", ""), "squeue": (0, "77|glidein_p1|COMPLETED|None\n", "")})
    params = SimpleNamespace(time_limit=30, partition=None, account=None, sbatch_args=[], work_dir=None)
    sub = SlurmSubmitter("e1", params, tmp_path, runner)
    assert sub.submit([spec("p1", ["python3", "w.py"])]) == {"p1": "77"}
    out = tmp_path / "slurm"
    script, param_file = (out / "p1.sh").read_text(), out / "p1.params"
    assert POOL_TOKEN not in script and "r" * 64 not in script
    assert f"python3 w.py -param_file {param_file}\nrc=$?\nrm -f {param_file}\n" in script
    assert param_file.read_text() == f"GLIDEIN_Token={POOL_TOKEN}\nreport_token={'r' * 64}\n"
    assert param_file.stat().st_mode & 0o777 == 0o600 and out.stat().st_mode & 0o777 == 0o711
    assert sub.status([PilotRef("p1", "77")])["p1"].state == PilotState.COMPLETED
    assert not param_file.exists()
    refusing = SlurmSubmitter("e1", params, tmp_path, Recorder({"sbatch": (1, "", "Invalid account")}))
    with pytest.raises(SubmitError):
        refusing.submit([spec("p2", ["true"])])
    assert not (out / "p2.params").exists()  # never queued: its tokens are not left behind


def test_htcondor_moves_the_report_token_into_the_transferred_param_file() -> None:
    row, secrets = item(spec("p1", ["python3", "/stage/glidein_startup.py", "-pilot_id", "p1"]))
    assert "r" * 64 not in row["GlideinArgs"] and POOL_TOKEN not in row["GlideinArgs"]
    assert secrets == {"GLIDEIN_Token": POOL_TOKEN, "report_token": "r" * 64}
