"""The local simulated site: slots, queue wait, failures, black hole, removal (real processes)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from glidein.factory.pilot_states import PilotState
from glidein.factory.submitters.base import PilotRef, PilotSpec
from glidein.factory.submitters.fake import FakeSubmitter
from glidein.factory.submitters.local import LocalSubmitter
from tests.procs import wait_for

S = PilotState


def spec(pid: str, seconds: float = 30.0, code: int = 0) -> PilotSpec:
    code_text = f"import time,sys; time.sleep({seconds}); sys.exit({code})"
    return PilotSpec(pid, "e1", "fe1.main", [sys.executable, "-c", code_text])


@pytest.fixture
def site_dirs(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    for pid_file in tmp_path.rglob("pid"):  # stop what the site started, by pid
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)  # the runner passes it on


def site(tmp: Path, **kw: object) -> LocalSubmitter:
    params = SimpleNamespace(
        **{"slots": 2, "queue_wait": 0.0, "failure_rate": 0.0, "black_hole": False, **kw}
    )
    return LocalSubmitter("e1", params, tmp)


def states(sub: LocalSubmitter, ids: list[str]) -> dict[str, PilotState]:
    return {k: v.state for k, v in sub.status([PilotRef(i, i) for i in ids]).items()}


def test_slots_limit_running_and_queue_moves_on(site_dirs: Path) -> None:
    sub = site(site_dirs)
    ids = ["a", "b", "c"]
    sub.submit([spec("a", 0.5), spec("b", 30), spec("c", 30)])
    got = states(sub, ids)
    assert sorted(got.values()) == sorted([S.RUNNING, S.RUNNING, S.IDLE])
    wait_for(lambda: states(sub, ids)["a"] == S.COMPLETED, timeout=15)
    wait_for(lambda: states(sub, ids)["c"] == S.RUNNING, timeout=10)
    sub.remove([PilotRef("b", "b")])
    wait_for(lambda: states(sub, ids)["b"] == S.REMOVED, timeout=10)


def test_queue_wait_keeps_pilots_idle(site_dirs: Path) -> None:
    sub = site(site_dirs, queue_wait=3600.0)
    sub.submit([spec("q")])
    assert states(sub, ["q"]) == {"q": S.IDLE}
    sub.remove([PilotRef("q", "q")])
    assert states(sub, ["q"]) == {"q": S.REMOVED}


def test_failures_and_black_hole(site_dirs: Path) -> None:
    hole = site(site_dirs / "hole", black_hole=True)
    hole.submit([spec("h")])
    wait_for(lambda: states(hole, ["h"]) == {"h": S.FAILED}, timeout=10)
    flaky = site(site_dirs / "flaky", failure_rate=1.0)
    flaky.submit([spec("f")])
    wait_for(lambda: states(flaky, ["f"]) == {"f": S.FAILED}, timeout=10)
    status = flaky.status([PilotRef("f", "f")])["f"]
    assert status.exit_code == 1


def test_pilot_exit_code_is_reported(site_dirs: Path) -> None:
    sub = site(site_dirs)
    sub.submit([spec("x", 0.1, code=4)])
    wait_for(lambda: states(sub, ["x"]) == {"x": S.FAILED}, timeout=10)
    assert sub.status([PilotRef("x", "x")])["x"].exit_code == 4


def test_unknown_pilot_is_not_listed(site_dirs: Path) -> None:
    assert site(site_dirs).status([PilotRef("nope", "nope")]) == {}


def test_fake_submitter() -> None:
    fake = FakeSubmitter("e1")
    ids = fake.submit([spec("a"), spec("b")])
    assert ids == {"a": "1", "b": "2"}
    fake.set_state("a", S.HELD, reason="transient")
    fake.release([PilotRef("a", "1")])
    assert fake.status([])["a"].state == S.IDLE
