"""A `glidein demo --keep` run with extra long jobs: every monitoring page and graph of the factory
and the frontend in headless Chromium (screenshots kept under the test's tmp dir, `screens/`), its
figures non-empty, whole and consistent, and equal to the schedd's and the bus's own numbers:
jobs submitted -> the frontend's per-entry figures (glideclient ads) -> the factory's pages and
/metrics (issue 18)."""

from __future__ import annotations

import getpass
import json
import math
import re
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from glidein.common.bus import Bus
from glidein.common.monitoring.graphs import CHARTS, chart_figures, window
from glidein.common.monitoring.rrd import RRDKey, RRDStore
from glidein.demo.processes import alive
from glidein.pool.schedd.client import ScheddClient
from tests.cdp import Browser
from tests.integration.demo_pages import Visit, browse_site, metrics, summed
from tests.procs import GLIDEIN, wait_for

pytestmark = pytest.mark.browser
CLIENT = "demo_frontend.main"
LONG_JOBS = 6
LONG_SUB = "executable = /bin/sleep\narguments = 150\nrequest_cpus = 1\nrequest_memory = 64MB\nqueue {n}\n"


def demo_env(demo: Path) -> dict[str, str]:
    text = (demo / "env.sh").read_text()
    return dict(re.findall(r"^export (GLIDEIN_\w+)=(\S+)$", text, flags=re.MULTILINE))


def schedd_jobs(demo: Path) -> tuple[int, int]:
    """(idle, running) jobs in the demo's schedd."""
    jobs = ScheddClient.locate(None, str(demo / "schedd")).jobs()
    status = [int(str(j.get("JobStatus"))) for j in jobs]
    return status.count(1), status.count(2)


def bus_jobs(wms: Bus) -> tuple[int, int]:
    """The frontend's per-entry job figures in its glideclient ads, summed over the entries."""
    ads = [ad for ad in wms.query("glideclient") if str(ad.get("ClientName")) == CLIENT]
    return sum(int(ad["GlideinMonitorIdleShare"]) for ad in ads), sum(
        int(ad["GlideinMonitorRunningHere"]) for ad in ads
    )


def site_jobs(site: str) -> tuple[int, int]:
    m = metrics(site)
    return int(summed(m, "glidein_client_jobs", state="idle")), int(
        summed(m, "glidein_client_jobs", state="running")
    )


def jobs_agree(demo: Path, wms: Bus, factory: str, frontend: str, seen: list[Any]) -> bool:
    figures = [schedd_jobs(demo), bus_jobs(wms), site_jobs(factory), site_jobs(frontend)]
    seen.append(figures)
    return figures[0][1] > 0 and all(f == figures[0] for f in figures)


def pilots_agree(wms: Bus, factory: str) -> bool:
    m = metrics(factory)
    for ad in wms.query("glidefactory"):
        entry = str(ad["EntryName"])
        if int(ad["GlideinMonitorTotalStatusRunning"]) != summed(
            m, "glidein_pilots", entry=entry, state="running"
        ):
            return False
    return True


def db_counters(demo: Path) -> dict[str, tuple[int, int]]:
    """Per entry: (pilots completed, pilots failed with a wrapper validation exit code) in factory.db."""
    with sqlite3.connect(demo / "factory" / "factory.db") as conn:
        rows = conn.execute(
            "SELECT entry, SUM(state = 'completed'), SUM(state = 'failed' AND exit_code BETWEEN 1 AND 5)"
            " FROM pilots GROUP BY entry"
        ).fetchall()
    return {str(e): (int(c), int(f)) for e, c, f in rows}


def snapshot(demo: Path, kind: str) -> dict[str, Any]:
    root = demo / ("factory" if kind == "factory" else "frontend") / "monitor" / kind
    return dict(json.loads((root / "snapshot.json").read_text()))


def rrd_keys(snap: dict[str, Any], kind: str) -> list[RRDKey]:
    keys = [RRDKey(kind)]
    for e in snap["entries"]:
        keys.append(RRDKey(kind, e["name"]))
        keys += [RRDKey(kind, e["name"], c["client"]) for c in e["clients"]]
        keys += [RRDKey(kind, None, c["client"]) for c in e["clients"]]
    return keys


def graph_figures(demo: Path, kind: str) -> dict[RRDKey, dict[str, dict[str, dict[str, float]]]]:
    """Every chart's legend figures of every RRD file the pages graph (period 1h, as they open)."""
    root = demo / ("factory" if kind == "factory" else "frontend") / "monitor"
    store, out = RRDStore(root), {}
    for key in set(rrd_keys(snapshot(demo, kind), kind)):
        win = window(store, key, "1h", 600, None)
        out[key] = {chart: chart_figures(store, key, chart, win) for chart in CHARTS}
    return out


def total_outcomes(demo: Path, kind: str) -> tuple[float, float]:
    """(completed, validation failures) as the totals graph's legend gives them over 1h."""
    store = RRDStore(demo / ("factory" if kind == "factory" else "frontend") / "monitor")
    outcomes = chart_figures(store, RRDKey(kind), "outcomes", window(store, RRDKey(kind), "1h", 600, None))
    return outcomes["pilots_completed"]["total"], outcomes["validation_failures"]["total"]


@pytest.mark.timeout(600)
def test_demo_pages_and_graphs_show_whole_consistent_numbers(tmp_path: Path) -> None:
    demo, shots = tmp_path / "demo", tmp_path / "screens"
    shots.mkdir()
    argv = [
        *GLIDEIN,
        "demo",
        "--jobs",
        "10",
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
            [*argv, "--timeout", "240"], capture_output=True, text=True, timeout=320, check=False
        )
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
        factory, frontend = re.findall(
            r"(http://127\.0\.0\.1:\d+)/\?period=2h \((?:factory|frontend)\)", run.stdout
        )
        env = demo_env(demo)
        wms, pool = (
            Bus([env["GLIDEIN_WMS_COLLECTOR"]], timeout=10),
            Bus([env["GLIDEIN_COLLECTOR"]], timeout=10),
        )
        ScheddClient.locate(None, str(demo / "schedd")).submit(
            LONG_SUB.format(n=LONG_JOBS), "long.sub", str(demo / "jobs"), getpass.getuser()
        )
        seen: list[Any] = []
        try:  # (schedd, bus glideclient, factory /metrics, frontend /metrics) jobs (idle, running)
            wait_for(lambda: jobs_agree(demo, wms, factory, frontend, seen), timeout=240, interval=1.0)
        except AssertionError:
            raise AssertionError(f"jobs never agreed: {seen[-5:]}") from None
        assert seen[-1][0][0] + seen[-1][0][1] == LONG_JOBS, seen[-5:]  # schedd: idle + running
        wait_for(lambda: pilots_agree(wms, factory), timeout=60, interval=1.0)

        browser = Browser(tmp_path / "chromium.log")
        try:
            visits = [Visit(factory, shots), Visit(frontend, shots)]
            for visit in visits:
                browse_site(browser, visit)
        finally:
            browser.close()
        check_pages(visits[0], visits[1])
        check_counters(demo, factory, frontend)
        check_graphs(demo)
        check_frontend_pilots(pool, frontend, demo)
        assert len(visits[0].taken) >= 10 and all(p.stat().st_size > 5000 for v in visits for p in v.taken)
    finally:
        stop = subprocess.run(
            [*GLIDEIN, "demo", "--stop", str(demo)], check=False, capture_output=True, text=True, timeout=120
        )
    assert stop.returncode == 0, stop.stderr
    pids = json.loads((demo / "pids.json").read_text())
    assert [name for name, pid in pids.items() if alive(pid)] == []


def check_pages(factory: Visit, frontend: Visit) -> None:
    rows = {str(r["cells"][0]): r for r in factory.tables["/"] if r["cls"] == "entry"}
    blocked = rows["LOCAL_BlackHole"]["cells"][2]  # type: ignore[index]
    assert "blocked" in blocked and re.search(r"until 20\d\d-\d\d-\d\d \d\d:\d\d:\d\d UTC", blocked), blocked
    failed = factory.tables["/pilots?state=failed"]
    assert failed and all(r["cells"][4] == "failed" for r in failed)  # type: ignore[index]
    for r in failed:  # every failed pilot says why: its class and a reason or where its output is
        validation = str(r["cells"][6])  # type: ignore[index]
        assert validation not in ("", "-") and ("NoReport" in validation or ":" in validation), r
    assert frontend.tables["/pilots"] and "No pilots match" not in str(frontend.tables["/pilots"])


def check_counters(demo: Path, factory: str, frontend: str) -> None:
    """Completed and validation failures: factory pages == factory.db == frontend pages (via ads)."""

    def agree() -> bool:
        db = db_counters(demo)
        fac, fe = metrics(factory), metrics(frontend)
        for entry, (completed, failures) in db.items():
            for m in (fac, fe):
                if summed(m, "glidein_pilots_completed_total", entry=entry) != completed:
                    return False
                if summed(m, "glidein_pilot_validation_failures_total", entry=entry) != failures:
                    return False
        return db["LOCAL_BlackHole"][1] > 0

    wait_for(agree, timeout=60, interval=1.0)


def check_graphs(demo: Path) -> None:
    """Every legend figure is whole (or no data yet); the totals are there and match the counters."""
    for kind in ("factory", "frontend"):
        figures = graph_figures(demo, kind)
        for key, charts in figures.items():
            for chart, lines in charts.items():
                for ds, values in lines.items():
                    assert all(math.isnan(v) or v == int(v) for v in values.values()), (
                        key,
                        chart,
                        ds,
                        values,
                    )
        total = figures[RRDKey(kind)]
        assert total["pilots"]["pilots_running"]["max"] >= 1 and total["jobs"]["jobs_running"]["max"] >= 1

    def outcomes_match() -> bool:  # both sites' outcomes graphs total what factory.db says
        db = db_counters(demo)
        want = (sum(c for c, _ in db.values()), sum(f for _, f in db.values()))
        return all(total_outcomes(demo, kind) == want for kind in ("factory", "frontend"))

    wait_for(outcomes_match, timeout=60, interval=2.0)  # the counter's last step must be consolidated


def check_frontend_pilots(pool: Bus, frontend: str, demo: Path) -> None:
    """The frontend's pilots page lists the pilots in the user pool, all known to the factory."""
    with sqlite3.connect(demo / "factory" / "factory.db") as conn:
        known = {str(r[0]) for r in conn.execute("SELECT pilot_id FROM pilots")}

    def agree() -> bool:
        slots = {str(s.get("GLIDEIN_Pilot_ID")) for s in pool.query("Machine") if s.get("GLIDEIN_Pilot_ID")}
        listed = {p["pilot_id"] for p in snapshot(demo, "frontend")["pilots"]}
        return bool(listed) and listed == slots and listed <= known

    wait_for(agree, timeout=60, interval=1.0)
