"""A failed pilot on the factory's pilots page (issue 18): its failure class, the failing script and
its output, and its streamed log, from a real pilot wrapper that failed validation and reported to
a real `glidein factory web`; a pilot that died before its first report says so."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

from glidein.common.monitoring.rrd import RRDStore
from glidein.common.monitoring.snapshot import Snapshot, StaticSource
from glidein.common.web.app import WebApp, WebConfig
from glidein.factory.monitoring import FactoryMonitor
from glidein.factory.pilot_states import PilotState
from glidein.factory.state import NewPilot, PilotStore
from tests.integration.pilot.helpers import StageSite
from tests.procs import Processes


def test_failed_pilots_show_class_script_output_and_log(tmp_path: Path, processes: Processes) -> None:
    site = StageSite(tmp_path, processes)
    site.stage()
    site.serve()
    store = PilotStore(site.state_dir / "factory.db")
    now = time.time()
    reported, silent = store.record_new(NewPilot("e1", "fe.main", "frontend", ""), 2, now)
    store.set_backend_ids({reported: reported, silent: silent}, now)
    run = site.run_pilot(site.pilot_argv(reported, GLIDEIN_Min_Disk_MB=str(10**12)))
    assert run.returncode == 1, run.stderr  # WN_Resource
    store.move_many([(p, PilotState.RUNNING, "seen") for p in (reported, silent)], now + 1)
    ended: dict[str, int | None] = {reported: 1, silent: 1}
    store.move_many([(p, PilotState.FAILED, "exit 1") for p in ended], now + 2, exit_codes=ended)
    cfg = SimpleNamespace(monitoring=SimpleNamespace(dir=None, pilots_listed=100, enabled=False, step=10))
    records = FactoryMonitor(cfg, store.conn, site.state_dir).pilot_records({"e1": "SiteA"})
    store.close()
    by_id = {r.pilot_id: r for r in records}
    assert by_id[reported].failure_class == "WN_Resource"
    assert by_id[reported].first_failure.startswith("validate_node.py: ")
    assert "check_disk" in by_id[reported].failure_output  # the failing script's own output
    assert by_id[silent].failure_class == "NoReport"
    assert "died before its first report (exit code 1)" in by_id[silent].first_failure

    source = StaticSource(Snapshot(now, (), tuple(records)), site.state_dir / "pilots")
    app = WebApp(WebConfig(), source, RRDStore(tmp_path / "mon"), clock=lambda: now + 3)
    page = app.handle("/pilots?state=failed").body.decode()
    assert page.count('class="pilot"') == 2
    assert "WN_Resource" in page and "validate_node.py" in page and 'class="failure-output"' in page
    assert "NoReport" in page and "no output came back from the site" in page
    assert f'href="/pilots/{reported}/log"' in page
    log = app.handle(f"/pilots/{reported}/log")
    assert log.status == 200 and b"FINAL failure" in log.body and b"check_disk" in log.body
    assert app.handle(f"/pilots/{silent}/log").status == 404  # nothing streamed: the row says why
