"""`glidein demo --jobs 20` end to end (real processes): every job done with the right output, the
black-hole site blocked, and every process the demo started gone afterwards."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from glidein.demo.layout import expected_output
from glidein.demo.processes import alive
from tests.cdp import Browser
from tests.procs import GLIDEIN

JOBS = 20
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
IMAGES_JS = """
(async () => {
  const imgs = Array.from(document.images);
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => { i.onload = r; i.onerror = r; })));
  return imgs.map(i => ({src: i.src, width: i.naturalWidth}));
})()
"""


def _processes_using(directory: Path) -> list[str]:
    """Processes whose command line or working directory is inside `directory`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if str(directory) in cmdline or cwd.startswith(str(directory)):
            found.append(f"{proc.name}: {cmdline[:200]}")
    return found


@pytest.mark.timeout(280)
def test_demo_runs_every_job_blocks_the_black_hole_and_stops_everything(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    argv = [*GLIDEIN, "demo", "--jobs", str(JOBS), "--dir", str(demo), "--slurm", "no"]
    run = subprocess.run(
        [*argv, "--timeout", "180", "--interval", "1"],
        capture_output=True,
        text=True,
        timeout=260,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert f"jobs: {JOBS} of {JOBS} completed with the right output" in run.stdout
    for proc in range(JOBS):
        assert (demo / "jobs" / "out" / f"job.{proc}.out").read_text() == expected_output(proc)

    assert "LOCAL_BlackHole BLOCKED by the factory" in run.stdout
    factory_log = (demo / "logs" / "factory.log").read_text()
    assert "entry=LOCAL_BlackHole blocked" in factory_log
    snapshot = json.loads((demo / "factory" / "monitor" / "factory" / "snapshot.json").read_text())
    states = {e["name"]: e["state"] for e in snapshot["entries"]}
    assert states["LOCAL_BlackHole"] == "blocked" and states["LOCAL_Flaky"] == "ok"
    assert (demo / "frontend" / "monitor" / "frontend" / "snapshot.json").exists()

    pids = json.loads((demo / "pids.json").read_text())
    daemons = {"collector-wms", "collector-pool", "schedd", "factory-web", "factory", "frontend"}
    assert set(pids) == daemons | {"monitor-web", "frontend-monitor-web"}
    assert [name for name, pid in pids.items() if alive(pid)] == []
    pilot_pids = [int(p.read_text()) for p in (demo / "factory" / "local").glob("*/jobs/*/pid")]
    assert pilot_pids and [p for p in pilot_pids if alive(p)] == []
    assert _processes_using(demo) == []


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=20) as reply:
        assert reply.status == 200
        return str(reply.read().decode())


def _browse(site: str, log: Path, newest_pilot: str) -> None:
    """The demo's monitoring pages in headless Chromium; screenshots to test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    browser = Browser(log)
    try:
        page = browser.open_page()
        browser.navigate(page, site + "/")
        rows = browser.evaluate(
            page, "Array.from(document.querySelectorAll('#entries tr.entry')).map(r => r.innerText)"
        )
        by_entry = {row.split()[0]: row for row in rows}
        assert set(by_entry) == {"LOCAL_SlowQueue", "LOCAL_Flaky", "LOCAL_BlackHole"}
        assert "blocked" in by_entry["LOCAL_BlackHole"] and "blocked" not in by_entry["LOCAL_Flaky"]
        images, statuses = browser.evaluate(page, IMAGES_JS), browser.responses(page)
        assert images and all(i["width"] > 0 and statuses.get(i["src"]) == 200 for i in images), images
        browser.screenshot(page, ARTIFACTS / "demo-entries.png")
        browser.navigate(page, site + "/pilots")
        ids = browser.evaluate(
            page, "Array.from(document.querySelectorAll('tr.pilot')).map(r => r.cells[0].innerText)"
        )
        assert newest_pilot in ids
        browser.screenshot(page, ARTIFACTS / "demo-pilots.png")
        links = browser.evaluate(page, "Array.from(document.querySelectorAll('a.log-link')).map(a => a.href)")
        assert links  # the logs the pilots streamed back to the factory web process
        browser.navigate(page, links[0])
        assert browser.responses(page)[links[0]] == 200
        assert browser.evaluate(page, "document.body.innerText").strip()
    finally:
        browser.close()


@pytest.mark.browser
@pytest.mark.timeout(280)
def test_demo_keep_serves_monitoring_until_stop(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    argv = [
        *GLIDEIN,
        "demo",
        "--jobs",
        str(JOBS),
        "--keep",
        "--dir",
        str(demo),
        "--slurm",
        "no",
        "--interval",
        "1",
    ]
    try:
        run = subprocess.run(
            [*argv, "--timeout", "180"], capture_output=True, text=True, timeout=260, check=False
        )
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
        factory_url, frontend_url = re.findall(
            r"(http://127\.0\.0\.1:\d+)/\?period=2h \((?:factory|frontend)\)", run.stdout
        )
        assert "LOCAL_BlackHole BLOCKED by the factory" in run.stdout
        assert "LOCAL_BlackHole" in _get(factory_url + "/")
        states = {
            (s.labels["entry"], s.labels["state"]): s.value
            for family in text_string_to_metric_families(_get(factory_url + "/metrics"))
            for s in family.samples
            if s.name == "glidein_entry_state"
        }
        assert states[("LOCAL_BlackHole", "blocked")] == 1 and states[("LOCAL_Flaky", "ok")] == 1
        with sqlite3.connect(demo / "factory" / "factory.db") as conn:
            newest = conn.execute("SELECT pilot_id FROM pilots ORDER BY submit_time DESC LIMIT 1").fetchone()[
                0
            ]
        assert newest in _get(factory_url + "/pilots")
        assert "LOCAL_Flaky" in _get(frontend_url + "/")
        _browse(factory_url, tmp_path / "chromium.log", newest)
    finally:
        stop = subprocess.run(
            [*GLIDEIN, "demo", "--stop", str(demo)], check=False, capture_output=True, text=True, timeout=120
        )
    assert stop.returncode == 0, stop.stderr
    pids = json.loads((demo / "pids.json").read_text())
    assert len(pids) == 8 and [name for name, pid in pids.items() if alive(pid)] == []
    assert _processes_using(demo) == []


@pytest.mark.slurm
@pytest.mark.timeout(280)
def test_demo_with_a_private_slurm_cluster(tmp_path: Path) -> None:
    from glidein.demo import slurm

    if not slurm.can_start():
        pytest.skip("needs root with slurm-wlm and munge (scripts/system_deps.sh)")
    demo = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if k != "SLURM_CONF"}
    argv = [*GLIDEIN, "demo", "--jobs", str(JOBS), "--dir", str(demo), "--slurm", "yes", "--timeout", "180"]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=260, check=False, env=env)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    row = re.search(r"^  Slurm\s+SLURM_Local\s+(\d+)\s+(\d+)\s", run.stdout, flags=re.MULTILINE)
    assert row and int(row.group(1)) > 0 and int(row.group(2)) > 0, run.stdout  # submitted, validated
    prefix = Path((demo / "slurm_prefix").read_text().strip())
    assert not prefix.exists()  # slurm_down.sh stopped the cluster and deleted its directory
    assert _processes_using(prefix) == []
    assert _processes_using(demo) == []  # munged, slurmctld, slurmd, pilots: all gone
