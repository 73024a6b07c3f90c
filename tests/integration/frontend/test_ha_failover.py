"""Issue 16, no single point of failure, on real processes (tests/ha_scenario.py): two WMS
collectors, the embedded schedd, the factory with local pilots, an active and a standby frontend.
One collector is killed -9 while wave 1 runs, then the active frontend; wave 2 is submitted only
after the standby took over, and the factory is killed -9 and restarted while it runs; then the
active returns and the standby steps back."""

from __future__ import annotations

from pathlib import Path

from tests.ha_scenario import ENTRY, FRONTEND, MAX_PILOTS, Scenario


def test_collector_and_active_frontend_killed_jobs_complete_once(tmp_path: Path) -> None:
    scenario = Scenario(tmp_path / "ha", jobs=6, lifetime=12, check_interval=1)
    scenario.restart_factory = True  # and the factory killed -9 and restarted: it picks up its pilots
    try:
        scenario.start()
        fig = scenario.run(timeout=300)
    finally:
        scenario.stop()
    for line in fig.lines():
        print(line)  # the takeover time, as issue 16 asks
    jobs = fig.jobs
    assert len(jobs) == 12
    assert all(j["JobStatus"] == 4 and int(str(j["NumJobStarts"])) == 1 for j in jobs), jobs  # once each
    out = scenario.layout.job_dir / "out"
    for wave in (0, 100):
        for proc in range(6):
            assert (out / f"wave{wave}.{proc}.out").read_text() == f"ha job {proc}\n"
    assert fig.pilots_wave2 > 0  # wave 2 ran on pilots the standby's requests brought
    assert fig.max_pilots <= MAX_PILOTS and fig.clients == {f"{FRONTEND}.main"}  # one client, not two
    assert fig.standby_early == 0 and fig.standby_after_back == 0  # silent while the active publishes
    assert fig.takeover_s < 10, fig.lines()  # within one cycle (1 s checks, 2 s cycles), with slack
    logs = scenario.layout.logs
    standby = (logs / "frontend-standby.log").read_text()
    assert "taking over its requests" in standby and "is back: withdrawing my requests" in standby
    factory = (logs / "factory.log").read_text()
    runs = factory.split(" starting (Python ")[1:]  # before and after its restart
    assert len(runs) == 2
    for run in runs:  # one warning per outage of the collector, not one per cycle
        assert run.count(f"collector={scenario.layout.address('wms')} is down") == 1
    assert f"entry={ENTRY}" in factory
