"""`glidein demo --htcondor` end to end on real HTCondor daemons only: 50 jobs submitted with
condor_submit run on condor_startds that pilots started because the frontend asked; the startds
leave the pool when the queue is empty; every ad type is on condor_collector, the frontend's
glideclientglobal believed by the factory; once the frontend is gone its ads leave the WMS
collector and the factory submits nothing more; every process is stopped at the end."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from glidein.demo.condor import FRONTEND_WMS_ID
from glidein.demo.layout import expected_output
from glidein.demo.processes import alive
from glidein.pool.condor.release import Release
from tests.procs import GLIDEIN

JOBS = 50


@pytest.fixture
def demo_dir() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="glidein-demo-condor-"))
    os.chmod(base, 0o755)  # the pools run as nobody when the tests run as root
    yield base / "demo"
    shutil.rmtree(base, ignore_errors=True)


def _tool(release: Release, demo: Path, pool: str, name: str, *args: str) -> str:
    """An HTCondor tool run against one of the demo's pools (`users`, `wms`, `factory` or `ce`)."""
    env = dict(os.environ, CONDOR_CONFIG=str(demo / "condor" / pool / "condor_config"))
    env["_CONDOR_CONDOR_IDS"] = "65534.65534"
    done = subprocess.run(
        [str(release.program(name)), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.stdout


def _wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(1)
    raise AssertionError(f"{what} within {timeout:.0f} s")


def _pilots_submitted(demo: Path) -> int:
    conn = sqlite3.connect(f"file:{demo / 'factory' / 'factory.db'}?mode=ro", uri=True, timeout=10)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM pilots").fetchone()[0])
    finally:
        conn.close()


def _plain_condor_tools(demo: Path) -> None:
    """condor_submit etc/demo/jobs.sub, condor_q, condor_rm in a bash with only what DIR/env.sh sets."""
    work = demo.parent / "plain"
    shutil.copytree(Path(__file__).resolve().parents[3] / "etc" / "demo", work)
    script = f". {demo / 'env.sh'} && condor_submit jobs.sub && condor_q -af ClusterId && condor_rm 2"
    done = subprocess.run(
        ["env", "-i", f"HOME={work}", "bash", "-c", script],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "20 job(s) submitted to cluster 2." in done.stdout and "\n2\n" in done.stdout
    assert "All jobs in cluster 2 have been marked for removal" in done.stdout


@pytest.mark.timeout(600)
def test_demo_on_real_htcondor(condor_release: Release, demo_dir: Path) -> None:
    def status(pool: str, *args: str) -> str:
        return _tool(condor_release, demo_dir, pool, "condor_status", *args)

    argv = [*GLIDEIN, "demo", "--htcondor", str(condor_release.root), "--jobs", str(JOBS)]
    argv += ["--dir", str(demo_dir), "--slurm", "no", "--keep", "--interval", "2", "--timeout", "400"]
    try:
        run = subprocess.run(argv, capture_output=True, text=True, timeout=480, check=False)
        assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-3000:]
        assert f"jobs: {JOBS} of {JOBS} completed with the right output" in run.stdout
        assert "result: OK" in run.stdout
        for proc in range(JOBS):
            assert (demo_dir / "jobs" / "out" / f"job.{proc}.out").read_text() == expected_output(proc)
        # the jobs ran on condor_startds of pilots (slot names glidein_<pilot id>@...)
        history = _tool(condor_release, demo_dir, "users", "condor_history", "-af", "LastRemoteHost")
        hosts = set(history.split())
        assert len(history.split()) == JOBS
        assert hosts and all("@glidein_" in host for host in hosts), hosts

        # the startds leave the pool by themselves once the queue is empty
        _wait(lambda: not status("users", "-af", "Name").strip(), 120, "startds still in the pool")

        # the bus on condor_collector holds every kind of ad, as condor_status -any shows them
        wms_types = set(status("wms", "-any", "-af", "MyType").split())
        assert {"glidefactoryglobal", "glidefactory", "glidefactoryclient", "glideclient"} <= wms_types
        assert "glideclientglobal" in wms_types
        # which the factory believes: the frontend as configured, authenticated by condor_collector
        seen = json.loads((demo_dir / "factory" / "status.json").read_text())["frontends"]["seen"]
        front = seen["demo_frontend"]
        assert front["authenticated"] == front["identity"] == FRONTEND_WMS_ID and front["notes"] == []
        assert "glideresource" in status("users", "-any", "-af", "MyType").split()
        factory_ads = status("wms", "-any", "-const", 'MyType == "glidefactory"', "-af", "Name").split()
        assert sorted(factory_ads) == [
            f"{s}@demo@demo_factory" for s in ("CE_Site", "LOCAL_BlackHole", "LOCAL_Flaky", "LOCAL_SlowQueue")
        ]
        # the CE entry's pilots went from the factory's own schedd by Condor-C to the CE's schedd
        ce_jobs = "GlideinEntryName" + ' == "CE_Site"'
        for pool in ("factory", "ce"):
            seen_there = _tool(
                condor_release,
                demo_dir,
                pool,
                "condor_q",
                "-allusers",
                "-const",
                ce_jobs,
                "-af",
                "GlideinPilotId",
            )
            seen_there += _tool(
                condor_release, demo_dir, pool, "condor_history", "-const", ce_jobs, "-af", "GlideinPilotId"
            )
            assert seen_there.split(), f"no CE_Site pilot in the {pool} schedd"

        # the frontend dies without a word: its ads expire on the WMS collector (ClassAdLifetime)
        pids = json.loads((demo_dir / "pids.json").read_text())
        os.kill(pids["frontend"], signal.SIGKILL)
        ours = 'MyType == "glideclient" || MyType == "glideclientglobal"'
        query = ["wms", "-any", "-const", ours, "-af", "MyType"]
        assert set(status(*query).split()) == {"glideclient", "glideclientglobal"}
        _wait(lambda: not status(*query).strip(), 150, "the frontend's ads still on the WMS collector")
        before = _pilots_submitted(demo_dir)
        time.sleep(12)  # several factory cycles (2 s) with no request
        assert _pilots_submitted(demo_dir) == before
        # a factory that stops cleanly takes its ads off the bus at once (invalidation, not expiry)
        os.kill(pids["factory"], signal.SIGTERM)
        query = ["wms", "-any", "-const", 'MyType == "glidefactory"', "-af", "Name"]
        _wait(lambda: not status(*query).strip(), 12, "glidefactory ads still there after SIGTERM")
        _plain_condor_tools(demo_dir)
    finally:
        stopped = subprocess.run(
            [*GLIDEIN, "demo", "--stop", str(demo_dir)],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    pids = json.loads((demo_dir / "pids.json").read_text())
    assert {"condor-users", "condor-wms", "factory", "frontend"} <= set(pids)
    assert [name for name, pid in pids.items() if alive(pid)] == []
