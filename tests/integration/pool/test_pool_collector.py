"""The schedd ad and the slot ads reach the user-pool collector (real `glidein collector`)."""

from __future__ import annotations

import time
from pathlib import Path

from glidein.pool import cedar
from tests.integration.pool.pool_helpers import Pool, script
from tests.procs import Processes, free_port, wait_for, wait_for_port


def _ads(address: str, ad_type: str, constraint: str = "true") -> list[dict[str, str]]:
    try:
        return [dict(ad) for ad in cedar.query(address, ad_type, constraint)]
    except (OSError, cedar.CedarError):
        return []


def test_schedd_and_startd_ads_on_the_collector(processes: Processes, tmp_path: Path) -> None:
    port = free_port()
    collector = f"127.0.0.1:{port}"
    processes.glidein(["collector", "--port", str(port)], "collector")
    wait_for_port(port)
    pool = Pool(processes, tmp_path)
    pool.start_schedd(name="sched1", extra=["--collector", collector, "--advertise-interval", "1"])
    exe = script(tmp_path / "long.sh", "exec sleep 60\n")
    pool.queue(f"executable = {exe}\nqueue 3\n")

    def schedd_ad() -> dict[str, str]:
        found = _ads(collector, "SCHEDD", 'Name == "sched1"')
        return {k.lower(): v for k, v in found[0].items()} if found else {}

    wait_for(lambda: schedd_ad().get("totalidlejobs") == "3", timeout=15)
    ad = schedd_ad()
    assert ad["scheddhttpaddress"] == f'"{pool.url}"'
    assert ad["mytype"] == '"Scheduler"'

    started = time.time()
    proc = pool.startd(
        "slot1@wn",
        collector=collector,
        cpus=2,
        retire_time=600,
        die_time=900,
        attrs={"GLIDEIN_Site": '"SiteA"'},
    )

    def slot_ad() -> dict[str, str]:
        found = _ads(collector, "STARTD", 'Name == "slot1@wn"')
        return {k.lower(): v for k, v in found[0].items()} if found else {}

    wait_for(lambda: slot_ad().get("state") == '"Claimed"' and slot_ad().get("cpus") == "0", timeout=15)
    slot = slot_ad()
    assert (slot["mytype"], slot["glidein_site"], slot["totalcpus"]) == ('"Machine"', '"SiteA"', "2")
    assert abs(int(slot["glidein_toretire"]) - (started + 600)) < 10
    assert abs(int(slot["glidein_todie"]) - (started + 900)) < 10
    wait_for(lambda: schedd_ad().get("totalrunningjobs") == "2", timeout=15)

    proc.terminate()
    assert pool.result("slot1@wn")["reason"] == "signal"
    assert _ads(collector, "STARTD", 'Name == "slot1@wn"') == []  # invalidated on the way out
    pool.stop_schedd()
    wait_for(lambda: not _ads(collector, "SCHEDD", 'Name == "sched1"'), timeout=10)
