"""Real processes: two collectors, an embedded schedd with submitted jobs, hand-made signed factory
ads, and `glidein frontend run` -> signed, sealed requests with the expected numbers; jobs removed ->
requests fall to zero and removal escalates; frontend stopped -> its ads go away."""

from __future__ import annotations

import json
import signal
from dataclasses import dataclass
from pathlib import Path

from glidein.common import classads, crypto, tokens
from glidein.common.bus import Bus
from glidein.factory.requests import FrontendTrust, MemorySequences, RequestValidator
from tests.integration.pool.pool_helpers import Pool
from tests.procs import Processes, free_port, run_glidein, wait_for, wait_for_port
from tests.unit.frontend.fixtures import FactoryKeys, entry_ad, frontend_public_key, write_config

JOBS = """executable = /bin/true
+DESIRED_Sites = "{sites}"
request_memory = 1000
queue {n}
"""


def start_collector(processes: Processes, name: str) -> str:
    port = free_port()
    processes.glidein(["collector", "--port", str(port), "--name", name], name)
    wait_for_port(port)
    return f"127.0.0.1:{port}"


def requests(wms: Bus) -> dict[str, dict[str, object]]:
    return {str(a["ReqName"]): classads.to_dict(a) for a in wms.query("glideclient")}


@dataclass
class World:
    pool: Pool
    wms: Bus
    user_pool: Bus
    factory: FactoryKeys
    config: Path


def start_world(processes: Processes, tmp_path: Path) -> World:
    """Two collectors, a schedd with 30 jobs for SiteA and 6 for SiteB, signed entry ads ce1 (SiteA)
    and ce2 (SiteB), a forged ce3, an idle slot at ce1 too small for the jobs, a frontend config."""
    wms_addr, pool_addr = start_collector(processes, "wms"), start_collector(processes, "userpool")
    pool = Pool(processes, tmp_path)
    pool.start_schedd(name="sched1", extra=["--collector", pool_addr, "--advertise-interval", "1"])
    assert pool.submit(JOBS.format(sites="SiteA", n=30), "a.sub").returncode == 0
    assert pool.submit(JOBS.format(sites="SiteB", n=6), "b.sub").returncode == 0
    wms, user_pool = Bus([wms_addr]), Bus([pool_addr])
    wait_for(lambda: bool(user_pool.query("Scheduler", 'Name == "sched1"')), timeout=10)

    factory = FactoryKeys()
    wms.advertise([entry_ad(factory, "ce1", "SiteA"), entry_ad(factory, "ce2", "SiteB")])
    forged = entry_ad(FactoryKeys(), "ce3", "SiteA")  # signed by a key the frontend does not trust
    wms.advertise([forged])
    # an idle slot at ce1 with too little free memory for the waiting jobs (gwms#332): not idle
    slot = {"MyType": "Machine", "Name": "slot1@wn", "State": "Unclaimed", "Activity": "Idle", "Cpus": 1}
    slot.update(Memory=500, GLIDEIN_Entry_Name="ce1", GLIDEIN_Name="gl", GLIDEIN_Factory="fac")
    slot.update(GLIDEIN_Client="fe.main", ClassAdLifetime=600)
    user_pool.advertise([classads.from_dict(slot)])

    config = write_config(tmp_path, factory, wms_addr, pool_addr, lifetime=4, interval=1)
    assert pool.key_file == tmp_path / "pool.key"  # the frontend mints with the schedd's pool key
    text = config.read_text().replace("discover_schedds: false", "discover_schedds: true")
    config.write_text(text)

    return World(pool, wms, user_pool, factory, config)


def test_requests_from_real_jobs_signed_sealed_and_explained(processes: Processes, tmp_path: Path) -> None:
    world = start_world(processes, tmp_path)
    pool, wms, user_pool, factory, config = (
        world.pool,
        world.wms,
        world.user_pool,
        world.factory,
        world.config,
    )
    once = run_glidein(["frontend", "run", "--config", str(config), "--once"])
    assert once.returncode == 0, once.stderr
    got = requests(wms)
    assert set(got) == {"ce1@gl@fac", "ce2@gl@fac"}  # the forged entry got nothing
    # ce1: 30 idle, the slot is not usable -> int(30/3) = 10, no reserve (the schedd reports no job
    # idle for 10 minutes yet: old_idle 0); max int(30*1.15+1) = 35.  ce2: 6 idle -> 2; max int(7.9) = 7
    assert (got["ce1@gl@fac"]["ReqIdleGlideins"], got["ce1@gl@fac"]["ReqMaxGlideins"]) == (10, 35)
    assert (got["ce2@gl@fac"]["ReqIdleGlideins"], got["ce2@gl@fac"]["ReqMaxGlideins"]) == (2, 7)
    assert got["ce1@gl@fac"]["GlideinParamGLIDEIN_Schedd"] == pool.url
    validator = RequestValidator(
        {"fe": FrontendTrust.from_keys("fe", [frontend_public_key(tmp_path)])},
        {crypto.key_id(factory.box.public_key()): factory.box},
        ["ce1@gl@fac", "ce2@gl@fac"],
        MemorySequences(),
    )
    valid = validator.validate(wms.query("glideclient", 'ReqName == "ce1@gl@fac"')[0])
    tokens.verify(tokens.load_key(pool.key_file), valid.secrets["GLIDEIN_Token"], "startd")
    resource = user_pool.query("glideresource", 'GlideFactoryName == "ce1@gl@fac"')[0]
    assert (
        resource["GlideClientMonitorGlideinsIdle"] == 0 and resource["GlideClientMonitorGlideinsTotal"] == 1
    )

    explain = run_glidein(["frontend", "explain", "--config", str(config), "--entry", "ce1"])
    assert explain.returncode == 0, explain.stderr
    assert "0 usable idle (not usable: memory 1)" in explain.stdout
    assert "ReqIdleGlideins=10" in explain.stdout and "ce2@gl@fac" not in explain.stdout


def test_jobs_removed_escalation_expiry_and_withdrawal(processes: Processes, tmp_path: Path) -> None:
    world = start_world(processes, tmp_path)
    pool, wms, user_pool, config = world.pool, world.wms, world.user_pool, world.config
    # jobs removed: requests fall to 0 and removal escalates NO -> WAIT -> ALL (wait 1, all 2 cycles)
    assert pool.glidein("rm", "-constraint", "true").returncode == 0
    daemon = processes.glidein(["frontend", "run", "--config", str(config)], "frontend")
    seen: set[str] = set()

    def escalated() -> bool:
        req = requests(wms).get("ce2@gl@fac", {})
        seen.add(str(req.get("ReqRemoveExcess")))
        return req.get("ReqIdleGlideins") == 0 and req.get("ReqRemoveExcess") == "ALL"

    wait_for(escalated, timeout=20, interval=0.3)
    assert "WAIT" in seen or "NO" in seen
    assert requests(wms)["ce2@gl@fac"]["ReqMaxGlideins"] == 0
    ad = wms.query("glideclient", 'ReqName == "ce2@gl@fac"')[0]
    sealed = crypto.open_sealed(world.factory.box, str(ad["GlideinEncParams"]), f"fe|{ad['Name']}")
    token = json.loads(sealed)["GLIDEIN_Token"]

    # killed without a goodbye: the ads expire with their ClassAdLifetime (4 s)
    daemon.send_signal(signal.SIGKILL)
    daemon.wait(5)
    wait_for(
        lambda: not wms.query("glideclient") and not wms.query("glideclientglobal"), timeout=15, interval=0.5
    )
    # a graceful stop withdraws them at once
    daemon = processes.glidein(["frontend", "run", "--config", str(config)], "frontend2")
    wait_for(lambda: bool(wms.query("glideclient")), timeout=10, interval=0.3)
    assert [ad["Name"] for ad in wms.query("glideclientglobal")] == ["gl@fac@fe"]  # one per factory
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(10) == 0
    assert wms.query("glideclient") == [] and user_pool.query("glideresource") == []
    assert wms.query("glideclientglobal") == []
    assert token not in processes.log("frontend") + processes.log("frontend2")  # secrets never logged
    assert json.loads((tmp_path / "state" / "removal_history.json").read_text())["main"]
