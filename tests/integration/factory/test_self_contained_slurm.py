"""Issue 16 part 2 through the session's real Slurm: a `self_contained` Slurm entry whose
`staging.url` is a closed port. The packed pilot travels inside the batch script (sbatch spools it),
runs with the node's python3, and the factory unpacks its log and report from its Slurm output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from glidein.common.bus import Bus
from glidein.common.classads import from_dict
from glidein.common.glideclient import ClientRequest, request_ad
from glidein.factory import selfcontained, staging
from glidein.factory.state import PilotStore
from tests.factory_support import write_factory
from tests.integration.factory.test_slurm import slurm_entry
from tests.integration.pilot.helpers import standin_startd
from tests.procs import Processes, free_port, wait_for, wait_for_port

pytestmark = pytest.mark.slurm


def test_self_contained_slurm_pilot_carries_its_stage_in_the_batch_script(
    slurm_conf: str, tmp_path: Path, processes: Processes
) -> None:
    port = free_port()
    processes.glidein(["collector", "--port", str(port)], "collector")
    wait_for_port(port)
    collector = f"127.0.0.1:{port}"
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    entry = {**slurm_entry("sc"), "self_contained": True, "pilot": {"hold_time": 0}}
    top = {"staging": {"dir": str(tmp_path / "factory" / "stage"), "url": closed}}
    setup = write_factory(tmp_path, [entry], collector=collector, **top)
    spec = staging.StagingSpec(setup.state_dir / "stage", closed, entries={"sc": []})
    spec.startd_source = standin_startd(tmp_path / "standin")
    staging.stage(spec)
    env = {"SLURM_CONF": slurm_conf}
    processes.glidein(["factory", "run", "--config", str(setup.config)], "factory", env)
    bus = Bus([collector], timeout=5)
    wait_for(lambda: len(bus.query("glidefactory")) == 1, timeout=20)
    (glob,) = bus.query("glidefactoryglobal")
    params = {"GLIDEIN_Collector": collector, "GLIDEIN_Schedd": "http://" + collector}
    req = ClientRequest("sc@g@f1", "fe1", "main", 1, 1, 1, params=params, secrets={"GLIDEIN_Token": "t"})
    bus.advertise([from_dict(request_ad(req, setup.frontend_key, str(glob["PubKeyValue"])))])
    store = PilotStore(setup.state_dir / "factory.db")
    try:
        wait_for(lambda: bool(store.active("sc")), timeout=30)
        pilot_id = store.active("sc")[0].pilot_id
        script_path = setup.state_dir / "slurm" / f"{pilot_id}.sh"
        wait_for(
            lambda: script_path.exists() and selfcontained.HEREDOC in script_path.read_text(), timeout=20
        )
        script = script_path.read_text()
        assert selfcontained.HEREDOC in script and "-packed_sha256" in script
        assert str(setup.state_dir / "packed") not in script  # the pilot itself, not a path to it
        bus.advertise([from_dict(request_ad(
            ClientRequest("sc@g@f1", "fe1", "main", 0, 1, 2, params=params, secrets={"GLIDEIN_Token": "t"}),
            setup.frontend_key, str(glob["PubKeyValue"]),
        ))])  # fmt: skip
        report = setup.state_dir / "pilots" / pilot_id / "report.json"
        wait_for(report.exists, timeout=90)
        assert json.loads(report.read_text())["status"] == "success", report.read_text()
        log_text = (report.parent / "log.txt").read_text()
        assert "verified level main" in log_text and "FINAL success" in log_text
        sql = "SELECT report_status FROM pilots WHERE pilot_id = ?"
        wait_for(lambda: store.conn.execute(sql, (pilot_id,)).fetchone()[0] == "success", timeout=30)
    finally:
        store.close()
