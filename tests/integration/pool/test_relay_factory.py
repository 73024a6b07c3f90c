"""Issue 16 part 1 end to end on the embedded default: frontend -> factory -> relay (kind
`glidein`: glidein's own schedd in relay mode, deployed by the factory's relay monitor as a job of
the entry's local site) -> local pilots -> the users' jobs run. The relay is killed -9 while jobs
wait; the monitor deploys the next within 2 cycles, and every job completes once, no pilot is lost
and none is handed to the site twice (real processes: the demo's embedded pool)."""

from __future__ import annotations

import getpass
import os
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from glidein.demo import cleanup
from glidein.demo.layout import DemoLayout, prepare
from glidein.demo.processes import Supervisor, port_open, wait_until
from glidein.demo.run import start_pools
from glidein.pool.condor.personal import children_of
from glidein.pool.schedd.client import ScheddClient
from tests.procs import run_glidein

ENTRY = "RELAY_SITE"
JOBS = 6  # per wave
MAX_PILOTS = 3
LIVE = "('new','pending','idle','running','held','removing')"


class Run:
    def __init__(self, root: Path) -> None:
        self.layout: DemoLayout = prepare(root, JOBS, use_slurm=False)
        self.site = root / "site"
        self.relay_dir = root / "relay"
        self.sup = Supervisor(self.layout.logs, root / "pids.json")
        factory = yaml.safe_load(self.layout.factory_config.read_text())
        factory["attrs"]["GLIDEIN_Max_Idle"]["value"] = 4  # wave 1's pilots leave soon after it
        factory["entries"] = [
            {
                "name": ENTRY,
                "gatekeeper": "local",
                "submitter": {"type": "local", "slots": 8, "work_dir": str(self.site)},
                "attrs": {"GLIDEIN_Site": {"value": "RELAY"}},
                "limits": {"max_idle": MAX_PILOTS, "max_glideins": MAX_PILOTS, "max_per_cycle": 2},
                "relay": {
                    "kind": "glidein",
                    "collector": self.layout.address("wms"),
                    "dir": str(self.relay_dir),
                    "update_interval": 2,
                    "ping_failures": 1,
                    "backoff": 1,
                    "start_timeout": 60,
                },
            }
        ]
        self.layout.factory_config.write_text(yaml.safe_dump(factory, sort_keys=False))

    def start(self) -> None:
        lay, sup = self.layout, self.sup
        start_pools(lay, sup)
        wait_until(lambda: port_open(lay.ports["schedd"]), 20, "schedd")
        config = ["--config", str(lay.factory_config)]
        staged = run_glidein(["factory", "stage", *config], timeout=120)
        assert staged.returncode == 0, staged.stderr
        sup.glidein("factory-web", ["factory", "web", *config])
        wait_until(lambda: port_open(lay.ports["stage"]), 20, "factory web")
        sup.glidein("factory", ["factory", "run", *config])
        sup.glidein("frontend", ["frontend", "run", "--config", str(lay.frontend_config)])

    def submit(self, wave: int) -> None:
        text = (
            (self.layout.job_dir / "jobs.sub")
            .read_text()
            .replace("out/job.$(Process)", f"out/w{wave}.$(Process)")
        )
        result = self.schedd().submit(text, f"wave{wave}.sub", str(self.layout.job_dir), getpass.getuser())
        assert int(str(result["jobs"])) == JOBS, result

    def log(self, name: str) -> str:
        return (self.layout.logs / f"{name}.log").read_text(errors="replace")

    def schedd(self) -> ScheddClient:
        return ScheddClient.locate(None, str(self.layout.schedd_state))

    def db(self, sql: str) -> list[tuple[object, ...]]:
        conn = sqlite3.connect(str(self.layout.factory_state / "factory.db"), timeout=10)
        try:
            return list(conn.execute(sql))
        finally:
            conn.close()

    def relay_jobs(self) -> list[Path]:
        jobs = self.site / "jobs"
        return sorted(jobs.glob("relay-*"), key=lambda d: d.stat().st_mtime) if jobs.is_dir() else []

    def relay_pid(self, job: Path) -> int:
        runner = int((job / "pid").read_text())
        for pid in children_of(runner):
            try:
                if b"glidein.cli\0schedd\0" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return pid
            except OSError:
                continue
        raise AssertionError(f"no relay process under the runner {runner} of {job.name}")

    def stop(self) -> None:
        for name in ("frontend", "factory"):
            self.sup.stop_named(name)
        cleanup.remove_pilots(self.layout.factory_config)
        for pid_file in self.site.rglob("pid"):  # the site's runners (relays, pilots) pass SIGTERM on
            try:
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
            except (ProcessLookupError, ValueError, OSError):
                continue
        self.sup.stop_all()
        cleanup.kill_groups(self.sup)


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    scenario = Run(tmp_path)
    try:
        scenario.start()
        yield scenario
    finally:
        scenario.stop()


def poll(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        try:
            if predicate():
                return
        except (OSError, sqlite3.Error, ValueError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")


def test_jobs_run_through_the_embedded_relay_killed_and_redeployed(run: Run) -> None:
    run.submit(1)
    poll(lambda: any(j.get("JobStatus") == 2 for j in run.schedd().jobs()), 180, "a wave 1 job runs")
    (first,) = run.relay_jobs()
    os.kill(run.relay_pid(first), signal.SIGKILL)
    cycles_before = run.log("factory").count("cycle done")
    poll(lambda: len(run.relay_jobs()) == 2, 60, "a second relay deployed")
    assert run.log("factory").count("cycle done") - cycles_before <= 2  # redeployed within 2 cycles
    poll(lambda: not run.schedd().jobs(), 180, "wave 1 done")
    poll(lambda: run.log("factory").count("action=live") == 2, 90, "the second relay live")
    poll(lambda: not run.db(f"SELECT 1 FROM pilots WHERE state IN {LIVE}"), 90, "wave 1's pilots gone")
    run.submit(2)  # only the redeployed relay can bring pilots for it
    poll(lambda: not run.schedd().jobs(), 180, "wave 2 done")
    done = run.schedd().jobs(include_done=True)
    assert len(done) == 2 * JOBS and all(j.get("JobStatus") == 4 for j in done), done
    assert all(j.get("NumJobStarts", 1) == 1 for j in done)  # each ran once
    pilots = run.db("SELECT pilot_id, state, relay FROM pilots")
    assert pilots and not [p for p in pilots if p[1] == "lost"], pilots
    assert all(p[2] for p in pilots), pilots  # each pilot's relay recorded (the pilots page shows it)
    relays = {str(p[2]) for p in pilots}
    assert len(relays) == 2, relays  # pilots went through the first relay and the redeployed one
    relay_db = sqlite3.connect(str(run.relay_dir / "queue.sqlite"), timeout=10)
    try:  # the relays' shared queue: each pilot taken for the site once (a take is one backend call)
        handed = dict(
            relay_db.execute("SELECT pilot_id, handovers FROM relay_pilots WHERE stage = 'submitted'")
        )
    finally:
        relay_db.close()
    assert handed == {str(p[0]): 1 for p in pilots}
    at_site = {d.name for d in (run.site / "jobs").iterdir() if not d.name.startswith("relay-")}
    assert at_site == set(handed)  # none dropped, none the site got without the relay knowing
