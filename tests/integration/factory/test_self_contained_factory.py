"""Issue 16 part 2 on real processes: a `self_contained` local entry whose `staging.url` is a closed
port (no `glidein factory web` at all). The real factory packs the stage into the pilot; the pilot
verifies it, starts the real embedded startd, which joins the pool and runs a user job; when the
pilot ends the factory unpacks the log and report from its stdout, records the report and the
pilots page (headless Chromium) shows the pilot with its log."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from glidein.common import tokens
from glidein.common.bus import Bus
from glidein.common.classads import from_dict
from glidein.common.glideclient import ClientRequest, request_ad
from glidein.factory import staging
from glidein.factory.state import PilotStore
from tests.cdp import Browser
from tests.factory_support import FactorySetup, local_entry, write_factory
from tests.integration.pool.pool_helpers import Pool, script
from tests.procs import Processes, free_port, wait_for, wait_for_port

JOB = 'executable = {exe}\narguments = "packed"\noutput = out.$(Cluster).$(Process)\nqueue 1\n'
PILOT_PARAMS = {"GLIDEIN_Max_Idle": "15", "GLIDEIN_Max_Tail": "4", "GLIDEIN_Advertise_Interval": "1"}
PILOT_PARAMS |= {"GLIDEIN_Poll_Interval": "1", "GLIDEIN_CPUS": "1"}


@pytest.fixture
def jobs_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    for pid_file in tmp_path.rglob("jobs/*/pid"):  # pilots the factory left running
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)


def start_factory(tmp: Path, processes: Processes, collector: str) -> FactorySetup:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    entry = {**local_entry("e1", queue_wait=0.0, slots=1), "pilot": {"hold_time": 0}, "self_contained": True}
    top = {"staging": {"dir": str(tmp / "factory" / "stage"), "url": closed}}
    setup = write_factory(tmp, [entry], collector=collector, **top)
    staging.stage(staging.StagingSpec(setup.state_dir / "stage", closed, entries={"e1": []}))
    processes.glidein(["factory", "run", "--config", str(setup.config)], "factory")
    return setup


def ask(setup: FactorySetup, bus: Bus, pool: Pool, collector: str, idle: int, seq: int) -> None:
    (glob,) = bus.query("glidefactoryglobal")
    token = tokens.mint(tokens.load_key(pool.key_file), "pilot-e1", ["startd"], 600, "factory")
    params = {"GLIDEIN_Collector": collector, "GLIDEIN_Schedd": pool.url, **PILOT_PARAMS}
    req = ClientRequest(
        "e1@g@f1", "fe1", "main", idle, 1, seq, params=params, secrets={"GLIDEIN_Token": token}
    )
    bus.advertise([from_dict(request_ad(req, setup.frontend_key, str(glob["PubKeyValue"])))])


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    b = Browser(tmp_path / "chromium.log")
    try:
        yield b
    finally:
        b.close()


def check_pilots_page(setup: FactorySetup, processes: Processes, browser: Browser, pilot_id: str) -> None:
    """The factory's pilots page (`glidein monitor web` on its monitoring dir) in headless Chromium:
    the pilot's row says its validation passed and its log link serves the log from its stdout."""
    port = free_port()
    root, pilots_dir = setup.state_dir / "monitor", setup.state_dir / "pilots"
    args = ["monitor", "web", "--root", str(root), "--port", str(port), "--pilots-dir", str(pilots_dir)]
    processes.glidein(args, "monitor-web")
    wait_for_port(port)
    page, row = browser.open_page(), f"document.getElementById('pilot-{pilot_id}')"

    def validation() -> str:
        browser.navigate(page, f"http://127.0.0.1:{port}/pilots")
        text = browser.evaluate(page, f"{row} ? {row}.querySelector('td.validation').innerText : ''")
        return str(text)

    wait_for(lambda: validation() == "passed", timeout=30)  # the snapshot of a cycle after the report
    links = browser.evaluate(page, f"Array.from({row}.querySelectorAll('a.log-link')).map(a => a.href)")
    log_link = f"http://127.0.0.1:{port}/pilots/{pilot_id}/log"
    assert log_link in links, links
    browser.navigate(page, log_link)
    text = str(browser.evaluate(page, "document.body.innerText"))
    assert "verified level main" in text and "FINAL success" in text and "startd ran 1 jobs" in text


@pytest.mark.browser
def test_self_contained_pilot_runs_a_job_without_the_web_server_and_reports_through_stdout(
    jobs_dir: Path, processes: Processes, browser: Browser
) -> None:
    tmp = jobs_dir
    port = free_port()
    processes.glidein(["collector", "--port", str(port)], "collector")
    wait_for_port(port)
    collector = f"127.0.0.1:{port}"
    (tmp / "pool_area").mkdir()
    pool = Pool(processes, tmp / "pool_area")
    pool.start_schedd(extra=["--collector", collector])
    exe = script(tmp / "job.sh", 'echo "ran $1 on $_CONDOR_SLOT_NAME"\n')
    assert pool.submit(JOB.format(exe=exe)).returncode == 0
    setup = start_factory(tmp, processes, collector)
    bus = Bus([collector], timeout=5)
    wait_for(lambda: len(bus.query("glidefactory")) == 1, timeout=30)
    ask(setup, bus, pool, collector, idle=1, seq=1)
    store = PilotStore(setup.state_dir / "factory.db")
    try:
        wait_for(lambda: len(store.active("e1")) >= 1, timeout=30)
        pilot_id = store.active("e1")[0].pilot_id
    finally:
        store.close()
    jobs = pool.wait_jobs(lambda js: js and all(j["JobStatus"] == 4 for j in js.values()), timeout=90)
    assert [j["ExitCode"] for j in jobs.values()] == [0]
    assert "ran packed" in next(pool.tmp.glob("out.*")).read_text()
    ask(setup, bus, pool, collector, idle=0, seq=2)  # no second pilot
    job_dir = setup.state_dir / "local" / "e1" / "jobs" / pilot_id
    argv = (job_dir / "job.json").read_text()
    assert "glidein_pilot." in argv and "-packed_sha256" in argv and "glidein_startup.py" not in argv

    report_path = setup.state_dir / "pilots" / pilot_id / "report.json"
    wait_for(report_path.exists, timeout=90)  # unpacked by the factory from the pilot's stdout
    assert "==== GLIDEIN PILOT OUTPUT BEGIN" in (job_dir / "pilot.log").read_text()
    assert "report to factory failed" in (job_dir / "pilot.log").read_text()  # never reached the web
    assert "report from its stdout status=success" in processes.log("factory")
    store = PilotStore(setup.state_dir / "factory.db")
    try:
        sql = "SELECT report_status FROM pilots WHERE pilot_id = ?"
        wait_for(lambda: store.conn.execute(sql, (pilot_id,)).fetchone()[0] == "success", timeout=30)
    finally:
        store.close()
    check_pilots_page(setup, processes, browser, pilot_id)
