"""Blocked entries in the entry ad (GLIDEIN_BlockedUntil), `glidein factory status` and `unblock`,
and the downtime commands with times, not epochs (issues 18 and 19)."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import pytest

from glidein.common.config import load_factory_config
from glidein.common.timefmt import when
from glidein.factory.cycle import FactoryCycle
from glidein.factory.health import Health, HealthPolicy, PilotEnd, assess, unblocked
from glidein.factory.state import PilotStore
from tests.factory_support import local_entry, write_factory
from tests.procs import run_glidein
from tests.unit.factory.test_cycle import MemoryBus

EPOCH = re.compile(r"\b1[6-9]\d{8}(\.\d+)?\b")  # a unix time printed as a number


def entry_ad(bus: MemoryBus, name: str) -> dict[str, object]:
    return next(dict(ad) for ad in bus.of("glidefactory") if ad["EntryName"] == name)


def test_unblocked_health_judges_only_later_pilots() -> None:
    policy = HealthPolicy(min_ends=2, window=1000.0)
    ends = [PilotEnd("failed", 1, 1.0, 90.0), PilotEnd("failed", 1, 1.0, 95.0)]
    blocked = assess(Health(), ends, 100.0, policy)
    assert blocked.blocked(100.0)
    lifted = unblocked(blocked, 110.0)
    assert not lifted.blocked(110.0) and lifted.strikes == 0
    assert not assess(lifted, ends, 120.0, policy).blocked(120.0)  # the old failures do not re-block


def test_block_in_ad_status_and_unblock_at_next_cycle(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    setup = write_factory(tmp_path, [local_entry("e1"), local_entry("e2")])
    bus = MemoryBus()
    cycle = FactoryCycle(load_factory_config(setup.config), bus)
    try:
        now = time.time()
        until = now + 3600
        cycle.health["e1"] = Health(
            until, "5 of the last 5 pilots failed validation or died at once", 1, until
        )
        cycle.store.save_health("e1", cycle.health["e1"])
        cycle.run_once()
        ad = entry_ad(bus, "e1")
        assert ad["GLIDEIN_Blocked"] is True and ad["GLIDEIN_BlockedUntil"] == int(until)
        assert entry_ad(bus, "e2")["GLIDEIN_BlockedUntil"] == 0
        status = run_glidein(["factory", "status", "--config", str(setup.config)])
        assert status.returncode == 0, status.stderr
        line = next(x for x in status.stdout.splitlines() if x.startswith("e1 "))
        assert (
            f"BLOCKED until {when(until)} (in 59 min)" in line
            or f"BLOCKED until {when(until)} (in 1 h" in line
        )
        assert "5 of the last 5 pilots failed" in line
        assert status.stdout.startswith("last cycle: ") and "entries" in status.stdout.splitlines()[0]
        assert "{" not in status.stdout and not EPOCH.search(status.stdout)  # no raw JSON, no epochs
        unblock = run_glidein(["factory", "unblock", "e1", "--config", str(setup.config)])
        assert unblock.returncode == 0, unblock.stderr
        assert "next cycle" in unblock.stdout and when(until) in unblock.stdout
        assert cycle.health["e1"].blocked(time.time())  # not before the next cycle
        with caplog.at_level(logging.INFO, logger="glidein.factory.state"):
            cycle.run_once()
        lines = [r.getMessage() for r in caplog.records if "unblocked by the operator" in r.getMessage()]
        assert lines == [f"entry=e1 unblocked by the operator (was blocked until {when(until)})"]
        ad = entry_ad(bus, "e1")
        assert ad["GLIDEIN_Blocked"] is False and ad["GLIDEIN_BlockedUntil"] == 0
        store = PilotStore(setup.state_dir / "factory.db")
        assert not store.load_health()["e1"].blocked(time.time())  # saved: a restart keeps it lifted
        store.close()
        status = run_glidein(["factory", "status", "--config", str(setup.config)])
        assert "BLOCKED until" not in status.stdout
    finally:
        cycle.shutdown()


def test_unblock_and_downtime_name_an_unknown_entry(tmp_path: Path) -> None:
    setup = write_factory(tmp_path, [local_entry("e1")])
    for args in (
        ["factory", "unblock", "NoSuchEntry"],
        ["factory", "downtime", "add", "--entry", "NoSuchEntry"],
        ["factory", "downtime", "end", "--entry", "NoSuchEntry"],
        ["factory", "downtime", "list", "--entry", "NoSuchEntry"],
    ):
        result = run_glidein([*args, "--config", str(setup.config)])
        assert result.returncode != 0
        assert "no entry 'NoSuchEntry'" in result.stderr and "e1" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    bad_fe = run_glidein(["factory", "downtime", "add", "--frontend", "nofe", "--config", str(setup.config)])
    assert bad_fe.returncode != 0 and "no frontend 'nofe'" in bad_fe.stderr


def test_downtime_list_and_status_show_times(tmp_path: Path) -> None:
    setup = write_factory(tmp_path, [local_entry("e1")])
    cfg = ["--config", str(setup.config)]
    add = run_glidein(
        [
            "factory",
            "downtime",
            "add",
            "--entry",
            "e1",
            "--end",
            "2099-01-02T03:04:05Z",
            "--comment",
            "CE upgrade",
            *cfg,
        ]
    )
    assert add.returncode == 0, add.stderr
    listed = run_glidein(["factory", "downtime", "list", *cfg])
    assert "end=2099-01-02T03:04:05Z" in listed.stdout and not EPOCH.search(listed.stdout)
    assert re.search(r"start=20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ", listed.stdout)
    status = run_glidein(["factory", "status", *cfg])
    assert status.returncode == 0, status.stderr
    line = next(x for x in status.stdout.splitlines() if x.startswith("e1 "))
    assert "DOWNTIME until 2099-01-02 03:04:05 UTC" in line and "CE upgrade" in line
    assert "no cycle recorded yet" in status.stdout and not EPOCH.search(status.stdout)
