"""A whole factory cycle against an in-memory bus and the local site (real pilot processes)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from glidein.common import crypto
from glidein.common.config import load_factory_config
from glidein.common.glideclient import ClientGlobal, ClientRequest, global_ad, request_ad
from glidein.factory.cycle import FactoryCycle
from glidein.factory.downtimes import Downtime
from glidein.factory.health import Health
from tests.factory_support import FactorySetup, local_entry, write_factory


class MemoryBus:
    def __init__(self) -> None:
        self.ads: dict[tuple[str, str], Any] = {}

    def advertise(self, ads: Sequence[Any]) -> None:
        for ad in ads:
            self.ads[(str(ad["MyType"]), str(ad["Name"]))] = ad

    def invalidate(self, my_type: str, constraint: str = "true") -> None:
        for key in [k for k in self.ads if k[0] == my_type]:
            del self.ads[key]

    def query(
        self, my_type: str | None, constraint: str = "true", projection: Sequence[str] = ()
    ) -> list[Any]:
        return [ad for (t, _), ad in self.ads.items() if my_type is None or t == my_type]

    def of(self, my_type: str) -> list[Any]:
        return [ad for (t, _), ad in self.ads.items() if t == my_type]


@pytest.fixture
def cleanup_pilots(tmp_path: Path) -> Iterator[None]:
    yield
    for pid_file in tmp_path.rglob("jobs/*/pid"):
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)


def make(
    tmp: Path, entries: list[dict[str, Any]] | None = None
) -> tuple[FactorySetup, FactoryCycle, MemoryBus]:
    setup = write_factory(tmp, entries or [local_entry("e1"), local_entry("e2")])
    bus = MemoryBus()
    cycle = FactoryCycle(load_factory_config(setup.config), bus)
    return setup, cycle, bus


def ask(setup: FactorySetup, bus: MemoryBus, entry: str, idle: int, seq: int, **kw: Any) -> None:
    req = ClientRequest(
        f"{entry}@g@f1", "fe1", "main", idle, 100, seq, "frontend", secrets={"GLIDEIN_Token": "t0k"}, **kw
    )
    bus.advertise([request_ad(req, setup.frontend_key, setup.factory_pub())])


def idle_of(cycle: FactoryCycle, entry: str) -> int:
    return sum(1 for r in cycle.store.active(entry) if r.view.is_idle)


def test_cycle_keeps_pressure_then_removes(tmp_path: Path, cleanup_pilots: None) -> None:
    setup, cycle, bus = make(tmp_path)
    cycle.run_once()  # advertises the keys frontends need
    (glob,) = bus.of("glidefactoryglobal")
    assert crypto.verify_ad(glob, str(glob["FactorySigningKey"]))
    assert len(bus.of("glidefactory")) == 2
    ask(setup, bus, "e1", 5, seq=1)
    cycle.run_once()
    assert idle_of(cycle, "e1") == 5 and idle_of(cycle, "e2") == 0
    cycle.run_once()
    assert idle_of(cycle, "e1") == 5  # steady
    (client,) = bus.of("glidefactoryclient")
    assert client["GlideinMonitorStatusIdle"] == 5 and client["GlideinMonitorRequestedIdle"] == 5
    job = next((tmp_path / "factory" / "local" / "e1" / "jobs").iterdir()) / "job.json"
    params = job.with_name("pilot.params")  # the token: off the command line, in a 0600 file
    assert "t0k" not in job.read_text() and "t0k" in params.read_text()
    assert oct(params.stat().st_mode)[-3:] == "600" and oct(job.parent.stat().st_mode)[-3:] == "711"
    ask(setup, bus, "e1", 0, seq=2, remove_excess="IDLE")
    cycle.run_once()
    cycle.run_once()
    assert idle_of(cycle, "e1") == 0
    cycle.shutdown()
    assert [t for t, _ in bus.ads] == ["glideclient"]  # the factory's own ads are invalidated


def test_bad_requests_give_no_pilots(tmp_path: Path) -> None:
    setup, cycle, bus = make(tmp_path)
    cycle.run_once()
    pub = setup.factory_pub()
    forged = request_ad(
        ClientRequest("e1@g@f1", "fe1", "main", 5, 10, 1, "frontend"), setup.frontend_key, pub
    )
    forged["ReqIdleGlideins"] = 50
    foreign = request_ad(
        ClientRequest("e2@g@f1", "fe1", "main", 5, 10, 1, "frontend"), crypto.generate_signing_key(), pub
    )
    bus.advertise([forged, foreign])
    cycle.run_once()
    assert cycle.store.active() == []
    cycle.shutdown()


def test_replayed_request_is_refused(tmp_path: Path, cleanup_pilots: None) -> None:
    setup, cycle, bus = make(tmp_path)
    cycle.run_once()
    pub = setup.factory_pub()
    old = request_ad(ClientRequest("e1@g@f1", "fe1", "main", 3, 10, 5, "frontend"), setup.frontend_key, pub)
    bus.advertise([old])
    cycle.run_once()
    assert idle_of(cycle, "e1") == 3
    newer = request_ad(
        ClientRequest("e1@g@f1", "fe1", "main", 0, 0, 6, "frontend", "ALL"), setup.frontend_key, pub
    )
    bus.advertise([newer])
    cycle.run_once()
    assert idle_of(cycle, "e1") == 0
    bus.advertise([old])  # an attacker re-advertises the old, bigger request
    cycle.run_once()
    assert idle_of(cycle, "e1") == 0
    cycle.shutdown()


def test_downtime_and_black_hole(tmp_path: Path, cleanup_pilots: None) -> None:
    setup, cycle, bus = make(
        tmp_path, [local_entry("e1"), local_entry("hole", black_hole=True, queue_wait=0.0)]
    )
    cycle.run_once()
    cycle.downtime_store.add(Downtime("e1", comment="maintenance"))
    ask(setup, bus, "e1", 4, seq=1)
    ask(setup, bus, "hole", 6, seq=1)
    cycle.run_once()
    assert idle_of(cycle, "e1") == 0
    ads = {ad["EntryName"]: ad for ad in bus.of("glidefactory")}
    assert ads["e1"]["GLIDEIN_In_Downtime"] is True and ads["hole"]["GLIDEIN_In_Downtime"] is False
    for _ in range(40):  # pilots of the black hole die at once
        cycle.run_once()
        if cycle.health.get("hole") and cycle.health["hole"].reason:
            break
    assert "died at once" in cycle.health["hole"].reason
    cycle.run_once()
    ads = {ad["EntryName"]: ad for ad in bus.of("glidefactory")}
    assert ads["hole"]["GLIDEIN_Blocked"] is True and "failed" in ads["hole"]["GLIDEIN_BlockedReason"]
    cycle.shutdown()


def test_unreadable_backend_fails_closed_without_blocking_other_entries(
    tmp_path: Path, cleanup_pilots: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bad-slurm.conf").write_text("NotASlurmKey=1\n")  # squeue refuses it at once
    monkeypatch.setenv("SLURM_CONF", str(tmp_path / "bad-slurm.conf"))
    broken = {
        "name": "s1",
        "gatekeeper": "nowhere",
        "submitter": {"type": "slurm"},
        "attrs": {"GLIDEIN_CPUS": {"value": 1, "type": "int"}},
    }
    setup, cycle, bus = make(tmp_path, [local_entry("e1"), broken])
    cycle.run_once()
    ask(setup, bus, "e1", 2, seq=1)
    ask(setup, bus, "s1", 2, seq=1)
    cycle.run_once()
    assert idle_of(cycle, "e1") == 2
    assert cycle.store.active("s1") == []  # squeue failed: nothing submitted there
    status = json.loads((setup.state_dir / "status.json").read_text())
    assert status["entries"]["s1"]["clients"][0]["limit"] == "status_unknown"
    assert "squeue failed" in status["entries"]["s1"]["errors"][0]
    cycle.shutdown()


def test_no_stage_means_no_pilots(tmp_path: Path) -> None:
    setup, cycle, bus = make(tmp_path)
    cycle.run_once()
    (setup.state_dir / "stage" / "current.json").unlink()
    ask(setup, bus, "e1", 2, seq=1)
    cycle.run_once()
    assert cycle.store.active() == []
    status = json.loads((setup.state_dir / "status.json").read_text())
    assert status["entries"]["e1"]["clients"][0]["limit"] == "blocked"
    cycle.shutdown()


def test_reported_success_keeps_a_quickly_ending_entry_open(tmp_path: Path, cleanup_pilots: None) -> None:
    """Black-hole pilots exit 1 at once; their reports say success, so the entry is not blocked."""
    fine = {**local_entry("fine", black_hole=True, queue_wait=0.0), "health": {"min_ends": 3}}
    setup, cycle, bus = make(tmp_path, [fine, local_entry("hole", black_hole=True, queue_wait=0.0)])
    cycle.run_once()
    ask(setup, bus, "fine", 3, seq=1)
    ask(setup, bus, "hole", 3, seq=1)
    for _ in range(40):
        cycle.run_once()
        for (pilot_id,) in cycle.store.conn.execute("SELECT pilot_id FROM pilots WHERE entry = 'fine'"):
            report = setup.state_dir / "pilots" / pilot_id / "report.json"
            report.parent.mkdir(parents=True, exist_ok=True)
            report.write_text(json.dumps({"status": "success", "failure_class": None, "exit_code": 0}))
        if len(cycle.store.recent_ends("fine", 0.0)) >= 6 and cycle.health.get("hole", Health()).reason:
            break
    ends = cycle.store.recent_ends("fine", 0.0)
    assert len(ends) >= 6 and all(e.report_status == "success" for e in ends)
    assert not cycle.health.get("fine", Health()).blocked(cycle.clock())
    assert "died at once" in cycle.health["hole"].reason  # same site, no reports: blocked
    cycle.shutdown()


def test_missing_slurm_conf_fails_closed_at_once_with_one_line(
    tmp_path: Path, cleanup_pilots: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """squeue would retry a missing SLURM_CONF for 60 s; the entry fails closed at once instead."""
    monkeypatch.setenv("SLURM_CONF", str(tmp_path / "nowhere" / "slurm.conf"))
    broken = {
        "name": "s1",
        "gatekeeper": "nowhere",
        "submitter": {"type": "slurm", "command_timeout": 5},
        "attrs": {"GLIDEIN_CPUS": {"value": 1, "type": "int"}},
    }
    setup, cycle, bus = make(tmp_path, [local_entry("e1"), broken])
    cycle.run_once()
    ask(setup, bus, "e1", 2, seq=1)
    ask(setup, bus, "s1", 2, seq=1)
    caplog.clear()
    with caplog.at_level("WARNING"):
        report = cycle.run_once()
    assert report.seconds < 5  # not Slurm's minute of retries
    assert idle_of(cycle, "e1") == 2 and cycle.store.active("s1") == []
    lines = [r.getMessage() for r in caplog.records if "s1" in r.getMessage()]
    assert len(lines) == 1 and "squeue not run: SLURM_CONF=" in lines[0] and "No such file" in lines[0]
    cycle.shutdown()


def test_frontend_limits_are_factory_wide_even_with_parallel_workers(
    tmp_path: Path, cleanup_pilots: None
) -> None:
    """fe1 may have 5 idle pilots in the whole factory, not 5 per entry; entry limits stay per entry."""
    entries = [local_entry("e1"), local_entry("e2"), local_entry("e3")]
    entries[2]["limits"]["per_frontend"] = {"fe1": {"max_idle": 1}}  # this entry's own, per entry
    setup = write_factory(tmp_path, entries, workers=2)
    cfg = yaml.safe_load(setup.config.read_text())
    cfg["frontends"][0]["limits"] = {"max_idle": 5, "max_glideins": 100, "max_held": 10}
    setup.config.write_text(yaml.safe_dump(cfg))
    bus = MemoryBus()
    cycle = FactoryCycle(load_factory_config(setup.config), bus)
    cycle.run_once()
    for name in ("e1", "e2", "e3"):
        ask(setup, bus, name, 4, seq=1)
    for _ in range(3):  # held steady: never above the factory-wide limit
        cycle.run_once()
        counts = {name: idle_of(cycle, name) for name in ("e1", "e2", "e3")}
        assert sum(counts.values()) == 5, counts
    assert counts["e3"] == 1
    status = json.loads((setup.state_dir / "status.json").read_text())
    limits = {name: status["entries"][name]["clients"][0]["limit"] for name in ("e1", "e2")}
    assert "factory.frontend" in limits.values()
    cycle.shutdown()


def test_frontends_glideclientglobal_shown_in_status_never_needed_to_submit(
    tmp_path: Path, cleanup_pilots: None
) -> None:
    setup, cycle, bus = make(tmp_path)
    cycle.run_once()
    ask(setup, bus, "e1", 2, seq=1)  # requests alone still work (the global ad is monitoring only)
    cycle.run_once()
    assert idle_of(cycle, "e1") == 2
    glob = ClientGlobal("g@f1", "fe1", "fe1@localhost", ["main"], 1, 2, [cycle.keys.current_id])
    bus.advertise([global_ad(glob, setup.frontend_key)])
    cycle.run_once()
    status = json.loads((setup.state_dir / "status.json").read_text())
    seen = status["frontends"]["seen"]["fe1"]
    assert (seen["identity"], seen["groups"], seen["requests"], seen["notes"]) == (
        "fe1@localhost",
        ["main"],
        1,
        [],
    )
    cycle.shutdown()


def test_black_hole_block_survives_a_factory_restart(tmp_path: Path, cleanup_pilots: None) -> None:
    """A blocked entry stays blocked for a new FactoryCycle on the same state dir: nothing submitted."""
    setup, cycle, bus = make(tmp_path, [local_entry("hole", black_hole=True, queue_wait=0.0)])
    ask(setup, bus, "hole", 6, seq=1)
    for _ in range(40):  # pilots of the black hole die at once
        cycle.run_once()
        if cycle.health.get("hole", Health()).blocked(cycle.clock()):
            break
    blocked = cycle.health["hole"]
    assert blocked.blocked(cycle.clock()) and "died at once" in blocked.reason
    count = "SELECT COUNT(*) FROM pilots WHERE entry = 'hole'"
    before = cycle.store.conn.execute(count).fetchone()[0]
    cycle.shutdown()
    restarted = FactoryCycle(load_factory_config(setup.config), bus)
    assert restarted.health["hole"] == blocked
    restarted.run_once()
    assert restarted.store.conn.execute(count).fetchone()[0] == before  # not one pilot more
    ads = {ad["EntryName"]: ad for ad in bus.of("glidefactory")}
    assert ads["hole"]["GLIDEIN_Blocked"] is True
    restarted.shutdown()


class ProjectingBus(MemoryBus):
    """Answers a projected query with the asked attributes only, as a collector does; counts queries."""

    def __init__(self) -> None:
        super().__init__()
        self.queries: list[tuple[str | None, tuple[str, ...]]] = []

    def query(
        self, my_type: str | None, constraint: str = "true", projection: Sequence[str] = ()
    ) -> list[Any]:
        self.queries.append((my_type, tuple(projection)))
        found = super().query(my_type, constraint, projection)
        if not projection:
            return found
        return [{k: ad[k] for k in projection if k in ad} for ad in found]


def test_known_requests_are_read_projected_and_whole_ads_only_when_one_is_new(
    tmp_path: Path, cleanup_pilots: None
) -> None:
    setup = write_factory(tmp_path, [local_entry("e1")])
    bus = ProjectingBus()
    cycle = FactoryCycle(load_factory_config(setup.config), bus)
    cycle.run_once()  # keys and entry ads

    def request_queries() -> list[tuple[str, ...]]:
        asked = [p for t, p in bus.queries if t == "glideclient"]
        bus.queries.clear()
        return asked

    request_queries()
    ask(setup, bus, "e1", 3, seq=1)
    assert cycle.run_once().requests == 1 and idle_of(cycle, "e1") == 3
    first = request_queries()
    assert len(first) == 2 and first[0] and first[1] == ()  # new: projected, then whole ads
    for _ in range(2):
        assert cycle.run_once().requests == 1 and idle_of(cycle, "e1") == 3
        assert [len(p) > 0 for p in request_queries()] == [True]  # known: the projected query alone
    ask(setup, bus, "e1", 5, seq=2)
    assert cycle.run_once().requests == 1 and idle_of(cycle, "e1") == 5
    assert len(request_queries()) == 2
    cycle.shutdown()
