"""Pilot outcomes from the wrapper's final report feed black-hole detection (not only exit codes)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from glidein.factory.health import Health, HealthPolicy, PilotEnd, assess, is_failure
from glidein.factory.pilot_states import PilotState
from glidein.factory.state import NewPilot, PilotStore
from glidein.factory.web import pilot_dir
from glidein.factory.worker import record_reports

S = PilotState
QUICK = 60.0
POLICY = HealthPolicy(min_ends=3, fail_share=0.8, quick_seconds=QUICK, backoff=100)


@pytest.mark.parametrize(
    ("end", "failure"),
    [
        (PilotEnd("failed", 2, 5.0, 10.0), True),  # exit code of a validation class
        (PilotEnd("failed", 9, 5.0, 10.0), True),  # died at once
        (PilotEnd("failed", 9, 900.0, 10.0), False),  # ran a long time
        (PilotEnd("lost", None, 0.0, 10.0), True),  # nothing known
        (PilotEnd("lost", None, 0.0, 10.0, "success"), False),  # exit code lost, report says fine
        (PilotEnd("failed", -1, 5.0, 10.0, "success"), False),  # the report wins over the batch code
        (PilotEnd("completed", 0, 900.0, 10.0, "failure", "VO_Config"), True),  # exit code hides it
        (PilotEnd("removed", None, 900.0, 10.0, "failure", "WN_Resource"), True),  # held, then removed
        (PilotEnd("completed", 0, 900.0, 10.0, "failure", "Unknown"), False),  # not a validation class
        (PilotEnd("completed", 0, 5.0, 10.0), False),
        (PilotEnd("removed", None, 1.0, 10.0), False),  # we removed it
        (PilotEnd("failed", 6, 15.0, 10.0, "failure", "Killed"), False),  # quick, but killed
        (PilotEnd("failed", 6, 15.0, 10.0), False),  # the report was lost: its exit code says killed
        (PilotEnd("failed", 3, 15.0, 10.0, "failure", "Config"), True),  # a startd exiting at once
    ],
)
def test_outcome_table(end: PilotEnd, failure: bool) -> None:
    assert is_failure(end, QUICK) is failure


def ended(store: PilotStore, count: int, state: PilotState, code: int | None) -> list[str]:
    ids = store.record_new(NewPilot("e1", "fe1.main", "sc", "c"), count, now=1.0)
    store.move_many([(i, S.RUNNING, "started") for i in ids], now=2.0)
    store.move_many([(i, state, "ended") for i in ids], now=500.0, exit_codes=dict.fromkeys(ids, code))
    return ids


def report(state_dir: Path, pilot_id: str, status: str, klass: str | None) -> None:
    directory = pilot_dir(state_dir, pilot_id)
    directory.mkdir(parents=True)
    (directory / "report.json").write_text(json.dumps({"status": status, "failure_class": klass}))


def test_reported_validation_failures_block_despite_exit_code_zero(tmp_path: Path) -> None:
    store = PilotStore(tmp_path / "f.db")
    ids = ended(store, 4, S.COMPLETED, 0)  # long runs, exit 0: the exit codes alone look healthy
    assert not assess(Health(), store.recent_ends("e1", 0.0), 501.0, POLICY).blocked(501.0)
    for pid in ids:
        report(tmp_path, pid, "failure", "VO_Config")
    assert record_reports(store, "e1", tmp_path, since=0.0) == 4
    assert record_reports(store, "e1", tmp_path, since=0.0) == 0  # read once
    health = assess(Health(), store.recent_ends("e1", 0.0), 501.0, POLICY)
    assert health.blocked(501.0) and "4 of the last 4" in health.reason


def test_reported_success_counts_as_validated_when_exit_code_is_lost(tmp_path: Path) -> None:
    store = PilotStore(tmp_path / "f.db")
    ids = ended(store, 4, S.LOST, None)
    assert assess(Health(), store.recent_ends("e1", 0.0), 501.0, POLICY).blocked(501.0)
    for pid in ids[:3]:
        report(tmp_path, pid, "success", None)
    (pilot_dir(tmp_path, ids[3])).mkdir(parents=True)
    (pilot_dir(tmp_path, ids[3]) / "report.json").write_text("not json")  # ignored, stays unknown
    assert record_reports(store, "e1", tmp_path, since=0.0) == 3
    assert not assess(Health(), store.recent_ends("e1", 0.0), 501.0, POLICY).blocked(501.0)


def test_old_database_gets_the_report_columns(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "f.db")
    conn.execute(
        "CREATE TABLE pilots (pilot_id TEXT PRIMARY KEY, entry TEXT NOT NULL, client TEXT NOT NULL,"
        " security_class TEXT NOT NULL DEFAULT '', credential_id TEXT NOT NULL DEFAULT '',"
        " backend_id TEXT NOT NULL DEFAULT '', state TEXT NOT NULL, submit_time REAL NOT NULL,"
        " state_since REAL NOT NULL, held_reason TEXT NOT NULL DEFAULT '',"
        " releases INTEGER NOT NULL DEFAULT 0, exit_code INTEGER, end_time REAL)"
    )
    conn.execute("INSERT INTO pilots VALUES ('p1','e1','fe1.main','','','','failed',1,2,'',0,3,2)")
    conn.commit()
    conn.close()
    store = PilotStore(tmp_path / "f.db")
    assert store.recent_ends("e1", 0.0) == [PilotEnd("failed", 3, 0.0, 2.0, None, None)]
    report(tmp_path, "p1", "failure", "Network")
    assert record_reports(store, "e1", tmp_path, since=0.0) == 1
    assert store.recent_ends("e1", 0.0)[0].failure_class == "Network"
