"""`glidein demo --jobs 20` end to end (real processes): every job done with the right output, the
black-hole site blocked, and every process the demo started gone afterwards."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from glidein.demo.layout import expected_output
from glidein.demo.processes import alive
from tests.procs import GLIDEIN

JOBS = 20


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
