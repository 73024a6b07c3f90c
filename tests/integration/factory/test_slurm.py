"""Pilots really queued and run by Slurm; a killed factory restarted tracks the same pilots; a failing
pilot's exit code comes back from Slurm accounting (the session's cluster runs slurmdbd)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from glidein.common.bus import Bus
from glidein.common.classads import from_dict
from glidein.common.glideclient import ClientRequest, request_ad
from glidein.factory.state import PilotStore
from tests.factory_support import FactorySetup, write_factory
from tests.procs import Processes, free_port, wait_for, wait_for_port

pytestmark = pytest.mark.slurm


def slurm_entry(name: str, *sbatch_args: str) -> dict[str, Any]:
    return {
        "name": name,
        "gatekeeper": "localhost",
        "submitter": {"type": "slurm", "time_limit": 5, "sbatch_args": list(sbatch_args)},
        "attrs": {"GLIDEIN_Site": {"value": "SlurmSite"}, "GLIDEIN_CPUS": {"value": 1, "type": "int"}},
        "limits": {"max_idle": 20, "max_glideins": 20, "max_per_cycle": 10, "submit_rate": 100},
        "removal": {"max_share": 1.0},
    }


def squeue(conf: str, work_dir: Path | None = None) -> dict[str, str]:
    """Job name -> state of the glidein jobs Slurm knows; with `work_dir`, only those run there (one
    factory's: other tests, or another session sharing the cluster, submit glidein jobs too)."""
    out = subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "%i|%T|%Z|%j"],
        env={**os.environ, "SLURM_CONF": conf},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    jobs = [line.split("|", 3) for line in out.splitlines()]
    return {
        name: state
        for _job_id, state, cwd, name in jobs
        if name.startswith("glidein_") and (work_dir is None or cwd == str(work_dir))
    }


def ended(setup: FactorySetup, entry: str) -> dict[str, tuple[str, int | None, str]]:
    """Pilot id -> (state, exit code, Slurm job id) of the entry's ended pilots in the PilotStore."""
    store = PilotStore(setup.state_dir / "factory.db")
    try:
        sql = "SELECT pilot_id, state, exit_code, backend_id FROM pilots WHERE entry = ? AND end_time > 0"
        rows = store.conn.execute(sql, (entry,))
        return {r[0]: (r[1], r[2], r[3]) for r in rows}
    finally:
        store.close()


def _rows(setup: FactorySetup) -> int:
    store = PilotStore(setup.state_dir / "factory.db")
    try:
        return int(store.conn.execute("SELECT COUNT(*) FROM pilots").fetchone()[0])
    finally:
        store.close()


def pilots(setup: FactorySetup, entry: str) -> dict[str, str]:
    store = PilotStore(setup.state_dir / "factory.db")
    try:
        return {r.pilot_id: r.state.value for r in store.active(entry)}
    finally:
        store.close()


def ask(setup: FactorySetup, bus: Bus, entry: str, idle: int, seq: int, mode: str = "NO") -> None:
    """Ask for `idle` pilots at most (ReqMaxGlideins = idle: running ones are not replaced)."""
    (glob,) = bus.query("glidefactoryglobal")
    req = ClientRequest(
        f"{entry}@g@f1", "fe1", "main", idle, idle, seq, "frontend", mode, secrets={"GLIDEIN_Token": "t"}
    )
    bus.advertise([from_dict(request_ad(req, setup.frontend_key, str(glob["PubKeyValue"])))])


def test_pilots_run_in_slurm_and_survive_a_factory_crash(
    slurm_conf: str, tmp_path: Path, processes: Processes
) -> None:
    port = free_port()
    processes.glidein(["collector", "--port", str(port)], "collector")
    wait_for_port(port)
    entries = [slurm_entry("run"), slurm_entry("wait", "--begin=now+3600")]
    setup = write_factory(tmp_path, entries, collector=f"127.0.0.1:{port}")
    env = {"SLURM_CONF": slurm_conf}
    factory = processes.glidein(["factory", "run", "--config", str(setup.config)], "factory", env)
    bus = Bus([f"127.0.0.1:{port}"], timeout=5)
    wait_for(lambda: len(bus.query("glidefactory")) == 2, timeout=20)
    ask(setup, bus, "run", 2, seq=1)
    ask(setup, bus, "wait", 3, seq=1)
    # the "run" pilots really start in Slurm: RUNNING there and in the bookkeeping, wrapper output written
    wait_for(lambda: sorted(pilots(setup, "run").values()) == ["running", "running"], timeout=30)
    run_ids = set(pilots(setup, "run"))
    assert {squeue(slurm_conf)[f"glidein_{p}"] for p in run_ids} == {"RUNNING"}
    out_dir = setup.state_dir / "slurm"
    wait_for(lambda: all((out_dir / f"{p}.out").exists() for p in run_ids), timeout=10)
    wait_for(lambda: len(pilots(setup, "wait")) == 3, timeout=20)
    wait_ids = set(pilots(setup, "wait"))
    assert {squeue(slurm_conf)[f"glidein_{p}"] for p in wait_ids} == {"PENDING"}
    assert "limit=ReqMaxGlideins" in processes.log("factory")
    # crash: the factory dies without any clean-up, then starts again on the same state
    os.kill(factory.pid, signal.SIGKILL)
    factory.wait(10)
    restarted = processes.glidein(["factory", "run", "--config", str(setup.config)], "factory2", env)
    wait_for(lambda: processes.log("factory2").count("cycle done") >= 3, timeout=30)
    assert set(pilots(setup, "wait")) == wait_ids and set(pilots(setup, "run")) == run_ids
    jobs = squeue(slurm_conf, work_dir=setup.state_dir / "slurm")
    assert set(jobs) == {f"glidein_{p}" for p in wait_ids | run_ids}  # no job submitted twice
    assert _rows(setup) == 5  # nor recorded twice
    # removal on request reaches Slurm (scancel)
    ask(setup, bus, "run", 0, seq=2, mode="ALL")
    ask(setup, bus, "wait", 0, seq=2, mode="ALL")
    wait_for(lambda: not pilots(setup, "run") and not pilots(setup, "wait"), timeout=30)
    jobs = squeue(slurm_conf)
    assert {jobs[f"glidein_{p}"] for p in run_ids | wait_ids} == {"CANCELLED"}
    assert processes.stop(restarted) == 0


FAILING_PYTHON = """#!/bin/sh
# stands in for python3 on the worker node: the pilot fails with exit code 7, and the worker shares
# no disk with the factory (its <pilot id>.exit cannot be written), so only sacct knows the code
prev=
for arg in "$@"; do [ "$prev" = -pilot_id ] && mkdir "$PWD/$arg.exit"; prev=$arg; done
exit 7
"""


def test_a_failing_pilot_is_recorded_failed_with_its_exit_code_from_sacct(
    slurm_conf: str, tmp_path: Path, processes: Processes
) -> None:
    bindir = tmp_path / "worker-bin"
    bindir.mkdir()
    (bindir / "python3").write_text(FAILING_PYTHON)
    (bindir / "python3").chmod(0o755)
    port = free_port()
    processes.glidein(["collector", "--port", str(port)], "collector")
    wait_for_port(port)
    entry = slurm_entry("fails", f"--export=ALL,PATH={bindir}:{os.environ['PATH']}")
    setup = write_factory(tmp_path, [entry], collector=f"127.0.0.1:{port}")
    factory = processes.glidein(
        ["factory", "run", "--config", str(setup.config)], "factory", {"SLURM_CONF": slurm_conf}
    )
    bus = Bus([f"127.0.0.1:{port}"], timeout=5)
    wait_for(lambda: len(bus.query("glidefactory")) == 1, timeout=20)
    ask(setup, bus, "fails", 1, seq=1)
    wait_for(lambda: len(ended(setup, "fails")) >= 1, timeout=40)
    pilot_id, (state, code, job_id) = sorted(ended(setup, "fails").items())[0]
    assert (state, code) == ("failed", 7)
    assert (setup.state_dir / "slurm" / f"{pilot_id}.exit").is_dir()  # no exit file: the code is sacct's
    env = {**os.environ, "SLURM_CONF": slurm_conf}
    sacct = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-j", job_id, "-o", "JobName,State,ExitCode"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert sacct == f"glidein_{pilot_id}|FAILED|7:0"
    ask(setup, bus, "fails", 0, seq=2, mode="ALL")
    assert processes.stop(factory) == 0
