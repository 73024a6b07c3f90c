"""Collector + `glidein factory run` + local entries + hand-made signed requests (real processes)."""

from __future__ import annotations

import signal
from typing import Any

import yaml

from glidein.common import crypto
from glidein.common.bus import Bus
from glidein.common.glideclient import ClientGlobal, ClientRequest, global_ad, request_ad
from glidein.factory.state import PilotStore
from tests.factory_support import FactorySetup, local_entry
from tests.procs import Processes, run_glidein, wait_for


def factory_key(bus: Bus) -> str:
    (glob,) = bus.query("glidefactoryglobal", 'FactoryName == "f1"')
    crypto.verify_ad(glob, str(glob["FactorySigningKey"]))
    return str(glob["PubKeyValue"])


def request(setup: FactorySetup, bus: Bus, entry: str, idle: int, seq: int, **kw: Any) -> Any:
    req = ClientRequest(
        f"{entry}@g@f1", "fe1", "main", idle, 50, seq, "frontend", secrets={"GLIDEIN_Token": "tok"}, **kw
    )
    return request_ad(req, setup.frontend_key, factory_key(bus))


def idle(setup: FactorySetup, entry: str) -> int:
    store = PilotStore(setup.state_dir / "factory.db")
    try:
        return sum(1 for r in store.active(entry) if r.view.is_idle)
    finally:
        store.close()


def queued_dirs(setup: FactorySetup, entry: str) -> int:
    jobs = setup.state_dir / "local" / entry / "jobs"
    return sum(1 for d in jobs.iterdir() if not (d / "removed").exists()) if jobs.exists() else 0


def cycles_pass(processes: Processes, count: int) -> None:
    start = processes.log("factory").count("cycle done")
    wait_for(lambda: processes.log("factory").count("cycle done") >= start + count, timeout=20)


def test_signed_request_gives_steady_pilots_then_removal(world: Any, processes: Processes) -> None:
    setup, bus, factory = world
    from glidein.common.classads import from_dict

    glob = ClientGlobal("g@f1", "fe1", "fe1@localhost", ["main"], requests=1, sequence=1)
    bus.advertise(
        [from_dict(request(setup, bus, "e1", 4, seq=1)), from_dict(global_ad(glob, setup.frontend_key))]
    )
    wait_for(lambda: idle(setup, "e1") == 4, timeout=20)
    cycles_pass(processes, 3)
    assert idle(setup, "e1") == 4 and queued_dirs(setup, "e1") == 4  # steady, none duplicated
    (mon,) = bus.query("glidefactoryclient", 'EntryName == "e1"')
    assert mon["GlideinMonitorStatusIdle"] == 4 and mon["GlideinMonitorLimit"] == "ReqIdleGlideins"
    bus.advertise([from_dict(request(setup, bus, "e1", 0, seq=2, remove_excess="ALL"))])
    wait_for(lambda: idle(setup, "e1") == 0, timeout=20)
    assert queued_dirs(setup, "e1") == 0
    status = run_glidein(["factory", "status", "--config", str(setup.config)])
    assert status.returncode == 0 and "e1" in status.stdout
    assert (
        "frontend fe1: identity=fe1@localhost" in status.stdout and "groups=main requests=1" in status.stdout
    )
    assert processes.stop(factory) == 0
    assert bus.query("glidefactory") == []  # graceful stop invalidated its ads
    log = processes.log("factory")
    assert "limit=ReqMaxGlideins" in log or "limit=ReqIdleGlideins" in log
    assert log.count("frontend seen: frontend=fe1 identity=fe1@localhost") == 1  # logged once, not per cycle
    assert "tok" not in log


def test_forged_unsigned_replayed_foreign_requests_give_no_pilots(world: Any, processes: Processes) -> None:
    setup, bus, _factory = world
    from glidein.common.classads import from_dict

    forged = request(setup, bus, "e2", 2, seq=1)
    forged["ReqIdleGlideins"] = 40
    unsigned = request(setup, bus, "e2", 3, seq=1)
    del unsigned["GlideinSignature"]
    unsigned["Name"] = "e2@g@f1@fe1.other"
    foreign_req = ClientRequest("e2@g@f1", "fe1", "third", 5, 50, 1, "frontend")
    foreign = request_ad(foreign_req, crypto.generate_signing_key(), factory_key(bus))
    bus.advertise([from_dict(forged), from_dict(unsigned), from_dict(foreign)])
    cycles_pass(processes, 3)
    assert idle(setup, "e2") == 0 and queued_dirs(setup, "e2") == 0
    assert processes.log("factory").count("skipping glideclient") >= 3
    # replay: an old, larger request re-advertised after a newer one
    old = request(setup, bus, "e1", 3, seq=10)
    bus.advertise([from_dict(old)])
    wait_for(lambda: idle(setup, "e1") == 3, timeout=20)
    bus.advertise([from_dict(request(setup, bus, "e1", 0, seq=11, remove_excess="ALL"))])
    wait_for(lambda: idle(setup, "e1") == 0, timeout=20)
    bus.advertise([from_dict(old)])
    cycles_pass(processes, 3)
    assert idle(setup, "e1") == 0 and "replayed request" in processes.log("factory")


def test_sighup_adds_and_removes_entries_keeping_pilots(world: Any, processes: Processes) -> None:
    setup, bus, factory = world
    from glidein.common.classads import from_dict

    bus.advertise([from_dict(request(setup, bus, "e1", 2, seq=1))])
    wait_for(lambda: idle(setup, "e1") == 2, timeout=20)
    cfg = yaml.safe_load(setup.config.read_text())
    cfg["entries"] = [local_entry("e2"), local_entry("e3")]
    setup.config.write_text(yaml.safe_dump(cfg))
    factory.send_signal(signal.SIGHUP)
    wait_for(lambda: {ad["EntryName"] for ad in bus.query("glidefactory")} == {"e2", "e3"}, timeout=20)
    assert idle(setup, "e1") == 2  # e1's pilots are still tracked
    cfg["entries"] = [local_entry("e1"), local_entry("e2"), local_entry("e3")]
    setup.config.write_text(yaml.safe_dump(cfg))
    factory.send_signal(signal.SIGHUP)
    wait_for(lambda: len(bus.query("glidefactory")) == 3, timeout=20)
    cycles_pass(processes, 2)
    assert idle(setup, "e1") == 2 and queued_dirs(setup, "e1") == 2  # found again, none duplicated


def test_downtime_cli_stops_submission(world: Any, processes: Processes) -> None:
    setup, bus, _factory = world
    from glidein.common.classads import from_dict

    added = run_glidein(
        ["factory", "downtime", "add", "--config", str(setup.config), "--entry", "e2", "--comment", "disk"]
    )
    assert added.returncode == 0, added.stderr
    listed = run_glidein(["factory", "downtime", "list", "--config", str(setup.config)])
    assert "entry=e2" in listed.stdout and "ACTIVE" in listed.stdout
    wait_for(
        lambda: any(
            ad["GLIDEIN_In_Downtime"] is True for ad in bus.query("glidefactory", 'EntryName == "e2"')
        )
    )
    bus.advertise([from_dict(request(setup, bus, "e2", 3, seq=1))])
    cycles_pass(processes, 2)
    assert idle(setup, "e2") == 0 and "limit=downtime" in processes.log("factory")
    ended = run_glidein(["factory", "downtime", "end", "--config", str(setup.config), "--entry", "e2"])
    assert ended.returncode == 0
    wait_for(lambda: idle(setup, "e2") == 3, timeout=20)
    bad = run_glidein(["factory", "downtime", "add", "--config", str(setup.config), "--start", "yesterday"])
    assert bad.returncode == 2 and "ISO 8601" in bad.stderr
