"""HTCondor grid-universe adapter: golden submit descriptions (CE, ARC, batch), item data, what is
refused or kept off the command line, status mapping, actions. The same descriptions are submitted
to a real schedd in tests/integration/condor/test_htcondor_entries.py."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import htcondor2
import pytest

from glidein.common.errors import SubmitError
from glidein.factory.pilot_states import PilotState
from glidein.factory.staging import WRAPPER_PATH
from glidein.factory.submitters.base import PilotRef, PilotSpec
from glidein.factory.submitters.htcondor import HTCondorSubmitter
from glidein.factory.submitters.htcondor_desc import (
    description,
    grid_type,
    item,
    quote_arguments,
    split_secrets,
    statuses_from_ads,
    submit_text,
)

S = PilotState
DATA = Path(__file__).parent / "data"
ARGV = ["python3", "/srv/stage/glidein_startup.py", "-factory", "f1", "-name", "glidein", "-entry", "ce1"]
ARGV += ["-clientname", "fe1.main", "-hold_time", "300", "-param_GLIDEIN_Site", "Site A", "-param_X", "it's"]
ARGV += ["-param_GLIDEIN_Token", "eyJhbGciOi.secret.sig"]
LABELS = {"Factory": "f1", "Name": "glidein", "FrontendName": "fe1", "SecurityClass": "frontend"}
LABELS["CredentialIdentifier"] = "abc123"
SPEC = PilotSpec(
    "p0001", "ce1", "fe1.main", ARGV, {"GLIDEIN_DEBUG": "1"}, cpus=8, memory_mb=16000, labels=LABELS
)
CASES = [
    ("ce", "condor ce.example.org ce.example.org:9619", {}),
    ("arc", "arc https://arc.example.org:443/arex", {"+queue": '"grid"'}),
    ("batch", "batch slurm pilot@login.example.org", {"batch_queue": "normal"}),
]


def spec(pilot_id: str, *extra: str, **fields: Any) -> PilotSpec:
    """A pilot of the real wrapper (the adapter copies it next to the pilots' output)."""
    argv = ["python3", str(WRAPPER_PATH), *ARGV[2:], *extra]
    return PilotSpec(pilot_id, "ce1", "fe1.main", argv, labels=LABELS, **fields)


@pytest.mark.parametrize(("name", "resource", "extra"), CASES)
def test_golden_submit_descriptions(name: str, resource: str, extra: dict[str, str]) -> None:
    params = SimpleNamespace(grid_resource=resource, submit_attrs=extra)
    token = "/etc/glidein/ce.token"
    desc = description(SPEC, params, Path("/var/log/glidein/condor/ce1"), token)
    rows = [item(SPEC)[0], item(spec("p0002"))[0]]
    text = submit_text(desc, rows)
    assert text == (DATA / f"golden_{name}.sub").read_text()
    parsed = htcondor2.Submit(text)  # HTCondor's own parser accepts it
    assert parsed["universe"] == "grid" and parsed["grid_resource"] == resource
    assert [i["GlideinPilot"] for i in parsed.itemdata()] == ["p0001", "p0002"]
    assert ("scitokens_file" in parsed) == (name != "batch")  # a CE credential means nothing locally
    args = rows[0]["GlideinArgs"]
    assert "'Site A'" in args and "'it''s'" in args and "-param_file p0001.params" in args


def test_secrets_leave_the_command_line() -> None:
    argv, secrets = split_secrets(ARGV)
    assert secrets == {"GLIDEIN_Token": "eyJhbGciOi.secret.sig"}
    assert "eyJhbGciOi.secret.sig" not in argv and "-param_GLIDEIN_Token" not in argv
    row, secret = item(SPEC)
    assert "secret" not in row["GlideinArgs"] and secret == secrets


@pytest.mark.parametrize("value", ["$ENV(HOME)", "$(Owner)", "$$(Name)", "a$b"])
def test_values_that_htcondor_would_expand_are_refused(value: str) -> None:
    with pytest.raises(SubmitError, match=r"holds '\$'"):
        item(spec("p9", "-param_Y", value))
    bad_label = PilotSpec("p9", "ce1", "fe1.main", ARGV, labels={**LABELS, "FrontendName": value})
    with pytest.raises(SubmitError, match="label FrontendName"):
        description(bad_label, SimpleNamespace(grid_resource="condor a b:1"), Path("/l"), None)


def test_grid_type_and_quoting() -> None:
    assert grid_type("condor a b:9619") == "condor" and grid_type("arc https://x") == "arc"
    with pytest.raises(SubmitError, match="grid_resource"):
        grid_type("gt2 old.example.org")
    assert quote_arguments(["a", "b c", ""]) == "\"a 'b c' ''\""


def test_status_mapping() -> None:
    ads = [
        {"GlideinPilotId": "a", "JobStatus": 1, "ClusterId": 5, "ProcId": 0},
        {"GlideinPilotId": "b", "JobStatus": 2, "ClusterId": 6, "ProcId": 0},
        {"GlideinPilotId": "c", "JobStatus": 5, "ClusterId": 7, "HoldReason": "Transient network error"},
        {"GlideinPilotId": "d", "JobStatus": 4, "ClusterId": 8, "ExitCode": 0},
        {"GlideinPilotId": "e", "JobStatus": 4, "ClusterId": 9, "ExitCode": 2},
        {"GlideinPilotId": "f", "JobStatus": 3, "ClusterId": 10},
        {"JobStatus": 2, "ClusterId": 11},
    ]
    got = statuses_from_ads(ads)
    assert {k: v.state for k, v in got.items()} == {
        "a": S.IDLE,
        "b": S.RUNNING,
        "c": S.HELD,
        "d": S.COMPLETED,
        "e": S.FAILED,
        "f": S.REMOVED,
    }
    assert got["c"].held_reason == "Transient network error" and got["e"].exit_code == 2
    assert got["a"].backend_id == "5.0"


class FakeSchedd:
    def __init__(self, fail: str = "") -> None:
        self.submitted: list[tuple[Any, list[dict[str, str]]]] = []
        self.actions: list[tuple[Any, Any]] = []
        self.queue: list[dict[str, Any]] = []
        self.old: list[dict[str, Any]] = []
        self.fail = fail

    def query(self, constraint: str = "true", projection: list[str] | None = None) -> list[Any]:
        return self.queue

    def history(self, constraint: str, projection: list[str], match: int = -1) -> Any:
        return [ad for ad in self.old if f'"{ad["GlideinPilotId"]}"' in constraint]

    def submit(self, description: Any, count: int = 0, itemdata: Any = None) -> Any:
        if self.fail:
            raise htcondor2.HTCondorException(self.fail)
        self.submitted.append((description, list(itemdata)))
        return SimpleNamespace(cluster=lambda: 100 + len(self.submitted))

    def act(self, action: Any, job_spec: Any) -> Any:
        self.actions.append((action, job_spec))


def params(**extra: Any) -> SimpleNamespace:
    return SimpleNamespace(
        grid_resource="condor ce.example.org ce.example.org:9619", submit_attrs={}, **extra
    )


def test_one_transaction_per_batch_and_private_parameter_files(tmp_path: Path) -> None:
    schedd = FakeSchedd()
    sub = HTCondorSubmitter("ce1", params(log_dir=None), tmp_path, lambda _p: schedd)
    other = PilotSpec(
        "p0003", "ce1", "fe2.main", spec("x").argv, labels=LABELS
    )  # another client: own cluster
    assert sub.submit([spec("p0001"), spec("p0002"), other]) == {
        "p0001": "101.0",
        "p0002": "101.1",
        "p0003": "102.0",
    }
    desc, rows = schedd.submitted[0]
    assert [r["GlideinPilot"] for r in rows] == ["p0001", "p0002"]
    copy = tmp_path / "condor" / "ce1" / "glidein_startup.py"  # executable, for a batch system in place
    assert desc["executable"] == str(copy) and copy.read_bytes() == WRAPPER_PATH.read_bytes()
    assert copy.stat().st_mode & 0o777 == 0o755
    assert desc["MY.GlideinPilotId"] == '"$(GlideinPilot)"'
    log_dir = tmp_path / "condor" / "ce1"
    assert desc["initialdir"] == str(log_dir)
    param_file = log_dir / "p0001.params"
    assert param_file.read_text() == "GLIDEIN_Token=eyJhbGciOi.secret.sig\n"
    assert param_file.stat().st_mode & 0o777 == 0o600


def test_status_history_and_actions(tmp_path: Path) -> None:
    schedd = FakeSchedd()
    sub = HTCondorSubmitter("ce1", params(), tmp_path, lambda _p: schedd)
    other_entry = tmp_path / "other-entry"  # one status query serves every entry on the schedd
    other_entry.mkdir()
    (other_entry / "p0001.params").write_text("GLIDEIN_Token=t\n")
    (other_entry / "p0002.params").write_text("GLIDEIN_Token=t\n")
    ended = {
        "GlideinPilotId": "p0001",
        "JobStatus": 4,
        "ClusterId": 101,
        "ExitCode": 0,
        "Iwd": str(other_entry),
    }
    schedd.old = [ended]
    schedd.queue = [{"GlideinPilotId": "p0002", "JobStatus": 2, "ClusterId": 102, "Iwd": str(other_entry)}]
    got = sub.status([PilotRef("p0001", "101.0"), PilotRef("p0002", "102.0")])
    assert got["p0001"].state == S.COMPLETED and got["p0002"].state == S.RUNNING
    # the pool token of the pilot that ended is deleted, the running one's is kept
    assert not (other_entry / "p0001.params").exists() and (other_entry / "p0002.params").exists()
    sub.remove([PilotRef("p0001", "101.0")])
    sub.release([PilotRef("p0001", "101.0")])
    assert schedd.actions == [
        (htcondor2.JobAction.Remove, ["101.0"]),
        (htcondor2.JobAction.Release, ["101.0"]),
    ]


def test_token_files_must_be_private(tmp_path: Path) -> None:
    token = tmp_path / "ce.token"
    token.write_text("t\n")
    os.chmod(token, 0o644)
    schedd = FakeSchedd()
    sub = HTCondorSubmitter("ce1", params(token_file=token), tmp_path, lambda _p: schedd)
    with pytest.raises(SubmitError, match="readable by others; chmod 600"):
        sub.submit([spec("p0001")])
    os.chmod(token, 0o600)
    fe_token = tmp_path / "fe1.token"
    fe_token.write_text("t\n")
    os.chmod(fe_token, 0o600)
    sub = HTCondorSubmitter(
        "ce1", params(token_file=token, frontend_token_files={"fe1": fe_token}), tmp_path, lambda _p: schedd
    )
    sub.submit([spec("p0001")])
    assert schedd.submitted[-1][0]["scitokens_file"] == str(fe_token)  # the frontend's own wins
    missing = HTCondorSubmitter("ce1", params(token_file=tmp_path / "none"), tmp_path, lambda _p: schedd)
    with pytest.raises(SubmitError, match="none: No such file"):
        missing.submit([spec("p0001")])


def test_refused_and_uncertain_submissions(tmp_path: Path) -> None:
    refusing = HTCondorSubmitter("ce1", params(), tmp_path, lambda _p: FakeSchedd("Invalid grid_resource"))
    with pytest.raises(SubmitError, match="schedd refused"):
        refusing.submit([spec("p0001")])
    assert not refusing.uncertain
    assert not (tmp_path / "condor" / "ce1" / "p0001.params").exists()  # no token left behind
    lost = HTCondorSubmitter("ce1", params(), tmp_path, lambda _p: FakeSchedd("connection timed out"))
    with pytest.raises(SubmitError):
        lost.submit([spec("p0001")])
    assert lost.uncertain == {"p0001"}  # maybe queued: reconcile finds it by GlideinPilotId or not


def test_unreachable_schedd_is_a_submit_error(tmp_path: Path) -> None:
    def broken(_params: object) -> Any:
        raise RuntimeError("Unable to locate local daemon")

    sub = HTCondorSubmitter("ce1", SimpleNamespace(grid_resource="condor a b:1"), tmp_path, broken)
    with pytest.raises(SubmitError, match="cannot reach the schedd"):
        sub.status([])
