"""Bookkeeping: survives reopening, refuses illegal transitions, reconciles with the backend."""

from __future__ import annotations

from pathlib import Path

from glidein.factory.health import Health, HealthPolicy, PilotEnd, assess
from glidein.factory.pilot_states import TRANSITIONS, PilotState, can_move
from glidein.factory.reconcile import reconcile
from glidein.factory.state import NewPilot, PilotStore
from glidein.factory.submitters.base import BackendStatus

S = PilotState
NEW = NewPilot("e1", "fe1.main", "sc", "cred1")


def test_pilots_survive_reopening_and_are_never_duplicated(tmp_path: Path) -> None:
    db = tmp_path / "factory.db"
    store = PilotStore(db)
    ids = store.record_new(NEW, 3, now=100.0)
    store.set_backend_ids({ids[0]: "17"}, now=101.0)
    store.close()
    again = PilotStore(db)
    active = again.active("e1")
    assert sorted(r.pilot_id for r in active) == sorted(ids)
    assert {r.pilot_id: r.state for r in active}[ids[0]] == S.PENDING
    assert again.get(ids[0]).backend_id == "17"  # type: ignore[union-attr]
    assert again.active("e2") == []
    assert len(set(ids)) == 3


def test_state_machine_refuses_illegal_moves(tmp_path: Path) -> None:
    store = PilotStore(tmp_path / "f.db")
    (pid,) = store.record_new(NEW, 1, now=1.0)
    assert store.move_many([(pid, S.RUNNING, "started")], now=2.0) == 1
    assert store.move_many([(pid, S.COMPLETED, "done")], now=3.0, exit_codes={pid: 0}) == 1
    assert store.move_many([(pid, S.RUNNING, "zombie")], now=4.0) == 0  # terminal stays terminal
    assert [h[1] for h in store.history(pid)] == ["new", "running", "completed"]
    assert store.active() == []
    assert store.recent_ends("e1", 0.0) == [PilotEnd("completed", 0, 1.0, 3.0)]


def test_transition_table_is_consistent() -> None:
    for old, targets in TRANSITIONS.items():
        assert can_move(old, old)
        for new in targets:
            assert can_move(old, new)
    assert not can_move(S.REMOVED, S.IDLE)
    assert not can_move(S.REMOVING, S.RUNNING)


def test_sequences_persist(tmp_path: Path) -> None:
    store = PilotStore(tmp_path / "f.db")
    assert store.last_sequence("fe1", "n") is None
    store.save_sequence("fe1", "n", (5, "sig", 100.0))
    store.save_sequence("fe1", "n", (6, "sig2", 200.0))
    assert PilotStore(tmp_path / "f.db").last_sequence("fe1", "n") == (6, "sig2", 200.0)


def test_reconcile(tmp_path: Path) -> None:
    store = PilotStore(tmp_path / "f.db")
    new_found, new_young, new_old, running, removing, vanished = store.record_new(NEW, 6, now=0.0)
    store.move_many([(running, S.RUNNING, ""), (vanished, S.IDLE, ""), (removing, S.REMOVING, "")], now=0.0)
    records = store.active("e1")
    statuses = {
        new_found: BackendStatus(new_found, S.IDLE, "42"),
        running: BackendStatus(running, S.FAILED, "7", exit_code=3),
    }
    # new_young is younger than the grace period; new_old is not
    store.move_many([(new_young, S.NEW, "")], now=0.0)
    out = reconcile(records, statuses, now=50.0, grace=60.0)
    moves = {pid: state for pid, state, _ in out.moves}
    assert moves == {new_found: S.IDLE, running: S.FAILED, removing: S.REMOVED, vanished: S.LOST}
    assert out.backend_ids == {new_found: "42"}
    assert out.exit_codes == {running: 3}
    later = {pid: st for pid, st, _ in reconcile(records, statuses, now=100.0, grace=60.0).moves}
    assert later[new_old] == S.LOST and later[new_young] == S.LOST


def test_black_hole_blocking_and_backoff() -> None:
    policy = HealthPolicy(min_ends=5, fail_share=0.8, quick_seconds=60, backoff=100)
    quick_fails = [PilotEnd("failed", 1, 1.0, 10.0 + i) for i in range(6)]
    health = assess(Health(), quick_fails, now=20.0, policy=policy)
    assert health.blocked(20.0) and not health.blocked(121.0)
    assert "6 of the last 6" in health.reason
    # after the back-off, old failures no longer count; new ones block again, twice as long
    assert not assess(health, quick_fails, now=121.0, policy=policy).blocked(121.0)
    again = [PilotEnd("failed", 1, 1.0, 125.0 + i) for i in range(5)]
    second = assess(health, again, now=131.0, policy=policy)
    assert second.blocked_until == 131.0 + 200.0
    good = [PilotEnd("completed", 0, 600.0, 10.0 + i) for i in range(6)]
    assert not assess(Health(), good, now=20.0, policy=policy).blocked(20.0)
    long_fail = [PilotEnd("failed", 9, 900.0, 10.0 + i) for i in range(6)]
    assert not assess(Health(), long_fail, now=20.0, policy=policy).blocked(20.0)


def test_request_expiries_by_client_of_one_entry(tmp_path: Path) -> None:
    store = PilotStore(tmp_path / "f.db")
    store.save_sequence("fe1", "e1@g@f@fe1.main", (5, "s", 100.0))
    store.save_sequence("fe2", "e1@g@f@fe2.cms", (6, "s", 200.0))
    store.save_sequence("fe1", "e10@g@f@fe1.main", (7, "s", 300.0))
    assert store.request_expiries("e1") == {"fe1.main": 100.0, "fe2.cms": 200.0}
