"""A real factory refreshing its entries from a real slapd: a queue set to draining is in downtime
after one refresh and gets no new pilots; when it opens again the pilots come back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from glidein.common.bus import Bus
from glidein.common.classads import from_dict
from glidein.common.glideclient import ClientGlobal, global_ad
from tests.integration.autoconf.ldif import glue2_share_dn, glue2_tree
from tests.integration.autoconf.support import autoconf_factory, local_override
from tests.integration.factory.test_factory_daemon import request
from tests.procs import Processes, free_port, run_glidein, wait_for, wait_for_port

Q0, Q1 = "SITE0_ce0.site0.example.org_queue0", "SITE0_ce0.site0.example.org_queue1"


def submitted(state_dir: Path, entry: str) -> int:
    """Pilots ever submitted to the local simulated site of `entry` (one job dir each)."""
    jobs = state_dir / "local" / entry / "jobs"
    return sum(1 for _ in jobs.iterdir()) if jobs.exists() else 0


def in_downtime(bus: Bus, entry: str) -> bool | None:
    ads = bus.query("glidefactory", f'EntryName == "{entry}"')
    return bool(ads[0]["GLIDEIN_In_Downtime"]) if ads else None


def test_draining_queue_is_in_downtime_after_one_refresh(
    slapd: Any, tmp_path: Path, processes: Processes
) -> None:
    server = slapd({"o=glue": glue2_tree(1, 1, 2)})
    port = free_port()
    processes.glidein(["collector", "--port", str(port)], "collector")
    wait_for_port(port)
    overrides = {Q0: local_override(), Q1: local_override()}
    setup = autoconf_factory(
        tmp_path, [{"type": "glue2", "url": server.url}], overrides, f"127.0.0.1:{port}", info_refresh=1
    )
    assert run_glidein(["factory", "autoconf", "--config", str(setup.config)]).returncode == 0
    processes.glidein(["factory", "run", "--config", str(setup.config)], "factory")
    bus = Bus([f"127.0.0.1:{port}"], timeout=5)
    wait_for(lambda: len(bus.query("glidefactory")) == 2, timeout=30)
    glob = ClientGlobal("g@f1", "fe1", "fe1@localhost", ["main"], requests=2, sequence=1)
    ads = [from_dict(request(setup, bus, name, 3, seq=1)) for name in (Q0, Q1)]
    bus.advertise([*ads, from_dict(global_ad(glob, setup.frontend_key))])
    wait_for(lambda: submitted(setup.state_dir, Q0) == 3 and submitted(setup.state_dir, Q1) == 3, timeout=30)

    server.modify(glue2_share_dn("SITE0", 0, 0), "GLUE2ComputingShareServingState", "draining")
    wait_for(lambda: in_downtime(bus, Q0) is True, timeout=30)
    assert in_downtime(bus, Q1) is False
    log = processes.log("factory")
    assert f"autoconf entry={Q0} queue production -> draining: in downtime" in log
    bus.advertise([from_dict(request(setup, bus, name, 6, seq=2)) for name in (Q0, Q1)])
    wait_for(lambda: submitted(setup.state_dir, Q1) == 6, timeout=30)  # the request was worked
    assert submitted(setup.state_dir, Q0) == 3  # 0 new pilots at the draining queue

    server.modify(glue2_share_dn("SITE0", 0, 0), "GLUE2ComputingShareServingState", "production")
    wait_for(lambda: in_downtime(bus, Q0) is False, timeout=30)
    wait_for(lambda: submitted(setup.state_dir, Q0) == 6, timeout=30)
    log = processes.log("factory")
    assert f"autoconf entry={Q0} queue draining -> production: downtime ended" in log
    assert log.count("autoconf entry=") == 2  # one line per change, nothing repeated per refresh
