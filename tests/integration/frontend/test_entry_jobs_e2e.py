"""Issue 18 end to end on real processes: jobs submitted to the embedded schedd, one of them running
on a real startd at ce1, an idle startd at ce1 too small for the idle jobs, a blocked entry ce3;
`glidein frontend run --once` -> the request ads on the collector: numbers, per-entry job figures
(GlideinMonitor*), the blocked entry's zero; `glidein frontend explain` names memory and the block."""

from __future__ import annotations

import time
from pathlib import Path

from glidein.common import classads
from glidein.common.bus import Bus
from tests.integration.frontend.test_frontend_daemon import requests, start_collector
from tests.integration.pool.pool_helpers import Pool
from tests.procs import Processes, run_glidein, wait_for
from tests.unit.frontend.fixtures import FactoryKeys, entry_ad, write_config

SITES = "SiteA,SiteB,SiteC"
SMALL = (
    f'executable = /bin/sleep\narguments = 300\nrequest_memory = 256\n+DESIRED_Sites = "{SITES}"\nqueue 1\n'
)
BIG = f'executable = /bin/true\nrequest_memory = 3072\n+DESIRED_Sites = "{SITES}"\nqueue 2\n'


def pilot_attrs(entry: str) -> dict[str, str]:
    """What a pilot of the group `fe.main` at `entry` publishes in its slot ads (ClassAd texts)."""
    return {
        "GLIDEIN_Entry_Name": f'"{entry}"',
        "GLIDEIN_Name": '"gl"',
        "GLIDEIN_Factory": '"fac"',
        "GLIDEIN_Client": '"fe.main"',
        "GLIDEIN_ToDie": str(int(time.time()) + 3600),
    }


def slots(user_pool: Bus) -> dict[str, str]:
    return {str(ad["Name"]): f"{ad['State']}/{ad['Activity']}" for ad in user_pool.query("Machine")}


def test_per_entry_jobs_usable_idle_and_block_end_to_end(processes: Processes, tmp_path: Path) -> None:
    wms_addr, pool_addr = start_collector(processes, "wms"), start_collector(processes, "userpool")
    wms, user_pool = Bus([wms_addr]), Bus([pool_addr])
    pool = Pool(processes, tmp_path)
    pool.start_schedd(name="sched1", extra=["--collector", pool_addr, "--advertise-interval", "1"])
    # the small job first, run by a 512 MB startd at ce1 (it then has no room for a 3 GB job)
    assert pool.submit(SMALL, "small.sub").returncode == 0
    pool.startd("run1", collector=pool_addr, memory_mb=512, max_idle_time=300, attrs=pilot_attrs("ce1"))
    pool.wait_jobs(lambda jobs: any(j["JobStatus"] == 2 for j in jobs.values()), timeout=30)
    assert pool.submit(BIG, "big.sub").returncode == 0
    # an idle 2,048 MB startd at ce1 that takes no job: idle, but not usable for 3 GB jobs
    idle = {"memory_mb": 2048, "start_expr": "false", "max_idle_time": 300}
    pool.startd("idle1", collector=pool_addr, attrs=pilot_attrs("ce1"), **idle)
    wait_for(lambda: sorted(slots(user_pool).values()) == ["Claimed/Busy", "Unclaimed/Idle"], timeout=20)
    wait_for(lambda: bool(user_pool.query("Scheduler", 'Name == "sched1"')), timeout=10)

    factory = FactoryKeys()
    until = int(time.time()) + 3600
    blocked = {"GLIDEIN_Blocked": True, "GLIDEIN_BlockedReason": "10 of 10 pilots failed"}
    wms.advertise(
        [
            entry_ad(factory, "ce1", "SiteA"),
            entry_ad(factory, "ce2", "SiteB"),
            entry_ad(factory, "ce3", "SiteC", GLIDEIN_BlockedUntil=until, **blocked),
        ]
    )
    config = write_config(tmp_path, factory, wms_addr, pool_addr, lifetime=120, interval=1)
    config.write_text(config.read_text().replace("discover_schedds: false", "discover_schedds: true"))

    once = run_glidein(["frontend", "run", "--config", str(config), "--once"])
    assert once.returncode == 0, once.stderr
    got = requests(wms)
    ce1, ce2, ce3 = got["ce1@gl@fac"], got["ce2@gl@fac"], got["ce3@gl@fac"]
    # 2 idle 3 GB jobs matching 3 entries: 2/3 of a glidein each, rounded up to 1. ce1's idle slot
    # has 2,048 MB: not usable (the running 256 MB job does not make it usable) -> effective 1,
    # int(1/3) = 0, raised to 1 while jobs wait; max int((1 + 1 running) x 1.15 + 1) = 3
    assert (ce1["ReqIdleGlideins"], ce1["ReqMaxGlideins"]) == (1, 3)
    assert (ce2["ReqIdleGlideins"], ce2["ReqMaxGlideins"]) == (1, 2)
    assert (ce3["ReqIdleGlideins"], ce3["ReqMaxGlideins"]) == (0, 0)  # blocked by its factory
    # the jobs per entry, as the schedd has them: every entry matches the 2 idle and the 1 running
    # job; only ce1's pilot runs it; the idle shares add up to the 2 idle jobs
    for req in (ce1, ce2, ce3):
        assert (req["GlideinMonitorIdle"], req["GlideinMonitorOldIdle"], req["GlideinMonitorRunning"]) == (
            2,
            0,
            1,
        )
    assert [r["GlideinMonitorRunningHere"] for r in (ce1, ce2, ce3)] == [1, 0, 0]
    assert [r["GlideinMonitorIdleShare"] for r in (ce1, ce2, ce3)] == [1, 1, 0]  # none to the blocked one
    pilots = ("GlideinMonitorGlideinsTotal", "GlideinMonitorGlideinsIdle", "GlideinMonitorGlideinsRunning")
    assert [ce1[k] for k in pilots] == [2, 0, 1] and [ce2[k] for k in pilots] == [0, 0, 0]
    resource = classads.to_dict(user_pool.query("glideresource", 'GlideFactoryName == "ce1@gl@fac"')[0])
    assert (resource["GlideClientMonitorJobsRunningHere"], resource["GlideClientMonitorGlideinsIdle"]) == (
        1,
        0,
    )

    explain = run_glidein(["frontend", "explain", "--config", str(config)])
    assert explain.returncode == 0, explain.stderr
    assert "0 usable idle (not usable: memory 1)" in explain.stdout
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(until))
    why = f"entry blocked by its factory (GLIDEIN_Blocked): 10 of 10 pilots failed, until {stamp}"
    assert f"idle decided by   : {why}" in explain.stdout and f"limits and curbs  : {why}" in explain.stdout
