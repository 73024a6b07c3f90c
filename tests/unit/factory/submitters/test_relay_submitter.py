"""The relay submitter's own logic (factory/submitters/relay.py): batches within the relay's
limits, partial acceptance, answers turned into BackendStatus. The HTTP calls are a fake here;
tests/integration/pool/test_relay_schedd.py talks to a real relay."""

from __future__ import annotations

from pathlib import Path

import pytest

from glidein.common.errors import SubmitError
from glidein.factory.pilot_states import PilotState
from glidein.factory.submitters.base import PilotRef, PilotSpec
from glidein.factory.submitters.relay import RelayParams, RelaySubmitter
from glidein.pool.schedd.relay_api import MAX_PILOTS


class Recorded(RelaySubmitter):
    def __init__(self, tmp: Path, fail_on: int = 0) -> None:
        super().__init__("e1", RelayParams(url="http://127.0.0.1:1", factory="f1"), tmp)
        self.relay_name = "r1"
        self.calls: list[tuple[str, int]] = []
        self.fail_on = fail_on

    def _call(self, method: str, path: str, body: object = None) -> dict[str, object]:
        assert isinstance(body, dict)
        items = body.get("pilots") or body.get("ids") or []
        assert isinstance(items, list)
        self.calls.append((path, len(items)))
        if len(self.calls) == self.fail_on:
            raise SubmitError("relay r1: cannot reach it")
        if path == "/relay/submit":
            return {"relay": "r1", "accepted": [p["pilot_id"] for p in items]}
        states = {"state": "running", "backend_id": "77", "exit_code": None}
        return {"relay": "r1", "pilots": {i: states for i in items if i != "gone"} | {"bad": {"state": "?"}}}


def test_submit_in_batches_the_relay_takes_and_keeps_what_was_accepted(tmp_path: Path) -> None:
    specs = [PilotSpec(f"p{n}", "e1", "fe", ["true"]) for n in range(1200)]
    sub = Recorded(tmp_path)
    accepted = sub.submit(specs)
    assert len(accepted) == 1200 and accepted["p0"] == "r1/p0"
    assert sub.calls == [("/relay/submit", 500), ("/relay/submit", 500), ("/relay/submit", 200)]
    assert all(n <= MAX_PILOTS for _path, n in sub.calls)
    partial = Recorded(tmp_path, fail_on=2)
    assert len(partial.submit(specs)) == 500  # the rest waits for the next cycle
    with pytest.raises(SubmitError):
        Recorded(tmp_path, fail_on=1).submit(specs)


def test_status_in_batches_and_as_backend_status(tmp_path: Path) -> None:
    sub = Recorded(tmp_path)
    refs = [PilotRef(f"p{n}", "") for n in range(12000)] + [PilotRef("gone", "")]
    found = sub.status(refs)
    assert [n for _path, n in sub.calls] == [5000, 5000, 2001]
    assert found["p1"].state == PilotState.RUNNING and found["p1"].backend_id == "r1/77"
    assert "gone" not in found and "bad" not in found  # unknown to the relay / not a state
    sub.remove(refs[:6000])
    assert sub.calls[-2:] == [("/relay/remove", 5000), ("/relay/remove", 1000)]
