"""HTCondor grid-universe adapter: golden submit descriptions (CE, ARC, batch), status mapping, actions."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import htcondor2
import pytest

from glidein.common.errors import SubmitError
from glidein.factory.pilot_states import PilotState
from glidein.factory.submitters.base import PilotRef, PilotSpec
from glidein.factory.submitters.htcondor import (
    HTCondorSubmitter,
    grid_type,
    quote_arguments,
    statuses_from_ads,
    submit_description,
    submit_text,
)

S = PilotState
DATA = Path(__file__).parent / "data"
ARGV = ["python3", "/srv/stage/glidein_startup.py", "-factory", "f1", "-name", "glidein", "-entry", "ce1"]
ARGV += ["-clientname", "fe1.main", "-hold_time", "300", "-param_GLIDEIN_Site", "Site A", "-param_X", "it's"]
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


@pytest.mark.parametrize(("name", "resource", "extra"), CASES)
def test_golden_submit_descriptions(name: str, resource: str, extra: dict[str, str]) -> None:
    params = SimpleNamespace(grid_resource=resource, submit_attrs=extra)
    text = submit_text(submit_description(SPEC, params, Path("/var/log/glidein/condor/ce1")))
    assert text == (DATA / f"golden_{name}.sub").read_text()
    parsed = htcondor2.Submit(text)  # HTCondor's own parser accepts it
    assert parsed["universe"] == "grid" and parsed["grid_resource"] == resource
    assert parsed["MY.GlideinPilotId"] == '"p0001"'
    assert "'Site A'" in parsed.expand("arguments") and "'it''s'" in parsed.expand("arguments")


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
    def __init__(self) -> None:
        self.submitted: list[Any] = []
        self.actions: list[tuple[Any, Any]] = []
        self.queue: list[dict[str, Any]] = []
        self.old: list[dict[str, Any]] = []

    def query(self, constraint: str = "true", projection: list[str] | None = None) -> list[Any]:
        return self.queue

    def history(self, constraint: str, projection: list[str], match: int = -1) -> Any:
        return [ad for ad in self.old if f'"{ad["GlideinPilotId"]}"' in constraint]

    def submit(self, description: Any, count: int = 1) -> Any:
        self.submitted.append(description)
        return SimpleNamespace(cluster=lambda: 100 + len(self.submitted))

    def act(self, action: Any, job_spec: Any) -> Any:
        self.actions.append((action, job_spec))


def test_adapter_with_injected_schedd(tmp_path: Path) -> None:
    schedd = FakeSchedd()
    params = SimpleNamespace(grid_resource="condor ce.example.org ce.example.org:9619", submit_attrs={})
    sub = HTCondorSubmitter("ce1", params, tmp_path, lambda _p: schedd)
    assert sub.submit([SPEC]) == {"p0001": "101.0"}
    assert schedd.submitted[0]["MY.GlideinPilotId"] == '"p0001"'
    schedd.old = [{"GlideinPilotId": "p0001", "JobStatus": 4, "ClusterId": 101, "ExitCode": 0}]
    assert sub.status([PilotRef("p0001", "101.0")])["p0001"].state == S.COMPLETED
    sub.remove([PilotRef("p0001", "101.0")])
    sub.release([PilotRef("p0001", "101.0")])
    assert schedd.actions == [
        (htcondor2.JobAction.Remove, ["101.0"]),
        (htcondor2.JobAction.Release, ["101.0"]),
    ]


def test_unreachable_schedd_is_a_submit_error(tmp_path: Path) -> None:
    def broken(_params: object) -> Any:
        raise RuntimeError("Unable to locate local daemon")

    sub = HTCondorSubmitter("ce1", SimpleNamespace(grid_resource="condor a b:1"), tmp_path, broken)
    with pytest.raises(SubmitError, match="cannot reach the schedd"):
        sub.status([])
