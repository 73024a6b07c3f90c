"""A state dir that cannot be written: the factory fails closed (nothing submitted without its
bookkeeping), says so in one line, keeps advertising, and resumes by itself."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from glidein.common.config import load_factory_config
from glidein.factory.cycle import FactoryCycle
from glidein.factory.daemon import FactoryDaemon
from glidein.factory.state import PilotStore, StateWriteError
from glidein.factory.state_dir import StateGuard
from glidein.factory.worker import EntryTask, _store, work_entry
from tests.factory_support import local_entry, write_factory
from tests.unit.factory.test_cycle import MemoryBus, ask, idle_of, make
from tests.unit.factory.test_pilot_argv import CTX, entry_with, request

STOPPED = "submitting nothing until it can"


class FlakyStore:
    """A bookkeeping store whose writes fail while `broken` (the guard only probes it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.broken = ""

    def probe(self, now: float) -> None:
        if self.broken:
            raise StateWriteError(
                f"state dir {self.path.parent}: cannot write {self.path.name}: {self.broken}"
            )

    def counts_by_entry(self) -> dict[str, dict[str, int]]:
        return {"e1": {"pending": 2, "idle": 1, "running": 3}}


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]


def test_guard_says_it_once_per_cause_and_once_when_it_is_gone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    store = FlakyStore(tmp_path / "factory.db")
    guard = StateGuard(store, free=lambda _p: 1 << 30)
    assert guard.check(1.0) == ""
    store.broken = "database or disk is full"
    for now in (2.0, 3.0, 4.0):
        assert "database or disk is full" in guard.check(now)
    store.broken = "attempt to write a readonly database"
    guard.check(5.0)
    store.broken = ""
    assert guard.check(6.0) == "" and guard.check(7.0) == ""
    assert messages(caplog) == [
        f"state dir {tmp_path}: cannot write factory.db: database or disk is full; {STOPPED}",
        f"state dir {tmp_path}: cannot write factory.db: attempt to write a readonly database; {STOPPED}",
        f"state dir {tmp_path}: factory.db writable again",
    ]
    assert all(r.exc_info is None for r in caplog.records)  # no traceback


def test_guard_keeps_room_for_the_bookkeeping_of_what_it_submits(tmp_path: Path) -> None:
    free = {"bytes": 10 << 20}
    guard = StateGuard(FlakyStore(tmp_path / "factory.db"), min_free=1 << 20, free=lambda _p: free["bytes"])
    assert guard.check(1.0) == ""
    free["bytes"] = 4096
    problem = guard.check(2.0)
    assert problem == (
        f"state dir {tmp_path}: cannot write factory.db: less than 1048576 bytes free on its filesystem,"
        " which are kept for the bookkeeping"
    )
    free["bytes"] = 8192
    assert guard.check(3.0) == problem  # the same line while the disk stays full: logged once


def test_status_file_that_cannot_be_written_is_one_line_not_a_crash(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    guard = StateGuard(FlakyStore(tmp_path / "factory.db"), free=lambda _p: 1 << 30)
    (tmp_path / "status.json").mkdir()  # a rename onto it fails, as root too
    guard.write_status({"time": 1})
    guard.write_status({"time": 2})
    (tmp_path / "status.json").rmdir()
    guard.write_status({"time": 3})
    assert (tmp_path / "status.json").read_text() == '{"time":3}'
    (line, back) = messages(caplog)
    assert line.startswith(f"state dir {tmp_path}: cannot write status.json: [Errno 21]")
    assert back == f"state dir {tmp_path}: status.json written again"


def test_store_write_errors_name_the_file_and_leave_no_open_transaction(tmp_path: Path) -> None:
    store = PilotStore(tmp_path / "factory.db")
    store.conn.execute("PRAGMA query_only = ON")  # every write is refused, as on a read-only disk
    with pytest.raises(StateWriteError, match=rf"state dir {tmp_path}: cannot write factory.db: .*readonly"):
        store.save_sequence("fe1", "n", (1, "sig", 2.0))
    with pytest.raises(StateWriteError):
        store.probe(1.0)
    store.conn.execute("PRAGMA query_only = OFF")
    assert not store.conn.in_transaction
    store.probe(2.0)
    store.save_sequence("fe1", "n", (1, "sig", 2.0))
    assert store.last_sequence("fe1", "n") == (1, "sig", 2.0)


def test_cycle_with_unwritable_bookkeeping_submits_nothing_advertises_and_resumes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    setup, cycle, bus = make(tmp_path)
    cycle.run_once()
    ask(setup, bus, "e1", 4, seq=1)
    cycle.store.conn.execute("PRAGMA query_only = ON")  # the cycle's own writes fail
    bus.ads = {k: v for k, v in bus.ads.items() if k[0] == "glideclient"}  # our ads expired
    caplog.set_level(logging.INFO)
    for _ in range(2):
        report = cycle.run_once()
        assert report.submitted == 0 and report.requests == 0 and "readonly" in report.state_error
    assert idle_of(cycle, "e1") == 0 and not (tmp_path / "factory" / "local" / "e1").exists()
    assert len(bus.of("glidefactory")) == 2 and len(bus.of("glidefactoryglobal")) == 1  # still advertised
    lines = messages(caplog)
    assert sum(STOPPED in m for m in lines) == 1 and not any("submit=" in m for m in lines)
    assert all("state_dir=unwritable" in m for m in lines if m.startswith("cycle done"))
    cycle.store.conn.execute("PRAGMA query_only = OFF")
    report = cycle.run_once()
    assert report.submitted == 4 and report.state_error == "" and idle_of(cycle, "e1") == 4
    assert f"state dir {setup.state_dir}: factory.db writable again" in messages(caplog)
    cycle.shutdown()


def test_no_pilot_goes_out_unrecorded_and_the_line_says_what_was_submitted(tmp_path: Path) -> None:
    entry = entry_with(tmp_path / "cfg")
    db, work = tmp_path / "f.db", tmp_path / "work"
    _store(str(db)).conn.execute("PRAGMA query_only = ON")  # the entry worker's store refuses writes
    task = EntryTask(entry, {}, [request()], None, "", 100.0, 10, {}, "", str(db), str(work), CTX)
    result = work_entry(task)
    assert result.submitted == 0 and not (work / "local" / "e1" / "jobs").exists()  # nothing queued
    assert any("readonly database; nothing submitted" in e for e in result.errors)
    (line,) = [x for x in result.lines if x.startswith("entry=e1 client=fe1.main ")]
    assert " submit=0 not_submitted=1 " in line and result.clients[0].submit == 0
    _store(str(db)).conn.execute("PRAGMA query_only = OFF")
    result = work_entry(task)
    (line,) = [x for x in result.lines if x.startswith("entry=e1 client=fe1.main ")]
    assert result.submitted == 1 and " submit=1 remove=" in line
    assert len(list((work / "local" / "e1" / "jobs").iterdir())) == 1


def test_daemon_waits_for_a_state_dir_it_cannot_open(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    setup = write_factory(tmp_path, [local_entry("e1")])
    cfg = load_factory_config(setup.config)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    cfg = cfg.model_copy(update={"state_dir": blocker / "state"})
    caplog.set_level(logging.INFO)
    daemon = FactoryDaemon(setup.config, bus_factory=lambda _c: MemoryBus(), loader=lambda _p: cfg)
    assert daemon.run(once=True) == 1
    (line,) = [m for m in messages(caplog) if "cannot start" in m]
    assert str(blocker) in line and all(r.exc_info is None for r in caplog.records)


def test_keys_that_cannot_be_rotated_are_one_line_and_the_old_ones_serve_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    keys = tmp_path / "factory" / "keys"
    security: dict[str, Any] = {"signing_key": str(keys / "sign.pem"), "key_rotation": {"interval": 600}}
    security["encryption_key"] = str(keys / "box.pem")
    setup = write_factory(tmp_path, [local_entry("e1")], security=security)
    cfg = load_factory_config(setup.config)
    now = [1_000_000_000.0]
    bus = MemoryBus()
    cycle = FactoryCycle(cfg, bus, clock=lambda: now[0])
    cycle.run_once()
    (glob,) = bus.of("glidefactoryglobal")
    (keys / "box.pem.previous").mkdir()  # the rotation's rename fails, as root too
    now[0] += 3600 * 24 * 365 * 30  # rotation long due
    caplog.set_level(logging.INFO)
    cycle.run_once()
    cycle.reload(cfg)  # SIGHUP too
    cycle.run_once()
    (line,) = [m for m in messages(caplog) if "factory keys:" in m]
    assert str(keys / "box.pem") in line and line.endswith("the keys in memory serve on")
    assert bus.of("glidefactoryglobal")[0]["PubKeyValue"] == glob["PubKeyValue"]
    (keys / "box.pem.previous").rmdir()
    cycle.run_once()
    assert bus.of("glidefactoryglobal")[0]["PubKeyValue"] != glob["PubKeyValue"]  # rotated now
    assert "factory keys: written again" in messages(caplog)
    cycle.shutdown()
