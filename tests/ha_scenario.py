"""Issue 16's "no single point of failure" run on real processes, for the test and for bench/ha.py.

Two glidein collectors as the WMS bus (factory and frontends advertise to both), the user pool's
collector, the embedded schedd, the factory with one local entry (at most 4 pilots), an active and
a standby frontend (same name and key; the standby with `high_availability: {role: standby}`).
Wave 1 of jobs runs; the first WMS collector is killed -9 while they run; when wave 1 is done and
its pilots have left, the active frontend is killed -9. The standby takes over when the active's
ads expire (their ClassAdLifetime); wave 2 is submitted only then, so only the standby's requests
can bring pilots for it (with `restart_factory`, the factory is killed -9 while wave 2 runs and
started again, as systemd would). Then the active comes back and the standby steps back.

All along a sampler records the factory's live pilots (factory.db), the clients they were
submitted for, and the glideclient ads on the surviving collector with who sent them.
"""

from __future__ import annotations

import getpass
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from glidein.common.bus import Bus
from glidein.demo import cleanup
from glidein.demo.layout import DemoLayout, free_ports, prepare
from glidein.demo.processes import Started, Supervisor, port_open, wait_until
from glidein.demo.run import start_pools
from glidein.frontend.ha import MODE_ATTR, active_constraint
from glidein.pool.schedd.client import ScheddClient
from tests.procs import run_glidein

MAX_PILOTS = 4  # the entry's max_glideins
ENTRY = "LOCAL_HA"
FRONTEND = "demo_frontend"
LIVE = "('new','pending','idle','running','held','removing')"
JOB = '#!/bin/sh\nsleep 3\necho "ha job $1"\n'


@dataclass
class Figures:
    """What the run measured."""

    vanished_s: float = 0.0  # active killed -> its ads gone from the bus (their lifetime)
    takeover_s: float = 0.0  # its ads gone -> the standby's first request on the bus
    step_back_s: float = 0.0  # active restarted -> no standby request left on the bus
    max_pilots: int = 0  # most live pilots at the entry at any sample
    clients: set[str] = field(default_factory=set)  # clients the factory submitted pilots for
    standby_early: int = 0  # samples with a standby request before the active was killed
    standby_after_back: int = 0  # samples with a standby request after the standby stepped back
    jobs: list[dict[str, object]] = field(default_factory=list)
    pilots_wave2: int = 0  # pilots submitted after the takeover

    def lines(self) -> list[str]:
        return [
            f"active's ads gone {self.vanished_s:.1f} s after kill -9 (its ClassAdLifetime)",
            f"standby takeover: {self.takeover_s:.1f} s after the active's ads vanished",
            f"standby stepped back {self.step_back_s:.1f} s after the active restarted",
            f"most live pilots {self.max_pilots} (limit {MAX_PILOTS}); clients {sorted(self.clients)}",
        ]


class Scenario:
    def __init__(self, root: Path, jobs: int = 6, lifetime: int = 12, check_interval: int = 1) -> None:
        self.root, self.jobs, self.lifetime, self.check = root, jobs, lifetime, check_interval
        self.restart_factory = False  # kill -9 the factory while wave 2 runs, start it again
        self.layout: DemoLayout = prepare(root, jobs, use_slurm=False)
        self.wms2 = free_ports(("wms2",))["wms2"]
        self.sup = Supervisor(self.layout.logs, root / "pids.json")
        self.figures = Figures()
        self._active_alive = True
        self._stop = threading.Event()
        self._configure()

    # ------------------------------------------------------------ set-up
    def _configure(self) -> None:
        lay = self.layout
        wms = [lay.address("wms"), f"127.0.0.1:{self.wms2}"]
        factory = yaml.safe_load(lay.factory_config.read_text())
        factory["collectors"] = wms
        factory["attrs"]["GLIDEIN_Max_Idle"]["value"] = 4  # wave 1's pilots leave soon after it
        factory["entries"] = [
            {
                "name": ENTRY,
                "gatekeeper": "local",
                "submitter": {"type": "local", "slots": MAX_PILOTS, "queue_wait": 1},
                "attrs": {"GLIDEIN_Site": {"value": "HA"}},
                "limits": {"max_idle": MAX_PILOTS, "max_glideins": MAX_PILOTS, "max_per_cycle": MAX_PILOTS},
            }
        ]
        lay.factory_config.write_text(yaml.safe_dump(factory, sort_keys=False))
        frontend = yaml.safe_load(lay.frontend_config.read_text())
        frontend["collectors"]["wms"] = wms
        frontend["loop"] = {"interval": 2, "classad_lifetime": self.lifetime}
        frontend.pop("monitoring", None)
        for role in ("active", "standby"):
            config = dict(frontend, state_dir=str(self.root / f"frontend_{role}"))
            if role == "standby":
                config["high_availability"] = {"role": "standby", "check_interval": self.check}
            (self.root / f"frontend_{role}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        (lay.job_dir / "job.sh").write_text(JOB)

    def start(self) -> None:
        lay, sup = self.layout, self.sup
        start_pools(lay, sup)
        sup.glidein("collector-wms2", ["collector", "--port", str(self.wms2), "--name", "demo-wms2"])
        wait_until(lambda: port_open(self.wms2) and port_open(lay.ports["schedd"]), 20, "collector, schedd")
        config = ["--config", str(lay.factory_config)]
        staged = run_glidein(["factory", "stage", *config], timeout=120)
        assert staged.returncode == 0, staged.stderr
        sup.glidein("factory-web", ["factory", "web", *config])
        wait_until(lambda: port_open(lay.ports["stage"]), 20, "factory web")
        sup.glidein("factory", ["factory", "run", *config])
        self.frontend("active")
        poll(
            lambda: bool(self.bus.query(None, active_constraint(FRONTEND), ["Name"])), deadline(60), "active"
        )
        self.frontend("standby")  # after the active's ads are on the bus, as an operator would
        threading.Thread(target=self._sample, daemon=True).start()

    def frontend(self, role: str) -> Started:
        config = str(self.root / f"frontend_{role}.yaml")
        return self.sup.glidein(f"frontend-{role}", ["--debug", "frontend", "run", "--config", config])

    # ------------------------------------------------------------ watching
    @property
    def bus(self) -> Bus:
        """The surviving WMS collector alone (what the factory and frontends still reach)."""
        return Bus([f"127.0.0.1:{self.wms2}"], timeout=5, retries=1)

    def active_ads(self) -> bool:
        return bool(self.bus.query(None, active_constraint(FRONTEND), ["Name"]))

    def requests(self) -> dict[str, str]:
        """glideclient ads on the surviving collector: Name -> who sent it (active/standby)."""
        ads = self.bus.query("glideclient", f'FrontendName == "{FRONTEND}"')
        return {str(ad["Name"]): str(ad.get(MODE_ATTR, "?")) for ad in ads}

    def _db(self, sql: str) -> list[tuple[Any, ...]]:
        path = self.layout.factory_state / "factory.db"
        if not path.exists():
            return []
        with sqlite3.connect(path, timeout=10) as conn:
            return list(conn.execute(sql))

    def _sample(self) -> None:
        fig = self.figures
        while not self._stop.wait(0.5):
            try:
                live = self._db(f"SELECT count(*) FROM pilots WHERE entry = '{ENTRY}' AND state IN {LIVE}")
                fig.max_pilots = max(fig.max_pilots, live[0][0] if live else 0)
                fig.clients |= {row[0] for row in self._db("SELECT DISTINCT client FROM pilots")}
                if self._active_alive and "standby" in self.requests().values():
                    fig.standby_early += 1
            except (sqlite3.Error, OSError, RuntimeError, ValueError):
                continue

    def schedd(self) -> ScheddClient:
        return ScheddClient.locate(None, str(self.layout.schedd_state))

    def submit(self, first: int) -> None:
        text = (self.layout.job_dir / "jobs.sub").read_text()
        text = text.replace("out/job.$(Process)", f"out/wave{first}.$(Process)")
        sub = self.layout.job_dir / f"wave{first}.sub"
        sub.write_text(text)
        result = self.schedd().submit(text, sub.name, str(self.layout.job_dir), getpass.getuser())
        assert int(str(result.get("jobs", 0))) == self.jobs, result

    def done(self) -> bool:
        return not self.schedd().jobs()

    # ------------------------------------------------------------ the run
    def log(self, name: str) -> str:
        return (self.layout.logs / f"{name}.log").read_text(errors="replace")

    def kill(self, name: str) -> None:
        item = next(s for s in self.sup.started if s.name == name)
        item.proc.kill()
        item.proc.wait(10)

    def run(self, timeout: float = 240.0) -> Figures:
        fig, until = self.figures, time.monotonic() + timeout
        self.submit(0)
        poll(lambda: any(j.get("JobStatus") == 2 for j in self.schedd().jobs()), until, "a wave 1 job runs")
        self.kill("collector-wms")
        poll(self.done, until, "wave 1 done")
        poll(lambda: not self._db(f"SELECT 1 FROM pilots WHERE state IN {LIVE}"), until, "wave 1 pilots gone")
        killed = time.monotonic()
        self._active_alive = False
        self.kill("frontend-active")
        poll(
            lambda: not self.bus.query(None, active_constraint(FRONTEND), ["Name"]),
            until,
            "active's ads gone",
        )
        gone = time.monotonic()
        poll(lambda: "standby" in self.requests().values(), until, "the standby's requests")
        fig.vanished_s, fig.takeover_s = gone - killed, time.monotonic() - gone
        before = self._db("SELECT count(*) FROM pilots")[0][0]
        self.submit(100)
        if self.restart_factory:  # as systemd's Restart=on-failure would, while wave 2 runs
            poll(lambda: any(j.get("JobStatus") == 2 for j in self.schedd().jobs()), until, "wave 2 runs")
            self.kill("factory")
            time.sleep(1)
            self.sup.glidein("factory", ["factory", "run", "--config", str(self.layout.factory_config)])
        poll(self.done, until, "wave 2 done")
        fig.pilots_wave2 = self._db("SELECT count(*) FROM pilots")[0][0] - before
        back = time.monotonic()
        self.frontend("active")
        poll(lambda: "is back" in self.log("frontend-standby"), until, "the standby steps back")
        poll(lambda: set(self.requests().values()) == {"active"}, until, "the active's requests alone")
        fig.step_back_s = time.monotonic() - back
        for _ in range(15):  # and it stays back (3 s: 3 checks of the standby)
            time.sleep(0.2)
            fig.standby_after_back += "standby" in self.requests().values()
        fig.jobs = self.schedd().jobs(include_done=True)
        return fig

    def stop(self) -> None:
        self._stop.set()
        for name in ("frontend-active", "frontend-standby", "factory"):
            self.sup.stop_named(name)
        cleanup.remove_pilots(self.layout.factory_config)
        cleanup.wait_pilots(self.layout.factory_state, 20.0)
        self.sup.stop_all()
        cleanup.kill_groups(self.sup)
        cleanup.kill_pilots(self.layout.factory_state)


def deadline(seconds: float) -> float:
    return time.monotonic() + seconds


def poll(predicate: Callable[[], bool], until: float, what: str) -> None:
    while time.monotonic() < until:
        try:
            if predicate():
                return
        except Exception:  # a daemon restarting answers nothing for a moment
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for: {what}")
