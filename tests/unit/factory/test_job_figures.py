"""Jobs idle/running per entry on the factory's pages and /metrics come from the frontend's signed
request: the entry's own share (GlideinMonitorIdleShare / RunningHere), which add up over the
entries, else glideinWMS's GlideinMonitorIdle / Running (issue 18)."""

from __future__ import annotations

from pathlib import Path

from glidein.common import crypto
from glidein.common.config import load_factory_config
from glidein.common.glideclient import ClientRequest, request_ad
from glidein.common.monitoring.rrd import RRDStore
from glidein.common.monitoring.snapshot import SnapshotFileSource
from glidein.common.web.app import WebApp, WebConfig
from glidein.factory.cycle import FactoryCycle
from tests.factory_support import FactorySetup, local_entry, write_factory
from tests.unit.factory.test_cycle import MemoryBus


def ask(setup: FactorySetup, bus: MemoryBus, entry: str, seq: int, figures: dict[str, object]) -> None:
    req = ClientRequest(f"{entry}@g@f1", "fe1", "main", 0, 10, seq, "frontend")
    ad = request_ad(req, setup.frontend_key, setup.factory_pub())
    ad.update({f"GlideinMonitor{k}": v for k, v in figures.items()})
    crypto.sign_ad(ad, setup.frontend_key)  # the figures are signed with the request
    bus.advertise([ad])


def test_job_figures_per_entry_reach_the_pages_metrics_and_client_ads(tmp_path: Path) -> None:
    setup = write_factory(tmp_path, [local_entry("e1"), local_entry("e2"), local_entry("e3")])
    bus = MemoryBus()
    cycle = FactoryCycle(load_factory_config(setup.config), bus)
    try:
        cycle.run_once()
        ask(setup, bus, "e1", 1, {"Idle": 9, "IdleShare": 7, "Running": 5, "RunningHere": 3})
        ask(setup, bus, "e2", 1, {"Idle": 4, "Running": 0})  # a frontend that sends only glideinWMS's
        ask(setup, bus, "e3", 1, {"Idle": "lots", "Running": -1})  # not counts: shown as 0, still honoured
        cycle.run_once()
        client_ads = {ad["EntryName"]: ad for ad in bus.of("glidefactoryclient")}
    finally:
        cycle.shutdown()
    assert (
        client_ads["e1"]["GlideinMonitorClientIdle"],
        client_ads["e1"]["GlideinMonitorClientRunning"],
    ) == (7, 3)
    assert (
        client_ads["e3"]["GlideinMonitorClientIdle"],
        client_ads["e3"]["GlideinMonitorClientRunning"],
    ) == (0, 0)
    root = setup.state_dir / "monitor"
    source = SnapshotFileSource(root / "factory" / "snapshot.json")
    jobs = {e.name: (e.totals.jobs_idle, e.totals.jobs_running) for e in source.entries()}
    assert jobs == {"e1": (7, 3), "e2": (4, 0), "e3": (0, 0)}
    app = WebApp(WebConfig(), source, RRDStore(root))
    metrics = app.handle("/metrics").body.decode()
    assert 'glidein_client_jobs{client="fe1.main",entry="e1",site="Site_e1",state="idle"} 7.0' in metrics
    assert 'glidein_client_jobs{client="fe1.main",entry="e2",site="Site_e2",state="running"} 0.0' in metrics
    page = app.handle("/entry?name=e1").body.decode()
    assert '<td class="num">7</td><td class="num">3</td>' in page  # jobs idle, jobs running
