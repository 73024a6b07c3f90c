"""Real pilots submitted by the real factory (local site, and the session's Slurm cluster): the pool
token and the report token are not on the running wrapper's command line (/proc/<pid>/cmdline,
what `ps` shows everyone), yet the token reaches the startd and the pilot's reports, which carry
the report token, are accepted by the factory. The parameter file is 0600 and gone at the end."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from glidein.common.bus import Bus
from glidein.common.classads import from_dict
from glidein.common.glideclient import ClientRequest, request_ad
from glidein.factory import staging
from glidein.factory.state import PilotStore
from glidein.factory.web import report_token
from tests.factory_support import FactorySetup, local_entry, write_factory
from tests.integration.pilot.helpers import standin_startd
from tests.procs import Processes, free_port, wait_for, wait_for_port

TOKEN = "eyJ.pool-token.SECRET-4711"


@dataclass
class World:
    setup: FactorySetup
    bus: Bus
    markers: Path
    web_url: str
    collector: str


def world(tmp_path: Path, processes: Processes, entry: dict[str, Any], env: dict[str, str]) -> World:
    """Collector, the stage served by `glidein factory web` (a stand-in startd that sleeps), factory."""
    port, web_port = free_port(), free_port()
    processes.glidein(["collector", "--port", str(port)], "collector")
    web_url = f"http://127.0.0.1:{web_port}"
    top = {"staging": {"dir": str(tmp_path / "factory" / "stage"), "url": web_url}}
    setup = write_factory(tmp_path, [entry], collector=f"127.0.0.1:{port}", **top)
    stage_dir = setup.state_dir / "stage"
    spec = staging.StagingSpec(stage_dir, web_url, entries={entry["name"]: []})
    spec.startd_source = standin_startd(tmp_path / "standin")
    staging.stage(spec)
    web = ["factory", "web", "--stage-dir", str(stage_dir), "--state-dir", str(setup.state_dir)]
    processes.glidein([*web, "--port", str(web_port)], "web")
    wait_for_port(port)
    wait_for_port(web_port)
    markers = tmp_path / "markers"
    markers.mkdir()
    env = {"PILOT_TEST_MARKERS": str(markers), "PILOT_TEST_STARTD_SLEEP": "4", **env}
    processes.glidein(["factory", "run", "--config", str(setup.config)], "factory", env)
    bus = Bus([f"127.0.0.1:{port}"], timeout=5)
    wait_for(lambda: len(bus.query("glidefactory")) == 1, timeout=20)
    return World(setup, bus, markers, web_url, f"127.0.0.1:{port}")


def ask_one(w: World, entry: str) -> str:
    """Request one pilot (with the pool token as a secret); its pilot id once recorded."""
    (glob,) = w.bus.query("glidefactoryglobal")
    params = {"GLIDEIN_Collector": w.collector, "GLIDEIN_Schedd": w.web_url}
    req = ClientRequest(
        f"{entry}@g@f1", "fe1", "main", 1, 1, 1, params=params, secrets={"GLIDEIN_Token": TOKEN}
    )
    w.bus.advertise([from_dict(request_ad(req, w.setup.frontend_key, str(glob["PubKeyValue"])))])
    store = PilotStore(w.setup.state_dir / "factory.db")
    try:
        wait_for(lambda: len(store.active(entry)) == 1, timeout=20)
        return store.active(entry)[0].pilot_id
    finally:
        store.close()


def wrapper_cmdline(pilot_id: str) -> str:
    """The command line of the running pilot wrapper (as `ps` shows it), "" if none runs."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        text = " ".join(a.decode(errors="replace") for a in args)
        if "glidein_startup.py" in text and f"-pilot_id {pilot_id} " in text:
            return text
    return ""


def read_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    return data


def check_running_pilot(w: World, pilot_id: str, param_file: Path) -> None:
    """While the pilot runs: nothing secret on its command line, its parameter file private."""
    holder: dict[str, str] = {}

    def running() -> bool:
        holder["cmdline"] = wrapper_cmdline(pilot_id)
        return bool(holder["cmdline"])

    wait_for(running, timeout=30, interval=0.02)
    cmdline = holder["cmdline"]
    key = bytes.fromhex((w.setup.state_dir / "report.key").read_text().strip())
    assert TOKEN not in cmdline and report_token(key, pilot_id) not in cmdline
    assert "-report_token" not in cmdline and "GLIDEIN_Token" not in cmdline
    assert f"-param_file {param_file}" in cmdline and f"-report_url {w.web_url}" in cmdline
    assert param_file.stat().st_mode & 0o777 == 0o600 and TOKEN in param_file.read_text()


def check_pilot_reported(w: World, pilot_id: str, param_file: Path) -> None:
    """The pilot's token reached the startd; its authenticated reports reached the factory."""
    wait_for((w.markers / "startd").exists, timeout=30)
    token_file = Path(read_json(w.markers / "startd")["token_file"])
    assert token_file.read_text().strip() == TOKEN
    report = w.setup.state_dir / "pilots" / pilot_id / "report.json"
    wait_for(report.exists, timeout=60)
    assert read_json(report)["status"] == "success"
    assert "FINAL success" in (report.parent / "log.txt").read_text()  # the streamed log, too
    store = PilotStore(w.setup.state_dir / "factory.db")
    try:  # the factory read it into its bookkeeping when the pilot ended
        sql = "SELECT report_status FROM pilots WHERE pilot_id = ?"
        wait_for(lambda: store.conn.execute(sql, (pilot_id,)).fetchone()[0] == "success", timeout=30)
    finally:
        store.close()
    wait_for(lambda: not param_file.exists(), timeout=20)  # deleted once the pilot ended


def test_local_pilot_keeps_its_tokens_off_the_command_line_and_still_reports(
    tmp_path: Path, processes: Processes
) -> None:
    entry = {**local_entry("e1", queue_wait=0.0, slots=1), "pilot": {"hold_time": 0}}
    w = world(tmp_path, processes, entry, {})
    pilot_id = ask_one(w, "e1")
    job_dir = w.setup.state_dir / "local" / "e1" / "jobs" / pilot_id
    check_running_pilot(w, pilot_id, job_dir / "pilot.params")
    assert job_dir.stat().st_mode & 0o777 == 0o711
    assert TOKEN not in (job_dir / "job.json").read_text()
    check_pilot_reported(w, pilot_id, job_dir / "pilot.params")
    assert "403" not in processes.log("web")


@pytest.mark.slurm
def test_slurm_pilot_keeps_its_tokens_off_the_command_line_and_still_reports(
    slurm_conf: str, tmp_path: Path, processes: Processes
) -> None:
    entry = {
        "name": "s1",
        "gatekeeper": "localhost",
        "submitter": {"type": "slurm", "time_limit": 5},
        "pilot": {"hold_time": 0},
        "attrs": {"GLIDEIN_Site": {"value": "SlurmSite"}, "GLIDEIN_CPUS": {"value": 1, "type": "int"}},
        "limits": {"max_idle": 5, "max_glideins": 5, "max_per_cycle": 5, "submit_rate": 100},
    }
    w = world(tmp_path, processes, entry, {"SLURM_CONF": slurm_conf})
    pilot_id = ask_one(w, "s1")
    out_dir = w.setup.state_dir / "slurm"
    check_running_pilot(w, pilot_id, out_dir / f"{pilot_id}.params")
    assert TOKEN not in (out_dir / f"{pilot_id}.sh").read_text()
    check_pilot_reported(w, pilot_id, out_dir / f"{pilot_id}.params")
