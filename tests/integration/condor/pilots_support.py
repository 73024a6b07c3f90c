"""What the tests of the factory's `htcondor` entries share: a real `glidein factory run` on an
embedded bus with a token for the factory's schedd, entries, signed requests, and views of the
factory's bookkeeping and of the schedds' queues."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from glidein.common.bus import Bus
from glidein.common.classads import from_dict
from glidein.common.errors import GlideinError
from glidein.common.glideclient import ClientRequest, request_ad
from glidein.factory.state import PilotStore
from glidein.pool.condor.personal import pool_account
from glidein.pool.condor.release import Release
from glidein.pool.condor.sites import (
    FACTORY_SCHEDD,
    Sites,
    condor_grid_resource,
    schedd_name,
    start_sites,
)
from tests.factory_support import FactorySetup, write_factory
from tests.procs import Processes, free_port, wait_for, wait_for_port

TOKEN = "eyJ0eXAiOiJKV1QifQ.pilot-token-for-the-users-pool.sig"  # what the frontend seals for pilots


@contextlib.contextmanager
def running_sites(release: Release, root: Path, slurm_conf: str | None) -> Iterator[Sites]:
    """The factory's pool and the CE (pilots on to `slurm_conf`'s Slurm when given), stopped after."""
    found = start_sites(release, root, slurm_conf)
    try:
        yield found
    finally:
        found.ce.stop()
        found.factory.stop()


def log_dir(sites: Sites) -> Path:
    """A pilot output directory the schedd (running as the pool account) may write."""
    path = Path(tempfile.mkdtemp(prefix="pilots-", dir=sites.factory.spec.root.parent))
    uid, gid, _ = pool_account()
    os.chown(path, uid, gid)
    return path


def condor_entry(name: str, sites: Sites, remote: dict[str, str], **over: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name,
        "gatekeeper": sites.ce.collector,
        "submitter": {
            "type": "htcondor",
            "grid_resource": condor_grid_resource(sites.ce),
            "schedd": schedd_name(FACTORY_SCHEDD),
            "collector": sites.factory.collector,
            "submit_attrs": remote,
            "log_dir": str(log_dir(sites)),
        },
        "attrs": {"GLIDEIN_Site": {"value": f"Site_{name}"}, "GLIDEIN_CPUS": {"value": 1, "type": "int"}},
        "limits": {"max_idle": 20, "max_glideins": 20, "max_per_cycle": 10, "submit_rate": 100},
        "removal": {"max_share": 1.0},
        "held": {"max_releases": 1, "backoff": 1, "max_backoff": 1},
        "pilot": {"hold_time": 0},
    }
    entry.update(over)
    return entry


class Factory:
    """A real `glidein factory run` on an embedded bus, asked for pilots by signed requests."""

    def __init__(self, setup: FactorySetup, bus: Bus, processes: Processes, sites: Sites) -> None:
        self.setup, self.bus, self.processes, self.sites = setup, bus, processes, sites
        self.runs = 0
        self.proc = self.start()

    def start(self) -> Any:
        self.runs += 1
        name = f"factory{self.runs}"
        self.log_name = name
        return self.processes.glidein(["factory", "run", "--config", str(self.setup.config)], name)

    def cycles(self) -> int:
        return self.processes.log(self.log_name).count("cycle done")

    def wait_cycles(self, n: int, timeout: float = 60) -> None:
        target = self.cycles() + n
        wait_for(lambda: self.cycles() >= target, timeout=timeout, interval=0.5)

    def ask(self, entry: str, idle: int, seq: int, mode: str = "NO") -> None:
        (glob,) = self.bus.query("glidefactoryglobal")
        req = ClientRequest(
            f"{entry}@g@f1",
            "fe1",
            "main",
            idle,
            idle,
            seq,
            "frontend",
            mode,
            secrets={"GLIDEIN_Token": TOKEN},
        )
        self.bus.advertise([from_dict(request_ad(req, self.setup.frontend_key, str(glob["PubKeyValue"])))])

    def pilots(self, entry: str, active: bool = True) -> dict[str, Any]:
        store = PilotStore(self.setup.state_dir / "factory.db")
        try:
            if active:
                return {r.pilot_id: r for r in store.active(entry)}
            rows = store.conn.execute(
                "SELECT pilot_id, state, exit_code, releases, held_reason FROM pilots WHERE entry = ?",
                (entry,),
            )
            return {row[0]: row[1:] for row in rows}
        finally:
            store.close()

    def schedd_jobs(self, pool: str = "factory") -> list[dict[str, Any]]:
        """Job ads (pilot id, status) in the factory's or the CE's schedd queue."""
        target = self.sites.factory if pool == "factory" else self.sites.ce
        names = ", ".join(f'"{name}"' for name in self.setup.entries)  # this test's pilots only
        mine = f"member(GlideinEntryName, {{{names}}})"
        fields = ("GlideinPilotId", "JobStatus", "ClusterId", "ProcId")
        out = target.tool("condor_q", "-allusers", "-constraint", mine, "-af:t", *fields)
        rows = [line.split("\t") for line in out.splitlines() if line.strip()]
        return [{"id": r[0], "status": int(r[1]), "job": f"{r[2]}.{r[3]}"} for r in rows]

    def remove_all(self) -> None:
        """condor_rm every pilot of this factory's entries still in the factory's schedd (waiting
        up to a minute for a schedd its master is restarting)."""
        listed: list[list[str]] = []

        def listing() -> bool:
            with contextlib.suppress(GlideinError):
                listed.append([job["job"] for job in self.schedd_jobs()])
            return bool(listed)

        wait_for(listing, timeout=60, interval=1)
        ids = listed[0]
        if ids:
            with contextlib.suppress(GlideinError):
                self.sites.factory.tool("condor_rm", *ids)


def start_factory(
    sites: Sites, entries: list[dict[str, Any]], tmp: Path, processes: Processes, workers: int = 1
) -> Factory:
    """A factory with `entries` on its own embedded bus, authenticating to its schedd by IDTOKEN
    (from its entry worker processes too when `workers` > 1)."""
    port = free_port()
    processes.glidein(["collector", "--port", str(port)], "collector")
    wait_for_port(port)
    bus = f"127.0.0.1:{port}"
    setup = write_factory(tmp, entries, collector=bus, workers=workers, condor_tokens=str(sites.tokens))
    bus = Bus([f"127.0.0.1:{port}"], timeout=5)
    factory = Factory(setup, bus, processes, sites)
    wait_for(lambda: len(bus.query("glidefactory")) == len(entries), timeout=30)
    return factory


def job_of(factory: Factory, entry: str) -> tuple[str, str]:
    wait_for(lambda: len(factory.pilots(entry)) == 1, timeout=30)
    (pilot_id,) = factory.pilots(entry)
    wait_for(lambda: factory.pilots(entry)[pilot_id].backend_id != "", timeout=30)
    return pilot_id, factory.pilots(entry)[pilot_id].backend_id


def queued_ids(factory: Factory) -> set[str] | None:
    """Pilot ids in the factory's schedd; None while it does not answer."""
    try:
        return {j["id"] for j in factory.schedd_jobs()}
    except GlideinError:
        return None


def factory_log_dir(factory: Factory, entry: str) -> str:
    import yaml

    cfg = yaml.safe_load(factory.setup.config.read_text())
    (found,) = [e for e in cfg["entries"] if e["name"] == entry]
    return str(found["submitter"]["log_dir"])
